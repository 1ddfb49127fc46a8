"""The simulator's clock: a persisted offset from the real clock, never a faked server clock.

The simulated time is ``real UTC now + offset``; the offset lives in ``kv_store`` (key
``simulator:clock_offset_seconds``) so it survives restarts. While the simulator is enabled the
app's clock seam (``app.extensions["huitou_clock"]``, read by the webhook) returns the simulated
time, so messages typed after a jump are stamped consistently with the scheduler ticks run as of
that time. Nothing patches ``time`` or ``datetime``: other code calling ``utcnow()`` directly
still sees the real time.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import clock
from storage.clock import local_to_utc, zone
from storage.db import Database
from storage.models import KeyValue, utcnow

OFFSET_KEY = "simulator:clock_offset_seconds"
# When the clock jumps, the scheduler runs once a day at this local hour on the way (the way a
# real scheduler would have run), then once at the chosen time.
DAILY_TICK_HOUR = 10
# A longer jump is refused rather than thinned out: sweeps only catch up a few days
# (RETENTION_CATCHUP_DAYS), so skipping days would silently lose messages. Jump again instead.
MAX_JUMP_DAYS = 92


_OFFSET = select(KeyValue.value).where(KeyValue.key == OFFSET_KEY)


def read_offset(database: Database, session: Session | None = None) -> dt.timedelta:
    """The stored offset of the simulated clock (zero when never set); read in ``session`` when
    given (the webhook's own transaction), else in a short read-only one."""
    if session is not None:
        raw = session.scalar(_OFFSET)
    else:
        with database.read_session() as own:
            raw = own.scalar(_OFFSET)
    try:
        return dt.timedelta(seconds=float(raw)) if raw else dt.timedelta(0)
    except ValueError:
        return dt.timedelta(0)


def write_offset(database: Database, offset: dt.timedelta) -> None:
    real_now = utcnow()
    with database.session() as session:
        row = session.get(KeyValue, OFFSET_KEY)
        if row is None:
            session.add(KeyValue(key=OFFSET_KEY, value=str(offset.total_seconds()), updated_at=real_now))
        else:
            row.value = str(offset.total_seconds())
            row.updated_at = real_now


def simulated_now(database: Database, session: Session | None = None) -> dt.datetime:
    """Naive UTC simulated time."""
    return utcnow() + read_offset(database, session)


def set_simulated_now(database: Database, at: dt.datetime) -> dt.timedelta:
    """Move the simulated clock to ``at`` (naive UTC); it keeps running from there."""
    offset = at - utcnow()
    write_offset(database, offset)
    return offset


def reset_clock(database: Database) -> None:
    write_offset(database, dt.timedelta(0))


def install_clock(app: Flask, database: Database) -> None:
    """Make the app's clock seam (called with the caller's session, or None) return the simulated time."""
    clock: Callable[[Session | None], dt.datetime] = functools.partial(simulated_now, database)
    app.extensions["huitou_clock"] = clock


def parse_local(value: str, timezone: str) -> dt.datetime:
    """``2026-12-20T10:00`` in the seller's timezone → naive UTC. Raises ValueError."""
    return local_to_utc(dt.datetime.fromisoformat(value.strip()), zone(timezone))


def to_local(moment: dt.datetime, timezone: str) -> dt.datetime:
    """Naive UTC → aware local time in ``timezone``."""
    return clock.to_local(moment, zone(timezone))


def tick_times(start: dt.datetime, end: dt.datetime, timezone: str) -> list[dt.datetime]:
    """The moments (naive UTC) to run the scheduler when the clock jumps from ``start`` to ``end``.

    One tick per day at ``DAILY_TICK_HOUR`` local time strictly between the two, then ``end``
    itself, so a month's jump delivers each message on its own day, as a running scheduler would.
    """
    if end <= start:
        return [end]
    tz = zone(timezone)
    local_start = to_local(start, timezone)
    day = local_start.date()
    times: list[dt.datetime] = []
    while True:
        tick = local_to_utc(dt.datetime.combine(day, dt.time(DAILY_TICK_HOUR)), tz)
        if tick >= end:
            break
        if tick > start:
            times.append(tick)
        day += dt.timedelta(days=1)
    times.append(end)
    return times
