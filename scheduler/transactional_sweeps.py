"""The transactional sweeps: shipping notices (catch-up), payment reminders, the seller's draft digest.

Each is set-based and idempotent (stable dedupe keys), so a late or repeated run enqueues each
message once. ``now`` arrives as aware UTC (see ``scheduler.registry``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot import texts
from bot.delivery.order_notices import payment_reminder_key
from bot.delivery.seller_draft import digest_text
from bot.notices import enqueue_shipping_notice
from config import parse_list
from storage import sweep_watermarks as wm
from storage.clock import naive_utc, shop_zone, to_local
from storage.models import Customer, Order, OrderStatus
from storage.orders import format_yuan
from storage.outbox import count_drafts, enqueue, list_drafts
from storage.retention_queries import not_enqueued

# Shipped or unpaid orders older than this are history, not news: no catch-up notice for them.
SHIPPING_CATCH_UP = dt.timedelta(days=7)


def _items(order: Order) -> str:
    return "、".join(f"{item.product_name}×{item.quantity}" for item in order.items)


def shipping_notices(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """Shipping notice for every order shipped in the last 7 days (the ship hook usually did it)."""
    now = naive_utc(now)
    mark = wm.read(session, "shipping_notices", wm.fingerprint(SHIPPING_CATCH_UP))
    orders = session.scalars(
        select(Order)
        .options(selectinload(Order.items), selectinload(Order.customer))
        .where(
            Order.status == OrderStatus.SHIPPED,
            Order.shipped_at >= mark.start(now, SHIPPING_CATCH_UP),
            not_enqueued("ship:order:", Order.id),
        )
    )
    created = sum(enqueue_shipping_notice(session, order, now) for order in orders)
    wm.advance(session, mark, now)
    return created


def payment_reminders(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """One reminder per order still unpaid ``PAYMENT_REMINDER_DELAY_HOURS`` after it was placed."""
    now = naive_utc(now)
    delay = dt.timedelta(hours=float(config.get("PAYMENT_REMINDER_DELAY_HOURS", 12)))
    max_age = dt.timedelta(days=float(config.get("PAYMENT_REMINDER_MAX_AGE_DAYS", 7)))
    mark = wm.read(session, "payment_reminders", wm.fingerprint(delay, max_age))
    # Due at placement + delay; caught up while younger than the maximum age.
    orders = session.scalars(
        select(Order)
        .options(selectinload(Order.items), selectinload(Order.customer))
        .where(
            Order.status == OrderStatus.PENDING,
            Order.created_at <= now - delay,
            Order.created_at >= mark.start(now, max_age - delay) - delay,
            not_enqueued("payment-reminder:order:", Order.id),  # payment_reminder_key
        )
    )
    created = 0
    for order in orders:
        items, total = _items(order), format_yuan(order.amount_cents)
        text = texts.PAYMENT_REMINDER.format(
            name=order.customer.display_name, order_id=order.id, items=items, total=total
        )
        created += enqueue(
            session,
            dedupe_key=payment_reminder_key(order.id),
            kind="payment_reminder",
            text=text,
            customer_id=order.customer_id,
            transactional=True,
            priority=20,
            now=now,
            payload={"order_id": order.id, "items": items, "total": total},
        )
    wm.advance(session, mark, now)
    return created


def draft_digest(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """Once a day from ``DRAFT_DIGEST_HOUR`` (seller's time): the open drafts, to every seller."""
    local = to_local(now, shop_zone(config))
    if local.hour < int(config.get("DRAFT_DIGEST_HOUR", 9)):
        return 0
    total = count_drafts(session)
    if not total:
        return 0
    drafts = list_drafts(session, limit=5)
    ids = {row.customer_id for row in drafts if row.customer_id}
    names = {c.id: c.display_name for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    text = digest_text(total, drafts, names)
    created = 0
    for openid in parse_list(config.get("SELLER_OPENIDS")):
        created += enqueue(
            session,
            dedupe_key=f"digest:drafts:{local.date().isoformat()}:{openid}",
            kind="draft_digest",
            text=text,
            openid=openid,
            transactional=True,
            priority=30,
            now=naive_utc(now),
            payload={"drafts": total},
        )
    return created
