"""Transactional notices to customers, enqueued in the outbox (delivered by bot/delivery)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from bot import subscribe_links, texts
from storage.models import Order
from storage.outbox import enqueue


def enqueue_shipping_notice(session: Session, order: Order, now: dt.datetime) -> bool:
    """Queue the shipping notice for a shipped order, once (key ``ship:order:<id>``)."""
    items = "、".join(f"{item.product_name}×{item.quantity}" for item in order.items)
    text = texts.SHIPPING_NOTICE.format(
        order_id=order.id,
        courier=order.courier or "",
        tracking_no=order.tracking_no or "",
        items=items,
        name=order.customer.display_name,
    )
    text = subscribe_links.with_offer_in(
        session, text, order.customer_id
    )  # 订阅通知 consent link, when configured
    return enqueue(
        session,
        dedupe_key=f"ship:order:{order.id}",
        kind="ship",
        text=text,
        customer_id=order.customer_id,
        transactional=True,
        priority=10,
        now=now,
        payload={
            "order_id": order.id,
            "courier": order.courier,
            "tracking_no": order.tracking_no,
            "items": items,
        },
    )
