"""Customer segments: expected next purchase, journey stage, A/B/C/D class and RFM.

Pure rules first (plain functions, ``now`` passed in), then the two ways they reach the
``customer`` row: :func:`refresh_customer` for one customer when one of their orders changes,
and :func:`recompute_all` for the whole pool (a daily sweep: class and RFM are relative to the
pool, and stages move with time alone — active customers fall asleep without any event).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import Customer, CustomerStage, Order, OrderItem, OrderStatus, Referral, RetentionClock

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


def sleeping_at(last_order_at: dt.datetime, cycle: float | None, *, min_days: float = SLEEPING_MIN_DAYS,
                factor: float = SLEEPING_FACTOR) -> dt.datetime:
    """When a customer with no further order becomes sleeping: max(min_days, factor × cycle)."""
    return last_order_at + dt.timedelta(days=max(min_days, factor * (cycle or 0)))


def lost_at(last_order_at: dt.datetime, cycle: float | None) -> dt.datetime:
    return last_order_at + dt.timedelta(days=max(LOST_MIN_DAYS, LOST_FACTOR * (cycle or 0)))


def stage_for(order_count: int, last_order_at: dt.datetime | None, cycle: float | None, now: dt.datetime, *,
              referred: bool = False, tags: str | None = None, current: str | None = None) -> str:
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


def rfm_scores(buyers: Mapping[int, tuple[float, int, int]], *, min_pool: int = RFM_MIN_POOL) -> dict[int, Rfm]:
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

def _supply_days_by_order(session: Session, order_ids: Sequence[int]) -> dict[int, int]:
    """Each order's supply: the shortest quantity × usage days among its items (first to run out)."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(OrderItem.order_id, func.min(OrderItem.quantity * OrderItem.usage_days))
        .where(OrderItem.order_id.in_(order_ids), OrderItem.usage_days > 0)
        .group_by(OrderItem.order_id)
    ).all()
    return {order_id: int(days) for order_id, days in rows if days}


def order_facts(session: Session, customer_id: int) -> list[OrderFacts]:
    """The customer's active orders, oldest first."""
    orders = session.execute(
        select(Order.id, Order.created_at, Order.shipped_at, Order.amount_cents)
        .where(Order.customer_id == customer_id, Order.status != OrderStatus.CANCELLED)
        .order_by(Order.created_at, Order.id)
    ).all()
    supply = _supply_days_by_order(session, [o.id for o in orders])
    return [OrderFacts(o.created_at, o.shipped_at, supply.get(o.id), o.amount_cents) for o in orders]


def has_referred(session: Session, customer_id: int) -> bool:
    """True when one of the customer's referees has paid (a rewarded, not reversed, referral)."""
    return session.scalar(
        select(func.count()).select_from(Referral)
        .where(Referral.referrer_id == customer_id, Referral.status == "rewarded")
    ) > 0


def refresh_customer(session: Session, customer: Customer, now: dt.datetime) -> None:
    """Recompute one customer's last order, median interval, expected next purchase, stage and
    sleeping clock (class and RFM are pool-relative and left to :func:`recompute_all`)."""
    orders = order_facts(session, customer.id)
    customer.last_order_at = orders[-1].created_at if orders else None
    customer.median_interval_days = median_interval_days([o.created_at for o in orders])
    customer.expected_next_purchase_at = expected_next_purchase(orders)
    cycle = cycle_days(orders)
    customer.stage = stage_for(len(orders), customer.last_order_at, cycle, now,
                               referred=has_referred(session, customer.id), tags=customer.tags,
                               current=customer.stage)
    _set_sleeping_clock(session, customer.id, customer.last_order_at, cycle)


def _set_sleeping_clock(session: Session, customer_id: int, last_order_at: dt.datetime | None,
                        cycle: float | None) -> None:
    key = f"sleeping:customer:{customer_id}"
    clock = session.scalar(select(RetentionClock).where(RetentionClock.key == key))
    if last_order_at is None:
        if clock is not None:
            session.delete(clock)
        return
    at = sleeping_at(last_order_at, cycle)
    if clock is None:
        session.add(RetentionClock(key=key, kind="sleeping", customer_id=customer_id, at=at))
    else:
        clock.at = at


@dataclass(frozen=True)
class RecomputeResult:
    customers: int
    changed_stage: int
    updated: int = 0  # customer rows written
    clocks_written: int = 0  # sleeping clocks inserted or moved


def recompute_all(session: Session, now: dt.datetime) -> RecomputeResult:
    """Recompute stage, class, RFM, median interval and expected next purchase for the whole pool.

    One aggregate query per concern and bulk UPDATEs by primary key: the cost grows with the
    pool, which is why it runs once a day rather than on every tick.
    """
    since = now - dt.timedelta(days=CLASS_WINDOW_DAYS)
    active = Order.status != OrderStatus.CANCELLED
    rows = session.execute(
        select(Order.customer_id, Order.id, Order.created_at, Order.shipped_at)
        .where(active).order_by(Order.customer_id, Order.created_at, Order.id)
    ).all()
    supply = dict(session.execute(
        select(OrderItem.order_id, func.min(OrderItem.quantity * OrderItem.usage_days))
        .join(Order, Order.id == OrderItem.order_id)
        .where(active, OrderItem.usage_days > 0).group_by(OrderItem.order_id)
    ).all())
    history: dict[int, list[OrderFacts]] = {}
    for row in rows:
        days = supply.get(row.id)
        history.setdefault(row.customer_id, []).append(
            OrderFacts(row.created_at, row.shipped_at, int(days) if days else None, 0))

    recent = session.execute(
        select(Order.customer_id, func.max(Order.created_at), func.count(), func.sum(Order.amount_cents))
        .where(active, Order.created_at >= since, Order.created_at <= now).group_by(Order.customer_id)
    ).all()
    buyers = {cid: ((now - last).total_seconds() / 86400, count, int(total or 0))
              for cid, last, count, total in recent}
    rfm = rfm_scores(buyers)
    referrers = set(session.scalars(
        select(Referral.referrer_id).where(Referral.status == "rewarded").distinct()))
    customers = session.execute(select(Customer.id, Customer.tags, *(getattr(Customer, f) for f in _DERIVED))).all()
    classes = classes_by_spend({c.id: buyers.get(c.id, (0, 0, 0))[2] for c in customers})

    updates = []
    clocks = []
    changed = 0
    for c in customers:
        orders = history.get(c.id, [])
        last = orders[-1].created_at if orders else None
        cycle = cycle_days(orders)
        stage = stage_for(len(orders), last, cycle, now, referred=c.id in referrers, tags=c.tags, current=c.stage)
        changed += stage != c.stage
        score = rfm.get(c.id)
        values = {
            "stage": stage, "customer_class": classes[c.id],
            "rfm_r": score.r if score else None, "rfm_f": score.f if score else None,
            "rfm_m": score.m if score else None, "rfm_segment": score.segment if score else None,
            "median_interval_days": median_interval_days([o.created_at for o in orders]),
            "expected_next_purchase_at": expected_next_purchase(orders), "last_order_at": last,
        }
        if any(_differs(getattr(c, name), value) for name, value in values.items()):
            updates.append({"id": c.id, **values})
        if last is not None:
            clocks.append((c.id, sleeping_at(last, cycle)))
    if updates:
        session.execute(update(Customer), updates)
    written = _sync_sleeping_clocks(session, clocks)
    return RecomputeResult(len(customers), changed, len(updates), written)


_DERIVED = ("stage", "customer_class", "rfm_r", "rfm_f", "rfm_m", "rfm_segment", "median_interval_days",
            "expected_next_purchase_at", "last_order_at")


def _differs(old: object, new: object) -> bool:
    if isinstance(old, float) and isinstance(new, float):
        return abs(old - new) > 1e-6
    if isinstance(old, dt.datetime) and isinstance(new, dt.datetime):
        return abs((old - new).total_seconds()) >= 1
    return old != new


def _sync_sleeping_clocks(session: Session, clocks: list[tuple[int, dt.datetime]]) -> int:
    """Bring every buyer's sleeping clock to the recomputed time (insert the missing ones)."""
    existing = {row.customer_id: row for row in session.execute(
        select(RetentionClock.customer_id, RetentionClock.id, RetentionClock.at)
        .where(RetentionClock.kind == "sleeping"))}
    changes = [{"id": existing[cid].id, "at": at} for cid, at in clocks
               if cid in existing and _differs(existing[cid].at, at)]
    if changes:
        session.execute(update(RetentionClock), changes)
    missing = [{"key": f"sleeping:customer:{cid}", "kind": "sleeping", "customer_id": cid, "at": at}
               for cid, at in clocks if cid not in existing]
    if missing:
        session.execute(RetentionClock.__table__.insert(), missing)
    return len(changes) + len(missing)


__all__ = [
    "OrderFacts",
    "Rfm",
    "classes_by_spend",
    "cycle_days",
    "expected_next_purchase",
    "median_interval_days",
    "recompute_all",
    "refresh_customer",
    "rfm_scores",
    "rfm_segment",
    "sleeping_at",
    "stage_for",
]
