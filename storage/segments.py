"""Customer segments: expected next purchase, journey stage, A/B/C/D class and RFM.

Pure rules first (plain functions, ``now`` passed in), then the two ways they reach the
``customer`` row: :func:`refresh_customer` for one customer when one of their orders changes,
and the daily recompute (``storage/segment_moments.py``: class and RFM are relative to the pool, and
stages move with time alone — active customers fall asleep without any event).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
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
    (:func:`refresh_customer`, ``segment_moments``) go through this rule."""
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
    sleeping clock (class and RFM are pool-relative and left to the daily recompute, which this marks
    the customer for).

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
    customer.segment_due_at = None  # class and RFM: the next daily run (storage/segment_moments.py)
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
        orders = active_orders_of(session, chunk)
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


# The first line to run out sets the order's supply: the shortest quantity × usage days.
_ORDER_SUPPLY = func.min(case((OrderItem.usage_days > 0, OrderItem.quantity * OrderItem.usage_days)))
_ACTIVE_ORDERS_OF = (
    select(Order.customer_id, Order.created_at, Order.shipped_at, Order.amount_cents, _ORDER_SUPPLY)
    .outerjoin(OrderItem, OrderItem.order_id == Order.id)
    .where(Order.customer_id.in_(bindparam("ids", expanding=True)), Order.status != OrderStatus.CANCELLED)
    .group_by(Order.id, Order.customer_id, Order.created_at, Order.shipped_at, Order.amount_cents)
    .order_by(Order.customer_id, Order.created_at, Order.id)
)


def active_orders_of(session: Session, customer_ids: Sequence[int]) -> dict[int, list[OrderFacts]]:
    """:func:`active_orders`' facts for several customers at once (one query, one row per order)."""
    result: dict[int, list[OrderFacts]] = {}
    for cid, created_at, shipped_at, amount_cents, supply in session.execute(
        _ACTIVE_ORDERS_OF, {"ids": list(customer_ids)}
    ):
        result.setdefault(cid, []).append(OrderFacts(created_at, shipped_at, supply or None, amount_cents))
    return result


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


__all__ = [
    "OrderFacts",
    "active_orders_of",
    "Rfm",
    "classes_by_spend",
    "current_stage",
    "cycle_days",
    "expected_next_purchase",
    "median_interval_days",
    "refresh_customer",
    "rfm_scores",
    "rfm_segment",
    "sleeping_at",
    "stage_as_of",
    "stage_for",
    "stale_stages",
]
