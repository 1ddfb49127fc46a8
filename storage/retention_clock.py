"""Keep the retention clocks and the customer's segment fields in step with their orders.

Called from :func:`storage.order_hooks.after_order_change` inside the order's transaction:

- shipping an order starts its supply: ``supply_mid`` and ``supply_end`` clocks at half and full
  supply (quantity × usage days, the shortest line of the order, from ``shipped_at``);
- a new order of the same product supersedes the older orders' supply clocks and cancels their
  still-pending product-cycle messages; any new order cancels a pending win-back sequence;
- cancelling that newer order restores the clocks it superseded (messages already cancelled stay so);
- every change refreshes the customer's stage, expected next purchase and sleeping clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from storage import segments, sweep_watermarks
from storage.models import Order, OrderItem, OrderStatus, OutboxMessage, RetentionClock, utcnow

CYCLE_KINDS = ("experience", "care", "repurchase", "lapse")
SUPPLY_KINDS = ("supply_mid", "supply_end")


def cycle_keys(order_id: int) -> list[str]:
    """The dedupe keys of an order's product-cycle messages."""
    return [f"{kind}:order:{order_id}" for kind in CYCLE_KINDS]


def track_order_change(session: Session, order: Order, action: str, now: dt.datetime) -> None:
    """Apply ``action`` (create, pay, ship, receive, cancel) on ``order`` to clocks and segments."""
    orders = segments.active_orders(session, order.customer_id)  # read once, used by every step below
    if action == "create":
        _supersede_older_orders(session, order, orders, now)
        _cancel_pending(
            session,
            OutboxMessage.customer_id == order.customer_id,
            OutboxMessage.kind == "winback",
            reason="new_order",
            now=now,
        )
    if action == "ship" or (
        action == "create" and order.status in (OrderStatus.SHIPPED, OrderStatus.RECEIVED)
    ):
        days = supply_days(order)
        if start_supply(session, order, orders) and days is not None and days <= SHORT_SUPPLY_DAYS:
            # A supply shorter than the repurchase lead is due for its nudge before it starts.
            sweep_watermarks.invalidate(session, now)
    if action == "cancel":
        session.execute(
            update(RetentionClock)
            .where(RetentionClock.superseded_by_order_id == order.id)
            .values(superseded_at=None, superseded_by_order_id=None)
        )
        # Restored clocks, an earlier sleeping clock, inquiries no order follows any more: due
        # times may now lie behind the sweeps' watermarks.
        sweep_watermarks.invalidate(session, now)
    segments.refresh_customer(session, order.customer, now, orders=orders)


# A supply of at most this many days may be due for its repurchase nudge (run-out minus
# RETENTION_REPURCHASE_LEAD_DAYS) already when it starts, behind the sweep's watermark: starting
# one invalidates the watermarks. A lead longer than this makes the repurchase sweep read its
# whole catch-up window every tick.
SHORT_SUPPLY_DAYS = 14


def supply_days(order: Order) -> int | None:
    """The order's supply in days: the first of its lines to run out (None without usage days)."""
    days = [item.quantity * item.usage_days for item in order.items if item.usage_days]
    return min(days) if days else None


_CLOCK_EXISTS = select(RetentionClock.id).where(RetentionClock.key == bindparam("key"))


def start_supply(session: Session, order: Order, orders: Sequence[segments.CustomerOrder]) -> bool:
    """Create the order's supply clocks (once), already superseded if a newer order has the product.

    ``orders``: the customer's :func:`segments.active_orders`. True when a clock was created.
    """
    days = supply_days(order)
    if not days:
        return False
    created = False
    start = order.shipped_at or order.received_at or order.created_at
    mine = _product_ids(order)
    newer = next((o for o in orders if o.facts.created_at > order.created_at and o.product_ids & mine), None)
    for kind, at in (
        ("supply_mid", start + dt.timedelta(days=days / 2)),
        ("supply_end", start + dt.timedelta(days=days)),
    ):
        key = f"{kind}:order:{order.id}"
        if session.scalar(_CLOCK_EXISTS, {"key": key}) is None:
            session.add(
                RetentionClock(
                    key=key,
                    kind=kind,
                    customer_id=order.customer_id,
                    order_id=order.id,
                    at=at,
                    superseded_at=newer.facts.created_at if newer else None,
                    superseded_by_order_id=newer.id if newer else None,
                )
            )
            created = True
    return created


def _product_ids(order: Order) -> set[int]:
    return {item.product_id for item in order.items if item.product_id is not None}


def _supersede_older_orders(
    session: Session, order: Order, orders: Sequence[segments.CustomerOrder], now: dt.datetime
) -> None:
    mine = _product_ids(order)
    older = [
        o.id
        for o in orders
        if o.id != order.id and o.facts.created_at <= order.created_at and o.product_ids & mine
    ]
    if not older:
        return
    session.execute(
        update(RetentionClock)
        .where(
            RetentionClock.order_id.in_(older),
            RetentionClock.kind.in_(SUPPLY_KINDS),
            RetentionClock.superseded_at.is_(None),
        )
        .values(superseded_at=now, superseded_by_order_id=order.id)
    )
    keys = [key for order_id in older for key in cycle_keys(order_id)]
    _cancel_pending(session, OutboxMessage.dedupe_key.in_(keys), reason="newer_order", now=now)


def _cancel_pending(session: Session, *conditions, reason: str, now: dt.datetime) -> None:
    """Cancel queued (not yet sent) messages matching ``conditions``; sent ones are history."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "pending", *conditions)
        .values(status="cancelled", skip_reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def backfill_supply_clocks(
    session: Session, *, shipped_since: dt.datetime, after_order_id: int | None = None
) -> int:
    """Create the missing supply clocks of orders shipped since ``shipped_since`` (set-based).

    Orders written without the order hook (bulk imports, data from before this feature) get
    their clocks here; the daily segments sweep calls it, with ``after_order_id`` (only orders
    with a higher id) once it has looked at every order. Returns the number of clocks created.
    """
    has_clock = (
        select(RetentionClock.id)
        .where(RetentionClock.order_id == Order.id, RetentionClock.kind == "supply_end")
        .exists()
    )
    created, cursor = 0, after_order_id if after_order_id is not None else -1
    while True:  # a chunk of orders at a time, in id order: memory stays bounded after a big import
        missing = session.execute(
            select(Order.id, Order.customer_id, Order.created_at, Order.shipped_at)
            .where(
                Order.id > cursor,
                Order.shipped_at >= shipped_since,
                Order.status.in_((OrderStatus.SHIPPED, OrderStatus.RECEIVED)),
                ~has_clock,
            )
            .order_by(Order.id)
            .limit(BACKFILL_CHUNK)
        ).all()
        if not missing:
            if created:  # clocks of orders shipped in the past: due before the watermarks
                sweep_watermarks.invalidate(session, utcnow())  # the time only dates the kv row
            return created
        created += _backfill_chunk(session, missing)
        cursor = missing[-1].id


BACKFILL_CHUNK = 20_000


def _backfill_chunk(session: Session, missing) -> int:
    ids = [row.id for row in missing]
    supply: dict[int, int] = {}
    products: dict[int, set[int]] = {}
    for start in range(0, len(ids), 500):
        for item in session.execute(
            select(OrderItem.order_id, OrderItem.product_id, OrderItem.quantity, OrderItem.usage_days).where(
                OrderItem.order_id.in_(ids[start : start + 500])
            )
        ):
            if item.product_id is not None:
                products.setdefault(item.order_id, set()).add(item.product_id)
            if item.usage_days:
                days = item.quantity * item.usage_days
                supply[item.order_id] = min(supply.get(item.order_id, days), days)
    newer = _newer_same_product_orders(session, [row for row in missing if row.id in supply], products)
    clocks = []
    for row in missing:
        days = supply.get(row.id)
        if not days:
            continue
        superseding = newer.get(row.id)
        for kind, at in (
            ("supply_mid", row.shipped_at + dt.timedelta(days=days / 2)),
            ("supply_end", row.shipped_at + dt.timedelta(days=days)),
        ):
            clocks.append(
                {
                    "key": f"{kind}:order:{row.id}",
                    "kind": kind,
                    "customer_id": row.customer_id,
                    "order_id": row.id,
                    "at": at,
                    "superseded_at": superseding[1] if superseding else None,
                    "superseded_by_order_id": superseding[0] if superseding else None,
                }
            )
    for start in range(0, len(clocks), 1000):
        session.execute(RetentionClock.__table__.insert(), clocks[start : start + 1000])
    return len(clocks)


def _newer_same_product_orders(
    session: Session, orders, products: dict[int, set[int]]
) -> dict[int, tuple[int, dt.datetime]]:
    """For each order, the first newer active order of the same customer sharing a product."""
    customer_ids = list({row.customer_id for row in orders})
    later: dict[int, list[tuple[dt.datetime, int, int]]] = {}
    for start in range(0, len(customer_ids), 500):
        for row in session.execute(
            select(Order.customer_id, Order.created_at, Order.id, OrderItem.product_id)
            .join(OrderItem, OrderItem.order_id == Order.id)
            .where(
                Order.customer_id.in_(customer_ids[start : start + 500]),
                Order.status != OrderStatus.CANCELLED,
                OrderItem.product_id.is_not(None),
            )
        ):
            later.setdefault(row.customer_id, []).append((row.created_at, row.id, row.product_id))
    found = {}
    for order in orders:
        candidates = sorted(
            (created, oid)
            for created, oid, pid in later.get(order.customer_id, [])
            if created > order.created_at and pid in products.get(order.id, set())
        )
        if candidates:
            found[order.id] = (candidates[0][1], candidates[0][0])
    return found
