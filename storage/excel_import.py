"""Import a seller's spreadsheet (.xlsx or .csv) into the customer pool.

Each row is matched to an existing customer by openid, then phone, then exact name + address
(also against rows earlier in the same file), so importing never creates duplicates and importing
the same file twice changes nothing. Empty fields are filled; a different stored value is never
overwritten: a ``field_conflict`` row (source "import") keeps both, as the chat does. Tags are
merged, notes added once. Bad rows (no usable identity, invalid phone, unreadable birthday) are
reported with their row number and reason, in an error workbook too, while good rows are kept.

Rows are processed in batches of ``batch_size``: one lookup query per identity per batch, new
customers and their notes inserted by Core executemany, one flush and (unless it is a dry run) one
commit per batch.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from storage import sweep_watermarks
from storage.contact import AddressParts, split_addresses
from storage.db import Database
from storage.excel_rows import (
    FIELD_LEFT_OUT,
    FIELDS,
    HEADER_SEARCH_ROWS,
    FileLimits,
    HeaderMap,
    ImportFileError,
    RowData,
    RowError,
    map_headers,
    parse_mapping_options,
    parse_row,
    read_table,
)
from storage.excel_sheets import literal_text
from storage.models import Customer, CustomerNote, CustomerStage, FieldConflict

CONFLICT_SOURCE = "import"
DEFAULT_SOURCE = "import"
BATCH_SIZE = 1000
TAGS_MAX_CHARS = 255
NEW_CUSTOMER_KEYS = (
    "openid",
    "name",
    "nickname",
    "phone",
    "province",
    "city",
    "district",
    "address_detail",
    "tags",
    "birthday_year",
    "birthday_month",
    "birthday_day",
    "birthday_is_lunar",
    "source",
    "stage",
    "opted_out",
    "opted_out_at",
    "subscribed",
    "unreachable",
    "created_at",
    "updated_at",
)

__all__ = ["FIELDS", "FileLimits", "ImportFileError", "ImportReport", "import_file"]


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    merged_in_file: int = 0  # rows describing a customer an earlier row of the same file created
    conflicts: int = 0
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    # Rows imported without a field that could not be read: (row number, reason).
    partial_rows: list[tuple[int, str]] = field(default_factory=list)
    mapped: dict[str, str] = field(default_factory=dict)  # header -> field
    ignored_columns: list[str] = field(default_factory=list)
    error_report: Path | None = None
    product_facts: int = 0  # products whose facts the 商品资料 sheet set
    unknown_products: list[tuple[int, str]] = field(default_factory=list)  # (row, name) on that sheet


# Called after each batch is stored (committed; checked, in a dry run): (rows read, rows stored).
# Rows read include bad and blank-free rows alike; rows stored are those merged into the pool.
Progress = Callable[[int, int], None]


def default_error_report_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}-错误行.xlsx")


def import_file(
    database: Database,
    path: str | Path,
    *,
    now: dt.datetime,
    mapping: Sequence[str] = (),
    dry_run: bool = False,
    source: str | None = None,
    error_report: str | Path | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    limits: FileLimits | None = None,
) -> ImportReport:
    """Import ``path`` into the pool; raises ImportFileError when the file as a whole is unusable.

    ``mapping`` holds explicit ``列名=field`` options. The error workbook goes to ``error_report``
    (default: ``<name>-错误行.xlsx`` next to the file; none in a dry run unless asked for).
    ``limits`` bound what the file may inflate to (see :class:`storage.excel_rows.FileLimits`).
    """
    path = Path(path)
    explicit = parse_mapping_options(mapping)
    rows = iter(read_table(path, limits))
    head = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
    header = map_headers(head, explicit)
    body = itertools.chain(head[header.row_number :], rows)

    report = ImportReport(
        dry_run=dry_run,
        ignored_columns=header.ignored,
        mapped={header.headers[i]: f for i, f in header.columns.items()},
    )
    if error_report is None and not dry_run:
        error_report = default_error_report_path(path)
    errors = _ErrorWorkbook(Path(error_report) if error_report else None, header.headers)

    with database.Session() as session:
        merger = _Merger(session, now, source or DEFAULT_SOURCE, report)
        try:
            stored = 0
            for chunk in _chunks(_parsed(body, header, report, errors), batch_size):
                merger.merge(chunk)
                session.flush()
                if not dry_run:
                    # Birthdays, opt-outs, new customers: due times the sweeps' watermarks passed.
                    sweep_watermarks.invalidate(session, now)
                    session.commit()
                session.expunge_all()
                merger.forget()
                stored += len(chunk)
                if progress:
                    progress(report.rows, stored)
        finally:
            if dry_run:
                session.rollback()
    report.error_report = errors.save()
    if path.suffix.lower() == ".xlsx":
        from storage.product_facts import import_facts

        with database.Session() as session:
            report.product_facts, report.unknown_products = import_facts(session, path)
            if not dry_run:
                session.commit()
    return report


def _parsed(
    rows: Iterable[Sequence[Any]], header: HeaderMap, report: ImportReport, errors: _ErrorWorkbook
) -> Iterable[RowData]:
    for row_number, row in enumerate(rows, header.row_number + 1):
        parsed = parse_row(row, header, row_number)
        if parsed is None:
            continue
        report.rows += 1
        if isinstance(parsed, RowError):
            report.bad_rows.append((parsed.row_number, parsed.reason))
            errors.add(parsed)
            continue
        if parsed.warnings:
            reason = FIELD_LEFT_OUT.format(reasons="；".join(parsed.warnings))
            report.partial_rows.append((parsed.row_number, reason))
            errors.add(RowError(parsed.row_number, reason, parsed.values))
        yield parsed


def _chunks(items: Iterable[RowData], size: int) -> Iterable[list[RowData]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class _ErrorWorkbook:
    """Bad rows, streamed to a write-only workbook: 行号, 原因, then the row as it was."""

    def __init__(self, path: Path | None, headers: list[str]):
        self.path = path
        self.headers = headers
        self._workbook: Workbook | None = None
        self._sheet = None

    def add(self, error: RowError) -> None:
        if self.path is None:
            return
        if self._workbook is None:
            self._workbook = Workbook(write_only=True)
            self._sheet = self._workbook.create_sheet("错误行")
            self._sheet.freeze_panes = "A2"
            self._sheet.append(["行号", "原因", *self.headers])
        self._sheet.append(
            [error.row_number, error.reason, *(literal_text(self._sheet, v) for v in error.values)]
        )

    def save(self) -> Path | None:
        if self._workbook is None:
            return None
        self._workbook.save(self.path)
        return self.path


# --- Merging into the pool ------------------------------------------------------------------------------


def _address_key(text: str | None) -> str | None:
    return "".join(text.split()) if text else None


def _stored_address(customer: Customer) -> str:
    return customer.address


def _birthday_text(year: int | None, month: int | None, day: int | None, lunar: bool) -> str | None:
    if not month or not day:
        return None
    text = f"{year:04d}-{month:02d}-{day:02d}" if year else f"{month:02d}-{day:02d}"
    return f"农历{text}" if lunar else text


class _Merger:
    def __init__(self, session: Session, now: dt.datetime, source: str, report: ImportReport):
        self.session = session
        self.now = now
        self.source = source
        self.report = report
        # Identity keys of the customers this import created, to count later rows of the same file
        # that describe them (their ids are not fetched: new customers are inserted in bulk).
        self.created_keys: set[tuple[str, ...]] = set()
        self._created: dict[_NewCustomer, None] = {}  # created in this batch, in order (not yet inserted)
        self.forget()

    def forget(self) -> None:
        """Drop per-batch state (the session's identity map is cleared at the same time)."""
        self._created = {}
        self.by_openid: dict[str, Customer] = {}
        self.by_phone: dict[str, Customer] = {}
        self.by_name_address: dict[tuple[str, str], Customer] = {}
        self.notes: dict[int, set[str]] = {}
        self.open_conflicts: set[tuple[int, str, str]] = set()

    # lookups
    def _index(self, customer: Customer) -> None:
        if customer.openid:
            self.by_openid.setdefault(customer.openid, customer)
        if customer.phone:
            self.by_phone.setdefault(customer.phone, customer)
        if customer.name and (key := _address_key(customer.address)):
            self.by_name_address.setdefault((customer.name, key), customer)

    def _load(self, rows: list[RowData]) -> None:
        openids = {r.openid for r in rows if r.openid}
        phones = {r.phone for r in rows if r.phone}
        names = {r.name for r in rows if r.name and r.address_text}
        found: dict[int, Customer] = {}
        for column, values in ((Customer.openid, openids), (Customer.phone, phones), (Customer.name, names)):
            if values:
                for customer in self.session.scalars(
                    select(Customer).where(column.in_(values)).order_by(Customer.id)
                ):
                    found[customer.id] = customer
        for customer in sorted(found.values(), key=lambda c: c.id):
            self._index(customer)
        ids = list(found)
        if ids:
            for cid, text in self.session.execute(
                select(CustomerNote.customer_id, CustomerNote.text).where(CustomerNote.customer_id.in_(ids))
            ):
                self.notes.setdefault(cid, set()).add(text)
            for cid, name, value in self.session.execute(
                select(FieldConflict.customer_id, FieldConflict.field, FieldConflict.proposed_value).where(
                    FieldConflict.customer_id.in_(ids), FieldConflict.resolved_at.is_(None)
                )
            ):
                self.open_conflicts.add((cid, name, value))

    @staticmethod
    def _keys(customer: Customer) -> set[tuple[str, ...]]:
        keys = set()
        if customer.openid:
            keys.add(("openid", customer.openid))
        if customer.phone:
            keys.add(("phone", customer.phone))
        if customer.name and (address := _address_key(customer.address)):
            keys.add(("name_address", customer.name, address))
        return keys

    def _match(self, row: RowData) -> Customer | None:
        if row.openid and (customer := self.by_openid.get(row.openid)):
            return customer
        if row.phone and (customer := self.by_phone.get(row.phone)):
            return customer
        if row.name and row.address_text:
            return self.by_name_address.get((row.name, _address_key(row.address.full)))
        return None

    def merge(self, rows: list[RowData]) -> None:
        for row, parts in zip(rows, split_addresses([r.address_text for r in rows]), strict=True):
            # Text no region could be read from is kept whole as the street-level detail.
            row.address = parts or (
                AddressParts(None, None, None, row.address_text) if row.address_text else None
            )
        self._load(rows)
        for row in rows:
            customer = self._match(row)
            if customer is None:
                customer = self._create(row)
                self.report.created += 1
            else:
                if customer in self._created or not self.created_keys.isdisjoint(self._keys(customer)):
                    self.report.merged_in_file += 1
                conflicts_before = self.report.conflicts
                changed = self._update(customer, row)
                if changed or self.report.conflicts > conflicts_before:
                    self.report.updated += 1
                else:
                    self.report.unchanged += 1
            self._index(customer)
        self._insert_created()

    def _insert_created(self) -> None:
        """Insert this batch's new customers with Core executemany (no ORM instances), in the order
        the ORM used to give them ids: those with notes (``RETURNING id``), then the plain ones; then
        all their notes. One inserted early for a conflict's id gets its later changes by UPDATE."""
        created = list(self._created)
        plain, with_notes, early = [], [], []
        for customer in created:
            self.created_keys.update(self._keys(customer))
            if customer.id is not None:
                early.append(customer)
            else:
                (with_notes if customer.notes else plain).append(customer)
        table = Customer.__table__
        if early:
            self.session.execute(
                table.update().where(table.c.id == bindparam("customer_id")),
                [{"customer_id": c.id, **c.values()} for c in early],
            )
        if with_notes:
            ids = self.session.execute(
                table.insert().returning(table.c.id, sort_by_parameter_order=True),
                [c.values() for c in with_notes],
            ).scalars()
            for customer, cid in zip(with_notes, ids, strict=True):
                customer.id = cid
        if plain:
            self.session.execute(table.insert(), [c.values() for c in plain])
        notes = [
            {"customer_id": c.id, "text": text, "created_by": "import", "created_at": self.now}
            for c in created
            for text in c.notes
        ]
        if notes:
            self.session.execute(CustomerNote.__table__.insert(), notes)

    # changes
    def _create(self, row: RowData) -> _NewCustomer:
        address = row.address or AddressParts(None, None, None, None)
        year, month, day, lunar = row.birthday or (None, None, None, False)
        customer = _NewCustomer(
            openid=row.openid,
            name=row.name,
            nickname=row.nickname,
            phone=row.phone,
            province=address.province,
            city=address.city,
            district=address.district,
            address_detail=address.detail,
            tags=_merge_tags(None, row.tags),
            birthday_year=year,
            birthday_month=month,
            birthday_day=day,
            birthday_is_lunar=lunar,
            source=row.source or self.source,
            stage=CustomerStage.PROSPECT,
            opted_out=row.opted_out,
            opted_out_at=self.now if row.opted_out else None,
            subscribed=True,
            unreachable=False,
            created_at=self.now,
            updated_at=self.now,
        )
        customer.notes.extend(dict.fromkeys(row.notes))
        self._created[customer] = None
        return customer

    def _update(self, customer: Customer, row: RowData) -> bool:
        changed = False
        for name in ("openid", "name", "nickname", "phone"):
            new = getattr(row, name)
            if not new:
                continue
            old = getattr(customer, name)
            if not old:
                setattr(customer, name, new)
                changed = True
            elif old != new:
                self._conflict(customer, name, old, new)

        if row.address and row.address.full:
            stored = _stored_address(customer)
            if not stored:
                customer.province, customer.city = row.address.province, row.address.city
                customer.district, customer.address_detail = row.address.district, row.address.detail
                changed = True
            elif _address_key(stored) != _address_key(row.address.full):
                self._conflict(customer, "address", stored, row.address.full)

        if row.birthday:
            new = _birthday_text(*row.birthday)
            old = _birthday_text(
                customer.birthday_year,
                customer.birthday_month,
                customer.birthday_day,
                bool(customer.birthday_is_lunar),
            )
            if old is None:
                (
                    customer.birthday_year,
                    customer.birthday_month,
                    customer.birthday_day,
                    customer.birthday_is_lunar,
                ) = row.birthday
                changed = True
            elif old != new:
                self._conflict(customer, "birthday", old, new)

        tags = _merge_tags(customer.tags, row.tags)
        if tags != customer.tags and (tags or customer.tags):
            customer.tags = tags
            changed = True
        if row.source and not customer.source:
            customer.source = row.source  # the first known source stays; a later one is no news
            changed = True
        if row.opted_out and not customer.opted_out:
            customer.opted_out, customer.opted_out_at = True, self.now
            changed = True

        if row.notes:
            created = customer in self._created  # created in this batch: its notes are all in memory
            known = set(customer.notes) if created else self.notes.setdefault(customer.id, set())
            for text in dict.fromkeys(row.notes):
                if text not in known:
                    if created:
                        customer.notes.append(text)
                    else:
                        self.session.add(
                            CustomerNote(
                                customer_id=customer.id, text=text, created_by="import", created_at=self.now
                            )
                        )
                    known.add(text)
                    changed = True
        if changed:
            customer.updated_at = self.now
        return changed

    def _conflict(self, customer: Customer, name: str, old: str, new: str) -> None:
        if customer.id is None:  # created earlier in this batch: insert it now for its id
            table = Customer.__table__
            customer.id = self.session.execute(
                table.insert().returning(table.c.id), customer.values()
            ).scalar_one()
        key = (customer.id, name, new)
        if key in self.open_conflicts:
            return
        self.open_conflicts.add(key)
        self.session.add(
            FieldConflict(
                customer_id=customer.id,
                field=name,
                stored_value=old,
                proposed_value=new,
                source=CONFLICT_SOURCE,
                created_at=self.now,
            )
        )
        self.report.conflicts += 1


class _NewCustomer:
    """A customer this import creates, as plain attributes until its batch is inserted in bulk
    (building ORM instances cost more than reading their rows); ``notes`` are texts."""

    __slots__ = (*NEW_CUSTOMER_KEYS, "id", "notes")

    def __init__(self, **values: Any):
        for key in NEW_CUSTOMER_KEYS:
            setattr(self, key, values[key])
        self.id: int | None = None
        self.notes: list[str] = []

    @property
    def address(self) -> str:
        return "".join(p for p in (self.province, self.city, self.district, self.address_detail) if p)

    def values(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in NEW_CUSTOMER_KEYS}


def _merge_tags(stored: str | None, new: list[str]) -> str | None:
    """Stored tags plus the new ones, in order, without repeats, within the column's size."""
    tags = [t for t in (stored or "").split(",") if t]
    for tag in new:
        if tag not in tags and len(",".join([*tags, tag])) <= TAGS_MAX_CHARS:
            tags.append(tag)
    return ",".join(tags) or None
