"""Customer segments: expected next purchase, journey stage, A/B/C/D class and RFM.

Pure rules first (plain functions, ``now`` passed in), then the two ways they reach the
``customer`` row: :func:`refresh_customer` for one customer when one of their orders changes,
and :func:`recompute_all` for the whole pool (a daily sweep: class and RFM are relative to the
pool, and stages move with time alone — active customers fall asleep without any event).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    DateTime,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from storage.models import Customer, CustomerStage, Order, OrderItem, OrderStatus, Referral, RetentionClock
from storage.upsert import upsert

# A customer with no order for max(SLEEPING_MIN_DAYS, SLEEPING_FACTOR × cycle) is sleeping;
# for max(LOST_MIN_DAYS, LOST_FACTOR × cycle), lost (DOMAIN.md: "not seen for two months").
SLEEPING_MIN_DAYS = 60
SLEEPING_FACTOR = 1.5
LOST_MIN_DAYS = 180
LOST_FACTOR = 3.0
LOYAL_MIN_ORDERS = 3
DISTRIBUTOR_TAGS = ("代理", "分销", "distributor")
CLASS_WINDOW_DAYS = 365
# Quintiles need a pool; below this many buyers RFM uses the fixed cut-offs.
RFM_MIN_POOL = 50
# Fixed cut-offs (score 5 → 2 thresholds): recency in days (at most), frequency in orders and
# monetary in cents (at least), over the last 12 months.
RFM_FIXED_R_DAYS = (30, 60, 90, 180)
RFM_FIXED_F_ORDERS = (6, 4, 3, 2)
RFM_FIXED_M_CENTS = (120_000, 60_000, 30_000, 10_000)

SEGMENTS = ("champions", "loyal", "potential_loyalists", "new", "at_risk", "cant_lose", "hibernating", "lost")


# --- pure rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFacts:
    """What the rules need of one active (not cancelled) order."""

    created_at: dt.datetime
    shipped_at: dt.datetime | None
    supply_days: int | None
    amount_cents: int


def median_interval_days(order_times: Sequence[dt.datetime]) -> float | None:
    """The median gap between consecutive orders, in days (None before the second order)."""
    times = sorted(order_times)
    if len(times) < 2:
        return None
    gaps = [(b - a).total_seconds() / 86400 for a, b in zip(times, times[1:], strict=False)]
    return float(statistics.median(gaps))


def cycle_days(orders: Sequence[OrderFacts]) -> float | None:
    """The customer's expected cycle: own median interval from the 2nd order, else last supply."""
    median = median_interval_days([o.created_at for o in orders])
    if median is not None:
        return median
    if orders:
        return float(orders[-1].supply_days) if orders[-1].supply_days else None
    return None


def expected_next_purchase(orders: Sequence[OrderFacts]) -> dt.datetime | None:
    """When the customer should buy again.

    From the second order on: last order + their median interval (works for a pool of one).
    Before that: the supply of the first order runs out (from shipping, else from ordering).
    """
    if not orders:
        return None
    last = orders[-1]
    median = median_interval_days([o.created_at for o in orders])
    if median is not None:
        return last.created_at + dt.timedelta(days=median)
    if last.supply_days:
        return (last.shipped_at or last.created_at) + dt.timedelta(days=last.supply_days)
    return None


def sleeping_at(
    last_order_at: dt.datetime,
    cycle: float | None,
    *,
    min_days: float = SLEEPING_MIN_DAYS,
    factor: float = SLEEPING_FACTOR,
) -> dt.datetime:
    """When a customer with no further order becomes sleeping: max(min_days, factor × cycle)."""
    return last_order_at + dt.timedelta(days=max(min_days, factor * (cycle or 0)))


def lost_at(last_order_at: dt.datetime, cycle: float | None) -> dt.datetime:
    return last_order_at + dt.timedelta(days=max(LOST_MIN_DAYS, LOST_FACTOR * (cycle or 0)))


def stage_for(
    order_count: int,
    last_order_at: dt.datetime | None,
    cycle: float | None,
    now: dt.datetime,
    *,
    referred: bool = False,
    tags: str | None = None,
    current: str | None = None,
) -> str:
    """The journey stage (DOMAIN.md) from the customer's order history at ``now``.

    ``referred``: one of the customer's referees has paid (a converted referral), which makes
    them a fan (粉丝). Distributor (代理) is the seller's decision: it stays once ``current`` is
    distributor, or follows a distributor tag. Sleeping and lost are about buying, so they take
    precedence over fan.
    """
    if current == CustomerStage.DISTRIBUTOR or (tags and any(tag in tags for tag in DISTRIBUTOR_TAGS)):
        return CustomerStage.DISTRIBUTOR
    if order_count == 0 or last_order_at is None:
        return CustomerStage.FAN if referred else CustomerStage.PROSPECT
    if now >= lost_at(last_order_at, cycle):
        return CustomerStage.LOST
    if now >= sleeping_at(last_order_at, cycle):
        return CustomerStage.SLEEPING
    if referred:
        return CustomerStage.FAN
    if order_count >= LOYAL_MIN_ORDERS:
        return CustomerStage.LOYAL
    if order_count == 2:
        return CustomerStage.RETURNING
    return CustomerStage.NEW


def stage_as_of(
    orders: Sequence[OrderFacts],
    now: dt.datetime,
    *,
    referred: bool = False,
    tags: str | None = None,
    current: str | None = None,
) -> str:
    """The stage at ``now`` from the customer's active orders (oldest first): :func:`stage_for` with the
    cycle the sweeps use. Every reader (the seller's 客户 and 统计, the export) and every writer
    (:func:`refresh_customer`, :func:`recompute_all`) go through this rule."""
    last_order_at = orders[-1].created_at if orders else None
    return stage_for(
        len(orders), last_order_at, cycle_days(orders), now, referred=referred, tags=tags, current=current
    )


def classes_by_spend(spend: Mapping[int, int]) -> dict[int, str]:
    """A/B/C/D by 12-month spend: A = top 20% of buyers, B = next 30%, C = the rest, D = no spend."""
    buyers = sorted((cid for cid, cents in spend.items() if cents > 0), key=lambda cid: -spend[cid])
    result = {cid: "D" for cid, cents in spend.items() if cents <= 0}
    n = len(buyers)
    first = 0
    for rank, cid in enumerate(buyers):
        # Ties share the better class: rank by the first customer with the same spend.
        if rank and spend[cid] != spend[buyers[rank - 1]]:
            first = rank
        share = first / n
        result[cid] = "A" if share < 0.2 else "B" if share < 0.5 else "C"
    return result


def _quintile_scores(values: Mapping[int, float]) -> dict[int, int]:
    """Score 1–5 by quintile (higher value → higher score); equal values get equal scores."""
    ordered = sorted(values.values())
    n = len(ordered)
    scores = {}
    for cid, value in values.items():
        below = _count_below(ordered, value)
        scores[cid] = 1 + min(4, int(5 * below / n))
    return scores


def _count_below(ordered: Sequence[float], value: float) -> int:
    lo, hi = 0, len(ordered)
    while lo < hi:
        mid = (lo + hi) // 2
        if ordered[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _fixed_score(value: float, thresholds: Sequence[float], *, lower_is_better: bool = False) -> int:
    for index, threshold in enumerate(thresholds):
        if (value <= threshold) if lower_is_better else (value >= threshold):
            return 5 - index
    return 1


@dataclass(frozen=True)
class Rfm:
    r: int
    f: int
    m: int
    segment: str


def rfm_scores(
    buyers: Mapping[int, tuple[float, int, int]], *, min_pool: int = RFM_MIN_POOL
) -> dict[int, Rfm]:
    """RFM 1–5 for buyers of the last 12 months: ``{customer: (days since last order, orders, cents)}``.

    Quintiles over the pool when it has at least ``min_pool`` buyers, fixed cut-offs otherwise.
    """
    if len(buyers) >= min_pool:
        r = _quintile_scores({cid: -v[0] for cid, v in buyers.items()})
        f = _quintile_scores({cid: v[1] for cid, v in buyers.items()})
        m = _quintile_scores({cid: v[2] for cid, v in buyers.items()})
    else:
        r = {cid: _fixed_score(v[0], RFM_FIXED_R_DAYS, lower_is_better=True) for cid, v in buyers.items()}
        f = {cid: _fixed_score(v[1], RFM_FIXED_F_ORDERS) for cid, v in buyers.items()}
        m = {cid: _fixed_score(v[2], RFM_FIXED_M_CENTS) for cid, v in buyers.items()}
    return {cid: Rfm(r[cid], f[cid], m[cid], rfm_segment(r[cid], f[cid], m[cid])) for cid in buyers}


def rfm_segment(r: int, f: int, m: int) -> str:
    """The usual named RFM segments, from recency and frequency (monetary breaks the at-risk tie)."""
    if r >= 4 and f >= 4:
        return "champions"
    if r <= 1 and f >= 4 and m >= 4:
        return "cant_lose"
    if r <= 2 and f >= 3:
        return "at_risk"
    if r >= 3 and f >= 3:
        return "loyal"
    if r >= 4 and f == 1:
        return "new"
    if r >= 3:
        return "potential_loyalists"
    if r == 2:
        return "hibernating"
    return "lost"


# --- storage -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerOrder:
    """One active order of a customer: its facts for the rules, and its products."""

    id: int
    facts: OrderFacts
    product_ids: frozenset[int]


# Built once: this runs on every order change, and building the statement costs more than running it.
_ACTIVE_ORDER_LINES = (
    select(
        Order.id,
        Order.created_at,
        Order.shipped_at,
        Order.amount_cents,
        OrderItem.product_id,
        OrderItem.quantity,
        OrderItem.usage_days,
    )
    .outerjoin(OrderItem, OrderItem.order_id == Order.id)
    .where(Order.customer_id == bindparam("customer_id"), Order.status != OrderStatus.CANCELLED)
    .order_by(Order.created_at, Order.id)
)
_RECOGNISED_REFERRALS = (
    select(func.count())
    .select_from(Referral)
    .where(Referral.referrer_id == bindparam("customer_id"), Referral.status == "rewarded")
)


def active_orders(session: Session, customer_id: int) -> list[CustomerOrder]:
    """The customer's active (not cancelled) orders, oldest first, with their supply (the shortest
    quantity × usage days among the lines: the first to run out) and products: one query."""
    grouped: dict[int, tuple[Any, list[int], set[int]]] = {}
    for row in session.execute(_ACTIVE_ORDER_LINES, {"customer_id": customer_id}):
        _order, supplies, products = grouped.setdefault(row.id, (row, [], set()))
        if row.product_id is not None:
            products.add(row.product_id)
        if row.usage_days and row.usage_days > 0:
            supplies.append(row.quantity * row.usage_days)
    return [
        CustomerOrder(
            row.id,
            OrderFacts(row.created_at, row.shipped_at, min(supplies, default=0) or None, row.amount_cents),
            frozenset(products),
        )
        for row, supplies, products in grouped.values()
    ]


def has_referred(session: Session, customer_id: int) -> bool:
    """True when one of the customer's referees has paid (a rewarded, not reversed, referral)."""
    return session.scalar(_RECOGNISED_REFERRALS, {"customer_id": customer_id}) > 0


def refresh_customer(
    session: Session, customer: Customer, now: dt.datetime, orders: Sequence[CustomerOrder] | None = None
) -> None:
    """Recompute one customer's last order, median interval, expected next purchase, stage and
    sleeping clock (class and RFM are pool-relative and left to :func:`recompute_all`).

    ``orders``: the customer's :func:`active_orders` when the caller has just read them.
    """
    facts = [order.facts for order in (active_orders(session, customer.id) if orders is None else orders)]
    referred = has_referred(session, customer.id)  # read before writing: the customer's changes flush once
    last_order_at = facts[-1].created_at if facts else None
    cycle = cycle_days(facts)
    customer.last_order_at = last_order_at
    customer.median_interval_days = median_interval_days([o.created_at for o in facts])
    customer.expected_next_purchase_at = expected_next_purchase(facts)
    customer.stage = stage_as_of(facts, now, referred=referred, tags=customer.tags, current=customer.stage)
    _set_sleeping_clock(session, customer.id, last_order_at, cycle)


def current_stage(session: Session, customer: Customer, now: dt.datetime) -> str:
    """The customer's stage at ``now`` read off their orders (the stored one is only as fresh as the
    last order change or daily recompute)."""
    facts = [order.facts for order in active_orders(session, customer.id)]
    return stage_as_of(
        facts, now, referred=has_referred(session, customer.id), tags=customer.tags, current=customer.stage
    )


_TIMED = (CustomerStage.SLEEPING, CustomerStage.LOST)
STALE_CHUNK = 500


def stale_stages(session: Session, now: dt.datetime) -> dict[int, tuple[str | None, str, str | None]]:
    """Customers whose stored stage is not their stage at ``now``: ``{id: (stored, at now, openid)}``.

    The stored stage moves with order changes and the daily recompute; in between, time alone
    moves customers to sleeping and lost. The customers who may have moved are found on indexes
    (the sleeping clock has passed, the lost boundary may have, the clock is later than a stored
    sleeping/lost stage, orders without a stored last order yet, a distributor tag), then the rule
    (:func:`stage_as_of`) is applied to their orders: the figures stay a few queries, and equal to
    what the export reads off the orders.
    """
    stage = func.coalesce(Customer.stage, "")
    lost_cut = now - dt.timedelta(days=LOST_MIN_DAYS)
    clock = RetentionClock
    # The customer's sleeping clock by its unique key (an index probe per customer).
    own_clock = clock.key == literal("sleeping:customer:", String) + cast(Customer.id, String)
    has_orders = exists().where(Order.customer_id == Customer.id, Order.status != OrderStatus.CANCELLED)
    not_distributor = stage != CustomerStage.DISTRIBUTOR
    columns = (Customer.id, Customer.stage, Customer.tags, Customer.openid)
    queries = (
        # fell asleep since the stage was stored
        select(*columns)
        .join(clock, and_(clock.customer_id == Customer.id, clock.kind == "sleeping"))
        .where(clock.at <= now, stage.not_in((*_TIMED, CustomerStage.DISTRIBUTOR))),
        # sleeping long enough to be lost, or stored lost too early
        select(*columns).where(Customer.stage == CustomerStage.SLEEPING, Customer.last_order_at <= lost_cut),
        select(*columns).where(Customer.stage == CustomerStage.LOST, Customer.last_order_at > lost_cut),
        # stored sleeping or lost while the clock says not yet (computed at a later time)
        select(*columns)
        .outerjoin(clock, own_clock)
        .where(Customer.stage.in_(_TIMED), or_(clock.id.is_(None), clock.at > now)),
        # orders the stored fields do not know yet (imported, before the first recompute)
        select(*columns).where(Customer.last_order_at.is_(None), not_distributor, has_orders),
        # a distributor tag set after the stage was stored
        select(*columns).where(
            not_distributor, or_(*(Customer.tags.contains(tag) for tag in DISTRIBUTOR_TAGS))
        ),
    )
    candidates: dict[int, tuple[str | None, str | None, str | None]] = {}
    for query in queries:
        for cid, stored, tags, openid in session.execute(query):
            candidates[cid] = (stored, tags, openid)
    result: dict[int, tuple[str | None, str, str | None]] = {}
    ids = sorted(candidates)
    for start in range(0, len(ids), STALE_CHUNK):
        chunk = ids[start : start + STALE_CHUNK]
        orders = _active_orders_of(session, chunk)
        referred = set(
            session.scalars(
                select(Referral.referrer_id).where(
                    Referral.referrer_id.in_(chunk), Referral.status == "rewarded"
                )
            )
        )
        for cid in chunk:
            stored, tags, openid = candidates[cid]
            actual = stage_as_of(
                orders.get(cid, []), now, referred=cid in referred, tags=tags, current=stored
            )
            if actual != stored:
                result[cid] = (stored, actual, openid)
    return result


def _active_orders_of(session: Session, customer_ids: Sequence[int]) -> dict[int, list[OrderFacts]]:
    """:func:`active_orders`' facts for several customers at once (one query)."""
    lines = (
        select(
            Order.customer_id,
            Order.id,
            Order.created_at,
            Order.shipped_at,
            Order.amount_cents,
            OrderItem.quantity,
            OrderItem.usage_days,
        )
        .outerjoin(OrderItem, OrderItem.order_id == Order.id)
        .where(Order.customer_id.in_(list(customer_ids)), Order.status != OrderStatus.CANCELLED)
        .order_by(Order.customer_id, Order.created_at, Order.id)
    )
    grouped: dict[int, dict[int, tuple[Any, list[int]]]] = {}
    for row in session.execute(lines):
        _order, supplies = grouped.setdefault(row.customer_id, {}).setdefault(row.id, (row, []))
        if row.usage_days and row.usage_days > 0:
            supplies.append(row.quantity * row.usage_days)
    return {
        cid: [
            OrderFacts(row.created_at, row.shipped_at, min(supplies, default=0) or None, row.amount_cents)
            for row, supplies in orders.values()
        ]
        for cid, orders in grouped.items()
    }


def _set_sleeping_clock(
    session: Session, customer_id: int, last_order_at: dt.datetime | None, cycle: float | None
) -> None:
    """Move the customer's sleeping clock (one statement: an upsert, or a delete without orders)."""
    key = f"sleeping:customer:{customer_id}"
    table = RetentionClock.__table__
    if last_order_at is None:
        session.execute(table.delete().where(table.c.key == key))
        return
    upsert(
        session,
        table,
        {"key": key, "kind": "sleeping", "customer_id": customer_id, "at": sleeping_at(last_order_at, cycle)},
        ["key"],
        ["at"],
    )


@dataclass(frozen=True)
class RecomputeResult:
    customers: int
    changed_stage: int
    updated: int = 0  # customer rows written
    clocks_written: int = 0  # sleeping clocks inserted or moved


_DERIVED = (
    "stage",
    "customer_class",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_segment",
    "median_interval_days",
    "expected_next_purchase_at",
    "last_order_at",
)

_US_PER_DAY = 86_400_000_000
_EPOCH = dt.datetime(1970, 1, 1)


def _epoch_us(dialect: str, column: str) -> str:
    """SQL for a naive UTC timestamp column as integer microseconds since 1970 (exact).

    SQLite stores SQLAlchemy's ``YYYY-MM-DD HH:MM:SS.ffffff``: whole seconds from ``strftime('%s')``
    plus the six digits after the dot (``julianday`` would round to milliseconds).
    """
    if dialect == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"
    seconds = (
        f"unixepoch({column})"
        if sqlite3.sqlite_version_info >= (3, 38)
        else f"CAST(strftime('%s', {column}) AS INTEGER)"
    )
    return f"({seconds} * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"


def _recompute_sql(dialect: str) -> tuple[str, ...]:
    """The statements of :func:`recompute_all`: the facts each rule needs, per customer, into two
    scratch tables (history, buyers), then only the customers whose stored segment fields (or
    sleeping clock) may differ from what the rules give today.

    The SQL computes every derived value, but only to *find* the customers to update: a customer is
    returned when a value differs (or, for the time-based stage, when ``now`` is within 2 s of one of
    their boundaries); the returned facts are integers and timestamps from which Python applies the
    rules exactly (:func:`_apply`). So the SQL may over-select (then nothing is written) but the
    tolerances below are all tighter than :func:`_differs`, so it never misses a change.

    - history (all active orders, any date): count, last order time, the only order's shipped_at
      and supply (the rules use them before the second order only), and the middle one or two gaps
      between consecutive orders (in microseconds), from which the median interval follows;
    - RFM over the buyers of the last 12 months: ``RANK() - 1`` is the number of buyers with a
      strictly smaller value, so ``1 + min(4, 5 × below // n)`` is :func:`_quintile_scores` with its
      ties; below ``RFM_MIN_POOL`` buyers, the fixed cut-offs (recency: last order at or after
      ``now`` minus the cut-off);
    - class: buyers with a positive 12-month spend, ranked by spend descending (ties share the first
      rank): A when ``5 × rank < n`` (share < 20 %), B when ``2 × rank < n`` (< 50 %), C otherwise;
      everyone else D.
    """
    us = lambda column: _epoch_us(dialect, column)  # noqa: E731
    # 1 + min(4, 5 × below // n); below = RANK() - 1 = the buyers with a strictly smaller value
    quintile = lambda below: f"CASE WHEN 5 * {below} / nb >= 4 THEN 5 ELSE 1 + 5 * {below} / nb END"  # noqa: E731
    distinct = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    day = _US_PER_DAY
    cycle = f"(CASE WHEN h.g1 IS NOT NULL THEN (h.g1 + h.g2) / 2.0 ELSE COALESCE(h.supply, 0) * {day}.0 END)"
    sleep_t = (
        f"(h.last_t + CASE WHEN {SLEEPING_FACTOR} * {cycle} > {SLEEPING_MIN_DAYS * day}.0 "
        f"THEN {SLEEPING_FACTOR} * {cycle} ELSE {SLEEPING_MIN_DAYS * day}.0 END)"
    )
    lost_t = (
        f"(h.last_t + CASE WHEN {LOST_FACTOR} * {cycle} > {LOST_MIN_DAYS * day}.0 "
        f"THEN {LOST_FACTOR} * {cycle} ELSE {LOST_MIN_DAYS * day}.0 END)"
    )
    referred = "EXISTS (SELECT 1 FROM referral x WHERE x.referrer_id = c.id AND x.status = 'rewarded')"
    tag_match = " OR ".join(f"c.tags LIKE '%{tag}%'" for tag in DISTRIBUTOR_TAGS)  # a superset in SQLite
    expected_t = (
        f"(CASE WHEN h.g1 IS NOT NULL THEN h.last_t + (h.g1 + h.g2) / 2.0 "
        f"WHEN h.supply IS NOT NULL THEN COALESCE(h.shipped_t, h.last_t) + h.supply * {day}.0 END)"
    )
    stage = f"""CASE
        WHEN c.stage = '{CustomerStage.DISTRIBUTOR}' OR {tag_match} THEN '{CustomerStage.DISTRIBUTOR}'
        WHEN h.n IS NULL THEN CASE WHEN {referred} THEN '{CustomerStage.FAN}'
                                   ELSE '{CustomerStage.PROSPECT}' END
        WHEN :now_t >= {lost_t} THEN '{CustomerStage.LOST}'
        WHEN :now_t >= {sleep_t} THEN '{CustomerStage.SLEEPING}'
        WHEN {referred} THEN '{CustomerStage.FAN}'
        WHEN h.n >= {LOYAL_MIN_ORDERS} THEN '{CustomerStage.LOYAL}'
        WHEN h.n = 2 THEN '{CustomerStage.RETURNING}'
        ELSE '{CustomerStage.NEW}' END"""
    segment = """CASE WHEN s.r IS NULL THEN NULL
        WHEN s.r >= 4 AND s.f >= 4 THEN 'champions'
        WHEN s.r <= 1 AND s.f >= 4 AND s.m >= 4 THEN 'cant_lose'
        WHEN s.r <= 2 AND s.f >= 3 THEN 'at_risk'
        WHEN s.r >= 3 AND s.f >= 3 THEN 'loyal'
        WHEN s.r >= 4 AND s.f = 1 THEN 'new'
        WHEN s.r >= 3 THEN 'potential_loyalists'
        WHEN s.r = 2 THEN 'hibernating'
        ELSE 'lost' END"""
    r_fixed = " ".join(f"WHEN last_recent >= :r_cut{i} THEN {5 - i}" for i in range(len(RFM_FIXED_R_DAYS)))
    f_fixed = " ".join(f"WHEN cnt >= {v} THEN {5 - i}" for i, v in enumerate(RFM_FIXED_F_ORDERS))
    m_fixed = " ".join(f"WHEN total >= {v} THEN {5 - i}" for i, v in enumerate(RFM_FIXED_M_CENTS))
    active = f"status <> '{OrderStatus.CANCELLED}'"
    # The 12-month window is most of the table: on SQLite a plain scan beats the (status,
    # created_at) index and its row lookups, so it reads the table in order (NOT INDEXED).
    orders_scan = "orders" if dialect == "postgresql" else "orders NOT INDEXED"
    # Per customer: count, first and last order time (one GROUP BY, no sort of the orders); the
    # one-order customers' shipping and supply, the three-order customers' middle order (index
    # probes on (customer_id, created_at)). Gaps for two or three orders follow from these.
    # OFFSET keeps both databases from inlining a subquery into the expressions that use its
    # columns (which would run the correlated lookups, or the time conversions, once per use).
    fence = "OFFSET 0" if dialect == "postgresql" else "LIMIT -1 OFFSET 0"
    first_gap, second_gap = "(mid_t - first_t)", "(last_t - mid_t)"
    history = f"""
INSERT INTO seg_history (customer_id, n, last_at, last_shipped, supply, last_t, shipped_t, g1, g2)
WITH per AS (
    SELECT customer_id, COUNT(*) AS n, MIN(created_at) AS first_at, MAX(created_at) AS last_at
    FROM {orders_scan} WHERE {active} GROUP BY customer_id
)
SELECT customer_id, n, last_at, last_shipped, supply, last_t, shipped_t,
       CASE WHEN n = 2 THEN last_t - first_t
            WHEN n = 3 THEN CASE WHEN {first_gap} <= {second_gap} THEN {first_gap} ELSE {second_gap} END END,
       CASE WHEN n = 2 THEN last_t - first_t
            WHEN n = 3 THEN CASE WHEN {first_gap} <= {second_gap} THEN {second_gap} ELSE {first_gap} END END
FROM (
    SELECT one.*, {us("first_at")} AS first_t, {us("last_at")} AS last_t, {us("mid_at")} AS mid_t,
           {us("last_shipped")} AS shipped_t
    FROM (
        SELECT customer_id, n, first_at, last_at,
               CASE WHEN n = 3 THEN (SELECT x.created_at FROM orders x
                                     WHERE x.customer_id = per.customer_id AND x.{active}
                                     ORDER BY x.created_at, x.id LIMIT 1 OFFSET 1) END AS mid_at,
               CASE WHEN n = 1 THEN (SELECT x.shipped_at FROM orders x
                                     WHERE x.customer_id = per.customer_id AND x.{active}) END AS last_shipped,
               CASE WHEN n = 1 THEN (SELECT NULLIF(MIN(i.quantity * i.usage_days), 0)
                                     FROM orders x JOIN order_item i ON i.order_id = x.id
                                     WHERE x.customer_id = per.customer_id AND x.{active}
                                       AND i.usage_days > 0) END AS supply
        FROM per {fence}
    ) one {fence}
) t
"""
    # From four orders on: the gaps in order (window functions), for those customers only.
    medians = f"""
INSERT INTO seg_median (customer_id, g1, g2)
WITH o AS (
    SELECT customer_id, {us("created_at")} - LAG({us("created_at")}) OVER w AS gap
    FROM orders
    WHERE {active} AND customer_id IN (SELECT customer_id FROM seg_history WHERE n >= 4)
    WINDOW w AS (PARTITION BY customer_id ORDER BY created_at, id)
),
g AS (
    SELECT customer_id, gap, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY gap) AS gr,
           COUNT(*) OVER (PARTITION BY customer_id) AS m
    FROM o WHERE gap IS NOT NULL
)
SELECT customer_id, MIN(gap), MAX(gap) FROM g WHERE gr = (m + 1) / 2 OR gr = (m + 2) / 2 GROUP BY customer_id
"""
    set_medians = """
UPDATE seg_history SET g1 = (SELECT g1 FROM seg_median WHERE seg_median.customer_id = seg_history.customer_id),
                       g2 = (SELECT g2 FROM seg_median WHERE seg_median.customer_id = seg_history.customer_id)
WHERE n >= 4
"""
    buyers = f"""
INSERT INTO seg_buyer (customer_id, r, f, m, new_class)
WITH b AS (
    SELECT customer_id, MAX(created_at) AS last_recent, COUNT(*) AS cnt, COALESCE(SUM(amount_cents), 0) AS total
    FROM {orders_scan} WHERE {active} AND created_at >= :since AND created_at <= :now
    GROUP BY customer_id
),
ranked AS (
    SELECT customer_id, total, COUNT(*) OVER () AS nb, SUM(CASE WHEN total > 0 THEN 1 ELSE 0 END) OVER () AS np,
           RANK() OVER (ORDER BY last_recent) - 1 AS r_below, RANK() OVER (ORDER BY cnt) - 1 AS f_below,
           RANK() OVER (ORDER BY total) - 1 AS m_below, RANK() OVER (ORDER BY total DESC) - 1 AS first,
           CASE {r_fixed} ELSE 1 END AS r_fixed, CASE {f_fixed} ELSE 1 END AS f_fixed,
           CASE {m_fixed} ELSE 1 END AS m_fixed
    FROM b
)
SELECT customer_id,
       CASE WHEN nb >= :min_pool THEN {quintile("r_below")} ELSE r_fixed END,
       CASE WHEN nb >= :min_pool THEN {quintile("f_below")} ELSE f_fixed END,
       CASE WHEN nb >= :min_pool THEN {quintile("m_below")} ELSE m_fixed END,
       CASE WHEN total <= 0 THEN 'D' WHEN 5 * first < np THEN 'A' WHEN 2 * first < np THEN 'B' ELSE 'C' END
FROM ranked
"""
    facts = f"""
WITH facts AS (
    SELECT c.id, c.tags, c.stage, c.customer_class, c.rfm_r, c.rfm_f, c.rfm_m, c.rfm_segment,
           c.median_interval_days, c.expected_next_purchase_at, c.last_order_at,
           h.n, h.last_at, h.last_shipped, h.supply, h.g1, h.g2, s.r, s.f, s.m,
           COALESCE(s.new_class, 'D') AS new_class,
           {referred} AS referred,
           k.id AS clock_id, k.at AS clock_at,
           {stage} AS sql_stage,
           {segment} AS sql_segment,
           h.g1 IS NOT NULL AND (c.median_interval_days IS NULL
               OR abs(c.median_interval_days - (h.g1 + h.g2) / 2.0 / {day}.0) > 1e-7)
             OR h.g1 IS NULL AND c.median_interval_days IS NOT NULL AS median_differs,
           CASE WHEN {expected_t} IS NULL THEN c.expected_next_purchase_at IS NOT NULL
                ELSE c.expected_next_purchase_at IS NULL
                     OR abs({us("c.expected_next_purchase_at")} - {expected_t}) > 500000 END AS expected_differs,
           h.n IS NOT NULL AND (k.id IS NULL OR abs({us("k.at")} - {sleep_t}) > 500000) AS clock_differs,
           h.n IS NOT NULL AND (abs(:now_t - {sleep_t}) < 2000000 OR abs(:now_t - {lost_t}) < 2000000) AS near_boundary
    FROM customer c
    LEFT JOIN seg_history h ON h.customer_id = c.id
    LEFT JOIN seg_buyer s ON s.customer_id = c.id
    LEFT JOIN retention_clock k ON k.customer_id = c.id AND k.kind = 'sleeping'
    WHERE c.id > :lo AND c.id <= :hi
)
SELECT * FROM facts
WHERE sql_stage {distinct} stage OR near_boundary
   OR new_class {distinct} customer_class
   OR r {distinct} rfm_r OR f {distinct} rfm_f OR m {distinct} rfm_m OR sql_segment {distinct} rfm_segment
   OR last_at {distinct} last_order_at OR median_differs OR expected_differs OR clock_differs
"""
    return history, medians, set_medians, buyers, facts


# Scratch tables of one recompute (dropped at its end): indexed by customer, so the final join is
# a primary-key lookup whatever the planner makes of window-function subqueries.
_SCRATCH = {
    "seg_history": "customer_id INTEGER PRIMARY KEY, n INTEGER, last_at TIMESTAMP, last_shipped TIMESTAMP, "
    "supply INTEGER, last_t BIGINT, shipped_t BIGINT, g1 BIGINT, g2 BIGINT",
    "seg_median": "customer_id INTEGER PRIMARY KEY, g1 BIGINT, g2 BIGINT",
    "seg_buyer": "customer_id INTEGER PRIMARY KEY, r INTEGER, f INTEGER, m INTEGER, new_class VARCHAR(1)",
}


_FACT_TYPES = {
    "last_at": DateTime(),
    "last_shipped": DateTime(),
    "clock_at": DateTime(),
    "expected_next_purchase_at": DateTime(),
    "last_order_at": DateTime(),
}


def _median_from_middle(g1: int | None, g2: int | None) -> float | None:
    """:func:`median_interval_days` from the middle gap(s) in microseconds (same float arithmetic)."""
    if g1 is None:
        return None
    d1 = dt.timedelta(microseconds=int(g1)).total_seconds() / 86400
    if g1 == g2:
        return d1
    return (d1 + dt.timedelta(microseconds=int(g2)).total_seconds() / 86400) / 2


def recompute_all(session: Session, now: dt.datetime) -> RecomputeResult:
    """Recompute stage, class, RFM, median interval and expected next purchase for the whole pool.

    Set-based (:func:`_recompute_sql`): a few statements aggregate the pool into scratch tables
    and return only the customers whose stored values (or sleeping clock) may have changed;
    Python applies the rules to those rows alone and writes the ones that did change. The
    statements still scan the orders and customers once (class and RFM are relative to the pool)
    but nothing pool-sized crosses into Python, so a day with few changes writes few rows.
    """
    dialect = session.get_bind().dialect.name
    since = now - dt.timedelta(days=CLASS_WINDOW_DAYS)
    params = {
        "now": now,
        "since": since,
        "now_t": (now - _EPOCH) // dt.timedelta(microseconds=1),
        "min_pool": RFM_MIN_POOL,
        **{f"r_cut{i}": now - dt.timedelta(days=d) for i, d in enumerate(RFM_FIXED_R_DAYS)},
    }
    history, medians, set_medians, buyers, facts = _recompute_sql(dialect)
    dates = [
        bindparam(name, type_=DateTime())
        for name in params
        if name in ("now", "since") or name.startswith("r_cut")
    ]
    if dialect == "postgresql":  # this transaction's sorts and hashes (window functions) in memory
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    for name, columns in _SCRATCH.items():
        session.execute(text(f"DROP TABLE IF EXISTS {name}"))
        session.execute(text(f"CREATE TEMPORARY TABLE {name} ({columns})"))
    session.execute(text(history))
    session.execute(text(medians))
    session.execute(text(set_medians))
    session.execute(
        text(buyers).bindparams(*(p for p in dates if p.key != "now_t")),
        {k: v for k, v in params.items() if k != "now_t"},
    )
    if dialect == "postgresql":  # the planner knows nothing of fresh temporary tables
        session.execute(text("ANALYZE seg_history"))
        session.execute(text("ANALYZE seg_buyer"))
    # The customers to update, a range of ids at a time (memory stays bounded on a first run,
    # when every customer is one).
    facts_stmt = text(facts).columns(**_FACT_TYPES)
    last_id = session.scalar(select(func.max(Customer.id))) or 0
    updated = clocks = changed = 0
    for lo in range(0, last_id, FACTS_CHUNK):
        rows = (
            session.execute(facts_stmt, {"now_t": params["now_t"], "lo": lo, "hi": lo + FACTS_CHUNK})
            .mappings()
            .all()
        )
        chunk = _write_changes(session, rows, now)
        updated, clocks, changed = updated + chunk[0], clocks + chunk[1], changed + chunk[2]
    for name in _SCRATCH:
        session.execute(text(f"DROP TABLE {name}"))
    customers = session.scalar(select(func.count()).select_from(Customer))
    return RecomputeResult(customers, changed, updated, clocks)


FACTS_CHUNK = 200_000


def _write_changes(session: Session, rows, now: dt.datetime) -> tuple[int, int, int]:
    """Apply the rules to the returned customers; write what changed. Returns (customers updated,
    clocks written, stages changed)."""
    updates, clock_updates, clock_inserts, changed = [], [], [], 0
    for row in rows:
        values, clock = _apply(row, now)
        changed += values["stage"] != row["stage"]
        if any(_differs(row[name], value) for name, value in values.items()):
            updates.append({"id": row["id"], **values})
        if clock is not None:
            if row["clock_id"] is None:
                clock_inserts.append(
                    {
                        "key": f"sleeping:customer:{row['id']}",
                        "kind": "sleeping",
                        "customer_id": row["id"],
                        "at": clock,
                    }
                )
            elif _differs(row["clock_at"], clock):
                clock_updates.append({"id": row["clock_id"], "at": clock})
    for start in range(0, len(updates), 1000):
        session.execute(update(Customer), updates[start : start + 1000])
    for start in range(0, len(clock_updates), 1000):
        session.execute(update(RetentionClock), clock_updates[start : start + 1000])
    for start in range(0, len(clock_inserts), 1000):
        session.execute(RetentionClock.__table__.insert(), clock_inserts[start : start + 1000])
    return len(updates), len(clock_updates) + len(clock_inserts), changed


def _apply(row, now: dt.datetime) -> tuple[dict[str, object], dt.datetime | None]:
    """The rules on one customer's facts: their derived fields, and their sleeping clock (or None)."""
    n = row["n"] or 0
    last = row["last_at"] if n else None
    median = _median_from_middle(row["g1"], row["g2"])
    supply = int(row["supply"]) if row["supply"] else None
    cycle = median if median is not None else (float(supply) if supply else None)
    if last is None:
        expected = None
    elif median is not None:
        expected = last + dt.timedelta(days=median)
    elif supply:
        expected = (row["last_shipped"] or last) + dt.timedelta(days=supply)
    else:
        expected = None
    stage = stage_for(
        n, last, cycle, now, referred=bool(row["referred"]), tags=row["tags"], current=row["stage"]
    )
    r, f, m = row["r"], row["f"], row["m"]
    values = {
        "stage": stage,
        "customer_class": row["new_class"],
        "rfm_r": r,
        "rfm_f": f,
        "rfm_m": m,
        "rfm_segment": rfm_segment(r, f, m) if r is not None else None,
        "median_interval_days": median,
        "expected_next_purchase_at": expected,
        "last_order_at": last,
    }
    return values, (sleeping_at(last, cycle) if last is not None else None)


def _differs(old: object, new: object) -> bool:
    if isinstance(old, float) and isinstance(new, float):
        return abs(old - new) > 1e-6
    if isinstance(old, dt.datetime) and isinstance(new, dt.datetime):
        return abs((old - new).total_seconds()) >= 1
    return old != new


__all__ = [
    "OrderFacts",
    "Rfm",
    "classes_by_spend",
    "current_stage",
    "cycle_days",
    "expected_next_purchase",
    "median_interval_days",
    "recompute_all",
    "refresh_customer",
    "rfm_scores",
    "rfm_segment",
    "sleeping_at",
    "stage_as_of",
    "stage_for",
    "stale_stages",
]
