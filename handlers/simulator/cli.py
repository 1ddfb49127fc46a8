"""``huitou demo``: load the demo shop (products, customers, order history) into the database."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from bot import texts
from handlers.simulator.clock import simulated_now
from handlers.simulator.demo import load_demo_shop
from handlers.simulator.views import production_mode
from storage.db import get_db


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Add a demo shop (a few products, customers with months of orders). Running it twice adds nothing."""
    if production_mode(current_app.config):
        raise click.ClickException(texts.SIM_DEMO_REFUSED)
    database = get_db()
    # Relative to the simulator's clock, so history stays "recent" after the clock has jumped.
    with database.session() as session:
        result = load_demo_shop(session, simulated_now(database))
    click.echo(
        texts.SIM_DEMO_LOADED.format(
            products=result.products, customers=result.customers, orders=result.orders
        )
    )
