"""Storage commands: ``huitou db upgrade``, ``huitou export`` and ``huitou import``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from storage import migrate
from storage.db import get_db
from storage.models import utcnow

db_cli = AppGroup("db", help="Database schema commands.")


@db_cli.command("upgrade")
def upgrade_command() -> None:
    """Migrate the database schema to the latest revision."""
    database = get_db()
    migrate.upgrade(database)
    click.echo("Database schema is up to date.")


def _progress(sheet: str, done: int, total: int | None) -> None:
    shown = f"{done}/{total}" if total else str(done)
    click.echo(f"  {sheet}: {shown}", err=True)


@click.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def export_command(path: Path) -> None:
    """Export the customer pool with its analysis to PATH.xlsx."""
    from storage.excel_export import export_workbook

    if path.suffix.lower() != ".xlsx":
        raise click.UsageError(f"导出文件必须以 .xlsx 结尾：{path}")
    if not path.parent.exists():
        raise click.ClickException(f"目录不存在：{path.parent}")
    partial = path.with_name(path.name + ".part")
    try:
        with get_db().read_session() as session:
            summary = export_workbook(session, partial, timezone=current_app.config["TIMEZONE"], now=utcnow(),
                                      progress=_progress)
        partial.replace(path)  # readers never see a half-written workbook
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"无法写入 {path}：{exc.strerror or exc}") from exc
    counts = "，".join(f"{sheet} {rows} 行" for sheet, rows in summary.rows.items())
    click.echo(f"已导出到 {path}（{counts}）")


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(export_command)



