"""The machine's real clock, for tests whose subprocesses read it.

time-machine moves the clock of this process only (``HUITOU_TEST_TODAY`` moves it for the whole
session, see ``tests/conftest.py``). Data shared with a subprocess (a scheduler, gunicorn) must be
placed relative to the clock that subprocess sees, which :func:`wall_clock_utc` returns.
"""

from __future__ import annotations

import datetime as dt
import time

from time_machine import escape_hatch


def wall_clock_seconds() -> float:
    """``time.time()`` of the real wall clock, even while time-machine travels."""
    return escape_hatch.time.time() if escape_hatch.is_travelling() else time.time()


def wall_clock_utc() -> dt.datetime:
    """Naive UTC of the real wall clock, even while time-machine travels."""
    return dt.datetime.fromtimestamp(wall_clock_seconds(), dt.UTC).replace(tzinfo=None)
