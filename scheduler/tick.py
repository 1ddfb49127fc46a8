"""One scheduler tick: every sweep in ``SWEEPS`` (each in its own transaction), then one drain.

``run_tick`` is the single entry point for the foreground scheduler, ``huitou scheduler tick``
(cron) and tests that travel in time. A dry run runs the sweeps and plans the drain inside one
transaction that is rolled back: it reports what would go out, per kind and channel, and changes
nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from bot.delivery.drain import DrainSummary, drain_outbox, preview_due
from bot.delivery.transport import Transport
from scheduler.registry import AFTER_DRAIN, SWEEPS
from storage.clock import naive_utc
from storage.db import get_db
from storage.models import utcnow

log = logging.getLogger(__name__)


@dataclass
class TickSummary:
    """What a tick did: rows each sweep enqueued, sweep errors, the drain's outcomes (or the preview)."""

    at: dt.datetime  # naive UTC
    dry_run: bool = False
    sweeps: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    drain: DrainSummary | None = None
    preview: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[str, dict[str, int]] = field(default_factory=dict)  # AFTER_DRAIN jobs (WeCom)

    @property
    def ok(self) -> bool:
        return not self.errors

    def would_send(self) -> dict[str, dict[str, int]]:
        """Dry run: ``{kind: {action: count}}`` (action: ``service``, ``template``, ``draft``,
        ``skipped:<reason>``, ``postponed``)."""
        counts: Counter = Counter((item["kind"], item["action"]) for item in self.preview)
        result: dict[str, dict[str, int]] = {}
        for (kind, action), n in sorted(counts.items()):
            result.setdefault(kind, {})[action] = n
        return result

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "at": self.at.isoformat(),
            "dry_run": self.dry_run,
            "sweeps": self.sweeps,
            "errors": self.errors,
        }
        if self.dry_run:
            data["would_send"] = self.would_send()
            data["preview"] = self.preview
        else:
            data["drain"] = self.drain.to_dict() if self.drain else None
            data["jobs"] = self.jobs
        return data


def run_tick(
    app: Flask, at: dt.datetime | None = None, dry_run: bool = False, *, transport: Transport | None = None
) -> TickSummary:
    """Run every sweep and then one drain as of ``at`` (naive means UTC; default: now) for ``app``
    (built by ``app.create_app``: its config and database)."""
    database, config = get_db(app), app.config
    now = naive_utc(at) if at is not None else utcnow()
    aware_now = now.replace(tzinfo=dt.UTC)
    summary = TickSummary(at=now, dry_run=dry_run)
    if dry_run:
        with database.Session() as session:
            session.begin()
            try:
                for sweep in SWEEPS:
                    try:
                        with session.begin_nested():
                            summary.sweeps[sweep.name] = int(sweep.run(session, aware_now, config))
                    except Exception as exc:  # noqa: BLE001 - one sweep's failure must not stop the others
                        log.exception("sweep %s failed (dry run)", sweep.name)
                        summary.errors[sweep.name] = f"{type(exc).__name__}: {exc}"
                summary.preview = preview_due(session, config, now)
            finally:
                session.rollback()
        return summary

    for sweep in SWEEPS:
        try:
            with database.session() as session:
                summary.sweeps[sweep.name] = int(sweep.run(session, aware_now, config))
        except Exception as exc:  # noqa: BLE001 - one sweep's failure must not stop the others
            log.exception("sweep %s failed", sweep.name)
            summary.errors[sweep.name] = f"{type(exc).__name__}: {exc}"
    try:
        summary.drain = drain_outbox(database, config, now if at is not None else None, transport=transport)
    except Exception as exc:  # noqa: BLE001 - reported; the next tick tries again
        log.exception("outbox drain failed")
        summary.errors["drain"] = f"{type(exc).__name__}: {exc}"
    for job in AFTER_DRAIN:
        try:
            summary.jobs[job.name] = job.run(database, config, now)
        except Exception as exc:  # noqa: BLE001 - reported; the next tick tries again
            log.exception("job %s failed", job.name)
            summary.errors[job.name] = f"{type(exc).__name__}: {exc}"
    return summary
