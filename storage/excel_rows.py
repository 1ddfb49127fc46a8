"""Reading a seller's spreadsheet: files (.xlsx / .csv in UTF-8 or GBK), header mapping, row parsing.

Pure functions, no database: :func:`read_table` yields raw rows, :func:`map_headers` decides which
column feeds which customer field, :func:`parse_row` turns one row into a :class:`RowData` or a
:class:`RowError` with the reason in Chinese.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers

from storage.contact import AddressParts, find_phone, normalize_phone, to_halfwidth

SUPPORTED_SUFFIXES = (".xlsx", ".xlsm", ".csv")
HEADER_SEARCH_ROWS = 10
PREFERRED_SHEET = "客户"  # an exported workbook re-imports from its customer sheet

FIELDS: dict[str, str] = {
    "openid": "OpenID",
    "name": "姓名",
    "nickname": "昵称",
    "wechat_id": "微信号（存为备注）",
    "phone": "手机号",
    "address": "完整地址",
    "province": "省",
    "city": "市",
    "district": "区",
    "address_detail": "详细地址",
    "tags": "标签",
    "birthday": "生日",
    "lunar_birthday": "农历生日",
    "birthday_calendar": "生日类型（公历/农历）",
    "source": "来源",
    "notes": "备注",
    "opted_out": "已退订（是/否）",
}

HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "openid": ("openid", "微信openid"),
    "name": (
        "姓名",
        "名字",
        "收件人",
        "收货人",
        "收件人姓名",
        "收货人姓名",
        "客户姓名",
        "客户名称",
        "客户名",
        "联系人",
        "真实姓名",
        "name",
        "fullname",
        "customername",
        "recipient",
        "contact",
    ),
    "nickname": ("昵称", "微信昵称", "微信名", "网名", "微信", "nickname", "nick", "wechatname"),
    "wechat_id": ("微信号", "wechatid", "wechat", "wxid", "微信id"),
    "phone": (
        "电话",
        "手机",
        "手机号",
        "手机号码",
        "电话号码",
        "联系电话",
        "联系方式",
        "收件人电话",
        "收货人电话",
        "收件人手机",
        "收货人手机",
        "phone",
        "mobile",
        "tel",
        "telephone",
        "cellphone",
        "phonenumber",
        "mobilephone",
    ),
    "address": (
        "地址",
        "收货地址",
        "收件地址",
        "联系地址",
        "邮寄地址",
        "完整地址",
        "address",
        "shippingaddress",
        "fulladdress",
    ),
    "province": ("省", "省份", "province"),
    "city": ("市", "城市", "city"),
    "district": ("区", "区县", "县区", "区/县", "district", "county"),
    "address_detail": ("详细地址", "街道地址", "街道", "street", "addressdetail", "detail"),
    "tags": ("标签", "分组", "客户标签", "tags", "tag", "group", "label", "labels"),
    "birthday": ("生日", "出生日期", "生日日期", "birthday", "birthdate", "dateofbirth", "dob"),
    "lunar_birthday": ("农历生日", "阴历生日", "lunarbirthday"),
    "birthday_calendar": ("生日类型", "历法", "birthdaycalendar"),
    "source": ("来源", "渠道", "客户来源", "来源渠道", "source", "channel"),
    "notes": ("备注", "说明", "备注信息", "留言", "note", "notes", "remark", "remarks", "memo", "comment"),
    "opted_out": ("已退订", "退订", "optedout", "unsubscribed"),
}

TRUE_WORDS = {"是", "已退订", "退订", "y", "yes", "true", "1", "√", "✓"}
LUNAR_MONTHS = {
    "正": 1,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
    "十一": 11,
    "冬": 11,
    "十二": 12,
    "腊": 12,
}
CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
TAG_SPLIT = re.compile(r"[,，、;；/|\s]+")

REASON_NO_IDENTITY = "缺少可识别的信息：需要手机号，或者姓名加地址"
REASON_BAD_PHONE = "手机号无效（应为11位大陆手机号）"
REASON_TOO_LONG = "「{label}」太长（最多{limit}个字）"
LENGTH_LIMITS = {"openid": 64, "name": 100, "nickname": 100, "source": 50, "address_text": 255}
LENGTH_LABELS = {
    "openid": "OpenID",
    "name": "姓名",
    "nickname": "昵称",
    "source": "来源",
    "address_text": "地址",
}
REASON_BAD_BIRTHDAY = "生日无法识别（可写 1990-05-20、5月20日 或 农历八月十五）"
FIELD_LEFT_OUT = "{reasons}：这一项未导入，其余资料已导入"


# A cell that is already 11 plain digits matching phonenumbers' own pattern for mainland mobiles
# is what normalize_phone would return (parsing it costs ~0.25 ms); anything else takes the full path.
_PLAIN_MOBILE = re.compile(
    rf"(?:{phonenumbers.PhoneMetadata.metadata_for_region('CN').mobile.national_number_pattern})"
)
_ELEVEN_DIGITS = re.compile(r"1[0-9]{10}")


def import_phone(text: str) -> str | None:
    """A phone cell as :func:`storage.contact.normalize_phone` reads it (or the first mobile in it)."""
    if _ELEVEN_DIGITS.fullmatch(text) and _PLAIN_MOBILE.fullmatch(text):
        return text
    return normalize_phone(text) or find_phone(text)[0]


class ImportFileError(Exception):
    """The file as a whole cannot be imported (message in Chinese, for the seller)."""


def normalize_header(text: Any) -> str:
    """'手机号码（必填）*' → '手机号码'; 'Phone Number' → 'phonenumber'."""
    if text is None:
        return ""
    cleaned = to_halfwidth(str(text)).strip().lower()
    cleaned = re.sub(r"\(.*?\)|\[.*?\]|【.*?】", "", cleaned)
    return re.sub(r"[\s*:_\-.#]+", "", cleaned)


ALIAS_TO_FIELD: dict[str, str] = {
    normalize_header(alias): name for name, aliases in HEADER_ALIASES.items() for alias in aliases
}


def parse_mapping_options(options: Sequence[str]) -> dict[str, str]:
    """``["手机=phone", "客户名=name"]`` → {normalised header: field}; bad options raise ImportFileError."""
    mapping = {}
    for option in options:
        header, sep, target = option.partition("=")
        target = target.strip()
        if not sep or not header.strip():
            raise ImportFileError(f"映射“{option}”的格式应为 列名=字段，例如 手机=phone")
        if target not in FIELDS and target != "-":
            known = "、".join(FIELDS)
            raise ImportFileError(
                f"映射“{option}”里的字段“{target}”不存在；可用字段：{known}（“-”表示忽略该列）"
            )
        mapping[normalize_header(header)] = target
    return mapping


@dataclass
class HeaderMap:
    row_number: int  # the spreadsheet row of the headers (1-based)
    headers: list[str]
    columns: dict[int, str]  # column index -> field
    ignored: list[str]


def map_headers(
    rows: Sequence[Sequence[Any]], explicit: Mapping[str, str] | None = None, first_row_number: int = 1
) -> HeaderMap:
    """Find the header row among the first rows and map its columns to fields (explicit mapping wins)."""
    explicit = dict(explicit or {})
    for offset, row in enumerate(rows):
        headers = ["" if v is None else str(v).strip() for v in row]
        columns: dict[int, str] = {}
        ignored = []
        for index, header in enumerate(headers):
            key = normalize_header(header)
            if not key:
                continue
            target = explicit.get(key, ALIAS_TO_FIELD.get(key))
            if target and target != "-":
                columns[index] = target
            else:
                ignored.append(header)
        if columns:
            missing = [h for h in explicit if h not in {normalize_header(x) for x in headers}]
            if missing:
                raise ImportFileError(f"映射里的列“{'、'.join(missing)}”在表头里找不到")
            return HeaderMap(first_row_number + offset, headers, columns, ignored)
    raise ImportFileError("找不到表头：前几行里应有“姓名”“手机号”“地址”等列名（或用 --map 指定列）")


# --- Reading files --------------------------------------------------------------------------------------


def detect_csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as UTF-8, otherwise GB18030 (a GBK superset)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


@dataclass(frozen=True)
class FileLimits:
    """Bounds checked before a file is read, so a hostile file costs neither memory nor a traceback.

    ``max_uncompressed_bytes``: what an .xlsx may inflate to in all (a 1.5 MB "zip bomb" whose
    sheet inflates to 1.5 GB is refused before openpyxl opens it). ``max_ratio``: a part larger than
    ``RATIO_CHECK_BYTES`` may not inflate more than this many times (real sheets: 5–20×).
    ``max_cell_chars``: Excel's own limit for one cell; a longer cell makes its row a bad row.
    """

    max_uncompressed_bytes: int = 512 * 1024 * 1024
    max_ratio: int = 200
    max_cell_chars: int = 32_767


RATIO_CHECK_BYTES = 4 * 1024 * 1024
MAX_CELL_CHARS = FileLimits.max_cell_chars
REASON_CELL_TOO_LONG = "单元格内容过长（超过 32767 字），整行未导入"
_PROLOG_BYTES = 4096  # a DOCTYPE can only come before the root element


def _not_a_text_csv(path: Path) -> ImportFileError:
    return ImportFileError(
        f"无法读取 {path.name}：不是文本格式的 CSV 文件（请在 Excel 里“另存为” CSV 或 .xlsx）"
    )


def _read_csv(path: Path, limits: FileLimits) -> Iterator[list[Any]]:
    with path.open("rb") as raw:
        if b"\x00" in raw.read(1 << 16):  # binary (or UTF-16, which Excel's "Unicode text" writes)
            raise _not_a_text_csv(path)
    encoding = detect_csv_encoding(path)
    with path.open(newline="", encoding=encoding) as handle:
        sample = handle.read(8192)
        handle.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(handle, dialect)
        try:
            yield from reader
        except csv.Error as exc:  # a NUL further in, or a field past csv's own 128 KB limit
            raise ImportFileError(
                f"无法读取 {path.name} 第 {reader.line_num} 行附近：{_csv_reason(exc)}"
            ) from exc


def _csv_reason(exc: csv.Error) -> str:
    if "field larger" in str(exc):
        return "单元格内容过长（Excel 单元格最多 32767 字）"
    return "不是文本格式的 CSV 内容"


def check_xlsx_container(path: Path, limits: FileLimits) -> None:
    """Refuse an .xlsx that would inflate past the limits or whose XML declares a DTD."""
    bad_file = ImportFileError(f"无法读取 {path.name}：不是有效的 Excel (.xlsx) 文件")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = sum(member.file_size for member in members)
            if total > limits.max_uncompressed_bytes:
                raise ImportFileError(
                    f"{path.name} 解压后有 {total // (1024 * 1024)} MB，超过导入上限 "
                    f"{limits.max_uncompressed_bytes // (1024 * 1024)} MB：请把表格拆成几个文件再导入"
                )
            for member in members:
                if member.file_size > RATIO_CHECK_BYTES and member.file_size > limits.max_ratio * max(
                    member.compress_size, 1
                ):
                    raise ImportFileError(f"无法读取 {path.name}：文件内容异常（压缩比过高），已拒绝导入")
                if member.filename.endswith((".xml", ".rels")):
                    with archive.open(member) as handle:
                        prolog = handle.read(_PROLOG_BYTES)
                    if b"<!DOCTYPE" in prolog.upper() or b"<!ENTITY" in prolog.upper():
                        raise ImportFileError(
                            f"无法读取 {path.name}：文件里含有不允许的 XML 声明（DTD），已拒绝导入"
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError) as exc:
        raise bad_file from exc


def _read_xlsx(path: Path, limits: FileLimits) -> Iterator[Sequence[Any]]:
    check_xlsx_container(path, limits)
    try:
        import python_calamine
    except ImportError:  # pragma: no cover - the dependency is declared; openpyxl reads the same cells
        return _read_xlsx_openpyxl(path)
    return _read_xlsx_calamine(path, python_calamine)


def _bad_xlsx(path: Path) -> ImportFileError:
    return ImportFileError(f"无法读取 {path.name}：不是有效的 Excel (.xlsx) 文件")


def _calamine_value(value: Any) -> Any:
    """A calamine cell as openpyxl reads it: an empty cell is None, a whole number an int."""
    if value == "":
        return None
    kind = type(value)
    if kind is float and value.is_integer():
        return int(value)
    if kind is dt.date:  # a date-formatted cell: openpyxl reads it as a datetime at midnight
        return dt.datetime(value.year, value.month, value.day)
    return value


def _read_xlsx_calamine(path: Path, calamine) -> Iterator[Sequence[Any]]:
    """The sheet's rows by python-calamine (Rust): ~7× less CPU than openpyxl's read-only parser.

    calamine reads the chosen sheet whole (memory ~1.7× its XML, which ``FileLimits`` bounds). Rows
    keep the spreadsheet's own numbering (the error report names them): a sheet whose first used
    cell is A1 (any exported or ordinary sheet) is streamed row by row; one with empty rows or
    columns before its data is read in its absolute layout.
    """
    workbook = None
    try:
        workbook = calamine.CalamineWorkbook.from_path(str(path))
        names = workbook.sheet_names
        sheet = workbook.get_sheet_by_name(PREFERRED_SHEET if PREFERRED_SHEET in names else names[0])
        if sheet.start in (None, (0, 0)):
            rows = sheet.iter_rows()
        else:
            rows = iter(sheet.to_python(skip_empty_area=False))
    except (calamine.CalamineError, OSError, ValueError, IndexError) as exc:
        if workbook is not None:
            workbook.close()
        raise _bad_xlsx(path) from exc
    return _calamine_rows(path, calamine, workbook, rows)


def _calamine_rows(path: Path, calamine, workbook, rows: Iterator[list[Any]]) -> Iterator[Sequence[Any]]:
    value = _calamine_value
    try:
        for row in rows:
            yield list(map(value, row))
    except (calamine.CalamineError, ValueError) as exc:
        raise ImportFileError(f"无法读取 {path.name}：表格内容已损坏或格式不对") from exc
    finally:
        workbook.close()


def _read_xlsx_openpyxl(path: Path) -> Iterator[Sequence[Any]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, SyntaxError) as exc:
        # SyntaxError covers xml.etree's ParseError (malformed parts)
        raise _bad_xlsx(path) from exc
    try:
        sheet = (
            workbook[PREFERRED_SHEET] if PREFERRED_SHEET in workbook.sheetnames else workbook.worksheets[0]
        )
        sheet.reset_dimensions()  # read to the last row whatever size the file claims
        try:
            yield from sheet.iter_rows(values_only=True)
        except (KeyError, ValueError, TypeError, SyntaxError, zipfile.BadZipFile) as exc:
            raise ImportFileError(f"无法读取 {path.name}：表格内容已损坏或格式不对") from exc
    finally:
        workbook.close()


def read_table(path: str | Path, limits: FileLimits | None = None) -> Iterator[Sequence[Any]]:
    """Raw rows of the file's table (the 客户 sheet, else the first sheet, of a workbook).

    A file that is not what its name says, or exceeds ``limits``, raises :class:`ImportFileError`
    (a Chinese message for the seller), never a parser's own exception.
    """
    limits = limits or FileLimits()
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise ImportFileError("不支持旧版 .xls 文件：请在 Excel 里“另存为” .xlsx 或 .csv 后再导入")
    if suffix not in SUPPORTED_SUFFIXES:
        raise ImportFileError(f"只能导入 .xlsx 或 .csv 文件：{path.name}")
    if not path.is_file():
        raise ImportFileError(f"找不到文件：{path}")
    return _read_csv(path, limits) if suffix == ".csv" else _read_xlsx(path, limits)


# --- Parsing one row ----------------------------------------------------------------------------------------


@dataclass
class RowData:
    row_number: int
    openid: str | None = None
    name: str | None = None
    nickname: str | None = None
    phone: str | None = None
    address_text: str | None = None
    tags: list[str] = field(default_factory=list)
    birthday: tuple[int | None, int, int, bool] | None = None  # (year, month, day, lunar)
    source: str | None = None
    notes: list[str] = field(default_factory=list)
    opted_out: bool = False
    address: AddressParts | None = None  # address_text split into parts (by the importer, in batches)
    # Fields left out because they could not be read (reasons in Chinese), and the raw row for the
    # error workbook when there are any.
    warnings: list[str] = field(default_factory=list)
    values: Sequence[Any] = ()


@dataclass
class RowError:
    row_number: int
    reason: str
    values: Sequence[Any]


def cell_text(value: Any) -> str | None:
    """A cell as clean text: 13800138000.0 → '13800138000', fullwidth → halfwidth, blank → None."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    text = to_halfwidth(str(value)).strip()
    return text or None


def _chinese_number(text: str) -> int | None:
    """十五 → 15, 廿三 → 23, 初八 → 8, 三十 → 30."""
    text = text.removeprefix("初")
    if text.isdigit():
        return int(text)
    text = text.replace("廿", "二十").replace("卅", "三十")
    if text == "十":
        return 10
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (CHINESE_DIGITS.get(tens, 1) if tens else 1) * 10 + (
            CHINESE_DIGITS.get(ones, 0) if ones else 0
        )
    return CHINESE_DIGITS.get(text)


def parse_birthday(value: Any, lunar: bool = False) -> tuple[int | None, int, int, bool] | None:
    """A birthday as (year or None, month, day, lunar). Raises ValueError when it cannot be read."""
    if isinstance(value, (dt.datetime, dt.date)):
        return (value.year, value.month, value.day, lunar)
    text = cell_text(value)
    if text is None:
        return None
    if text.startswith(("农历", "阴历")):
        lunar, text = True, text[2:].strip()
    elif text.startswith(("公历", "阳历", "新历")):
        text = text[2:].strip()
    year = None
    if match := re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text):
        year, month, day = map(int, match.groups())
    elif match := re.fullmatch(r"(?:(\d{4})\s*[-/.年]\s*)?(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?", text):
        year = int(match.group(1)) if match.group(1) else None
        month, day = int(match.group(2)), int(match.group(3))
    elif match := re.fullmatch(r"(正|一|二|三|四|五|六|七|八|九|十|十一|冬|十二|腊)月(.{1,3})", text):
        month, day = LUNAR_MONTHS[match.group(1)], _chinese_number(match.group(2)) or 0
        lunar = True
    else:
        raise ValueError(text)
    if lunar:
        if not (1 <= month <= 12 and 1 <= day <= 30):
            raise ValueError(text)
    else:
        dt.date(year or 2000, month, day)  # raises ValueError for 2月30日
    if year is not None and not 1900 <= year <= dt.date.today().year:
        raise ValueError(text)
    return (year, month, day, lunar)


def _first(values: dict[str, list[Any]], name: str) -> Any:
    for value in values.get(name, ()):
        if cell_text(value) is not None:
            return value
    return None


def parse_row(row: Sequence[Any], header: HeaderMap, row_number: int) -> RowData | RowError | None:
    """One spreadsheet row → RowData, RowError (with the reason) or None for a blank row."""
    values: dict[str, list[Any]] = {}
    for index, name in header.columns.items():
        if index < len(row):
            values.setdefault(name, []).append(row[index])
    if all(cell_text(v) is None for vs in values.values() for v in vs):
        return None
    if any(isinstance(v, str) and len(v) > MAX_CELL_CHARS for v in row):
        return RowError(row_number, REASON_CELL_TOO_LONG, [v[:200] if isinstance(v, str) else v for v in row])
    data = RowData(row_number)
    data.openid = cell_text(_first(values, "openid"))
    data.name = cell_text(_first(values, "name"))
    data.nickname = cell_text(_first(values, "nickname"))

    # A field that cannot be read is left out and reported (RowData.warnings); only a row left
    # without a usable identity is rejected.
    raw_phone = cell_text(_first(values, "phone"))
    if raw_phone:
        data.phone = import_phone(raw_phone)
        if data.phone is None:
            data.warnings.append(REASON_BAD_PHONE)

    regions = [cell_text(_first(values, k)) for k in ("province", "city", "district")]
    detail = cell_text(_first(values, "address_detail")) or cell_text(_first(values, "address"))
    # Region columns next to a detail (or full) address: prefix the ones the text does not repeat.
    prefix = "".join(r for r in regions if r and not (detail and r in detail))
    data.address_text = (prefix + (detail or "")) or None

    calendar = cell_text(_first(values, "birthday_calendar")) or ""
    try:
        if (lunar_value := _first(values, "lunar_birthday")) is not None:
            data.birthday = parse_birthday(lunar_value, lunar=True)
        else:
            data.birthday = parse_birthday(
                _first(values, "birthday"), lunar="农" in calendar or "阴" in calendar
            )
    except ValueError:
        data.birthday = None
        data.warnings.append(REASON_BAD_BIRTHDAY)

    tags = cell_text(_first(values, "tags"))
    data.tags = [t for t in TAG_SPLIT.split(tags) if t] if tags else []
    data.source = cell_text(_first(values, "source"))
    notes = cell_text(_first(values, "notes"))
    data.notes = [line.strip() for line in notes.splitlines() if line.strip()] if notes else []
    if wechat_id := cell_text(_first(values, "wechat_id")):
        data.notes.append(f"微信号：{wechat_id}")
    opted = cell_text(_first(values, "opted_out"))
    data.opted_out = bool(opted and opted.lower() in TRUE_WORDS)

    for name, limit in LENGTH_LIMITS.items():
        value = getattr(data, name)
        if value and len(value) > limit:
            setattr(data, name, None)
            data.warnings.append(REASON_TOO_LONG.format(label=LENGTH_LABELS[name], limit=limit))
    if not (data.openid or data.phone or (data.name and data.address_text)):
        return RowError(row_number, "；".join([*data.warnings, REASON_NO_IDENTITY]), row)
    data.values = row
    return data
