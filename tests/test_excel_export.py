"""``huitou export``: the workbook's sheets, cells, Excel types, formats, filters and charts."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
import time_machine
from openpyxl.chart import BarChart, PieChart

from storage.excel_export import SHEET_TITLES, fallback_stage, median_days, product_repurchase
from tests.excel_pool import NOW, seed_pool


@pytest.fixture
def pool(db):
    with db.session() as session:
        return seed_pool(session)


@pytest.fixture
def exported(runner, pool, tmp_path):
    path = tmp_path / "客户池.xlsx"
    with time_machine.travel(NOW.replace(tzinfo=dt.UTC), tick=False):
        result = runner.invoke(args=["export", str(path)])
    assert result.exit_code == 0, result.output
    return result, openpyxl.load_workbook(path)


def rows_by_header(ws):
    rows = list(ws.iter_rows())
    headers = [c.value for c in rows[0]]
    return headers, [
        dict(zip(headers, row, strict=True)) for row in rows[1:] if any(c.value is not None for c in row)
    ]


def test_export_has_every_sheet_with_frozen_filtered_headers(exported):
    result, wb = exported
    assert wb.sheetnames == list(SHEET_TITLES)
    for title in SHEET_TITLES:
        assert wb[title].freeze_panes == "A2", title
        assert wb[title]["A1"].font.bold, title
    assert wb["客户"].auto_filter.ref == "A1:AF4"
    assert wb["订单"].auto_filter.ref == "A1:W6"
    assert wb["咨询"].auto_filter.ref == "A1:L3"
    assert wb["回购分析"].auto_filter.ref == "A1:G3"
    assert wb["客户"].column_dimensions["I"].width == 30  # 详细地址 is wide
    assert "已导出到" in result.stdout
    assert "客户: 3/3" in result.stderr  # progress goes to stderr


def test_customer_sheet_has_typed_analysis_columns(exported, pool):
    _result, wb = exported
    headers, rows = rows_by_header(wb["客户"])
    assert headers[:13] == [
        "客户ID",
        "OpenID",
        "昵称",
        "姓名",
        "手机号",
        "省",
        "市",
        "区",
        "详细地址",
        "标签",
        "生日",
        "生日类型",
        "来源",
    ]
    zhang, li, wang = rows
    assert zhang["客户ID"].value == pool["zhang"]
    phone = zhang["手机号"]
    assert phone.value == "13800138000" and phone.data_type == "s" and phone.number_format == "@"
    assert zhang["首次下单"].value == dt.datetime(2026, 1, 10, 10, 30)  # 02:30 UTC shown in Shanghai time
    assert zhang["首次下单"].is_date
    assert zhang["最近下单"].value == dt.datetime(2026, 3, 11, 10, 30)
    assert zhang["订单数"].value == 3
    assert zhang["累计消费"].value == 594 and "¥" in zhang["累计消费"].number_format
    assert zhang["客单价"].value == 198 and "¥" in zhang["客单价"].number_format
    assert zhang["回购间隔中位数(天)"].value == 30
    assert zhang["预计下次购买"].value == dt.datetime(2026, 4, 10, 10, 30)
    # Stored "loyal", but Zhang's referee has paid: a fan, by the sweep's own rule as of NOW.
    assert zhang["阶段"].value == "粉丝"
    assert (zhang["客户等级"].value, zhang["R"].value, zhang["F"].value, zhang["M"].value) == ("A", 5, 4, 5)
    assert zhang["RFM分群"].value == "重要价值客户"  # champions, in the seller's words (bot/texts.py)
    assert zhang["推荐码"].value == "ZS8K2Q"
    assert zhang["推荐人数"].value == 1
    assert zhang["积分余额"].value == 70
    assert zhang["生日"].value == "1990-05-20" and zhang["生日类型"].value == "公历"
    assert zhang["备注"].value == "女儿在上大学"
    assert zhang["已退订"].value == "否"

    # Li: one active order (the cancelled one does not count), referred by Zhang, opted out.
    assert li["订单数"].value == 1
    assert li["累计消费"].value == pytest.approx(257.5)
    assert li["推荐人"].value == "张三"
    assert li["已退订"].value == "是"
    assert li["生日"].value == "08-15" and li["生日类型"].value == "农历"
    assert li["阶段"].value == "沉睡客户"  # stored "new" is stale: last order 71 days before NOW
    assert li["回购间隔中位数(天)"].value is None
    # Expected next purchase from the supply of the last order: the first line to run out,
    # min(1 × 60, 1 × 30) days (the retention rule, storage/segments.py).
    assert li["预计下次购买"].value == dt.datetime(2026, 2, 19, 10, 30) + dt.timedelta(days=30)

    assert wang["昵称"].value == "旺旺" and wang["订单数"].value == 0 and wang["阶段"].value == "潜客"
    assert wang["累计消费"].value == 0 and wang["客单价"].value is None


def test_order_inquiry_referral_and_points_sheets(exported, pool):
    _result, wb = exported
    _headers, orders = rows_by_header(wb["订单"])
    assert len(orders) == 5
    shipped = orders[2]
    assert shipped["状态"].value == "已发货"
    assert (shipped["快递公司"].value, shipped["快递单号"].value) == ("顺丰", "SF1234567890")
    assert shipped["发货时间"].value == dt.datetime(2026, 3, 12, 10, 30)
    assert shipped["手机号"].data_type == "s"
    li_order = next(o for o in orders if o["订单号"].value == pool["li_order"])
    assert li_order["商品"].value == "眼霜×1、面膜×1"
    assert li_order["件数"].value == 2
    assert li_order["金额"].value == pytest.approx(257.5) and "¥" in li_order["金额"].number_format
    assert orders[-1]["状态"].value == "已取消" and orders[-1]["取消时间"].is_date

    _headers, inquiries = rows_by_header(wb["咨询"])
    assert [(i["客户"].value, i["主题"].value, i["已转化"].value) for i in inquiries] == [
        ("旺旺", "价格", "否"),
        ("李四", "效果", "是"),
    ]
    assert inquiries[1]["转化订单号"].value == pool["li_order"]

    _headers, referrals = rows_by_header(wb["转介绍"])
    assert [(r["推荐人"].value, r["被推荐人"].value, r["状态"].value) for r in referrals] == [
        ("张三", "李四", "已奖励")
    ]

    _headers, ledger = rows_by_header(wb["积分"])
    assert [(e["积分"].value, e["原因"].value) for e in ledger] == [(100, "推荐好友下单"), (-30, "兑换")]
    assert ledger[0]["优惠券"].value == 10 and "¥" in ledger[0]["优惠券"].number_format


def test_repurchase_analysis_per_product_and_month(exported):
    _result, wb = exported
    ws = wb["回购分析"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0] == [
        "商品",
        "使用周期(天)",
        "购买人数",
        "回购人数",
        "回购率",
        "回购周期中位数(天)",
        "比使用周期多(天)",
    ]
    products = {row[0]: row for row in values[1:3]}
    assert products["面膜"] == ["面膜", 30, 2, 1, 0.5, 30, 0]
    assert products["眼霜"][:6] == ["眼霜", 60, 1, 0, 0, None]
    assert ws["E2"].number_format == "0.0%"
    month_header = values.index(["月份", "新客收入", "老客收入", "合计", "新客订单", "老客订单", None])
    months = {row[0]: row[1:6] for row in values[month_header + 1 :]}
    assert months["2026-01"] == [198, 0, 198, 1, 0]
    assert months["2026-02"] == [pytest.approx(257.5), 198, pytest.approx(455.5), 1, 1]
    assert months["2026-03"] == [0, 198, 198, 0, 1]


def test_overview_indicators_and_charts(exported):
    _result, wb = exported
    ws = wb["概览"]
    indicators = {row[0].value: row[1] for row in ws.iter_rows(min_row=2, max_row=17)}
    assert indicators["客户总数"].value == 3
    assert indicators["下单客户数"].value == 2
    assert indicators["订单数"].value == 4
    assert indicators["销售额"].value == pytest.approx(851.5) and "¥" in indicators["销售额"].number_format
    assert indicators["回购率"].value == 0.5 and indicators["回购率"].number_format == "0.0%"
    assert indicators["购买频次"].value == 2
    assert indicators["转介绍人数"].value == 1
    assert indicators["咨询转化率"].value == 0.5
    assert indicators["沉睡客户"].value == 1
    charts = ws._charts
    assert {type(c) for c in charts} == {BarChart, PieChart}
    stage_rows = {row[0].value: row[1].value for row in ws.iter_rows(min_row=20, max_row=27)}
    assert stage_rows["粉丝"] == 1 and stage_rows["潜客"] == 1 and stage_rows["沉睡客户"] == 1


@pytest.mark.parametrize("name", ["pool.csv", "pool.xls", "pool"])
def test_export_refuses_other_extensions(runner, tmp_path, name):
    result = runner.invoke(args=["export", str(tmp_path / name)])
    assert result.exit_code != 0
    assert ".xlsx" in result.output
    assert not (tmp_path / name).exists()


def test_export_to_missing_directory_fails_clearly(runner, tmp_path):
    result = runner.invoke(args=["export", str(tmp_path / "nope" / "pool.xlsx")])
    assert result.exit_code != 0
    assert "目录不存在" in result.output


def test_export_of_an_empty_pool_still_opens(runner, tmp_path):
    path = tmp_path / "empty.xlsx"
    assert runner.invoke(args=["export", str(path)]).exit_code == 0
    wb = openpyxl.load_workbook(path)
    assert wb["客户"].max_row == 1 and wb["客户"]["A1"].value == "客户ID"


def test_analysis_helpers():
    day = dt.datetime(2026, 1, 1)
    assert median_days([day]) is None
    assert median_days([day, day + dt.timedelta(days=10), day + dt.timedelta(days=40)]) == 20
    assert fallback_stage("fan", 0, None, day) == "fan"
    assert fallback_stage("prospect", 2, day, day + dt.timedelta(days=10)) == "returning"
    assert fallback_stage("prospect", 1, day, day + dt.timedelta(days=61)) == "sleeping"
    assert fallback_stage(None, 1, day, day + dt.timedelta(days=181)) == "lost"
    rows = [
        ("面膜", 1, 10, day),
        ("面膜", 1, 10, day),
        ("面膜", 1, 11, day + dt.timedelta(days=20)),
        ("面膜", 2, 12, day),
        ("眼霜", 1, 13, day),
    ]
    assert product_repurchase(rows) == [("面膜", 2, 1, 20), ("眼霜", 1, 0, None)]


def test_text_typed_by_customers_never_becomes_a_formula(db, runner, tmp_path):
    from storage.models import Customer, Inquiry

    with db.session() as session:
        customer = Customer(openid="o_x", nickname="=1+1")
        session.add(customer)
        session.flush()
        session.add(Inquiry(customer_id=customer.id, text='=HYPERLINK("http://evil.example","点我")'))
    path = tmp_path / "pool.xlsx"
    assert runner.invoke(args=["export", str(path)]).exit_code == 0
    wb = openpyxl.load_workbook(path)
    nickname, text = wb["客户"]["C2"], wb["咨询"]["D2"]
    assert (nickname.value, nickname.data_type) == ("=1+1", "s")
    assert (text.value, text.data_type) == ('=HYPERLINK("http://evil.example","点我")', "s")


def test_the_sellers_own_account_is_not_exported_as_a_customer(runner, db, pool, tmp_path):
    """HUITOU_SELLER_OPENIDS are counted apart: not a row of 客户, not in 客户总数 (统计 leaves them out too)."""
    from storage.models import Customer
    from tests.conftest import SELLER_OPENID

    with db.session() as s:
        s.add(Customer(openid=SELLER_OPENID, nickname="店主", created_at=NOW))
    path = tmp_path / "客户池.xlsx"
    with time_machine.travel(NOW.replace(tzinfo=dt.UTC), tick=False):
        assert runner.invoke(args=["export", str(path)]).exit_code == 0
    wb = openpyxl.load_workbook(path)
    openids = [row[1] for row in wb["客户"].iter_rows(min_row=2, values_only=True)]
    assert SELLER_OPENID not in openids and len(openids) == 3
    indicators = {row[0]: row[1] for row in wb["概览"].iter_rows(min_row=2, max_row=17, values_only=True)}
    assert indicators["客户总数"] == 3


def test_rfm_segments_are_exported_in_chinese(exported):
    from bot import texts

    _result, wb = exported
    _headers, rows = rows_by_header(wb["客户"])
    segments = {row["RFM分群"].value for row in rows} - {None}
    assert segments and segments <= set(texts.RFM_SEGMENT_LABELS.values())
