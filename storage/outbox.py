"""The outbox: every proactive message is a row with a unique dedupe key."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from storage.models import OutboxMessage
from storage.upsert import insert_ignore


def enqueue(session: Session, *, dedupe_key: str, kind: str, text: str, now: dt.datetime,
            customer_id: int | None = None, openid: str | None = None, transactional: bool = False,
            priority: int = 50, payload: dict[str, Any] | None = None,
            not_before: dt.datetime | None = None) -> bool:
    """Queue a message once: a second call with the same ``dedupe_key`` is a no-op.

    Returns True when a new row was created.
    """
    row = {
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
    return insert_ignore(session, OutboxMessage.__table__, row, ["dedupe_key"]) == 1
