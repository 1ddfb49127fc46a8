"""The sweeps a scheduler tick runs, in order (each feature's sweeps, listed here explicitly).

What a sweep is: ``scheduler/sweep.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.delivery import wecom_channel
from scheduler import transactional_sweeps as t
from scheduler.retention import RETENTION_SWEEPS
from scheduler.sweep import Sweep, SweepFunc

__all__ = ["AFTER_DRAIN", "SWEEPS", "AfterDrainJob", "Sweep", "SweepFunc"]

SWEEPS: list[Sweep] = [
    Sweep(
        "shipping_notices",
        t.shipping_notices,
        marketing=False,
        description="Shipping notice for orders shipped in the last 7 days (catch-up for the ship hook)",
    ),
    Sweep(
        "payment_reminders",
        t.payment_reminders,
        marketing=False,
        description="One reminder for orders unpaid PAYMENT_REMINDER_DELAY_HOURS after they were placed",
    ),
    Sweep(
        "draft_digest",
        t.draft_digest,
        marketing=False,
        description="The seller's daily digest of drafts to send by hand",
    ),
    *RETENTION_SWEEPS,
]


# --- Jobs after the drain: each ``run(database, config, now) -> dict`` makes its own transactions and API
# calls (not a sweep: it talks to an API). The WeCom channel sends app notices, creates mass-send tasks and
# polls their results (bot/delivery/wecom_channel.py); without WeCom settings it only retires dead welcomes.


@dataclass(frozen=True)
class AfterDrainJob:
    name: str
    run: Callable[..., dict[str, int]]
    description: str = ""


AFTER_DRAIN: list[AfterDrainJob] = [
    AfterDrainJob(
        "wecom", wecom_channel.run, description="WeCom: app notices, mass-send tasks and their results"
    ),
]
