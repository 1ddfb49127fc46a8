"""The set-based queries behind the retention sweeps: what is due in a time window.

Every query ranges over an indexed timestamp (``orders.shipped_at``, ``retention_clock (kind, at)``,
``inquiry (status, created_at)``, ``customer (birthday_month, birthday_day)``) bounded on both
sides by the sweep's window, so its cost grows with the messages due, not with the pool. The
customers are filtered in the same query: not opted out, no open complaint, not a seller account
(``exclude_openids``: HUITOU_SELLER_OPENIDS are not marketing recipients), and (where the
dedupe key is ``prefix || id``) no outbox row with that key yet, so a repeated tick only probes
the outbox's unique index.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import String, and_, cast, exists, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from storage.models import (
    Complaint,
    Customer,
    Inquiry,
    Order,
    OrderItem,
    OrderStatus,
    OutboxMessage,
    Product,
    RetentionClock,
)


@dataclass(frozen=True)
class Due:
    """One message due: who gets it, what it is about, and its dedupe key (when known in SQL)."""

    customer_id: int
    openid: str | None
    name: str | None
    nickname: str | None
    customer_class: str | None
    subject_id: int | None = None  # order, inquiry or sleeping-clock id
    at: dt.datetime | None = None  # the moment the message refers to (clock time, inquiry time)
    last_order_at: dt.datetime | None = None
    product_id: int | None = None


def _customer_columns():
    return (Customer.id, Customer.openid, Customer.name, Customer.nickname, Customer.customer_class)


def _reachable(exclude_openids: Sequence[str] = ()) -> ColumnElement[bool]:
    """Marketing may go to this customer: not opted out, no after-sales complaint still open, and
    not one of ``exclude_openids`` (the seller's own accounts)."""
    open_complaint = exists().where(Complaint.customer_id == Customer.id, Complaint.status == "open")
    condition = and_(Customer.opted_out.is_(False), ~open_complaint)
    if exclude_openids:
        condition = and_(
            condition, or_(Customer.openid.is_(None), Customer.openid.not_in(list(exclude_openids)))
        )
    return condition


def not_enqueued(prefix: str, id_column) -> ColumnElement[bool]:
    """No outbox row has the key ``prefix`` + id yet (an index probe on ``outbox.dedupe_key``)."""
    key = literal(prefix, String) + cast(id_column, String)
    return ~exists().where(OutboxMessage.dedupe_key == key)


def _due(row, **extra) -> Due:
    return Due(
        customer_id=row.id,
        openid=row.openid,
        name=row.name,
        nickname=row.nickname,
        customer_class=row.customer_class,
        **extra,
    )


def shipped_orders_due(
    session: Session,
    *,
    shipped_from: dt.datetime,
    shipped_to: dt.datetime,
    key_prefix: str,
    exclude_openids: Sequence[str] = (),
) -> list[Due]:
    """Orders shipped in ``(shipped_from, shipped_to]`` still shipped or received (experience)."""
    rows = session.execute(
        select(*_customer_columns(), Order.id.label("order_id"), Order.shipped_at)
        .join(Order, Order.customer_id == Customer.id)
        .where(
            Order.shipped_at > shipped_from,
            Order.shipped_at <= shipped_to,
            Order.status.in_((OrderStatus.SHIPPED, OrderStatus.RECEIVED)),
            _reachable(exclude_openids),
            not_enqueued(key_prefix, Order.id),
        )
        .order_by(Order.shipped_at, Order.id)
    ).all()
    return [_due(r, subject_id=r.order_id, at=r.shipped_at) for r in rows]


def supply_clocks_due(
    session: Session,
    kind: str,
    *,
    at_from: dt.datetime,
    at_to: dt.datetime,
    key_prefix: str,
    exclude_openids: Sequence[str] = (),
) -> list[Due]:
    """Orders whose supply clock ``kind`` lies in ``(at_from, at_to]`` and was not superseded."""
    rows = session.execute(
        select(*_customer_columns(), RetentionClock.order_id, RetentionClock.at)
        .join(RetentionClock, RetentionClock.customer_id == Customer.id)
        .where(
            RetentionClock.kind == kind,
            RetentionClock.at > at_from,
            RetentionClock.at <= at_to,
            RetentionClock.superseded_at.is_(None),
            _reachable(exclude_openids),
            not_enqueued(key_prefix, RetentionClock.order_id),
        )
        .order_by(RetentionClock.at, RetentionClock.id)
    ).all()
    return [_due(r, subject_id=r.order_id, at=r.at) for r in rows]


def inquiries_due(
    session: Session,
    *,
    made_from: dt.datetime,
    made_to: dt.datetime,
    key_prefix: str,
    exclude_openids: Sequence[str] = (),
) -> list[Due]:
    """Inquiries made in ``(made_from, made_to]`` that no order followed (咨询不下单)."""
    ordered_since = exists().where(
        Order.customer_id == Inquiry.customer_id,
        Order.created_at >= Inquiry.created_at,
        Order.status != OrderStatus.CANCELLED,
    )
    rows = session.execute(
        select(*_customer_columns(), Inquiry.id.label("inquiry_id"), Inquiry.created_at, Inquiry.product_id)
        .join(Inquiry, Inquiry.customer_id == Customer.id)
        .where(
            Inquiry.status.in_(("open", "answered")),
            Inquiry.created_at > made_from,
            Inquiry.created_at <= made_to,
            Inquiry.converted_order_id.is_(None),
            ~ordered_since,
            _reachable(exclude_openids),
            not_enqueued(key_prefix, Inquiry.id),
        )
        .order_by(Inquiry.created_at, Inquiry.id)
    ).all()
    return [_due(r, subject_id=r.inquiry_id, at=r.created_at, product_id=r.product_id) for r in rows]


def customers_for_greeting(
    session: Session,
    *,
    key_prefix: str,
    exclude_openids: Sequence[str] = (),
    created_after: dt.datetime | None = None,
) -> list[Due]:
    """Every reachable customer not yet greeted under ``key_prefix`` (festivals go to the pool);
    with ``created_after``, only the customers added since (on ``customer.created_at``'s index)."""
    query = select(*_customer_columns()).where(
        _reachable(exclude_openids), not_enqueued(key_prefix, Customer.id)
    )
    if created_after is None:
        query = query.order_by(Customer.id)
    else:  # ordered by the index it ranges over, so the planner walks that index
        query = query.where(Customer.created_at > created_after).order_by(Customer.created_at, Customer.id)
    rows = session.execute(query).all()
    return [_due(r) for r in rows]


def birthdays_due(
    session: Session,
    matches: Sequence[tuple[bool, int, Sequence[int], str | None]],
    *,
    exclude_openids: Sequence[str] = (),
) -> list[tuple[Due, bool, int, int]]:
    """Reachable customers whose birthday is one of ``matches`` (lunar?, month, days, key prefix):
    one query; with a key prefix (it carries the occasion's year), only those not greeted yet.

    Returns each customer with their stored (lunar?, month, day) so the caller can tell which
    occasion matched.
    """
    if not matches:
        return []
    wanted = or_(
        *(
            and_(
                Customer.birthday_is_lunar.is_(lunar),
                Customer.birthday_month == month,
                Customer.birthday_day.in_(list(days)),
                *([not_enqueued(prefix, Customer.id)] if prefix else []),
            )
            for lunar, month, days, prefix in matches
        )
    )
    rows = session.execute(
        select(
            *_customer_columns(), Customer.birthday_is_lunar, Customer.birthday_month, Customer.birthday_day
        )
        .where(wanted, _reachable(exclude_openids))
        .order_by(Customer.id)
    ).all()
    return [(_due(r), bool(r.birthday_is_lunar), r.birthday_month, r.birthday_day) for r in rows]


def sleeping_due(
    session: Session, *, at_from: dt.datetime, at_to: dt.datetime, exclude_openids: Sequence[str] = ()
) -> list[Due]:
    """Customers who fell asleep in ``(at_from, at_to]`` and have not written since (win-back).

    The sleeping clock moves with every order, so an order stops the sequence; an inbound
    message after falling asleep (a reply) stops it too.
    """
    rows = session.execute(
        select(*_customer_columns(), RetentionClock.at, Customer.last_order_at)
        .join(RetentionClock, RetentionClock.customer_id == Customer.id)
        .where(
            RetentionClock.kind == "sleeping",
            RetentionClock.at > at_from,
            RetentionClock.at <= at_to,
            Customer.last_order_at.is_not(None),
            or_(Customer.last_inbound_at.is_(None), Customer.last_inbound_at < RetentionClock.at),
            _reachable(exclude_openids),
        )
        .order_by(RetentionClock.at, Customer.id)
    ).all()
    return [_due(r, at=r.at, last_order_at=r.last_order_at) for r in rows]


def existing_keys(session: Session, keys: Iterable[str]) -> dict[str, str]:
    """``{dedupe_key: status}`` for the keys already in the outbox."""
    keys = list(keys)
    found: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(
            session.execute(
                select(OutboxMessage.dedupe_key, OutboxMessage.status).where(
                    OutboxMessage.dedupe_key.in_(chunk)
                )
            ).all()
        )
    return found


def order_products(session: Session, order_ids: Iterable[int]) -> dict[int, list[str]]:
    """Product names per order, for the message texts."""
    ids = list(set(order_ids))
    names: dict[int, list[str]] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(OrderItem.order_id, OrderItem.product_name)
            .where(OrderItem.order_id.in_(ids[start : start + 500]))
            .order_by(OrderItem.id)
        ).all()
        for order_id, name in rows:
            if name not in names.setdefault(order_id, []):
                names[order_id].append(name)
    return names


def last_order_products(session: Session, customer_ids: Iterable[int]) -> dict[int, list[str]]:
    """Product names of each customer's last active order (win-back: "remember what you bought")."""
    ids = list(set(customer_ids))
    if not ids:
        return {}
    last_orders = dict(
        session.execute(
            select(Order.customer_id, Order.id)
            .join(
                Customer, and_(Customer.id == Order.customer_id, Customer.last_order_at == Order.created_at)
            )
            .where(Order.customer_id.in_(ids), Order.status != OrderStatus.CANCELLED)
        ).all()
    )
    products = order_products(session, last_orders.values())
    return {cid: products.get(order_id, []) for cid, order_id in last_orders.items()}


def product_names(session: Session, product_ids: Iterable[int]) -> dict[int, str]:
    ids = [pid for pid in set(product_ids) if pid is not None]
    if not ids:
        return {}
    return dict(session.execute(select(Product.id, Product.name).where(Product.id.in_(ids))).all())


def cancel_stopped_winbacks(
    session: Session, now: dt.datetime, *, replied_after: dt.datetime | None = None
) -> int:
    """Cancel queued win-back messages of customers who wrote after the message was queued.

    With ``replied_after``, only customers who wrote since then are looked at (on the index of
    ``customer.last_inbound_at``): the others' replies were handled by an earlier tick.
    """
    replied = exists().where(
        Customer.id == OutboxMessage.customer_id, Customer.last_inbound_at > OutboxMessage.created_at
    )
    query = select(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.kind == "winback", replied
    )
    if replied_after is not None:
        wrote = select(Customer.id).where(Customer.last_inbound_at > replied_after)
        query = query.where(OutboxMessage.customer_id.in_(wrote))
    stopped = session.scalars(query).all()
    for row in stopped:
        row.status = "cancelled"
        row.skip_reason = "customer_replied"
        row.updated_at = now
    return len(stopped)
