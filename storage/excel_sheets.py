"""Typed, styled sheets on an openpyxl write-only workbook (the building block of the export).

Every column declares a kind; the kind decides the cell's Excel type and number format:
money is a number of yuan with a ¥ format, dates are real dates in the seller's timezone,
phones are text (never a number that loses its leading digits or turns into 1.38E+10).
Rows go straight to the sheet's temporary file, so memory does not grow with the row count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.workbook import Workbook

from storage.clock import to_local, zone

MONEY_FORMAT = '"¥"#,##0.00'
PERCENT_FORMAT = "0.0%"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
DAYS_FORMAT = "0.0"
TEXT_FORMAT = "@"

# The RFM segments (storage/segments.py) as the seller reads them in the exported workbook.
RFM_SEGMENT_LABELS = {
    "champions": "重要价值客户",
    "loyal": "忠诚客户",
    "potential_loyalists": "潜力客户",
    "new": "新客户",
    "at_risk": "重要挽留客户",
    "cant_lose": "不能流失的客户",
    "hibernating": "沉睡客户",
    "lost": "流失客户",
}

# kind -> number format of the cells (None: the value's own type decides, no styling cost)
KIND_FORMATS: dict[str, str | None] = {
    "text": None,
    "int": None,
    "yesno": None,
    "phone": TEXT_FORMAT,
    "money": MONEY_FORMAT,
    "percent": PERCENT_FORMAT,
    "days": DAYS_FORMAT,
    "datetime": DATETIME_FORMAT,
    "date": DATE_FORMAT,
}

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
HEADER_ALIGNMENT = Alignment(vertical="center")


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "text"
    width: float = 12


class LocalTime:
    """Naive UTC from the database → naive local time in the seller's timezone (Excel has no zones)."""

    def __init__(self, timezone: str):
        self.zone = zone(timezone)

    def __call__(self, value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return None
        return to_local(value, self.zone).replace(tzinfo=None)


def literal_text(ws, value: Any) -> Any:
    """``value``, except that text starting with "=" becomes a text cell rather than a formula.

    Names, notes and inquiries are typed by customers: "=HYPERLINK(…)" must not run in Excel.
    """
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        return cell
    return value


def _converter(ws, kind: str, local: LocalTime) -> Callable[[Any], Any]:
    fmt = KIND_FORMATS[kind]
    if kind == "text":
        return lambda v: literal_text(ws, v) if isinstance(v, str) and v.startswith("=") else v
    if kind == "yesno":
        return lambda v: None if v is None else ("是" if v else "否")
    if fmt is None:
        return lambda v: v
    # One reusable styled cell per column: write-only sheets serialise a row as soon as it is
    # appended, so the cell can take the next row's value afterwards (no per-cell allocation).
    cell = WriteOnlyCell(ws)
    cell.number_format = fmt
    if kind == "money":

        def to_cell(v):
            if v is None:
                return None
            cell.value = v / 100
            return cell
    elif kind == "datetime":

        def to_cell(v):
            if v is None:
                return None
            cell.value = local(v)
            return cell
    elif kind == "phone":

        def to_cell(v):
            if v is None or v == "":
                return None
            cell.value = str(v)
            return cell
    else:

        def to_cell(v):
            if v is None:
                return None
            cell.value = v
            return cell

    return to_cell


def _pass_cells_through(ws) -> None:
    """Let the sheet take a styled cell as it is.

    openpyxl's write-only ``append`` first tries to assign every value to a scratch cell and only
    falls back to "it is a cell" after that raises (formatting an error message each time): a third
    of the cost of a typed cell. This replacement checks for a cell first and is otherwise the same.
    """
    if not hasattr(ws, "_values_to_row"):  # pragma: no cover - another openpyxl: keep its own
        return

    def values_to_row(values, row_idx):
        scratch = WriteOnlyCell(ws)
        for col_idx, value in enumerate(values, 1):
            if value is None:
                continue
            if isinstance(value, Cell):
                cell = value
            else:
                scratch.value = value
                cell = scratch
            cell.column = col_idx
            cell.row = row_idx
            yield cell
            if cell is scratch and scratch.has_style:
                scratch = WriteOnlyCell(ws)

    ws._values_to_row = values_to_row


class TypedSheet:
    """A write-only worksheet with a bold, frozen, filtered header row and typed columns."""

    def __init__(
        self,
        workbook: Workbook,
        title: str,
        columns: Sequence[Column],
        local: LocalTime,
        *,
        filter_rows: bool = True,
        expected_rows: int | None = None,
    ):
        self.ws = workbook.create_sheet(title)
        self.columns = list(columns)
        if expected_rows is not None:
            # Write-only sheets carry no <dimension>; without one, openpyxl's read-only mode parses
            # the whole sheet on open just to size it. The count is a hint (readers may be off by a row).
            ref = f"A1:{get_column_letter(len(self.columns))}{expected_rows + 1}"
            self.ws.calculate_dimension = lambda: ref
        self.local = local
        self.rows = 0
        self.filter_rows = filter_rows
        for index, column in enumerate(self.columns, 1):
            self.ws.column_dimensions[get_column_letter(index)].width = column.width
        self.ws.freeze_panes = "A2"
        _pass_cells_through(self.ws)
        self._convert = [_converter(self.ws, c.kind, local) for c in self.columns]
        self.ws.append([self.header_cell(c.header) for c in self.columns])

    def header_cell(self, text: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(self.ws, value=text)
        cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGNMENT
        return cell

    def append(self, values: Sequence[Any]) -> None:
        self.ws.append([convert(v) for convert, v in zip(self._convert, values, strict=True)])
        self.rows += 1

    def append_raw(self, values: Iterable[Any]) -> None:
        """A row outside the typed table (e.g. a second table below the first)."""
        self.ws.append(list(values))

    def finish(self) -> None:
        """Set the auto filter over the header and every data row (written with the sheet's tail)."""
        if self.filter_rows:
            last = get_column_letter(len(self.columns))
            self.ws.auto_filter.ref = f"A1:{last}{self.rows + 1}"


def group_consecutive(rows: Iterable[Sequence[Any]], key_index: int = 0) -> Iterator[tuple[Any, list]]:
    """Group an ordered row stream by one column: ``(key, rows)`` for each run of equal keys."""
    for key, run in groupby(rows, key=lambda r: r[key_index]):
        yield key, list(run)


class MergeCursor:
    """Walk a stream grouped by an ascending key alongside another ascending stream (a merge join)."""

    def __init__(self, rows: Iterable[Sequence[Any]], key_index: int = 0):
        self._groups = group_consecutive(rows, key_index)
        self._current: tuple[Any, list] | None = next(self._groups, None)

    def take(self, key: Any) -> list:
        """The rows whose key equals ``key`` (empty when none); keys must be asked in ascending order."""
        while self._current is not None and self._current[0] < key:
            self._current = next(self._groups, None)
        if self._current is not None and self._current[0] == key:
            rows = self._current[1]
            self._current = next(self._groups, None)
            return rows
        return []
