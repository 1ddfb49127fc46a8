"""Helpers for the delivery and scheduler tests: customers, orders through the real status machine."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from bot.notices import enqueue_shipping_notice
from storage.customers import get_or_create_by_openid
from storage.db import Database
from storage.models import OutboxMessage
from storage.orders import ItemSpec, create_order, transition

TEMPLATES = json.dumps({"ship": {"template_id": "TPL_SHIP"}, "payment_reminder": {"template_id": "TPL_PAY"}})


def add_customer(
    db: Database,
    openid: str,
    now: dt.datetime,
    *,
    last_inbound_at: dt.datetime | None = None,
    name: str = "张三",
    **fields,
) -> int:
    with db.session() as s:
        customer, _ = get_or_create_by_openid(s, openid, now)
        customer.name = name
        customer.last_inbound_at = last_inbound_at
        for key, value in fields.items():
            setattr(customer, key, value)
        s.flush()
        return customer.id


def place_order(db: Database, customer_id: int, now: dt.datetime) -> int:
    from storage.models import Customer

    with db.session() as s:
        customer = s.get(Customer, customer_id)
        order = create_order(
            s,
            customer,
            [ItemSpec(product=None, quantity=2, name="面膜", unit_price_cents=9900)],
            actor="test",
            now=now,
            recipient_name="张三",
            phone="13800138000",
            province="广东省",
            city="深圳市",
            district="南山区",
            address_detail="科技园路1号",
        )
        return order.id


def ship(db: Database, order_id: int, now: dt.datetime, tracking_no: str | None = None) -> None:
    from storage.models import Order

    with db.session() as s:
        order = s.get(Order, order_id)
        order.courier = "顺丰"
        order.tracking_no = tracking_no or f"SF{order_id:08d}"
        transition(s, order, "ship", actor="test", now=now)
        enqueue_shipping_notice(s, order, now)  # as the seller console's 发货 does


def ship_new_order(db: Database, customer_id: int, now: dt.datetime) -> int:
    order_id = place_order(db, customer_id, now)
    ship(db, order_id, now)
    return order_id


def outbox(db: Database, kind: str | None = None) -> list[OutboxMessage]:
    with db.read_session() as s:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            stmt = stmt.where(OutboxMessage.kind == kind)
        return list(s.scalars(stmt))


def one(db: Database, kind: str) -> OutboxMessage:
    rows = outbox(db, kind)
    assert len(rows) == 1, [(r.kind, r.dedupe_key, r.status) for r in rows]
    return rows[0]
