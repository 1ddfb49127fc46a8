"""Scheduler: APScheduler setup and the set-based sweeps that fill the outbox."""
