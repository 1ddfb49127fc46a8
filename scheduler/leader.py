"""Exactly one scheduler leader.

APScheduler 3 does not coordinate several scheduler processes, so each tick first makes sure this
process leads: on PostgreSQL it holds a session advisory lock on a dedicated connection (released
when the process or connection dies); on SQLite it holds a lease row in ``kv_store`` that it renews
every tick and that expires ``SCHEDULER_LEASE_SECONDS`` after the leader stops renewing it.
A second scheduler simply waits, checking again every interval.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
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

    def __init__(self, database: Database, lease_seconds: float = 900, owner: str | None = None):
        self.database = database
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._connection: Connection | None = None

    @property
    def uses_advisory_lock(self) -> bool:
        return self.database.engine.dialect.name == "postgresql"

    def ensure(self, now: dt.datetime | None = None) -> bool:
        if self.uses_advisory_lock:
            return self._ensure_advisory_lock()
        with self.database.session() as session:
            return kv.acquire_lease(session, LEASE_KEY, self.owner, now or utcnow(), self.lease)

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
        got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": LEADER_LOCK_ID}).scalar())
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
