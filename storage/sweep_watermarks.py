"""Per-sweep watermarks in ``kv_store``: how far a due-message sweep has already looked.

A sweep that enqueued everything due up to ``now`` stores ``now`` as its watermark ``W``, in the
same transaction as the rows it enqueued (a crash loses both or neither). The next tick then
looks only at what fell due in ``(W - OVERLAP, now]`` instead of its whole catch-up window; the
catch-up window still bounds the look-back (first run, a watermark older than the window, a
tick earlier than ``W``: the whole window, as before). ``OVERLAP`` covers a transaction that
wrote "due now" (a shipping notice) but committed after the tick read; the dedupe keys filter
the overlap, so nothing goes twice.

A watermark holds only while nothing moved a due time to before it. The writes that can
(an order cancelled: its superseded supply clocks return and the sleeping clock moves back; an
import: orders shipped in the past, birthdays, opt-outs; a customer opting back in; supply
clocks backfilled) call :func:`invalidate`, which changes the shared epoch: every watermark
stored under another epoch is ignored, so the next tick reads its whole window once. A
watermark also records a fingerprint of the settings that place its window (timings, time
zone, seller accounts): changing them is a full read once too. The epoch is read before the
sweep's due query, so a write committing while a sweep runs leaves the sweep's new watermark
under the old epoch: ignored next time, nothing lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import kv
from storage.models import KeyValue

PREFIX = "sweep:watermark:"
EPOCH_KEY = PREFIX + "epoch"
OVERLAP = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Watermark:
    """A sweep's stored progress as read at the start of a tick (``at`` None: not valid)."""

    name: str
    fingerprint: str
    epoch: str
    at: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def start(self, now: dt.datetime, catchup: dt.timedelta) -> dt.datetime:
        """The earliest ``now``-time this tick must look back to (exclusive)."""
        floor = now - catchup
        if self.at is None or self.at > now:
            return floor
        return max(floor, self.at - OVERLAP)

    @property
    def valid(self) -> bool:
        return self.at is not None


def fingerprint(*parts: Any) -> str:
    """A short stable digest of the settings that place a sweep's window."""
    text = json.dumps([str(part) for part in parts], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _epoch(session: Session) -> str:
    return session.scalar(select(KeyValue.value).where(KeyValue.key == EPOCH_KEY)) or ""


def read(session: Session, name: str, fingerprint: str) -> Watermark:
    """The watermark of sweep ``name``, valid when stored under this epoch and ``fingerprint``."""
    epoch = _epoch(session)
    raw = session.scalar(select(KeyValue.value).where(KeyValue.key == PREFIX + name))
    mark = Watermark(name=name, fingerprint=fingerprint, epoch=epoch)
    if not raw:
        return mark
    try:
        data = json.loads(raw)
        if data.get("fp") != fingerprint or data.get("epoch", "") != epoch:
            return mark
        at = dt.datetime.fromisoformat(data["at"])
    except (ValueError, KeyError, TypeError):
        return mark
    return Watermark(name=name, fingerprint=fingerprint, epoch=epoch, at=at, extra=data.get("extra") or {})


def advance(session: Session, mark: Watermark, now: dt.datetime, extra: dict[str, Any] | None = None) -> None:
    """Everything due up to ``now`` is enqueued: store ``now`` under the epoch read with ``mark``."""
    value = {"at": now.isoformat(), "fp": mark.fingerprint, "epoch": mark.epoch, "extra": extra or {}}
    kv.set_value(session, PREFIX + mark.name, json.dumps(value, ensure_ascii=False), now)


def invalidate(session: Session, now: dt.datetime) -> None:
    """A due time may have moved to before some watermark: the next tick reads whole windows."""
    kv.set_value(session, EPOCH_KEY, uuid.uuid4().hex, now)
