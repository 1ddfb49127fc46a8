"""Race-free "insert unless it exists" on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(session: Session, table: Table, rows: list[dict[str, Any]] | dict[str, Any],
                  conflict_columns: list[str]) -> int:
    """Insert ``rows``, silently skipping any that collide on ``conflict_columns``.

    Returns the number of rows actually inserted. Concurrent inserters are safe: the database's
    UNIQUE constraint decides, so no worker coordination is needed.
    """
    if isinstance(rows, dict):
        rows = [rows]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(rows).on_conflict_do_nothing(index_elements=conflict_columns)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(rows).on_conflict_do_nothing(index_elements=conflict_columns)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"insert_ignore is not implemented for {dialect}")
    # Count the RETURNING rows: psycopg 3 reports rowcount -1 for INSERT ... ON CONFLICT here.
    key = list(table.primary_key.columns)[0]
    return len(session.execute(stmt.returning(key)).all())


def upsert(session: Session, table: Table, row: dict[str, Any], conflict_columns: list[str],
           update_columns: list[str]) -> None:
    """Insert ``row``, or update ``update_columns`` of the row it collides with on ``conflict_columns``.

    One statement, race-free on both databases (``INSERT ... ON CONFLICT DO UPDATE``).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(row)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(row)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    stmt = stmt.on_conflict_do_update(index_elements=conflict_columns,
                                      set_={name: stmt.excluded[name] for name in update_columns})
    session.execute(stmt)
