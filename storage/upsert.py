"""Race-free "insert unless it exists" and "insert or update" on SQLite and PostgreSQL.

Statements are built once per table, columns and conflict target and then executed with the
rows as parameters (many rows: SQLAlchemy's batched "insertmanyvalues", RETURNING included):
building an ``INSERT ... ON CONFLICT`` costs more than running it, and these run on every order,
several times a message and for every batch of a sweep.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Table, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

_DIALECT_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# The same dialects with ``:name`` parameters, to turn a built statement into a ``text()`` one.
_NAMED_DIALECT = {
    "postgresql": postgresql.dialect(paramstyle="named"),
    "sqlite": sqlite.dialect(paramstyle="named"),
}
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


@functools.lru_cache(maxsize=256)
def _single_row_text(stmt, table: Table, dialect: str, columns: tuple[str, ...]) -> TextClause | None:
    """``stmt`` for one row of ``columns`` as a ``text()`` statement with typed parameters, or None
    when it needs more than the row gives (a column default or ``onupdate`` SQLAlchemy fills in).

    SQLAlchemy cannot cache the compiled form of ``INSERT … ON CONFLICT`` (the dialects' ``Insert``
    has no cache key), so executing the built statement compiles it again on every call, which
    costs several times the execution; the equivalent ``text()`` is compiled once and cached.
    """
    compiled = stmt.compile(dialect=_NAMED_DIALECT[dialect], column_keys=list(columns))
    if set(compiled.binds) != set(columns):
        return None
    # PostgreSQL casts (``:payload::JSON``) keep their colons escaped from text()'s parameter syntax.
    clause = text(compiled.string.replace("::", "\\:\\:")).bindparams(
        *(bindparam(c, type_=table.c[c].type) for c in columns)
    )
    if stmt._returning:
        clause = clause.columns(*stmt._returning)
    return clause


def _execute_one(session: Session, stmt, table: Table, dialect: str, row: dict[str, Any]):
    fast = _single_row_text(stmt, table, dialect, tuple(row))
    return session.execute(fast if fast is not None else stmt, row)


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
            if len(chunk) == 1:
                result = _execute_one(session, stmt, table, dialect, chunk[0])
            else:
                result = session.execute(stmt, chunk)
            created += len(result.all())
    return created


def insert_one_ignore(
    session: Session, table: Table, row: dict[str, Any], conflict_columns: list[str]
) -> Any | None:
    """Insert one ``row`` unless it collides on ``conflict_columns``: the new row's primary key, or
    None when it existed (the same race-free statement as :func:`insert_ignore`)."""
    dialect = _dialect(session)
    stmt = _ignore_statement(dialect, table, tuple(row), tuple(conflict_columns))
    return _execute_one(session, stmt, table, dialect, row).scalar()


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
    _execute_one(session, stmt, table, dialect, row)
