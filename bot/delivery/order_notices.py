"""Transactional notices that follow an order's status (called from ``storage.order_hooks``).

Shipping queues the shipping notice at once; paying, shipping or cancelling withdraws a payment
reminder that has not gone out yet (status ``cancelled``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.notices import enqueue_shipping_notice
from storage.models import Order, OutboxMessage


def payment_reminder_key(order_id: int) -> str:
    return f"payment-reminder:order:{order_id}"


def on_order_change(session: Session, order: Order, action: str, now: dt.datetime) -> None:
    if action == "ship":
        enqueue_shipping_notice(session, order, now)
    if action in ("pay", "ship", "cancel"):
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.dedupe_key == payment_reminder_key(order.id), OutboxMessage.status == "pending")
            .values(status="cancelled", skip_reason=f"order_{action}", updated_at=now)
        )
