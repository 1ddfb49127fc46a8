"""The sweeps a scheduler tick runs, in order (each feature's sweeps, listed here explicitly).

What a sweep is: ``scheduler/sweep.py``.
"""

from __future__ import annotations

from scheduler import transactional_sweeps as t
from scheduler.retention import RETENTION_SWEEPS
from scheduler.sweep import Sweep, SweepFunc

__all__ = ["SWEEPS", "Sweep", "SweepFunc"]

SWEEPS: list[Sweep] = [
    Sweep("shipping_notices", t.shipping_notices, marketing=False,
          description="Shipping notice for orders shipped in the last 7 days (catch-up for the ship hook)"),
    Sweep("payment_reminders", t.payment_reminders, marketing=False,
          description="One reminder for orders unpaid PAYMENT_REMINDER_DELAY_HOURS after they were placed"),
    Sweep("draft_digest", t.draft_digest, marketing=False,
          description="The seller's daily digest of drafts to send by hand"),
    *RETENTION_SWEEPS,
]
