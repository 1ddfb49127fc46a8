"""Scheduler commands: ``huitou scheduler`` (foreground) and ``huitou scheduler tick``."""

from __future__ import annotations

import datetime as dt
import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup, ScriptInfo

from scheduler.runner import run_foreground
from scheduler.tick import run_tick
from storage.clock import local_to_utc, shop_zone, to_local, zone


@click.group(
    "scheduler",
    cls=AppGroup,
    invoke_without_command=True,
    help="Run the scheduler in the foreground (sweeps + outbox drain every interval).",
)
@click.pass_context
def scheduler_cli(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        # The app is built here, not for `--help` (the group parses that before calling this).
        app = current_app._get_current_object() if current_app else ctx.ensure_object(ScriptInfo).load_app()
        click.echo(
            f"Scheduler running every {app.config.get('SCHEDULER_INTERVAL_SECONDS')} s "
            "(Ctrl+C or SIGTERM stops it and gives up the leadership)."
        )
        with app.app_context():
            run_foreground(app)


def parse_at(value: str, timezone: str) -> dt.datetime:
    """``--at``: ISO date-time; without an offset it is the seller's local time. Returns naive UTC."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO date-time: {value!r} (e.g. 2026-11-24T09:00)") from None
    return local_to_utc(moment, zone(timezone))


@scheduler_cli.command("tick")
@click.option(
    "--at",
    "at",
    metavar="ISO-DATETIME",
    help="Run as of this moment (local time in HUITOU_TIMEZONE unless it has an offset).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be sent, per kind, without changing anything.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def tick_command(at: str | None, dry_run: bool, as_json: bool) -> None:
    """Run every sweep and one outbox drain once."""

    app = current_app._get_current_object()
    timezone = shop_zone(app.config).key
    moment = parse_at(at, timezone) if at else None
    summary = run_tick(app, at=moment, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(_render(summary, timezone))
    if summary.errors:
        raise SystemExit(1)


def _render(summary, timezone: str) -> str:
    local = to_local(summary.at, zone(timezone))
    lines = [
        f"Tick at {local:%Y-%m-%d %H:%M} ({timezone}){' - dry run, nothing changed' if summary.dry_run else ''}"
    ]
    lines.append("Sweeps: " + (", ".join(f"{name} +{n}" for name, n in summary.sweeps.items()) or "none"))
    if summary.dry_run:
        would = summary.would_send()
        lines.append("Would go out:" if would else "Nothing due.")
        for kind, actions in would.items():
            lines.append(f"  {kind}: " + ", ".join(f"{action} {n}" for action, n in actions.items()))
    elif summary.drain is not None:
        per_kind = summary.drain.to_dict()["per_kind"]
        lines.append("Delivered:" if per_kind else "Nothing due.")
        for kind, outcomes in per_kind.items():
            lines.append(f"  {kind}: " + ", ".join(f"{outcome} {n}" for outcome, n in outcomes.items()))
        if summary.drain.paused_until:
            lines.append(
                f"Sending paused until {summary.drain.paused_until:%Y-%m-%d %H:%M} UTC (WeChat rate limit)."
            )
    for name, error in summary.errors.items():
        lines.append(f"ERROR in {name}: {error}")
    return "\n".join(lines)


def register_cli(app: Flask) -> None:
    """Register ``huitou scheduler`` and ``huitou scheduler tick``."""
    app.cli.add_command(scheduler_cli)
