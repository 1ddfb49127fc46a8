"""The outbox: every proactive message is a row with a unique dedupe key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.clock import naive_utc
from storage.models import OutboxMessage
from storage.upsert import insert_ignore


def outbox_row(
    *,
    dedupe_key: str,
    kind: str,
    text: str,
    now: dt.datetime,
    customer_id: int | None = None,
    openid: str | None = None,
    transactional: bool = False,
    priority: int = 50,
    payload: dict[str, Any] | None = None,
    not_before: dt.datetime | None = None,
) -> dict[str, Any]:
    """The row :func:`enqueue` writes (``now``/``not_before`` may be aware; stored as naive UTC)."""
    now = naive_utc(now)
    not_before = naive_utc(not_before) if not_before is not None else None
    return {
        "dedupe_key": dedupe_key,
        "customer_id": customer_id,
        "openid": openid,
        "kind": kind,
        "transactional": transactional,
        "priority": priority,
        "text": text,
        "payload": payload or {},
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "created_at": now,
        "updated_at": now,
    }


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    kind: str,
    text: str,
    now: dt.datetime,
    customer_id: int | None = None,
    openid: str | None = None,
    transactional: bool = False,
    priority: int = 50,
    payload: dict[str, Any] | None = None,
    not_before: dt.datetime | None = None,
) -> bool:
    """Queue a message once: a second call with the same ``dedupe_key`` is a no-op.

    Returns True when a new row was created. ``now``/``not_before`` may be aware; they are stored
    as naive UTC like every timestamp.
    """
    row = outbox_row(
        dedupe_key=dedupe_key,
        kind=kind,
        text=text,
        now=now,
        customer_id=customer_id,
        openid=openid,
        transactional=transactional,
        priority=priority,
        payload=payload,
        not_before=not_before,
    )
    return insert_ignore(session, OutboxMessage.__table__, row, ["dedupe_key"]) == 1


ENQUEUE_CHUNK = 500  # rows a caller collects before handing them to enqueue_many


def enqueue_many(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Queue many messages at once (rows from :func:`outbox_row`), each once like :func:`enqueue`.

    One cached ``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id``, executed for chunks
    of rows (``storage.upsert.insert_ignore``), so 10,000 festival greetings compile one statement,
    not 10,000. Returns the number of rows created.
    """
    return insert_ignore(session, OutboxMessage.__table__, list(rows), ["dedupe_key"])


def list_drafts(session: Session, *, limit: int = 20, offset: int = 0) -> list[OutboxMessage]:
    """Seller drafts still to be sent by hand (oldest first): the seller's ``待发`` list."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "drafted", OutboxMessage.channel == "draft")
        .order_by(OutboxMessage.id)
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def count_drafts(session: Session) -> int:
    stmt = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status == "drafted", OutboxMessage.channel == "draft")
    )
    return int(session.scalar(stmt) or 0)


def mark_draft_done(session: Session, outbox_id: int, now: dt.datetime) -> bool:
    """The seller sent a draft by hand: it becomes ``sent`` (channel stays ``draft``)."""
    row = session.get(OutboxMessage, outbox_id)
    if row is None or row.status != "drafted":
        return False
    row.status = "sent"
    row.sent_at = now
    row.updated_at = now
    return True
