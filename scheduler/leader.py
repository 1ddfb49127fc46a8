"""Exactly one scheduler leader.

APScheduler 3 does not coordinate several scheduler processes, so each tick first makes sure this
process leads: on PostgreSQL it holds a session advisory lock on a dedicated connection (released
when the process or connection dies); on SQLite it holds a lease row in ``kv_store`` that it renews
every tick and, between ticks, from a renewing thread (every third of the lease), so the lease can
be short (``SCHEDULER_LEASE_SECONDS``, 60 s): it expires that long after the leader stopped renewing
it (SIGKILL, a crash). A leader that is stopped (SIGINT, SIGTERM) releases it at once.
A second scheduler simply waits, checking again every interval.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid

from sqlalchemy import Connection, text

from storage import kv
from storage.db import Database
from storage.models import utcnow

log = logging.getLogger(__name__)

LEADER_LOCK_ID = 7_240_531_002
LEASE_KEY = "scheduler:leader"


class Leadership:
    """``ensure()`` before each tick: True while this process is the leader."""

    def __init__(self, database: Database, lease_seconds: float = 60, owner: str | None = None):
        self.database = database
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._connection: Connection | None = None
        self._leading = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def uses_advisory_lock(self) -> bool:
        return self.database.engine.dialect.name == "postgresql"

    def ensure(self, now: dt.datetime | None = None) -> bool:
        if self.uses_advisory_lock:
            return self._ensure_advisory_lock()
        with self.database.session() as session:
            self._leading = kv.acquire_lease(session, LEASE_KEY, self.owner, now or utcnow(), self.lease)
        return self._leading

    def start_renewing(self) -> None:
        """SQLite: renew the lease from a thread every third of its length while this process leads,
        so a short lease survives ticks far apart (``SCHEDULER_INTERVAL_SECONDS`` > lease)."""
        if self.uses_advisory_lock or self._renewer is not None:
            return
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="huitou-leader-lease", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        every = max(self.lease.total_seconds() / 3, 0.1)
        while not self._stop.wait(every):
            if not self._leading:
                continue
            try:
                with self.database.session() as session:
                    self._leading = kv.acquire_lease(session, LEASE_KEY, self.owner, utcnow(), self.lease)
            except Exception:  # noqa: BLE001 - a busy database: try again at the next renewal
                log.warning("could not renew the scheduler lease; trying again", exc_info=True)
            if not self._leading:
                log.warning("lost the scheduler lease to another scheduler")

    def _ensure_advisory_lock(self) -> bool:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                self._connection.commit()
                return True
            except Exception:  # noqa: BLE001 - the connection (and with it the lock) is gone
                log.warning("lost the scheduler leader connection; trying to lead again")
                self._drop_connection()
        connection = self.database.engine.connect()
        got = bool(
            connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": LEADER_LOCK_ID}).scalar()
        )
        connection.commit()
        if got:
            self._connection = connection
        else:
            connection.close()
        return got

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
            finally:
                self._connection = None

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=30)
            self._renewer = None
        self._leading = False
        if self.uses_advisory_lock:
            if self._connection is not None:
                try:
                    self._connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": LEADER_LOCK_ID})
                    self._connection.commit()
                finally:
                    self._connection.close()
                    self._connection = None
            return
        with self.database.session() as session:
            kv.release_lease(session, LEASE_KEY, self.owner)
