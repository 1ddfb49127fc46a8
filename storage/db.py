"""Engine and session handling.

One engine per app. On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` so that
concurrent writers queue on the busy timeout instead of failing when a read snapshot turns
stale; read-only sessions (exports, figures) use a plain deferred ``BEGIN`` and never block
the webhook. WAL mode and foreign keys are switched on for every connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: SQLite's busy handler alone
    fcntl = None

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 30
_READONLY_OPTION = "huitou_readonly"


def default_database_url(instance_path: str) -> str:
    """The embedded default: a SQLite file in the instance folder."""
    return f"sqlite:///{Path(instance_path) / 'huitou.db'}"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, sqlite_busy_timeout: float = SQLITE_BUSY_TIMEOUT_SECONDS) -> Engine:
    """Create an engine with Huitou's connection settings for the URL's backend.

    ``sqlite_busy_timeout``: how long a SQLite writer waits for the write lock before giving up
    with "database is locked" (the webhook then asks the customer to resend).
    """
    # hide_parameters: a logged database error never shows the statement's values (openids,
    # phones, addresses), only the SQL.
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True, future=True, hide_parameters=True)

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": sqlite_busy_timeout, "check_same_thread": False}, hide_parameters=True
    )

    @event.listens_for(engine, "connect")
    def _sqlite_on_connect(dbapi_connection, _record):
        # Let SQLAlchemy (below) emit BEGIN itself instead of pysqlite's implicit transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(sqlite_busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_on_begin(connection):
        if connection.get_execution_options().get(_READONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class WriterGate:
    """Queue SQLite writers on an OS file lock next to the database, before ``BEGIN IMMEDIATE``.

    SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps 1, 2,
    5, 10, 15, 20, 25 ... ms between tries, so a writer often sleeps long after the lock was
    freed. With the gate, the next writer gets in within ``POLL_SECONDS`` of the last commit.
    The gate only changes who waits where: it is given up after the busy timeout, and SQLite's
    own lock still decides (a process that does not use the gate is just slower to get in). So a
    writer stuck behind a hung holder waits at most twice the busy timeout (at the gate, then in
    SQLite) before it gives up with "database is locked".
    """

    POLL_SECONDS = 0.0005

    def __init__(self, database_path: str, timeout: float):
        self.path = f"{database_path}.writer-lock"
        self.timeout = timeout
        self._held = threading.local()  # a thread already inside the gate (nested sessions) goes on

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if getattr(self._held, "depth", 0):
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # e.g. a read-only folder: SQLite's own lock alone, as without the gate
            log.warning(
                "SQLite writer gate %s unavailable; writers wait in SQLite's busy handler",
                self.path,
                exc_info=True,
            )
            yield
            return
        self._held.depth = 1
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break  # let SQLite's busy timeout decide
                    time.sleep(self.POLL_SECONDS)
            yield
        finally:
            self._held.depth = 0
            os.close(fd)  # releases the lock


class Database:
    """The app's engine plus session factories (read-write and read-only)."""

    def __init__(self, url: str, *, sqlite_busy_timeout: float = SQLITE_BUSY_TIMEOUT_SECONDS):
        self.url = url
        self.engine = make_engine(url, sqlite_busy_timeout)
        # Copied into every new session's ``Session.info``: how the application hands storage the
        # hooks it calls (``storage.order_hooks.install``) without storage importing it.
        self.session_info: dict = {}
        self.Session = sessionmaker(self.engine, expire_on_commit=False, info=self.session_info)
        self.ReadSession = sessionmaker(
            self.engine.execution_options(**{_READONLY_OPTION: True}),
            expire_on_commit=False,
            info=self.session_info,
        )
        path = make_url(url).database if is_sqlite(url) else None
        self._gate = (
            WriterGate(path, sqlite_busy_timeout)
            if path and path != ":memory:" and fcntl is not None
            else None
        )

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A read-write unit of work: committed on success, rolled back on any error."""
        with (
            self._gate.hold() if self._gate else contextlib.nullcontext(),
            self.Session() as session,
            session.begin(),
        ):
            yield session

    @contextlib.contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only session that does not take SQLite's write lock."""
        with self.ReadSession() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def init_app(app: Flask) -> Database:
    url = app.config.get("DATABASE_URL") or default_database_url(app.instance_path)
    app.config["DATABASE_URL"] = url
    database = Database(
        url,
        sqlite_busy_timeout=float(app.config.get("SQLITE_BUSY_TIMEOUT_SECONDS", SQLITE_BUSY_TIMEOUT_SECONDS)),
    )
    app.extensions["huitou_db"] = database
    return database


def get_db(app: Flask | None = None) -> Database:
    """The Database of the given app, or of the current app context."""
    return (app or current_app).extensions["huitou_db"]


def request_session() -> Session:
    """A session bound to the current app context, closed at teardown (for request handlers)."""
    if "huitou_session" not in g:
        g.huitou_session = get_db().Session()
    return g.huitou_session


def close_request_session(_exc: BaseException | None = None) -> None:
    session = g.pop("huitou_session", None)
    if session is not None:
        session.close()
