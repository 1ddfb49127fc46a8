"""Subscription-notice consents (订阅通知): record the customer's taps, reserve one per notice.

A customer's "allow" in the ``wx-open-subscribe`` popup lets the account send one notice of that
template, with no expiry; every tap is one :class:`~storage.models.SubscribeConsent` row. A send
reserves one ``open`` row with a conditional UPDATE (two drainers never use the same consent),
then marks it ``used`` once the API accepted the notice, gives it back when the notice was not
sent, or drops it when the platform refused it (43101: the customer switched the template off).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import SubscribeConsent

OPEN, RESERVED, USED, DROPPED, REJECTED = "open", "reserved", "used", "dropped", "rejected"
_RESERVE_TRIES = 3


def record_choice(
    session: Session,
    customer_id: int,
    template_id: str,
    accepted: bool,
    *,
    at: dt.datetime,
    scene: str | None = None,
) -> SubscribeConsent:
    """One tap in the popup: ``accepted`` gives an ``open`` consent, a cancel is kept as history."""
    row = SubscribeConsent(
        customer_id=customer_id,
        template_id=template_id[:128],
        status=OPEN if accepted else REJECTED,
        popup_scene=(scene or None) and str(scene)[:10],
        accepted_at=at,
        updated_at=at,
    )
    session.add(row)
    return row


def drop_open(session: Session, customer_id: int, template_id: str, reason: str, now: dt.datetime) -> int:
    """Every unused consent of the customer for ``template_id`` ends ``dropped``; returns how many."""
    result = session.execute(
        update(SubscribeConsent)
        .where(
            SubscribeConsent.customer_id == customer_id,
            SubscribeConsent.template_id == template_id,
            SubscribeConsent.status == OPEN,
        )
        .values(status=DROPPED, last_error=reason[:255], updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def open_count(session: Session, customer_id: int, template_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SubscribeConsent)
            .where(
                SubscribeConsent.customer_id == customer_id,
                SubscribeConsent.template_id == template_id,
                SubscribeConsent.status == OPEN,
            )
        )
        or 0
    )


def holds_open(session: Session, customer_id: int, template_id: str) -> bool:
    """Whether the customer holds an unused consent for ``template_id``."""
    return (
        session.scalar(
            select(SubscribeConsent.id)
            .where(
                SubscribeConsent.customer_id == customer_id,
                SubscribeConsent.template_id == template_id,
                SubscribeConsent.status == OPEN,
            )
            .limit(1)
        )
        is not None
    )


def reserve(
    session: Session, customer_id: int, template_id: str, outbox_id: int, now: dt.datetime
) -> int | None:
    """Take the oldest unused consent for one send (``reserved``); None when there is none left."""
    for _ in range(_RESERVE_TRIES):
        candidate = session.scalar(
            select(SubscribeConsent.id)
            .where(
                SubscribeConsent.customer_id == customer_id,
                SubscribeConsent.template_id == template_id,
                SubscribeConsent.status == OPEN,
            )
            .order_by(SubscribeConsent.accepted_at, SubscribeConsent.id)
            .limit(1)
        )
        if candidate is None:
            return None
        taken = session.execute(
            update(SubscribeConsent)
            .where(SubscribeConsent.id == candidate, SubscribeConsent.status == OPEN)
            .values(status=RESERVED, outbox_id=outbox_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:
            return int(candidate)
    return None  # others keep taking them: treat as none left


def mark_used(session: Session, consent_id: int, now: dt.datetime, msgid: str | None = None) -> None:
    """The API accepted the notice: the consent is spent."""
    session.execute(
        update(SubscribeConsent)
        .where(SubscribeConsent.id == consent_id)
        .values(status=USED, used_at=now, msgid=msgid, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def give_back(session: Session, consent_id: int, error: str, now: dt.datetime) -> None:
    """The notice did not go out (busy, bad field …): the consent is unused again."""
    session.execute(
        update(SubscribeConsent)
        .where(SubscribeConsent.id == consent_id, SubscribeConsent.status == RESERVED)
        .values(status=OPEN, outbox_id=None, last_error=error[:255], updated_at=now)
        .execution_options(synchronize_session=False)
    )


def drop_refused(session: Session, consent_id: int, error: str, now: dt.datetime) -> None:
    """43101: the customer refuses this template. This consent and every other unused one of it go."""
    row = session.get(SubscribeConsent, consent_id)
    if row is None:
        return
    row.status, row.last_error, row.updated_at = DROPPED, error[:255], now
    drop_open(session, row.customer_id, row.template_id, error, now)


def confirm_sent(
    session: Session,
    customer_id: int,
    template_id: str,
    *,
    msgid: str | None,
    error: str | None,
    now: dt.datetime,
) -> SubscribeConsent | None:
    """``subscribe_msg_sent_event``: the oldest used, unconfirmed consent of that template is
    confirmed (with the platform's MsgID); a failed delivery keeps its error."""
    stmt = select(SubscribeConsent).where(
        SubscribeConsent.customer_id == customer_id,
        SubscribeConsent.template_id == template_id,
        SubscribeConsent.status == USED,
        SubscribeConsent.confirmed_at.is_(None),
    )
    row = None
    if msgid:
        row = session.scalar(stmt.where(SubscribeConsent.msgid == msgid).limit(1))
    if row is None:
        row = session.scalar(stmt.order_by(SubscribeConsent.used_at, SubscribeConsent.id).limit(1))
    if row is None:
        return None
    row.confirmed_at, row.updated_at = now, now
    row.msgid = (msgid or row.msgid or None) and str(msgid or row.msgid)[:64]
    if error:
        row.last_error = error[:255]
    return row
