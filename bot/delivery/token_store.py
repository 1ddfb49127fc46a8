"""The shared WeChat access token: a wechatpy ``SessionStorage`` on the ``kv_store`` table.

Every ``/cgi-bin/token`` call invalidates the previous token, so all processes (webhook workers,
scheduler, CLI) read the one token stored here. A refresh runs under a database lock (a
PostgreSQL transaction advisory lock; SQLite's single write lock) and first re-reads the row:
when another process refreshed meanwhile, its token is used and no second request goes out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from wechatpy.session import SessionStorage

from storage import kv
from storage.db import Database
from storage.models import utcnow

# Arbitrary constant: the advisory-lock id guarding token refreshes on PostgreSQL.
TOKEN_LOCK_ID = 7_240_531_001
# Treat a token as expired this long before WeChat does, so a call never races the expiry.
EXPIRY_MARGIN = dt.timedelta(minutes=5)

TokenFetcher = Callable[[bool], tuple[str, int]]


def _expires_at(now: dt.datetime, ttl: int | None) -> dt.datetime | None:
    if ttl is None:
        return None
    lifetime = dt.timedelta(seconds=int(ttl))
    margin = EXPIRY_MARGIN if lifetime > 2 * EXPIRY_MARGIN else lifetime / 2
    return now + lifetime - margin


class DatabaseSessionStorage(SessionStorage):
    """wechatpy session storage backed by ``kv_store`` (keys prefixed ``wechatpy:``)."""

    def __init__(self, database: Database, clock: Callable[[], dt.datetime] = utcnow, prefix: str = "wechatpy"):
        self.database = database
        self.clock = clock
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def get(self, key: str, default: Any = None) -> Any:
        with self.database.read_session() as session:
            value = kv.get_value(session, self._key(key), self.clock())
        return default if value is None else value

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        now = self.clock()
        with self.database.session() as session:
            kv.set_value(session, self._key(key), value, now, _expires_at(now, ttl))

    def delete(self, key: str) -> None:
        with self.database.session() as session:
            kv.delete_value(session, self._key(key))

    def refresh(self, key: str, stale: str | None, fetch: TokenFetcher) -> str:
        """Return a valid token for ``key``, fetching one under the lock unless another process did.

        ``stale`` is the token the caller saw fail (None: it saw none). ``fetch(force)`` asks the
        API for a token and returns ``(token, expires_in)``; ``force`` is True when a token was
        refused, so the stable-token endpoint must issue a new one.
        """
        with self.database.session() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": TOKEN_LOCK_ID})
            now = self.clock()
            current = kv.get_value(session, self._key(key), now)
            if current is not None and current != stale:
                return current
            token, expires_in = fetch(stale is not None)
            kv.set_value(session, self._key(key), token, now, _expires_at(now, expires_in))
            return token
