"""Insert-or-ignore and insert-or-update, on whichever database the suite runs against."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from storage.models import KeyValue
from storage.upsert import CHUNK_ROWS, insert_ignore, upsert

NOW = dt.datetime(2027, 1, 1, 10, 0)


def _row(key: str, **extra) -> dict:
    return {"key": key, "value": f"v-{key}", "updated_at": NOW, **extra}


def test_insert_ignore_counts_only_new_rows_across_chunks_and_column_sets(db):
    with db.session() as s:
        assert insert_ignore(s, KeyValue.__table__, _row("k0"), ["key"]) == 1
        assert insert_ignore(s, KeyValue.__table__, _row("k0"), ["key"]) == 0
    many = [_row(f"k{i}") for i in range(CHUNK_ROWS * 2 + 7)]  # k0 exists already
    many += [_row("x1", expires_at=NOW), _row("x2", expires_at=NOW)]  # another column set
    with db.session() as s:
        assert insert_ignore(s, KeyValue.__table__, many, ["key"]) == len(many) - 1
        assert insert_ignore(s, KeyValue.__table__, many, ["key"]) == 0
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(KeyValue)) == len(many)
        assert s.scalar(select(KeyValue.expires_at).where(KeyValue.key == "x2")) == NOW


def test_upsert_inserts_then_updates_only_the_named_columns(db):
    with db.session() as s:
        upsert(s, KeyValue.__table__, _row("u"), ["key"], ["value"])
        upsert(
            s,
            KeyValue.__table__,
            {**_row("u"), "value": "new", "updated_at": NOW + dt.timedelta(days=1)},
            ["key"],
            ["value"],
        )
    with db.read_session() as s:
        row = s.get(KeyValue, "u")
        assert (row.value, row.updated_at) == ("new", NOW)  # updated_at was not in update_columns
