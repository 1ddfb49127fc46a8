"""Orders: creation and the status machine, each change recorded in the order's history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Customer, Order, OrderEvent, OrderItem, OrderStatus, Product
from storage.order_hooks import after_order_change


class OrderError(ValueError):
    """A change the order's state does not allow (the message says why, in plain words)."""


class ProductFacts(Protocol):
    """What an order line copies from its product: a ``Product`` row or a cached catalogue entry."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def price_cents(self) -> int: ...
    @property
    def usage_days(self) -> int | None: ...


@dataclass(frozen=True)
class ItemSpec:
    """One line of an order: a catalogue product (or a free-text name) and a quantity."""

    product: Product | ProductFacts | None
    quantity: int
    name: str | None = None
    unit_price_cents: int | None = None


# action -> (allowed current statuses, new status, timestamp attribute)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "pay": ((OrderStatus.PENDING,), OrderStatus.PAID, "paid_at"),
    "ship": ((OrderStatus.PENDING, OrderStatus.PAID), OrderStatus.SHIPPED, "shipped_at"),
    "receive": ((OrderStatus.SHIPPED,), OrderStatus.RECEIVED, "received_at"),
    "cancel": ((OrderStatus.PENDING, OrderStatus.PAID), OrderStatus.CANCELLED, "cancelled_at"),
}


def record_event(
    session: Session, order: Order, action: str, actor: str, now: dt.datetime, detail: str | None = None
) -> OrderEvent:
    event = OrderEvent(order=order, action=action, actor=actor, detail=detail, created_at=now)
    session.add(event)
    return event


def create_order(
    session: Session,
    customer: Customer,
    items: list[ItemSpec],
    *,
    actor: str,
    now: dt.datetime,
    source: str = "chat",
    recipient_name: str | None = None,
    phone: str | None = None,
    province: str | None = None,
    city: str | None = None,
    district: str | None = None,
    address_detail: str | None = None,
    note: str | None = None,
    status: str = OrderStatus.PENDING,
) -> Order:
    """Create an order with its items; amount = Σ quantity × unit price (catalogue price by default)."""
    if not items:
        raise OrderError("订单里没有商品")
    order = Order(
        customer=customer,
        status=status,
        source=source,
        recipient_name=recipient_name,
        phone=phone,
        province=province,
        city=city,
        district=district,
        address_detail=address_detail,
        note=note,
        created_at=now,
        updated_at=now,
    )
    total = 0
    for spec in items:
        if spec.quantity <= 0:
            raise OrderError("数量必须大于0")
        price = (
            spec.unit_price_cents
            if spec.unit_price_cents is not None
            else (spec.product.price_cents if spec.product else 0)
        )
        order.items.append(
            OrderItem(
                product_id=spec.product.id if spec.product else None,
                product_name=spec.product.name if spec.product else (spec.name or "未知商品"),
                quantity=spec.quantity,
                unit_price_cents=price,
                usage_days=spec.product.usage_days if spec.product else None,
            )
        )
        total += price * spec.quantity
    order.amount_cents = total
    session.add(order)
    session.flush()
    record_event(session, order, "create", actor, now)
    after_order_change(session, order, "create", now)
    return order


def transition(
    session: Session, order: Order, action: str, *, actor: str, now: dt.datetime, detail: str | None = None
) -> Order:
    """Apply ``action`` (pay, ship, receive, cancel) or raise OrderError without changing anything."""
    allowed, new_status, stamp = TRANSITIONS[action]
    if order.status not in allowed:
        raise OrderError(
            f"订单 #{order.id} 当前状态为「{STATUS_LABELS[order.status]}」，不能{ACTION_LABELS[action]}"
        )
    order.status = new_status
    setattr(order, stamp, now)
    record_event(session, order, action, actor, now, detail)
    after_order_change(session, order, action, now)
    return order


def ship(
    session: Session, order: Order, courier: str, tracking_no: str, *, actor: str, now: dt.datetime
) -> Order:
    """Ship ``order`` with its courier and tracking number, or raise OrderError changing nothing.

    A tracking number already used by another order is refused (it is UNIQUE, and a reused number
    is almost always a typo).
    """
    allowed = TRANSITIONS["ship"][0]
    if order.status not in allowed:
        raise OrderError(
            f"订单 #{order.id} 当前状态为「{STATUS_LABELS[order.status]}」，不能{ACTION_LABELS['ship']}"
        )
    other = session.scalar(select(Order.id).where(Order.tracking_no == tracking_no, Order.id != order.id))
    if other is not None:
        raise OrderError(f"运单号 {tracking_no} 已用在订单 #{other} 上，请核对")
    order.courier = courier
    order.tracking_no = tracking_no
    return transition(session, order, "ship", actor=actor, now=now, detail=f"{courier} {tracking_no}")


STATUS_LABELS = {
    OrderStatus.PENDING: "待付款",
    OrderStatus.PAID: "已付款",
    OrderStatus.SHIPPED: "已发货",
    OrderStatus.RECEIVED: "已收货",
    OrderStatus.CANCELLED: "已取消",
}
ACTION_LABELS = {"pay": "标记付款", "ship": "发货", "receive": "确认收货", "cancel": "取消"}


def format_yuan(cents: int) -> str:
    """'¥99' or '¥99.50'."""
    yuan, fen = divmod(int(cents), 100)
    return f"¥{yuan}" if fen == 0 else f"¥{yuan}.{fen:02d}"
