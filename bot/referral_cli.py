"""Referral commands: ``huitou referral qr`` creates the customers' permanent QR codes."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from bot.referrals import create_missing_qr_codes
from storage.db import get_db
from storage.models import utcnow

referral_cli = AppGroup("referral", help="Referral programme commands.")


@referral_cli.command("qr")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="At most this many QR codes per run (the API has a daily quota).",
)
def qr_command(limit: int) -> None:
    """Create the missing referral QR codes (scene ref_<code>) through the WeChat API."""

    run = create_missing_qr_codes(get_db(), current_app.config, utcnow(), limit=limit)
    if run.reason == "no_credentials":
        click.echo(
            "No WeChat credentials (WECHAT_APP_ID / WECHAT_APP_SECRET): no QR codes; customers share their code."
        )
        return
    click.echo(f"Referral QR codes created: {run.created}, failed: {run.failed}.")
    if run.failed:
        raise SystemExit(1)


def register_cli(app: Flask) -> None:
    app.cli.add_command(referral_cli)
