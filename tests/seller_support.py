"""Shared set-up for the seller console tests: customers, products and orders made directly."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from storage import orders as order_store
from storage.models import Customer, Order, OrderEvent, OutboxMessage, Product, utcnow
from tests.conftest import SELLER_OPENID


def add_product(
    db, name: str, price_cents: int, usage_days: int | None = 30, aliases: str | None = None
) -> int:
    with db.session() as s:
        product = Product(name=name, price_cents=price_cents, usage_days=usage_days, aliases=aliases)
        s.add(product)
        s.flush()
        return product.id


def add_customer(db, *, created_at: dt.datetime | None = None, **fields) -> int:
    with db.session() as s:
        customer = Customer(created_at=created_at or utcnow(), **fields)
        s.add(customer)
        s.flush()
        return customer.id


def add_order(
    db,
    customer_id: int,
    product_name: str,
    quantity: int = 1,
    *,
    status: str = "pending",
    now: dt.datetime | None = None,
) -> int:
    """An order created (and moved to ``status``) through storage.orders, as the bot would."""
    now = now or utcnow()
    with db.session() as s:
        customer = s.get(Customer, customer_id)
        product = s.scalar(select(Product).where(Product.name == product_name))
        order = order_store.create_order(
            s,
            customer,
            [order_store.ItemSpec(product, quantity)],
            actor="customer",
            now=now,
            phone=customer.phone,
            recipient_name=customer.name,
        )
        path = {
            "pending": [],
            "paid": ["pay"],
            "shipped": ["pay", "ship"],
            "received": ["pay", "ship", "receive"],
            "cancelled": ["cancel"],
        }[status]
        for action in path:
            order_store.transition(s, order, action, actor="customer", now=now)
        return order.id


def say(platform, text: str) -> str | None:
    """Send ``text`` as the seller and return the bot's reply."""
    return platform.say(SELLER_OPENID, text)


def fetch(db, model, row_id: int):
    """The row ``row_id`` of ``model``, detached, to assert on after the session is gone."""
    with db.read_session() as s:
        row = s.get(model, row_id)
        s.expunge(row)
        return row


def get_order(db, order_id: int) -> Order:
    return fetch(db, Order, order_id)


def events(db, order_id: int) -> list[tuple[str, str]]:
    with db.read_session() as s:
        return [
            (e.action, e.actor)
            for e in s.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
            )
        ]


def outbox(db, kind: str | None = None) -> list[OutboxMessage]:
    with db.read_session() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        rows = s.scalars(query).all()
        for row in rows:
            s.expunge(row)
        return rows
