"""The shared WeChat access token: a wechatpy ``SessionStorage`` on the ``kv_store`` table.

Every ``/cgi-bin/token`` call invalidates the previous token, so all processes (webhook workers,
scheduler, CLI) read the one token stored here. A refresh runs under a lock of its own (an OS
file lock next to the SQLite file; a session-level advisory lock on PostgreSQL, taken on a
connection of its own outside any transaction) and first re-reads the row: when another process
refreshed meanwhile, its token is used and no second request goes out. The HTTP call happens
outside any database transaction: only the final write of the new token is one (a short one), so
a slow token endpoint never holds SQLite's write lock against the webhook.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from wechatpy.session import SessionStorage

from bot.delivery.errors import TransientError
from storage import kv
from storage.db import Database
from storage.models import KeyValue, utcnow

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: a lock per process only
    fcntl = None

log = logging.getLogger(__name__)

# Arbitrary constant: the advisory-lock id guarding token refreshes on PostgreSQL.
TOKEN_LOCK_ID = 7_240_531_001
# Treat a token as expired this long before WeChat does, so a call never races the expiry.
EXPIRY_MARGIN = dt.timedelta(minutes=5)

# How long a refresh waits for another process's refresh (longer than one token request takes).
REFRESH_LOCK_TIMEOUT_SECONDS = 30

TokenFetcher = Callable[[bool], tuple[str, int]]


class RefreshLock:
    """Only one process at a time asks the API for a token; never inside a database transaction.

    PostgreSQL: ``pg_advisory_lock`` (session level) on a connection of its own in autocommit,
    waiting at most ``timeout`` (``lock_timeout``). SQLite: ``flock`` on ``<database>.token-lock``
    (polled until ``timeout``); an in-memory database or a folder without a usable lock file has
    a lock per process only. ``hold()`` yields False when the lock could not be had in time.
    """

    POLL_SECONDS = 0.01

    def __init__(
        self,
        database: Database,
        timeout: float = REFRESH_LOCK_TIMEOUT_SECONDS,
        lock_id: int = TOKEN_LOCK_ID,
        name: str = "token",
    ):
        # ``lock_id``/``name``: another shared credential (the JS-SDK ticket) gets a lock of its own.
        self.database = database
        self.timeout = timeout
        self.lock_id = lock_id
        self._local = threading.Lock()
        path = make_url(database.url).database if database.is_sqlite else None
        self.path = f"{path}.{name}-lock" if path and path != ":memory:" and fcntl is not None else None

    @contextlib.contextmanager
    def hold(self) -> Iterator[bool]:
        if not self.database.is_sqlite:
            with self._advisory() as held:
                yield held
            return
        if not self._local.acquire(timeout=self.timeout):
            yield False
            return
        try:
            with self._file_lock() as held:
                yield held
        finally:
            self._local.release()

    @contextlib.contextmanager
    def _advisory(self) -> Iterator[bool]:
        with self.database.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(
                text("SELECT set_config('lock_timeout', :ms, false)"), {"ms": f"{int(self.timeout * 1000)}ms"}
            )
            try:
                conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": self.lock_id})
            except OperationalError:  # lock_timeout: another refresh is taking too long
                conn.execute(text("RESET lock_timeout"))
                yield False
                return
            try:
                yield True
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": self.lock_id})
                    conn.execute(text("RESET lock_timeout"))
                except Exception:  # noqa: BLE001 - a connection in doubt is dropped, which frees the lock
                    conn.invalidate()
                    raise

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[bool]:
        if self.path is None:
            yield True
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # e.g. a read-only folder: this process's lock alone
            log.warning(
                "token lock file %s unavailable; refreshes are serialised per process only",
                self.path,
                exc_info=True,
            )
            yield True
            return
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(self.POLL_SECONDS)  # another process is fetching the token
            yield True
        finally:
            os.close(fd)  # releases the lock


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

    def __init__(
        self,
        database: Database,
        clock: Callable[[], dt.datetime] = utcnow,
        prefix: str = "wechatpy",
        cache_seconds: float = 30,
        lock_timeout: float = REFRESH_LOCK_TIMEOUT_SECONDS,
        lock_id: int = TOKEN_LOCK_ID,
        lock_name: str = "token",
    ):
        self.database = database
        self.clock = clock
        self.prefix = prefix
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Any, float, dt.datetime | None]] = {}
        self._refresh_lock = RefreshLock(database, lock_timeout, lock_id, lock_name)

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
        refused, so the stable-token endpoint must issue a new one. The fetch runs under
        :class:`RefreshLock`, outside any database transaction.
        """
        with self._refresh_lock.hold() as held:
            now = self.clock()
            with self.database.read_session() as session:
                row = session.get(KeyValue, self._key(key))
                value, expires_at = (row.value, row.expires_at) if row is not None else (None, None)
            if value is not None and value != stale and (expires_at is None or expires_at > now):
                self._remember(key, value, expires_at)
                return value
            if not held:
                raise TransientError("another process is still refreshing the access token")
            token, expires_in = fetch(stale is not None)
            expires_at = _expires_at(now, expires_in)
            with self.database.session() as session:
                kv.set_value(session, self._key(key), token, now, expires_at)
        self._remember(key, token, expires_at)
        return token
