"""The sweeps a scheduler tick runs, in order.

A sweep is a set-based function ``run(session, now, config) -> int`` that asks storage for
everything due at ``now`` (aware UTC) and enqueues outbox rows with stable dedupe keys, returning
how many rows it created. Sweeps are idempotent: running one twice, or late, enqueues each
message once. Features add their sweeps to ``SWEEPS`` here, explicitly.
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


SWEEPS: list[Sweep] = []


def _register_transactional_sweeps() -> None:
    from scheduler import transactional_sweeps as t

    SWEEPS.extend([
        Sweep("shipping_notices", t.shipping_notices, marketing=False,
              description="Shipping notice for orders shipped in the last 7 days (catch-up for the ship hook)"),
        Sweep("payment_reminders", t.payment_reminders, marketing=False,
              description="One reminder for orders unpaid PAYMENT_REMINDER_DELAY_HOURS after they were placed"),
        Sweep("draft_digest", t.draft_digest, marketing=False,
              description="The seller's daily digest of drafts to send by hand"),
    ])


_register_transactional_sweeps()


def _register_retention_sweeps() -> None:
    # scheduler/__init__.py imports this module first, so scheduler.retention (which imports
    # Sweep from here) is always loaded from this line and never starts an import cycle.
    from scheduler.retention import RETENTION_SWEEPS

    SWEEPS.extend(RETENTION_SWEEPS)


_register_retention_sweeps()


# --- Jobs after the drain: each ``run(database, config, now) -> dict`` makes its own transactions and API
# calls (not a sweep: it talks to an API). The WeCom channel sends app notices, creates mass-send tasks and
# polls their results (bot/delivery/wecom_channel.py); without WeCom settings it only retires dead welcomes.

@dataclass(frozen=True)
class AfterDrainJob:
    name: str
    run: Callable[..., dict[str, int]]
    description: str = ""


AFTER_DRAIN: list[AfterDrainJob] = []


def _register_wecom_job() -> None:
    from bot.delivery import wecom_channel

    AFTER_DRAIN.append(AfterDrainJob("wecom", wecom_channel.run,
                                     description="WeCom: app notices, mass-send tasks and their results"))


_register_wecom_job()
