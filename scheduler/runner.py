"""APScheduler setup: one interval job that runs :func:`scheduler.tick.run_tick` while leading.

Sweeps are set-based, so there is one job in all, never one per customer. ``coalesce`` and
``max_instances=1`` keep a slow tick from piling up; a missed run is simply the next tick
(sweeps catch up by design).
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from scheduler.leader import Leadership
from scheduler.tick import run_tick
from storage.db import get_db

log = logging.getLogger(__name__)

JOB_ID = "huitou-tick"


def leader_tick(app: Flask, leadership: Leadership) -> None:
    """The scheduled job: tick if this process is the leader, otherwise wait for the next interval."""
    if not leadership.ensure():
        log.info("another scheduler is the leader; waiting")
        return
    summary = run_tick(app)
    log.info(
        "tick: sweeps %s, drain %s, errors %s",
        summary.sweeps,
        summary.drain.to_dict() if summary.drain else None,
        summary.errors or "none",
    )


def build_scheduler(app: Flask, *, background: bool = False) -> tuple[BaseScheduler, Leadership]:
    """A scheduler with the tick job (first run at once, then every ``SCHEDULER_INTERVAL_SECONDS``)."""
    interval = float(app.config.get("SCHEDULER_INTERVAL_SECONDS", 300))
    leadership = Leadership(get_db(app), lease_seconds=float(app.config.get("SCHEDULER_LEASE_SECONDS", 60)))
    leadership.start_renewing()
    scheduler = (BackgroundScheduler if background else BlockingScheduler)(timezone=dt.UTC)
    scheduler.add_job(
        leader_tick,
        "interval",
        seconds=interval,
        args=[app, leadership],
        id=JOB_ID,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(interval),
        next_run_time=dt.datetime.now(dt.UTC),
    )
    return scheduler, leadership


def _stop_on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise SystemExit(0)


def run_foreground(app: Flask) -> None:
    """``huitou scheduler``: block until SIGINT or SIGTERM, let a running tick finish, give up leadership.

    SIGTERM (systemd, supervisor, docker stop) stops it like Ctrl+C: without the handler Python
    would die on the spot and the SQLite lease would be kept until it expires.
    """
    scheduler, leadership = build_scheduler(app)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm) if main_thread else None
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        try:
            if scheduler.running:
                scheduler.shutdown(wait=True)  # a tick in flight finishes before another leads
        finally:
            leadership.release()
            log.info("scheduler stopped; leadership released")
            if main_thread:
                signal.signal(signal.SIGTERM, previous)


def start_background(app: Flask) -> BackgroundScheduler:
    """``huitou serve --with-scheduler``: the same job in a thread of the web process."""
    scheduler, _leadership = build_scheduler(app, background=True)
    scheduler.start()
    return scheduler
