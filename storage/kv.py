"""Small shared state in ``kv_store``: values with an expiry, and leases (who holds a role until when).

Used for the shared WeChat access token, the sender-wide rate-limit pause and the scheduler
leader lease on SQLite. Every function works inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import KeyValue
from storage.upsert import insert_ignore


def get_value(session: Session, key: str, now: dt.datetime) -> str | None:
    """The value stored under ``key``, or None when missing or expired at ``now``."""
    row = session.get(KeyValue, key, populate_existing=True)
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row.value


def set_value(
    session: Session, key: str, value: str | None, now: dt.datetime, expires_at: dt.datetime | None = None
) -> None:
    """Store ``value`` under ``key`` (insert or overwrite), valid until ``expires_at`` (None: forever)."""
    inserted = insert_ignore(
        session,
        KeyValue.__table__,
        {"key": key, "value": value, "expires_at": expires_at, "updated_at": now},
        ["key"],
    )
    if not inserted:
        row = session.get(KeyValue, key, populate_existing=True, with_for_update=True)
        row.value = value
        row.expires_at = expires_at
        row.updated_at = now
        session.flush()


def delete_value(session: Session, key: str) -> None:
    session.execute(delete(KeyValue).where(KeyValue.key == key))


def acquire_lease(session: Session, key: str, owner: str, now: dt.datetime, ttl: dt.timedelta) -> bool:
    """Take or renew the lease ``key`` for ``owner`` until ``now + ttl``.

    True when ``owner`` holds the lease afterwards: it was free, expired, or already ``owner``'s.
    The row lock (``FOR UPDATE``; SQLite's single writer) makes two contenders see each other.
    """
    until = now + ttl
    if insert_ignore(
        session,
        KeyValue.__table__,
        {"key": key, "value": owner, "expires_at": until, "updated_at": now},
        ["key"],
    ):
        return True
    row = session.get(KeyValue, key, populate_existing=True, with_for_update=True)
    if row.value == owner or row.expires_at is None or row.expires_at <= now:
        row.value = owner
        row.expires_at = until
        row.updated_at = now
        session.flush()
        return True
    return False


def release_lease(session: Session, key: str, owner: str) -> None:
    """Give the lease up if ``owner`` holds it."""
    session.execute(delete(KeyValue).where(KeyValue.key == key, KeyValue.value == owner))


def lease_holder(session: Session, key: str, now: dt.datetime) -> str | None:
    row = session.scalar(select(KeyValue).where(KeyValue.key == key))
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row.value
