"""Storage commands: ``huitou db upgrade``, ``huitou export``, ``huitou import`` and
``huitou segments recompute``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from config import parse_list
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
            summary = export_workbook(
                session,
                partial,
                timezone=current_app.config["TIMEZONE"],
                now=utcnow(),
                progress=_progress,
                seller_openids=parse_list(current_app.config.get("SELLER_OPENIDS")),
            )
        partial.replace(path)  # readers never see a half-written workbook
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"无法写入 {path}：{exc.strerror or exc}") from exc
    counts = "，".join(f"{sheet} {rows} 行" for sheet, rows in summary.rows.items())
    click.echo(f"已导出到 {path}（{counts}）")


BAD_ROWS_SHOWN = 20
PROGRESS_LINE_ROWS = 10_000  # without a terminal, a progress line per this many rows read


class ImportProgress:
    """Rows read and stored, on stderr: on a terminal one line rewritten in place (after every
    batch); otherwise a plain line every ``PROGRESS_LINE_ROWS`` rows read and one at the end."""

    def __init__(self, dry_run: bool, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.verb = "已核对" if dry_run else "已存入"
        self.shown = 0  # rows read when the last plain line was written
        self.last: tuple[int, int] | None = None
        self.open_line = False  # a terminal line without its newline yet

    def _text(self, read: int, stored: int) -> str:
        return f"  已读取 {read} 行，{self.verb} {stored} 行"

    def start(self, path: Path) -> None:
        if self.tty:  # reading a large workbook takes a few seconds before the first batch
            click.echo(f"\r  正在读取 {path.name} …", file=self.stream, nl=False)
            self.open_line = True

    def __call__(self, read: int, stored: int) -> None:
        self.last = (read, stored)
        if self.tty:
            click.echo("\r" + self._text(read, stored) + "\x1b[K", file=self.stream, nl=False)
            self.open_line = True
        elif read - self.shown >= PROGRESS_LINE_ROWS:
            click.echo(self._text(read, stored), file=self.stream)
            self.shown = read

    def finish(self) -> None:
        """End the progress display (also when the import failed)."""
        if self.open_line:
            click.echo("", file=self.stream)
            self.open_line = False
        elif self.last is not None and self.shown != self.last[0]:
            click.echo(self._text(*self.last), file=self.stream)


@click.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="列名=字段",
    help="Map a column explicitly, e.g. --map 手机=phone (repeatable; 字段 '-' ignores the column).",
)
@click.option("--dry-run", is_flag=True, help="Show what would change without writing anything.")
@click.option(
    "--source", default=None, help="Source recorded on new customers without a 来源 column (default: import)."
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the workbook of bad rows (default: <file>-错误行.xlsx next to the file).",
)
@with_appcontext
def import_command(
    path: Path, mapping: tuple[str, ...], dry_run: bool, source: str | None, report_path: Path | None
) -> None:
    """Import customers from PATH (.xlsx or .csv), merging with the pool without duplicates."""
    from storage.excel_import import FileLimits, ImportFileError, import_file

    limits = FileLimits(
        max_uncompressed_bytes=int(current_app.config["IMPORT_MAX_UNCOMPRESSED_MB"]) * 1024 * 1024
    )
    progress = ImportProgress(dry_run)
    progress.start(path)
    try:
        report = import_file(
            get_db(),
            path,
            now=utcnow(),
            mapping=mapping,
            dry_run=dry_run,
            source=source,
            error_report=report_path,
            limits=limits,
            progress=progress,
        )
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"无法读取 {path}：{exc.strerror or exc}") from exc
    finally:
        progress.finish()
    mapped = "，".join(f"{header}→{field}" for header, field in report.mapped.items())
    click.echo(f"列对应：{mapped}")
    if report.ignored_columns:
        click.echo(f"未导入的列：{'，'.join(report.ignored_columns)}")
    prefix = "试运行（未写入任何数据）：" if dry_run else ""
    click.echo(
        f"{prefix}共 {report.rows} 行：新增 {report.created} 位客户，更新 {report.updated} 位，"
        f"无变化 {report.unchanged} 位，文件内重复合并 {report.merged_in_file} 行，"
        f"待确认的不同资料 {report.conflicts} 条，错误 {len(report.bad_rows)} 行。"
    )
    for row_number, reason in report.bad_rows[:BAD_ROWS_SHOWN]:
        click.echo(f"  第 {row_number} 行：{reason}")
    if len(report.bad_rows) > BAD_ROWS_SHOWN:
        click.echo(f"  ……另有 {len(report.bad_rows) - BAD_ROWS_SHOWN} 行错误")
    if report.partial_rows:
        click.echo(f"已导入但有资料未能识别的 {len(report.partial_rows)} 行：")
        for row_number, reason in report.partial_rows[:BAD_ROWS_SHOWN]:
            click.echo(f"  第 {row_number} 行：{reason}")
        if len(report.partial_rows) > BAD_ROWS_SHOWN:
            click.echo(f"  ……另有 {len(report.partial_rows) - BAD_ROWS_SHOWN} 行")
    if report.product_facts or report.unknown_products:
        unknown = "，".join(f"第{n}行“{name}”" for n, name in report.unknown_products[:BAD_ROWS_SHOWN])
        click.echo(
            f"商品资料：更新 {report.product_facts} 款商品"
            + (f"；没有这款商品：{unknown}" if unknown else "")
        )
    if report.error_report:
        click.echo(f"错误行已写入 {report.error_report}")


segments_cli = AppGroup("segments", help="Customer segments (stage, A/B/C/D class, RFM).")


@segments_cli.command("recompute")
@click.option(
    "--full",
    is_flag=True,
    help="Recompute every customer and the pool's cut-offs, whatever is stored (a repair).",
)
def segments_recompute_command(full: bool) -> None:
    """Recompute segments now: the customers due (as the daily sweep does), or everyone with --full."""
    from storage import segment_moments

    with get_db().session() as session:
        run = segment_moments.recompute_all if full else segment_moments.recompute_due
        result = run(session, utcnow())
    click.echo(
        f"已重算 {result.touched} 位客户（共 {result.customers} 位）：更新 {result.updated} 位，"
        f"阶段变化 {result.changed_stage} 位。"
    )


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(segments_cli)
    app.cli.add_command(export_command)
    app.cli.add_command(import_command)
