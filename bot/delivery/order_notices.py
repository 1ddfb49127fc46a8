"""Transactional notices that follow an order's status (called from ``storage.order_hooks``).

Paying, shipping or cancelling withdraws a payment reminder that has not gone out yet (status
``cancelled``). The shipping notice is queued by whoever ships (the seller console calls
``bot.notices.enqueue_shipping_notice``) and, for orders shipped any other way, by the
``shipping_notices`` sweep on the next tick.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from storage.models import Order, OutboxMessage


def payment_reminder_key(order_id: int) -> str:
    return f"payment-reminder:order:{order_id}"


def on_order_change(session: Session, order: Order, action: str, now: dt.datetime) -> None:
    if action in ("pay", "ship", "cancel"):
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.dedupe_key == payment_reminder_key(order.id), OutboxMessage.status == "pending"
            )
            .values(status="cancelled", skip_reason=f"order_{action}", updated_at=now)
        )
