"""Storage commands: ``huitou db upgrade`` (and, from the Excel module, export/import)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from storage import migrate
from storage.db import get_db

db_cli = AppGroup("db", help="Database schema commands.")


@db_cli.command("upgrade")
def upgrade_command() -> None:
    """Migrate the database schema to the latest revision."""
    database = get_db()
    migrate.upgrade(database)
    click.echo("Database schema is up to date.")


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_cli)
