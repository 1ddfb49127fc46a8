"""Business figures for the seller's ``统计``: set-based queries, a handful per period.

Definitions (the README's seller cheat sheet repeats them):

- new customers: customer rows created in the period (seller accounts excluded);
- orders: orders created in the period and not cancelled;
- revenue: the amount of those orders that are paid (paid, shipped or received);
- average order value: revenue / paid orders, rounded to the cent;
- repurchase rate: of the customers who ordered in the period, the share with another
  non-cancelled order up to the period's end (bought before, or again within it);
- referrals: referral rows created in the period that were not rejected or reversed;
- the pool: customers by stage and by A/B/C/D class; sleeping and lost are those stages, as of
  ``now`` (``storage.segments.stale_stages`` corrects the stored stages time has moved since the
  last recompute, so the counts equal the export's, which reads the stage off the orders).

Each function is a few aggregate queries over indexed columns (``customer.created_at``,
``orders(status, created_at)``, ``orders(customer_id, created_at)``, ``customer.stage``,
``customer.customer_class``), so the cost does not grow with a loop over customers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.orm import Session, aliased

from storage import clock
from storage.models import Customer, CustomerStage, Order, OrderStatus, Referral
from storage.segments import stale_stages

PAID_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.RECEIVED)
UNCOUNTED_REFERRALS = ("rejected", "reversed")


@dataclass(frozen=True)
class PeriodFigures:
    start: dt.datetime
    end: dt.datetime
    new_customers: int
    orders: int
    paid_orders: int
    revenue_cents: int
    buyers: int
    repeat_buyers: int
    referrals: int

    @property
    def average_order_cents(self) -> int:
        return (self.revenue_cents + self.paid_orders // 2) // self.paid_orders if self.paid_orders else 0

    @property
    def repurchase_rate(self) -> float:
        return self.repeat_buyers / self.buyers if self.buyers else 0.0


@dataclass(frozen=True)
class PoolFigures:
    total: int
    by_stage: dict[str, int] = field(default_factory=dict)
    by_class: dict[str, int] = field(default_factory=dict)  # "" = not classified yet

    @property
    def sleeping(self) -> int:
        return self.by_stage.get(CustomerStage.SLEEPING, 0)

    @property
    def lost(self) -> int:
        return self.by_stage.get(CustomerStage.LOST, 0)


def period_starts(now: dt.datetime, timezone: str) -> dict[str, dt.datetime]:
    """Naive-UTC starts of today, this week (Monday) and this month in ``timezone``."""
    zone = clock.zone(timezone)
    local_now = clock.to_local(now, zone)
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = {
        "today": midnight,
        "week": midnight - dt.timedelta(days=midnight.weekday()),
        "month": midnight.replace(day=1),
    }
    # Rebuild each local midnight with the zone (DST-safe) before converting back to UTC.
    return {
        key: dt.datetime(v.year, v.month, v.day, tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)
        for key, v in starts.items()
    }


def _seller_rows(
    session: Session, seller_openids: Iterable[str]
) -> list[tuple[dt.datetime, str | None, str | None]]:
    """``(created_at, stage, class)`` of the seller accounts' own customer rows, to subtract.

    Subtracting a handful of rows keeps the big counts on their covering indexes, where a
    ``openid NOT IN (…)`` filter would make every count read the whole table.
    """
    sellers = list(seller_openids)
    if not sellers:
        return []
    return [
        tuple(row)
        for row in session.execute(
            select(Customer.created_at, Customer.stage, Customer.customer_class).where(
                Customer.openid.in_(sellers)
            )
        )
    ]


def period_figures(
    session: Session, start: dt.datetime, end: dt.datetime, seller_openids: Iterable[str] = ()
) -> PeriodFigures:
    """Figures for orders, customers and referrals created in ``[start, end)``."""
    new_customers = (
        session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.created_at >= start, Customer.created_at < end)
        )
        or 0
    )
    new_customers -= sum(
        1 for created, _, _ in _seller_rows(session, seller_openids) if start <= created < end
    )

    # ``status IN (active)`` rather than ``!= cancelled``: each value is a range on ix_orders_status_created.
    in_period = and_(Order.status.in_(OrderStatus.ACTIVE), Order.created_at >= start, Order.created_at < end)
    paid = Order.status.in_(PAID_STATUSES)
    orders, paid_orders, revenue, buyers = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((paid, 1), else_=0)), 0),
            func.coalesce(func.sum(case((paid, Order.amount_cents), else_=0)), 0),
            func.count(Order.customer_id.distinct()),
        )
        .select_from(Order)
        .where(in_period)
    ).one()

    # A repeat buyer has another active order up to the period's end (ix_orders_customer_created).
    other = aliased(Order)
    repeat_buyers = (
        session.scalar(
            select(func.count(Order.customer_id.distinct())).where(
                in_period,
                exists().where(
                    other.customer_id == Order.customer_id,
                    other.id != Order.id,
                    other.created_at < end,
                    other.status.in_(OrderStatus.ACTIVE),
                ),
            )
        )
        or 0
    )

    referrals = (
        session.scalar(
            select(func.count())
            .select_from(Referral)
            .where(
                Referral.created_at >= start,
                Referral.created_at < end,
                Referral.status.not_in(UNCOUNTED_REFERRALS),
            )
        )
        or 0
    )
    return PeriodFigures(
        start,
        end,
        int(new_customers),
        int(orders),
        int(paid_orders),
        int(revenue),
        int(buyers),
        int(repeat_buyers),
        int(referrals),
    )


def pool_figures(
    session: Session, seller_openids: Iterable[str] = (), now: dt.datetime | None = None
) -> PoolFigures:
    """The whole pool by stage (as of ``now`` when given) and by class (two GROUP BY queries on
    covering indexes, plus the stages time has moved since they were stored)."""
    by_stage = {
        stage or "": int(count)
        for stage, count in session.execute(select(Customer.stage, func.count()).group_by(Customer.stage))
    }
    by_class = {
        klass or "": int(count)
        for klass, count in session.execute(
            select(Customer.customer_class, func.count()).group_by(Customer.customer_class)
        )
    }
    sellers = list(seller_openids)
    for _created, stage, klass in _seller_rows(session, sellers):
        by_stage[stage or ""] -= 1
        by_class[klass or ""] -= 1
    if now is not None:
        for stored, actual, openid in stale_stages(session, now).values():
            if openid not in sellers:
                by_stage[stored or ""] -= 1
                by_stage[actual] = by_stage.get(actual, 0) + 1
    by_stage = {k: v for k, v in by_stage.items() if v}
    by_class = {k: v for k, v in by_class.items() if v}
    return PoolFigures(sum(by_stage.values()), by_stage, by_class)


def business_figures(
    session: Session, now: dt.datetime, timezone: str, seller_openids: Iterable[str] = ()
) -> tuple[dict[str, PeriodFigures], PoolFigures]:
    """Today, this week and this month up to ``now``, and the pool: everything ``统计`` shows."""
    sellers = list(seller_openids)
    end = now + dt.timedelta(microseconds=1)
    periods = {
        key: period_figures(session, start, end, sellers)
        for key, start in period_starts(now, timezone).items()
    }
    return periods, pool_figures(session, sellers, now)
