"""WeCom commands: ``huitou wecom contact-way`` creates a 「联系我」 QR code and prints its URL."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from storage.db import get_db

wecom_cli = AppGroup("wecom", help="WeCom (企业微信) customer contact commands.")


@wecom_cli.command("contact-way")
@click.option(
    "--user",
    "userid",
    default=None,
    help="The member customers add (default: the first of HUITOU_SELLER_WECOM_USERIDS).",
)
@click.option(
    "--state", default=None, help="Channel marker, at most 30 characters; ref_<CODE> credits a referrer."
)
@click.option(
    "--customer",
    "customer_id",
    type=int,
    default=None,
    help="A personal link for this pool customer: whoever adds through it is linked to them.",
)
def contact_way_command(userid: str | None, state: str | None, customer_id: int | None) -> None:
    """Create a 「联系我」 QR code (externalcontact/add_contact_way) and print its URL."""
    from bot.delivery.errors import DeliveryError
    from bot.delivery.wecom_client import is_configured, make_client
    from bot.wecom_events import STATE_MAX, customer_state, seller_userids

    config = current_app.config
    if not is_configured(config):
        raise click.ClickException("WeCom is not configured (WECOM_CORP_ID / WECOM_SECRET).")
    userid = userid or next(iter(seller_userids(config)), None)
    if not userid:
        raise click.ClickException("No member: pass --user USERID or set HUITOU_SELLER_WECOM_USERIDS.")
    if customer_id is not None:
        if state:
            raise click.ClickException("--state and --customer exclude each other.")
        state = customer_state(customer_id, str(config.get("SECRET_KEY") or ""))
    if state is not None and len(state) > STATE_MAX:
        raise click.ClickException(f"--state is {len(state)} characters; WeCom allows at most {STATE_MAX}.")
    try:
        result = make_client(config, get_db()).add_contact_way(userid, state)
    except DeliveryError as exc:
        raise click.ClickException(f"WeCom refused the contact way: {exc}") from None
    click.echo(result.get("qr_code") or "")
    click.echo(f"config_id: {result.get('config_id', '')}  member: {userid}  state: {state or '-'}", err=True)


def register_cli(app: Flask) -> None:
    app.cli.add_command(wecom_cli)
