"""How ``huitou import`` reads a workbook (python-calamine, openpyxl as the fallback), reads phone
cells quickly, creates customers in bulk, and shows its progress on stderr."""

from __future__ import annotations

import datetime as dt
import io
import random

import openpyxl
import pytest
from sqlalchemy import select

from storage import cli, excel_rows
from storage.contact import find_phone, normalize_phone
from storage.excel_import import import_file
from storage.excel_rows import import_phone
from storage.models import Customer, CustomerNote, FieldConflict
from tests.excel_pool import NOW
from tests.test_excel_import import MESSY_ROWS, count, customers, run_import, write_csv, write_xlsx


def offset_workbook(path):
    """A sheet whose table starts at B3 (two empty rows, one empty column before it)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    table = [
        ["姓名", "手机号", "地址", "生日", "备注"],
        ["张三", 13800138000, "广东省深圳市南山区科技园路1号", dt.datetime(1990, 5, 20), "怕冷"],
        ["赵六", None, None, None, None],  # no identity: a bad row, spreadsheet row 5
        ["孙八", "13700137000", "北京市朝阳区建国路88号", "5月1日", 3.0],
    ]
    for r, row in enumerate(table, 3):
        for c, value in enumerate(row, 2):
            if value is not None:
                ws.cell(r, c, value)
    ws.cell(3, 5).number_format = "yyyy-mm-dd"
    wb.save(path)
    return path


@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])
def test_both_readers_give_the_same_rows_and_row_numbers(runner, db, tmp_path, monkeypatch, reader):
    if reader == "openpyxl":  # the fallback when python-calamine is not installed
        monkeypatch.setattr(
            excel_rows, "_read_xlsx_calamine", lambda path, _lib: excel_rows._read_xlsx_openpyxl(path)
        )
    path = offset_workbook(tmp_path / "偏移.xlsx")
    result = run_import(runner, path)
    assert result.exit_code == 0, result.output
    assert "共 3 行：新增 2 位客户" in result.output
    assert "第 5 行：缺少可识别的信息" in result.output  # the spreadsheet's own row number
    pool = customers(db)
    zhang, sun = pool["13800138000"], pool["13700137000"]  # a phone typed as a number is read
    assert (zhang.birthday_year, zhang.birthday_month, zhang.birthday_day) == (1990, 5, 20)
    assert zhang.address == "广东省深圳市南山区科技园路1号"
    assert (sun.birthday_month, sun.birthday_day) == (5, 1)
    with db.read_session() as session:
        notes = session.scalars(select(CustomerNote.text).order_by(CustomerNote.id)).all()
    assert notes == ["怕冷", "3"]  # a whole number in a text column reads as "3", not "3.0"
    report = openpyxl.load_workbook(tmp_path / "偏移-错误行.xlsx").active
    row_number, reason, *values = [c.value for c in report[2]]
    assert row_number == 5 and reason.startswith("缺少可识别的信息")
    assert values[:2] == [None, "赵六"]  # the row as it was, from column A


def test_a_sheet_calamine_cannot_read_is_refused_in_chinese(runner, db, tmp_path):
    path = write_xlsx(tmp_path / "坏.xlsx", MESSY_ROWS)
    from tests.test_import_hostile import rewrite_part

    rewrite_part(path, "xl/worksheets/sheet1.xml", lambda data: data[: len(data) // 2])
    result = run_import(runner, path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "无法读取 坏.xlsx" in result.output
    assert count(db, Customer) == 0


def test_a_plain_mobile_is_read_as_phonenumbers_reads_it():
    """The fast path for 11 plain digits agrees with the full parser on every 4-digit prefix."""
    rng = random.Random(20)
    for prefix in range(1000, 2000):
        for _ in range(3):
            text = f"{prefix}{rng.randrange(10**7):07d}"
            assert import_phone(text) == (normalize_phone(text) or find_phone(text)[0]), text
    for text in ("+86 138-0013-8000", "13800138000.0", "12345", "电话13800138000"):
        assert import_phone(text) == (normalize_phone(text) or find_phone(text)[0]), text


def test_a_customer_created_and_contradicted_in_the_same_batch(db, tmp_path):
    rows = [
        ["姓名", "手机", "备注", "标签", "生日"],
        ["张三", "13800138000", "怕冷", "VIP", ""],
        # same phone, another name (a conflict), one more note, a tag and the birthday filled in
        ["张小三", "13800138000", "怕冷\n爱喝茶", "面膜", "5月20日"],
        ["李四", "13900139000", "", "", ""],
        ["张三", "13800138000", "", "回头客", ""],  # and a later row still adds to it
    ]
    report = import_file(db, write_csv(tmp_path / "同批.csv", rows, "utf-8"), now=NOW)
    assert (report.created, report.merged_in_file, report.conflicts) == (2, 2, 1)
    zhang = customers(db)["13800138000"]
    assert zhang.name == "张三" and zhang.tags == "VIP,面膜,回头客"
    assert (zhang.birthday_month, zhang.birthday_day) == (5, 20)
    with db.read_session() as session:
        notes = session.scalars(select(CustomerNote.text).where(CustomerNote.customer_id == zhang.id)).all()
        conflict = session.execute(
            select(FieldConflict.customer_id, FieldConflict.field, FieldConflict.proposed_value)
        ).one()
    assert sorted(notes) == ["怕冷", "爱喝茶"]
    assert tuple(conflict) == (zhang.id, "name", "张小三")
    assert count(db, Customer) == 2


def many_rows(n: int) -> list[list[str]]:
    return [["姓名", "手机号", "地址"]] + [
        [f"客户{i}", f"139{i:08d}", f"浙江省杭州市西湖区文三路{i}号"] for i in range(n)
    ]


def test_progress_lines_show_rows_read_and_stored(runner, db, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "PROGRESS_LINE_ROWS", 1000)  # batches are 1000 rows
    path = write_csv(
        tmp_path / "大表.csv", many_rows(2500) + [["", "", ""], ["没有电话的人", "", ""]], "utf-8"
    )
    result = run_import(runner, path)
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if "已读取" in line]
    assert progress == [
        "  已读取 1000 行，已存入 1000 行",
        "  已读取 2000 行，已存入 2000 行",
        "  已读取 2501 行，已存入 2500 行",  # the bad row is read, not stored
    ]
    assert "已读取" not in result.stdout  # the summary stays alone on stdout
    assert count(db, Customer) == 2500


def test_progress_of_a_small_file_and_a_dry_run(runner, db, tmp_path):
    path = write_csv(tmp_path / "customers.csv", MESSY_ROWS, "utf-8")
    dry = run_import(runner, path, "--dry-run")
    assert dry.stderr.splitlines() == ["  已读取 7 行，已核对 6 行"]
    real = run_import(runner, path)
    assert real.stderr.splitlines() == ["  已读取 7 行，已存入 6 行"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_progress_is_one_line_rewritten_in_place():
    screen = Terminal()
    progress = cli.ImportProgress(dry_run=False, stream=screen)
    progress.start(cli.Path("客户.xlsx"))
    progress(1000, 1000)
    progress(1500, 1499)
    progress.finish()
    text = screen.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.split("\r")[1:] == [
        "  正在读取 客户.xlsx …",
        "  已读取 1000 行，已存入 1000 行\x1b[K",
        "  已读取 1500 行，已存入 1499 行\x1b[K\n",
    ]
