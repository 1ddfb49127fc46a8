"""The shared WeChat access token: a wechatpy ``SessionStorage`` on the ``kv_store`` table.

Every ``/cgi-bin/token`` call invalidates the previous token, so all processes (webhook workers,
scheduler, CLI) read the one token stored here. A refresh runs under a database lock (a
PostgreSQL transaction advisory lock; SQLite's single write lock) and first re-reads the row:
when another process refreshed meanwhile, its token is used and no second request goes out.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from wechatpy.session import SessionStorage

from storage import kv
from storage.db import Database
from storage.models import KeyValue, utcnow

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
    """wechatpy session storage backed by ``kv_store`` (keys prefixed ``wechatpy:``).

    Reads are cached in the process for ``cache_seconds``: a token another process replaced
    meanwhile is refused by the API (40001), and the refresh then finds the new one in the database.
    """

    def __init__(self, database: Database, clock: Callable[[], dt.datetime] = utcnow, prefix: str = "wechatpy",
                 cache_seconds: float = 30):
        self.database = database
        self.clock = clock
        self.prefix = prefix
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Any, float, dt.datetime | None]] = {}

    def _remember(self, key: str, value: Any, expires_at: dt.datetime | None) -> None:
        self._cache[key] = (value, time.monotonic() + self.cache_seconds, expires_at)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def get(self, key: str, default: Any = None) -> Any:
        now = self.clock()
        cached = self._cache.get(key)
        if cached and cached[1] > time.monotonic() and (cached[2] is None or cached[2] > now):
            return cached[0]
        with self.database.read_session() as session:
            row = session.get(KeyValue, self._key(key))
            value, expires_at = (row.value, row.expires_at) if row is not None else (None, None)
        if value is None or (expires_at is not None and expires_at <= now):
            self._cache.pop(key, None)
            return default
        self._remember(key, value, expires_at)
        return value

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        now = self.clock()
        expires_at = _expires_at(now, ttl)
        with self.database.session() as session:
            kv.set_value(session, self._key(key), value, now, expires_at)
        self._remember(key, value, expires_at)

    def delete(self, key: str) -> None:
        self._cache.pop(key, None)
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
            row = session.get(KeyValue, self._key(key), populate_existing=True)
            if row is not None and row.value is not None and row.value != stale and (
                    row.expires_at is None or row.expires_at > now):
                self._remember(key, row.value, row.expires_at)
                return row.value
            token, expires_in = fetch(stale is not None)
            expires_at = _expires_at(now, expires_in)
            kv.set_value(session, self._key(key), token, now, expires_at)
        self._remember(key, token, expires_at)
        return token
