"""Scheduler commands: ``huitou scheduler`` (foreground) and ``huitou scheduler tick``."""

from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    """Register the scheduler commands (filled in by the delivery/scheduler work)."""
