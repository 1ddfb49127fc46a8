"""``huitou import`` on hostile or broken files: a Chinese error line and exit status, never a
traceback, nothing half-read into memory, and good rows kept beside a bad one."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pytest
from sqlalchemy import func, select

from storage.models import Customer
from tests.test_excel_import import run_import

GOOD_ROWS = [
    ["姓名", "手机号", "地址"],
    ["张三", "13800138000", "广东省深圳市南山区科技园路1号"],
    ["孙八", "13700137000", "北京市朝阳区建国路88号"],
]


def pool_size(db) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Customer))


def good_workbook(path):
    wb = openpyxl.Workbook()
    for row in GOOD_ROWS:
        wb.active.append(row)
    wb.save(path)
    return path


def rewrite_part(path, part: str, change) -> None:
    """Rewrite one part of an .xlsx (zip) in place: ``change(bytes) -> bytes``."""
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    parts[part] = change(parts[part])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def assert_refused(result, *phrases: str) -> None:
    assert result.exit_code == 1, result.output
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    assert result.output.startswith("Error: ")
    for phrase in phrases:
        assert phrase in result.output, result.output


def test_a_zip_bomb_is_refused_before_it_is_read(runner, db, tmp_path):
    path = good_workbook(tmp_path / "炸弹.xlsx")
    padding = b"A" * (64 * 1024 * 1024)  # 64 MB of one letter compresses to ~64 KB
    rewrite_part(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(
            b"</sheetData>",
            b'<row r="9"><c r="A9" t="inlineStr"><is><t>' + padding + b"</t></is></c></row></sheetData>",
        ),
    )
    assert path.stat().st_size < 1024 * 1024

    assert_refused(run_import(runner, path), "压缩比过高")
    assert pool_size(db) == 0


def test_a_workbook_past_the_configured_size_is_refused(app, runner, db, tmp_path):
    app.config["IMPORT_MAX_UNCOMPRESSED_MB"] = 1
    path = tmp_path / "大表.xlsx"
    wb = openpyxl.Workbook(write_only=True)
    sheet = wb.create_sheet()
    sheet.append(GOOD_ROWS[0])
    for n in range(20_000):
        sheet.append([f"客户{n}", f"139{n:08d}", f"浙江省杭州市西湖区文三路{n}号"])
    wb.save(path)

    assert_refused(run_import(runner, path), "超过导入上限 1 MB")
    assert pool_size(db) == 0


def test_a_workbook_declaring_a_dtd_is_refused(runner, db, tmp_path):
    path = good_workbook(tmp_path / "实体.xlsx")
    rewrite_part(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(
            b"<worksheet",
            b'<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><worksheet',
            1,
        ),
    )

    assert_refused(run_import(runner, path), "DTD")
    assert pool_size(db) == 0


@pytest.mark.parametrize(
    "content",
    [
        bytes(range(256)) * 64,  # binary garbage named .csv
        "姓名,手机号\n张三,13800138000\n".encode("utf-16"),  # Excel's "Unicode text" (UTF-16, NUL bytes)
    ],
    ids=["binary", "utf16"],
)
def test_a_csv_that_is_not_text_is_refused_in_chinese(runner, db, tmp_path, content):
    path = tmp_path / "客户.csv"
    path.write_bytes(content)

    assert_refused(run_import(runner, path), "不是文本格式的 CSV")
    assert pool_size(db) == 0


def test_a_file_that_is_not_a_workbook_is_refused(runner, db, tmp_path):
    path = tmp_path / "客户.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")

    assert_refused(run_import(runner, path), "不是有效的 Excel")


def test_an_oversized_cell_rejects_its_row_and_keeps_the_others(runner, db, tmp_path):
    path = tmp_path / "客户.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(GOOD_ROWS)
    writer.writerow(["王五", "13600136000", "浙江省杭州市西湖区文三路3号" + "长" * 40_000])
    path.write_text(buffer.getvalue(), encoding="utf-8")

    result = run_import(runner, path)
    assert result.exit_code == 0, result.output
    assert "第 4 行：单元格内容过长" in result.output
    assert pool_size(db) == 2
