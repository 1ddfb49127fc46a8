"""Race-free "insert unless it exists" and "insert or update" on SQLite and PostgreSQL.

Statements are built once per table, columns and conflict target and then executed with the
rows as parameters (many rows: SQLAlchemy's batched "insertmanyvalues", RETURNING included):
building an ``INSERT ... ON CONFLICT`` costs more than running it, and these run on every order,
several times a message and for every batch of a sweep.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_DIALECT_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
CHUNK_ROWS = 500  # rows per execution of a many-row insert


def _dialect(session: Session) -> str:
    dialect = session.get_bind().dialect.name
    if dialect not in _DIALECT_INSERT:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"upserts are not implemented for {dialect}")
    return dialect


@functools.lru_cache(maxsize=256)
def _ignore_statement(dialect: str, table: Table, columns: tuple[str, ...], conflict: tuple[str, ...]):
    stmt = _DIALECT_INSERT[dialect](table).on_conflict_do_nothing(index_elements=list(conflict))
    key = list(table.primary_key.columns)[0]
    return stmt.returning(key)


@functools.lru_cache(maxsize=256)
def _upsert_statement(
    dialect: str, table: Table, columns: tuple[str, ...], conflict: tuple[str, ...], update: tuple[str, ...]
):
    stmt = _DIALECT_INSERT[dialect](table)
    return stmt.on_conflict_do_update(
        index_elements=list(conflict), set_={name: stmt.excluded[name] for name in update}
    )


def insert_ignore(
    session: Session, table: Table, rows: list[dict[str, Any]] | dict[str, Any], conflict_columns: list[str]
) -> int:
    """Insert ``rows``, silently skipping any that collide on ``conflict_columns``.

    Returns the number of rows actually inserted. Concurrent inserters are safe: the database's
    UNIQUE constraint decides, so no worker coordination is needed.
    """
    if isinstance(rows, dict):
        rows = [rows]
    if not rows:
        return 0
    dialect = _dialect(session)
    # Rows with the same columns share one statement, executed for a chunk of rows at a time.
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    created = 0
    for columns, group in groups.items():
        stmt = _ignore_statement(dialect, table, columns, tuple(conflict_columns))
        for start in range(0, len(group), CHUNK_ROWS):
            chunk = group[start : start + CHUNK_ROWS]
            # Count the RETURNING rows: psycopg 3 reports rowcount -1 for INSERT ... ON CONFLICT here.
            created += len(session.execute(stmt, chunk[0] if len(chunk) == 1 else chunk).all())
    return created


def upsert(
    session: Session,
    table: Table,
    row: dict[str, Any],
    conflict_columns: list[str],
    update_columns: list[str],
) -> None:
    """Insert ``row``, or update ``update_columns`` of the row it collides with on ``conflict_columns``.

    One statement, race-free on both databases (``INSERT ... ON CONFLICT DO UPDATE``).
    """
    dialect = _dialect(session)
    stmt = _upsert_statement(dialect, table, tuple(row), tuple(conflict_columns), tuple(update_columns))
    session.execute(stmt, row)
