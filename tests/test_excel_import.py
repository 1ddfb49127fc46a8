"""``huitou import``: a seller's messy spreadsheet into the pool, without duplicates or lost data."""

from __future__ import annotations

import csv
import datetime as dt

import openpyxl
import pytest
import time_machine
from sqlalchemy import func, select

from storage.excel_import import import_file
from storage.excel_rows import detect_csv_encoding, normalize_header, parse_birthday
from storage.models import Customer, CustomerNote, FieldConflict
from tests.excel_pool import NOW, seed_pool

MESSY_ROWS = [
    ["老客户名单（2024年整理）"],
    ["收件人", "手机号码（必填）", "收货地址", "标签", "生日", "来源", "微信号", "备注", "买过啥"],
    [
        "张三",
        "＋86 138-0013-8000",
        "广东省深圳市南山区科技园路1号",
        "VIP、面膜",
        "1990/5/20",
        "朋友圈",
        "zs88",
        "怕冷",
        "面膜",
    ],
    ["张三", "13800138000", "广东省深圳市南山区科技园路1号", "回头客", "", "", "", "", ""],  # duplicate
    [
        "李四",
        "12345",
        "浙江杭州西湖区文三路2号",
        "",
        "",
        "",
        "",
        "",
        "",
    ],  # invalid phone: kept by name + address
    ["王五", "", "浙江省杭州市西湖区文三路3号", "", "农历八月十五", "微博", "", "", ""],  # name + address
    ["", "", "", "", "", "", "", "", ""],  # blank: skipped
    ["赵六", "", "", "", "", "", "", "", ""],  # no identity
    ["钱七", "13900139000", "", "", "2月30日", "", "", "", ""],  # impossible birthday: kept without it
    ["孙八", "+8613700137000", "北京市朝阳区建国路88号", "", "5月1日", "", "", "", ""],
]
GOOD = {"13800138000", "13700137000", "13900139000"}


def write_csv(path, rows, encoding):
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def write_xlsx(path, rows):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    for row in rows:
        ws.append([None if v == "" else v for v in row])
    wb.save(path)
    return path


def customers(db):
    with db.read_session() as session:
        return {c.phone or c.name: c for c in session.scalars(select(Customer).order_by(Customer.id))}


def count(db, model):
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model))


def run_import(runner, *args):
    with time_machine.travel(NOW.replace(tzinfo=dt.UTC), tick=False):
        return runner.invoke(args=["import", *map(str, args)])


def assert_messy_sheet_imported(db, result):
    assert result.exit_code == 0, result.output
    pool = customers(db)
    assert set(pool) == GOOD | {"王五", "李四"}
    zhang = pool["13800138000"]
    assert (zhang.name, zhang.province, zhang.city, zhang.district, zhang.address_detail) == (
        "张三",
        "广东省",
        "深圳市",
        "南山区",
        "科技园路1号",
    )
    assert zhang.tags == "VIP,面膜,回头客"  # the duplicate row's tag is merged in
    assert (zhang.birthday_year, zhang.birthday_month, zhang.birthday_day, zhang.birthday_is_lunar) == (
        1990,
        5,
        20,
        False,
    )
    assert zhang.source == "朋友圈"
    assert zhang.openid is None and zhang.stage == "prospect"
    wang = pool["王五"]
    assert wang.phone is None and wang.address == "浙江省杭州市西湖区文三路3号"
    assert (wang.birthday_month, wang.birthday_day, wang.birthday_is_lunar) == (8, 15, True)
    assert pool["13700137000"].source == "import"
    # A field that cannot be read is left out; the person is kept (only 赵六 has no identity).
    li = pool["李四"]
    assert li.phone is None and li.address == "浙江省杭州市西湖区文三路2号"
    qian = pool["13900139000"]
    assert qian.name == "钱七" and qian.birthday_month is None
    with db.read_session() as session:
        notes = session.scalars(select(CustomerNote.text).where(CustomerNote.customer_id == zhang.id)).all()
    assert sorted(notes) == ["微信号：zs88", "怕冷"]
    assert "共 7 行：新增 5 位客户" in result.output
    assert "文件内重复合并 1 行" in result.output
    assert "错误 1 行" in result.output
    assert "第 8 行：缺少可识别的信息" in result.output
    assert "已导入但有资料未能识别的 2 行" in result.output
    assert "第 5 行：手机号无效（应为11位大陆手机号）：这一项未导入，其余资料已导入" in result.output
    assert "第 9 行：生日无法识别" in result.output
    assert "未导入的列：买过啥" in result.output


def test_messy_xlsx_imports_good_rows_and_reports_bad_ones(runner, db, tmp_path):
    rows = [list(r) for r in MESSY_ROWS]
    rows[9][1] = 13700137000  # a phone typed as a number
    path = write_xlsx(tmp_path / "老客户.xlsx", rows)
    result = run_import(runner, path)
    assert_messy_sheet_imported(db, result)
    report = openpyxl.load_workbook(tmp_path / "老客户-错误行.xlsx").active
    values = [[c.value for c in row] for row in report.iter_rows()]
    assert values[0][:4] == ["行号", "原因", "收件人", "手机号码（必填）"]
    assert [(v[0], v[2]) for v in values[1:]] == [(5, "李四"), (8, "赵六"), (9, "钱七")]
    assert values[1][1].startswith("手机号无效") and values[1][1].endswith("其余资料已导入")
    assert values[2][1].startswith("缺少可识别的信息")
    assert "错误行已写入" in result.output


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_messy_csv_in_any_common_encoding(runner, db, tmp_path, encoding):
    path = write_csv(tmp_path / "customers.csv", MESSY_ROWS, encoding)
    result = run_import(runner, path)
    assert_messy_sheet_imported(db, result)
    assert (tmp_path / "customers-错误行.xlsx").exists()


def test_importing_twice_changes_nothing(runner, db, tmp_path):
    path = write_csv(tmp_path / "customers.csv", MESSY_ROWS, "gbk")
    assert run_import(runner, path).exit_code == 0
    before = (count(db, Customer), count(db, CustomerNote), count(db, FieldConflict))
    second = run_import(runner, path)
    assert second.exit_code == 0
    assert (count(db, Customer), count(db, CustomerNote), count(db, FieldConflict)) == before
    assert "新增 0 位客户，更新 0 位，无变化 6 位" in second.output


def existing_chat_customer(db):
    with db.session() as session:
        customer = Customer(
            openid="o_zhang",
            name="张三",
            phone="13800138000",
            province="广东省",
            city="深圳市",
            district="南山区",
            address_detail="科技园路1号",
            tags="VIP",
            source="chat",
        )
        nameless = Customer(
            name="王五", province="浙江省", city="杭州市", district="西湖区", address_detail="文三路3号"
        )
        session.add_all([customer, nameless])
        session.flush()
        return customer.id, nameless.id


def test_merge_never_overwrites_a_different_stored_value(runner, db, tmp_path):
    zhang_id, wang_id = existing_chat_customer(db)
    rows = [
        ["姓名", "电话", "地址", "标签", "生日", "来源"],
        ["张小三", "13800138000", "上海市浦东新区世纪大道100号", "面膜", "1990-05-20", "微博"],
        ["王五", "13600136000", "浙江省杭州市西湖区文三路3号", "", "", ""],
    ]
    path = write_csv(tmp_path / "update.csv", rows, "utf-8-sig")
    first = run_import(runner, path)
    assert first.exit_code == 0, first.output
    assert "新增 0 位客户，更新 2 位" in first.output
    pool = customers(db)
    zhang = pool["13800138000"]
    assert zhang.id == zhang_id and zhang.name == "张三"  # kept, not overwritten
    assert zhang.address == "广东省深圳市南山区科技园路1号"
    assert zhang.tags == "VIP,面膜" and zhang.birthday_month == 5  # empty fields are filled
    assert zhang.source == "chat"
    wang = pool["13600136000"]
    assert wang.id == wang_id  # matched by exact name + address, phone filled in
    with db.read_session() as session:
        conflicts = session.execute(
            select(
                FieldConflict.customer_id,
                FieldConflict.field,
                FieldConflict.stored_value,
                FieldConflict.proposed_value,
                FieldConflict.source,
            ).order_by(FieldConflict.id)
        ).all()
    assert conflicts == [
        (zhang_id, "name", "张三", "张小三", "import"),
        (zhang_id, "address", "广东省深圳市南山区科技园路1号", "上海市上海市浦东新区世纪大道100号", "import"),
    ]
    assert run_import(runner, path).exit_code == 0
    assert count(db, FieldConflict) == 2  # an open conflict is not recorded twice


def test_dry_run_changes_nothing(runner, db, tmp_path):
    existing_chat_customer(db)
    path = write_csv(
        tmp_path / "customers.csv", MESSY_ROWS + [["张小三", "13800138000", "", "", "", ""]], "gbk"
    )
    before = (count(db, Customer), count(db, CustomerNote), count(db, FieldConflict))
    with db.read_session() as session:
        zhang_before = session.scalar(select(Customer.tags).where(Customer.openid == "o_zhang"))
    result = run_import(runner, path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "试运行（未写入任何数据）" in result.output
    assert "新增 3 位客户，更新 4 位" in result.output  # what would happen (李四 and 钱七 are kept too)
    assert "待确认的不同资料 1 条" in result.output
    assert (count(db, Customer), count(db, CustomerNote), count(db, FieldConflict)) == before
    with db.read_session() as session:
        assert session.scalar(select(Customer.tags).where(Customer.openid == "o_zhang")) == zhang_before
    assert not (tmp_path / "customers-错误行.xlsx").exists()


def test_explicit_mapping_and_ignored_columns(runner, db, tmp_path):
    rows = [["客户称呼", "联络号码", "地址"], ["周九", "13500135000", "广东省广州市天河区体育西路1号"]]
    path = write_csv(tmp_path / "odd.csv", rows, "utf-8")
    result = run_import(runner, path, "--map", "客户称呼=name", "--map", "联络号码=phone", "--map", "地址=-")
    assert result.exit_code == 0, result.output
    customer = customers(db)["13500135000"]
    assert customer.name == "周九" and customer.address == ""
    assert "客户称呼→name" in result.output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("手机=telephone", "字段“telephone”不存在"),
        ("手机", "格式应为 列名=字段"),
        ("不存在的列=phone", "在表头里找不到"),
    ],
)
def test_bad_mapping_fails_clearly(runner, tmp_path, option, message):
    path = write_csv(tmp_path / "a.csv", [["姓名", "手机"], ["周九", "13500135000"]], "utf-8")
    result = run_import(runner, path, "--map", option)
    assert result.exit_code != 0
    assert message in result.output


def test_file_errors_fail_with_clear_messages(runner, db, tmp_path):
    missing = run_import(runner, tmp_path / "nope.xlsx")
    assert missing.exit_code != 0 and "找不到文件" in missing.output
    (tmp_path / "a.txt").write_text("姓名,手机\n")
    wrong = run_import(runner, tmp_path / "a.txt")
    assert wrong.exit_code != 0 and "只能导入 .xlsx 或 .csv" in wrong.output
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    old = run_import(runner, tmp_path / "old.xls")
    assert old.exit_code != 0 and "另存为" in old.output
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip at all")
    broken = run_import(runner, tmp_path / "broken.xlsx")
    assert broken.exit_code != 0 and "不是有效的 Excel" in broken.output
    headless = write_csv(tmp_path / "headless.csv", [["a", "b"], ["1", "2"]], "utf-8")
    result = run_import(runner, headless)
    assert result.exit_code != 0 and "找不到表头" in result.output
    assert count(db, Customer) == 0


def test_duplicates_across_batches_are_merged(db, tmp_path):
    rows = [["手机", "姓名", "标签"]] + [[f"1380013800{i % 3}", f"客户{i % 3}", f"t{i}"] for i in range(7)]
    path = write_csv(tmp_path / "dups.csv", rows, "utf-8")
    report = import_file(db, path, now=NOW, batch_size=2)
    assert (report.rows, report.created, report.merged_in_file) == (7, 3, 4)
    pool = customers(db)
    assert len(pool) == 3
    assert pool["13800138000"].tags == "t0,t3,t6"


def test_exported_workbook_reimports_cleanly(runner, db, tmp_path):
    with db.session() as session:
        seed_pool(session)
    path = tmp_path / "pool.xlsx"
    with time_machine.travel(NOW.replace(tzinfo=dt.UTC), tick=False):
        assert runner.invoke(args=["export", str(path)]).exit_code == 0
    before = (count(db, Customer), count(db, CustomerNote), count(db, FieldConflict))
    result = run_import(runner, path)
    assert result.exit_code == 0, result.output
    assert "新增 0 位客户，更新 0 位，无变化 3 位" in result.output
    assert "错误 0 行" in result.output
    assert (count(db, Customer), count(db, CustomerNote), count(db, FieldConflict)) == before
    assert not (tmp_path / "pool-错误行.xlsx").exists()


def test_exported_workbook_restores_a_fresh_pool(runner, db, tmp_path, app_config):
    """Export, empty the pool's customers' details, import: the details come back (no duplicates)."""
    with db.session() as session:
        ids = seed_pool(session)
        session.get(Customer, ids["li"]).tags = None
        session.get(Customer, ids["li"]).birthday_month = None
    path = tmp_path / "pool.xlsx"
    assert runner.invoke(args=["export", str(path)]).exit_code == 0
    wb = openpyxl.load_workbook(path)
    wb["客户"]["J3"] = "新标签"  # the seller tags 李四 in Excel
    wb.save(path)
    result = run_import(runner, path)
    assert result.exit_code == 0, result.output
    assert "更新 1 位" in result.output
    assert customers(db)["13900139000"].tags == "新标签"
    assert count(db, Customer) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1990-05-20", (1990, 5, 20, False)),
        ("1990/5/20", (1990, 5, 20, False)),
        ("1990年5月20日", (1990, 5, 20, False)),
        ("19900520", (1990, 5, 20, False)),
        ("5月20日", (None, 5, 20, False)),
        ("05-20", (None, 5, 20, False)),
        ("农历八月十五", (None, 8, 15, True)),
        ("农历正月初八", (None, 1, 8, True)),
        ("腊月廿三", (None, 12, 23, True)),
        ("农历1990-08-15", (1990, 8, 15, True)),
        (dt.datetime(1988, 2, 29), (1988, 2, 29, False)),
    ],
)
def test_birthday_formats(text, expected):
    assert parse_birthday(text) == expected


@pytest.mark.parametrize("text", ["2月30日", "13月1日", "明年", "农历八月四十"])
def test_unreadable_birthdays(text):
    with pytest.raises(ValueError):
        parse_birthday(text)


def test_header_normalisation_and_encoding_detection(tmp_path):
    assert normalize_header(" 手机号码（必填）* ") == "手机号码"
    assert normalize_header("Phone Number") == "phonenumber"
    assert detect_csv_encoding(write_csv(tmp_path / "g.csv", [["姓名"]], "gbk")) == "gb18030"
    assert detect_csv_encoding(write_csv(tmp_path / "u.csv", [["姓名"]], "utf-8-sig")) == "utf-8-sig"
