"""Inquiries (咨询): stored with topic and product, answered or left open for the seller, and linked
to the order that follows them (so "inquired but did not order" can be found)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Inquiry, Order

OPEN = "open"
ANSWERED = "answered"
CLOSED = "closed"


def record_inquiry(
    session: Session,
    customer_id: int,
    text: str,
    *,
    topic: str | None,
    product_id: int | None,
    now: dt.datetime,
    answer: str | None = None,
) -> Inquiry:
    """Store an inquiry; with ``answer`` it is stored as answered, otherwise it stays open."""
    inquiry = Inquiry(
        customer_id=customer_id,
        text=text,
        topic=topic,
        product_id=product_id,
        created_at=now,
        status=ANSWERED if answer else OPEN,
        answer=answer,
        answered_at=now if answer else None,
    )
    session.add(inquiry)
    session.flush()
    return inquiry


def link_inquiries_to_order(
    session: Session, order: Order, now: dt.datetime, window_days: int = 30
) -> list[Inquiry]:
    """Mark the customer's recent unconverted inquiries as converted by ``order``."""
    since = now - dt.timedelta(days=window_days)
    inquiries = session.scalars(
        select(Inquiry).where(
            Inquiry.customer_id == order.customer_id,
            Inquiry.converted_order_id.is_(None),
            Inquiry.created_at >= since,
            Inquiry.created_at <= now,
        )
    ).all()
    for inquiry in inquiries:
        inquiry.converted_order_id = order.id
    return list(inquiries)


def unconverted_inquiries(
    session: Session, *, older_than: dt.datetime, since: dt.datetime | None = None
) -> list[Inquiry]:
    """Inquiries made before ``older_than`` (and after ``since``) that no order followed: 咨询不下单."""
    query = select(Inquiry).where(Inquiry.converted_order_id.is_(None), Inquiry.created_at < older_than)
    if since is not None:
        query = query.where(Inquiry.created_at >= since)
    return list(session.scalars(query.order_by(Inquiry.created_at)).all())


def answer_inquiry(session: Session, inquiry: Inquiry, answer: str, now: dt.datetime) -> Inquiry:
    """Record the seller's answer to an open inquiry (the seller console calls this)."""
    inquiry.answer = answer
    inquiry.status = ANSWERED
    inquiry.answered_at = now
    return inquiry
