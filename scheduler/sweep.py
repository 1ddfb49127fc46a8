"""What a sweep is: a named, set-based function ``run(session, now, config) -> int``.

A sweep asks storage for everything due at ``now`` (aware UTC) and enqueues outbox rows with
stable dedupe keys, returning how many rows it created. Sweeps are idempotent: running one twice,
or late, enqueues each message once. ``scheduler/registry.py`` lists them in the order a tick runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

SweepFunc = Callable[[Session, dt.datetime, Mapping[str, Any]], int]


@dataclass(frozen=True)
class Sweep:
    """One named sweep. ``marketing`` sweeps obey opt-out, quiet hours and caps at delivery."""

    name: str
    run: SweepFunc
    marketing: bool = True
    description: str = ""
