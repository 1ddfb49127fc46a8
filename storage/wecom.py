"""Queries for WeCom customer contact: contacts (who added which member) and mass-send tasks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.contact import normalize_phone
from storage.models import Customer, OutboxMessage, WecomContact, WecomTask, WecomTaskRecipient

ACTIVE = "active"
GONE = "gone"

# Outbox statuses of rows handed to WeCom (bot/delivery/wecom_channel.py): waiting for a task / in one.
QUEUED = "wecom_queued"
IN_TASK = "wecom_task"


def get_contact(session: Session, external_userid: str, userid: str) -> WecomContact | None:
    return session.scalar(
        select(WecomContact).where(
            WecomContact.external_userid == external_userid, WecomContact.userid == userid
        )
    )


def contacts_of(session: Session, external_userid: str) -> list[WecomContact]:
    """Every member this external contact added (or was added by), newest first."""
    return list(
        session.scalars(
            select(WecomContact)
            .where(WecomContact.external_userid == external_userid)
            .order_by(WecomContact.id.desc())
        )
    )


def active_contact(
    session: Session, customer_id: int, members: Iterable[str] | None = None
) -> WecomContact | None:
    """The customer's newest active contact (with one of ``members`` when given)."""
    stmt = select(WecomContact).where(WecomContact.customer_id == customer_id, WecomContact.status == ACTIVE)
    members = list(members) if members is not None else None
    if members is not None:
        stmt = stmt.where(WecomContact.userid.in_(members))
    return session.scalar(stmt.order_by(WecomContact.id.desc()).limit(1))


def customer_by_unionid(session: Session, unionid: str) -> Customer | None:
    """A customer already linked (through another member) under the same unionid."""
    contact = session.scalar(
        select(WecomContact).where(WecomContact.unionid == unionid).order_by(WecomContact.id).limit(1)
    )
    return session.get(Customer, contact.customer_id) if contact is not None else None


def customer_by_phones(session: Session, phones: Iterable[str]) -> Customer | None:
    """The pool customer with one of these phone numbers (normalised), the oldest when several."""
    numbers = sorted({p for p in (normalize_phone(raw) for raw in phones) if p})
    if not numbers:
        return None
    return session.scalar(select(Customer).where(Customer.phone.in_(numbers)).order_by(Customer.id).limit(1))


def add_contact(
    session: Session,
    *,
    external_userid: str,
    userid: str,
    customer_id: int,
    linked_by: str,
    state: str | None,
    unionid: str | None,
    now: dt.datetime,
) -> WecomContact:
    """Record (or revive) the contact between a member and an external contact."""
    contact = get_contact(session, external_userid, userid)
    if contact is None:
        contact = WecomContact(external_userid=external_userid, userid=userid, added_at=now)
        session.add(contact)
    contact.customer_id, contact.linked_by = customer_id, linked_by
    contact.state, contact.unionid = state, unionid or contact.unionid
    contact.status, contact.gone_reason, contact.removed_at, contact.added_at = ACTIVE, None, None, now
    session.flush()
    return contact


def mark_gone(session: Session, contact: WecomContact, reason: str, now: dt.datetime) -> bool:
    """The member and the customer are no longer friends; True when this changed anything."""
    if contact.status == GONE:
        return False
    contact.status, contact.gone_reason, contact.removed_at = GONE, reason[:40], now
    return True


def mass_messages_since(session: Session, customer_id: int, since: dt.datetime) -> int:
    """WeCom mass messages planned, waiting or sent for the customer since ``since`` (the platform limit)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.customer_id == customer_id,
                OutboxMessage.channel == "wecom",
                OutboxMessage.status.in_((QUEUED, IN_TASK, "sent")),
                func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at) >= since,
            )
        )
        or 0
    )


def queued_rows(session: Session, channel: str, limit: int = 1000) -> list[OutboxMessage]:
    """Rows the drain handed to WeCom on ``channel`` (``wecom`` tasks or ``wecom_app`` notices)."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == QUEUED, OutboxMessage.channel == channel)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )


def app_notices_due(session: Session, now: dt.datetime, limit: int = 1000) -> list[OutboxMessage]:
    """Seller notices for members (``wecom:<userid>``): handed over by the drain, or queued and due."""
    handed = (OutboxMessage.status == QUEUED) & (OutboxMessage.channel == "wecom_app")
    waiting = (
        (OutboxMessage.status == "pending")
        & OutboxMessage.customer_id.is_(None)
        & OutboxMessage.openid.like("wecom:%")
    )
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(handed | waiting, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.priority, OutboxMessage.id)
            .limit(limit)
        )
    )


def open_tasks(session: Session) -> list[WecomTask]:
    return list(session.scalars(select(WecomTask).where(WecomTask.status == "open").order_by(WecomTask.id)))


def task_recipients(session: Session, task_id: int) -> list[WecomTaskRecipient]:
    return list(
        session.scalars(
            select(WecomTaskRecipient)
            .where(WecomTaskRecipient.task_id == task_id)
            .order_by(WecomTaskRecipient.id)
        )
    )


def count_open_tasks(session: Session, sender: str | None = None) -> int:
    stmt = (
        select(func.count())
        .select_from(WecomTask)
        .where(WecomTask.status == "open", WecomTask.confirmed_at.is_(None))
    )
    if sender is not None:
        stmt = stmt.where(WecomTask.sender == sender)
    return int(session.scalar(stmt) or 0)
