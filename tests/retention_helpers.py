"""A small shop for the retention tests: catalogue, customers, orders at chosen times, sweeps."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from scheduler import retention
from storage import orders as order_store
from storage.models import Customer, OutboxMessage, Product

UTC = dt.UTC
CONFIG = {"TIMEZONE": "Asia/Shanghai"}
# The outbox kinds the retention sweeps write (others: shipping notices, seller notices, ...).
RETENTION_KINDS = ("experience", "care", "repurchase", "lapse", "followup", "festival", "birthday", "winback")
# name, aliases, price (cents), usage days
PRODUCTS = [
    ("补水面膜", "面膜", 9900, 30),
    ("玻尿酸精华液", "精华", 19900, 60),
    ("定制礼盒", "礼盒", 29900, None),
]


def add_products(db) -> dict[str, int]:
    with db.session() as s:
        for name, aliases, price, days in PRODUCTS:
            s.add(Product(name=name, aliases=aliases, price_cents=price, usage_days=days))
    with db.read_session() as s:
        return dict(s.execute(select(Product.name, Product.id)).all())


def add_customer(db, openid: str, name: str | None = "张三", **fields) -> int:
    with db.session() as s:
        customer = Customer(openid=openid, name=name, **fields)
        s.add(customer)
        s.flush()
        return customer.id


def naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def place_order(
    db,
    customer_id: int,
    items: dict[str, int],
    at: dt.datetime,
    *,
    ship_after: dt.timedelta | None = None,
    cancel: bool = False,
) -> int:
    """Create an order at ``at`` (optionally shipped ``ship_after`` later) through storage.orders."""
    at = naive(at)
    with db.session() as s:
        customer = s.get(Customer, customer_id)
        specs = [
            order_store.ItemSpec(s.scalar(select(Product).where(Product.name == name)), qty)
            for name, qty in items.items()
        ]
        order = order_store.create_order(s, customer, specs, actor="test", now=at)
        order_id = order.id
    if ship_after is not None:
        ship_order(db, order_id, at + ship_after)
    if cancel:
        with db.session() as s:
            order_store.transition(s, s.get(order_store.Order, order_id), "cancel", actor="test", now=at)
    return order_id


def ship_order(db, order_id: int, at: dt.datetime) -> None:
    with db.session() as s:
        order_store.transition(s, s.get(order_store.Order, order_id), "ship", actor="test", now=naive(at))


def run(db, sweep, now: dt.datetime, config=None) -> int:
    """Run one sweep (``now`` aware UTC) in its own transaction."""
    with db.session() as s:
        return sweep(s, now, config or CONFIG)


def run_all(db, now: dt.datetime, config=None) -> int:
    total = 0
    for sweep in retention.RETENTION_SWEEPS:
        total += run(db, sweep.run, now, config)
    return total


def outbox(db, kind: str | None = None) -> list[OutboxMessage]:
    with db.read_session() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        else:
            query = query.where(OutboxMessage.kind.in_(RETENTION_KINDS))
        return list(s.scalars(query))


def keys(db, kind: str | None = None) -> list[str]:
    return [row.dedupe_key for row in outbox(db, kind)]
