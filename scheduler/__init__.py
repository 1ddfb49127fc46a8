"""Scheduler: APScheduler setup and the set-based sweeps that fill the outbox."""

# Load the sweep registry (and with it every feature's sweeps) before any scheduler module.
from scheduler import registry as _registry  # noqa: E402,F401
