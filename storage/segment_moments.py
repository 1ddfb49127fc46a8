"""The daily segments recompute, incremental: only the customers whose inputs changed or whose
moment has come, and the customers a shift of the pool's cut-offs moves.

Every customer stores ``segment_due_at``: the moment their stage, class or RFM next change by the
passage of time alone (sleeping, lost, an order leaving the 12-month window, a fixed recency
cut-off), or :data:`NEVER`. NULL means their inputs changed (:func:`storage.segments.refresh_customer`
on every order or referral change, a tag edit, a new customer, the migration): recompute. Orders
written without the order hook (bulk inserts, the simulator's demo) are found by id above the
highest order id the last run saw.

Class and RFM are relative to the pool. Each buyer's 12-month facts (last order, orders, spend) are
kept in ``segment_window`` and indexed, so the quintile and class cut-offs are a few index probes
(the value at a rank), stored after each run (:class:`Cutoffs`). A score is the number of cut-offs
the customer's value passes, so when a cut-off moves only the buyers whose value lies between its
old and new place change score: an index range each. The pool is read whole only when there are no
stored cut-offs (the first run, :func:`recompute_all`) or RFM switches between quintiles and fixed
cut-offs (the pool crosses ``RFM_MIN_POOL`` buyers).

:func:`recompute_all` is the full recompute (``huitou segments recompute --full``): every customer
is marked and recomputed. ``tests/test_segment_moments.py`` checks that incremental runs over random
histories and clock advances store what the full recompute stores, moments included.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from storage import kv
from storage.models import Customer, CustomerStage, Order, Referral, RetentionClock, SegmentWindow
from storage.segments import (
    CLASS_WINDOW_DAYS,
    RFM_FIXED_F_ORDERS,
    RFM_FIXED_M_CENTS,
    RFM_FIXED_R_DAYS,
    RFM_MIN_POOL,
    OrderFacts,
    active_orders_of,
    cycle_days,
    expected_next_purchase,
    lost_at,
    median_interval_days,
    rfm_segment,
    sleeping_at,
    stage_for,
)

# A customer whose segment fields only an input change can move (no order, a distributor, ...).
NEVER = dt.datetime(9999, 12, 31)
CUTOFFS_KEY = "segments:cutoffs"  # the pool's cut-offs after the last run (JSON)
ORDER_MARK_KEY = "segments:order_id"  # the highest order id the last run saw
CHUNK = 1000
_US = dt.timedelta(microseconds=1)
_WINDOW = dt.timedelta(days=CLASS_WINDOW_DAYS)
_DERIVED = (
    "stage",
    "median_interval_days",
    "expected_next_purchase_at",
    "last_order_at",
    "segment_due_at",
)
_SCORED = ("customer_class", "rfm_r", "rfm_f", "rfm_m", "rfm_segment")


@dataclass(frozen=True)
class RecomputeResult:
    customers: int  # in the pool
    changed_stage: int
    updated: int = 0  # customer rows written
    clocks_written: int = 0  # sleeping clocks inserted or moved
    touched: int = 0  # customers recomputed (inputs changed, moment come, or moved by a cut-off)


# --- cut-offs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cutoffs:
    """Where the pool's ranks fall. Quintiles: score = 1 + the number of cut-offs the value is
    strictly above (the value at rank ceil((k - 1) × n / 5), k = 2..5, counted from the lowest:
    :func:`segments._quintile_scores`). Class: A from spend ``a`` up, B from ``b`` (the
    ceil(n / 5)-th and ceil(n / 2)-th largest positive spend: :func:`segments.classes_by_spend`)."""

    quintiles: bool
    r: tuple[dt.datetime, ...] = ()
    f: tuple[int, ...] = ()
    m: tuple[int, ...] = ()
    a: int | None = None
    b: int | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "quintiles": self.quintiles,
                "r": [t.isoformat() for t in self.r],
                "f": list(self.f),
                "m": list(self.m),
                "a": self.a,
                "b": self.b,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Cutoffs:
        data = json.loads(text)
        return cls(
            data["quintiles"],
            tuple(dt.datetime.fromisoformat(t) for t in data["r"]),
            tuple(data["f"]),
            tuple(data["m"]),
            data["a"],
            data["b"],
        )


def _value_at(session: Session, column, rank: int, *, descending: bool = False, positive: bool = False):
    """The value at 0-based ``rank`` of ``segment_window.column`` (an index walk)."""
    query = select(column)
    if positive:
        query = query.where(column > 0)
    query = query.order_by(column.desc() if descending else column).offset(rank).limit(1)
    return session.scalar(query)


def pool_cutoffs(session: Session) -> Cutoffs:
    """The cut-offs of the buyers now in ``segment_window``."""
    table = SegmentWindow
    n = session.scalar(select(func.count()).select_from(table)) or 0
    positive = session.scalar(select(func.count()).select_from(table).where(table.cents > 0)) or 0
    a = _value_at(session, table.cents, math.ceil(positive / 5) - 1, descending=True) if positive else None
    b = _value_at(session, table.cents, math.ceil(positive / 2) - 1, descending=True) if positive else None
    if n < RFM_MIN_POOL:
        return Cutoffs(False, a=a, b=b)
    ranks = [math.ceil((k - 1) * n / 5) - 1 for k in range(2, 6)]
    return Cutoffs(
        True,
        tuple(_value_at(session, table.last_at, rank) for rank in ranks),
        tuple(_value_at(session, table.orders, rank) for rank in ranks),
        tuple(_value_at(session, table.cents, rank) for rank in ranks),
        a,
        b,
    )


def _moved(session: Session, old: Cutoffs, new: Cutoffs) -> set[int]:
    """Buyers whose score or class differs between the two cut-offs (same RFM mode)."""
    table = SegmentWindow
    ranges = []
    for column, before, after in ((table.last_at, old.r, new.r), (table.orders, old.f, new.f)):
        ranges += [(column, lo, hi) for lo, hi in zip(before, after, strict=True) if lo != hi]
    ranges += [(table.cents, lo, hi) for lo, hi in zip(old.m, new.m, strict=True) if lo != hi]
    moved: set[int] = set()
    # Score ≥ k when value > cut-off: a value in (low, high] changes.
    for column, lo, hi in ranges:
        lo, hi = min(lo, hi), max(lo, hi)
        moved.update(session.scalars(select(table.customer_id).where(column > lo, column <= hi)))
    # Class A (B) when spend ≥ cut-off: a spend in [low, high) changes; no cut-off = nobody.
    for before, after in ((old.a, new.a), (old.b, new.b)):
        if before == after:
            continue
        if before is None or after is None:
            query = select(table.customer_id).where(table.cents >= (before if after is None else after))
        else:
            query = select(table.customer_id).where(
                table.cents >= min(before, after), table.cents < max(before, after)
            )
        moved.update(session.scalars(query))
    return moved


def _above(value, cutoffs: Sequence) -> int:
    return 1 + sum(value > cut for cut in cutoffs)


def _fixed(value, thresholds: Sequence, *, at_least: bool = True) -> int:
    for index, threshold in enumerate(thresholds):
        if value >= threshold if at_least else value <= threshold:
            return 5 - index
    return 1


def _scores(window: tuple | None, cutoffs: Cutoffs, now: dt.datetime) -> dict[str, object]:
    """Class and RFM of one customer from their window facts ``(last_at, orders, cents)``."""
    if window is None:
        return dict.fromkeys(_SCORED[1:], None) | {"customer_class": "D"}
    last_at, orders, cents = window
    if cutoffs.quintiles:
        r, f, m = _above(last_at, cutoffs.r), _above(orders, cutoffs.f), _above(cents, cutoffs.m)
    else:
        r = _fixed(last_at, [now - dt.timedelta(days=d) for d in RFM_FIXED_R_DAYS])
        f, m = _fixed(orders, RFM_FIXED_F_ORDERS), _fixed(cents, RFM_FIXED_M_CENTS)
    if cents <= 0:
        klass = "D"
    else:
        klass = "A" if cents >= cutoffs.a else "B" if cents >= cutoffs.b else "C"
    return {"customer_class": klass, "rfm_r": r, "rfm_f": f, "rfm_m": m, "rfm_segment": rfm_segment(r, f, m)}


def _fixed_recency_moment(last_at: dt.datetime, now: dt.datetime) -> dt.datetime:
    """Below ``RFM_MIN_POOL`` buyers recency is scored by age: the next cut-off it passes."""
    return min(
        (
            last_at + dt.timedelta(days=d) + _US
            for d in RFM_FIXED_R_DAYS
            if last_at + dt.timedelta(days=d) >= now
        ),
        default=NEVER,
    )


# --- one customer's history -------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """What a customer's own orders give at ``now``: the stored fields, the window facts and the
    moment they next change by time alone (without the fixed recency cut-offs)."""

    values: dict[str, object]
    window: tuple[dt.datetime, int, int] | None
    clock: dt.datetime | None  # the sleeping clock


def history(
    facts: Sequence[OrderFacts], now: dt.datetime, *, referred: bool, tags: str | None, current: str | None
) -> History:
    last = facts[-1].created_at if facts else None
    cycle = cycle_days(facts)
    stage = stage_for(len(facts), last, cycle, now, referred=referred, tags=tags, current=current)
    moments = []
    if last is not None and stage != CustomerStage.DISTRIBUTOR:
        moments += [t for t in (sleeping_at(last, cycle), lost_at(last, cycle)) if t > now]
    since = now - _WINDOW
    recent = [o for o in facts if since <= o.created_at <= now]
    # An order leaves the window a microsecond after created_at + 12 months; a later one enters.
    moments += [o.created_at + _WINDOW + _US for o in recent[:1]]
    moments += [o.created_at for o in facts if o.created_at > now][:1]
    window = None
    if recent:
        window = (max(o.created_at for o in recent), len(recent), sum(o.amount_cents for o in recent))
    values = {
        "stage": stage,
        "median_interval_days": median_interval_days([o.created_at for o in facts]),
        "expected_next_purchase_at": expected_next_purchase(facts),
        "last_order_at": last,
        "segment_due_at": min(moments, default=NEVER),
    }
    return History(values, window, sleeping_at(last, cycle) if last is not None else None)


# --- the run ---------------------------------------------------------------------------------------


def _differs(old: object, new: object) -> bool:
    if isinstance(old, float) and isinstance(new, float):
        return abs(old - new) > 1e-6
    if isinstance(old, dt.datetime) and isinstance(new, dt.datetime):
        return old != new
    return old != new


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _write(session: Session, entity, rows: list[dict]) -> None:
    """Update ``rows`` (dicts with ``id`` and the columns that changed) by primary key: one
    executemany per set of columns, so an index whose column did not change is left alone."""
    table = entity.__table__
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(name for name in row if name != "id"), []).append(row)
    for columns, group in groups.items():
        statement = (
            table.update().where(table.c.id == bindparam("row_id")).values({c: bindparam(c) for c in columns})
        )
        for start in range(0, len(group), CHUNK):
            params = [
                {"row_id": row["id"], **{c: row[c] for c in columns}} for row in group[start : start + CHUNK]
            ]
            session.execute(statement, params)


def _changes(row, values: dict[str, object]) -> dict[str, object]:
    """The values that differ from the stored ``row``'s."""
    return {name: value for name, value in values.items() if _differs(getattr(row, name), value)}


def _due(session: Session, now: dt.datetime) -> set[int]:
    """Customers whose inputs changed or whose moment has come, and those with orders the last run
    did not see (written without the order hook)."""
    # Two index ranges (an OR of them would scan the pool on SQLite).
    due = set(session.scalars(select(Customer.id).where(Customer.segment_due_at.is_(None))))
    due.update(session.scalars(select(Customer.id).where(Customer.segment_due_at <= now)))
    mark = kv.get_value(session, ORDER_MARK_KEY, now)
    if mark is not None:
        # by primary key (DISTINCT would walk the customer_id index of every order)
        due.update(session.scalars(select(Order.customer_id).where(Order.id > int(mark))))
    return due


def _recompute_histories(
    session: Session, ids: list[int], now: dt.datetime, moments: dict[int, dt.datetime]
) -> tuple[set[int], int, int]:
    """Phase one for ``ids``: own fields, window facts, sleeping clock; their moments into
    ``moments`` (written by phase two, which may bring a fixed recency cut-off nearer). Returns
    (customers written, clocks written, stages changed)."""
    columns = [Customer.id, Customer.tags, *(getattr(Customer, name) for name in _DERIVED[:-1])]
    stored = {row.id: row for row in session.execute(select(*columns).where(Customer.id.in_(ids)))}
    orders = active_orders_of(session, ids)
    referred = set(
        session.scalars(
            select(Referral.referrer_id).where(Referral.referrer_id.in_(ids), Referral.status == "rewarded")
        )
    )
    clocks = {
        row.customer_id: row
        for row in session.execute(
            select(RetentionClock.id, RetentionClock.customer_id, RetentionClock.at).where(
                RetentionClock.key.in_([f"sleeping:customer:{cid}" for cid in ids])
            )
        )
    }
    updates, windows, clock_updates, clock_inserts, changed = [], [], [], [], 0
    for cid, row in stored.items():
        result = history(orders.get(cid, []), now, referred=cid in referred, tags=row.tags, current=row.stage)
        changed += result.values["stage"] != row.stage
        moments[cid] = result.values.pop("segment_due_at")
        if changes := _changes(row, result.values):
            updates.append({"id": cid, **changes})
        if result.window is not None:
            last_at, count, cents = result.window
            windows.append({"customer_id": cid, "last_at": last_at, "orders": count, "cents": cents})
        if result.clock is not None:
            clock = clocks.get(cid)
            if clock is None:
                clock_inserts.append(
                    {
                        "key": f"sleeping:customer:{cid}",
                        "kind": "sleeping",
                        "customer_id": cid,
                        "at": result.clock,
                    }
                )
            elif clock.at != result.clock:
                clock_updates.append({"id": clock.id, "at": result.clock})
    _write(session, Customer, updates)
    _write(session, RetentionClock, clock_updates)
    if clock_inserts:
        session.execute(RetentionClock.__table__.insert(), clock_inserts)
    session.execute(delete(SegmentWindow).where(SegmentWindow.customer_id.in_(ids)))
    if windows:
        session.execute(SegmentWindow.__table__.insert(), windows)
    return {row["id"] for row in updates}, len(clock_updates) + len(clock_inserts), changed


def _rescore(
    session: Session, ids: list[int], cutoffs: Cutoffs, now: dt.datetime, moments: dict[int, dt.datetime]
) -> set[int]:
    """Phase two for ``ids``: class and RFM from the window facts and the pool's cut-offs, and the
    moment (phase one's, else the stored one; below ``RFM_MIN_POOL`` buyers, no later than recency
    next passes a fixed cut-off). Returns the customers written."""
    query = (
        select(
            Customer.id,
            Customer.segment_due_at,
            *(getattr(Customer, name) for name in _SCORED),
            SegmentWindow.last_at,
            SegmentWindow.orders,
            SegmentWindow.cents,
        )
        .outerjoin(SegmentWindow, SegmentWindow.customer_id == Customer.id)
        .where(Customer.id.in_(ids))
    )
    updates = []
    for row in session.execute(query):
        window = (row.last_at, row.orders, row.cents) if row.last_at is not None else None
        values = _scores(window, cutoffs, now)
        moment = moments.get(row.id, row.segment_due_at)
        if window is not None and not cutoffs.quintiles:
            moment = min(moment, _fixed_recency_moment(row.last_at, now))
        values["segment_due_at"] = moment
        if changes := _changes(row, values):
            updates.append({"id": row.id, **changes})
    _write(session, Customer, updates)
    return {row["id"] for row in updates}


def recompute_due(session: Session, now: dt.datetime, *, everyone: bool = False) -> RecomputeResult:
    """The daily recompute: the customers due (:func:`_due`), then those the cut-offs moved.

    ``everyone``: the full recompute (:func:`recompute_all`)."""
    due = set(session.scalars(select(Customer.id))) if everyone else _due(session, now)
    updated: set[int] = set()
    clocks = changed = 0
    moments: dict[int, dt.datetime] = {}
    for ids in _chunks(due):
        written, chunk_clocks, chunk_changed = _recompute_histories(session, ids, now, moments)
        updated |= written
        clocks, changed = clocks + chunk_clocks, changed + chunk_changed
    new = pool_cutoffs(session)
    stored = None if everyone else kv.get_value(session, CUTOFFS_KEY, now)
    old = Cutoffs.from_json(stored) if stored else None
    if old is not None and old.quintiles != new.quintiles:
        # Recency's moments depend on the RFM mode: start over with every customer (rare).
        return recompute_all(session, now)
    if old is None or not new.quintiles:
        # No stored cut-offs, or fixed cut-offs (under RFM_MIN_POOL buyers): every buyer.
        moved = set(session.scalars(select(SegmentWindow.customer_id)))
    else:
        moved = _moved(session, old, new)
    rescored = due | moved
    for ids in _chunks(rescored):
        updated |= _rescore(session, ids, new, now, moments)
    kv.set_value(session, CUTOFFS_KEY, new.to_json(), now)
    newest = session.scalar(select(func.max(Order.id))) or 0
    kv.set_value(session, ORDER_MARK_KEY, str(newest), now)
    customers = session.scalar(select(func.count()).select_from(Customer))
    return RecomputeResult(customers, changed, len(updated), clocks, len(rescored))


def recompute_all(session: Session, now: dt.datetime) -> RecomputeResult:
    """The full recompute (a repair): every customer and the cut-offs anew, whatever is stored."""
    return recompute_due(session, now, everyone=True)


__all__ = ["NEVER", "Cutoffs", "RecomputeResult", "history", "pool_cutoffs", "recompute_all", "recompute_due"]
