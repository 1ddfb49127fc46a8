"""Seller console, 统计: today / this week / this month in the seller's timezone, and the pool."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from storage.figures import business_figures, period_starts
from storage.models import Customer, Referral
from tests.conftest import SELLER_OPENID
from tests.seller_support import add_customer, add_order, add_product

# Wednesday 2026-11-25 14:00 in Shanghai. Today starts 11-24 16:00 UTC, the week (Monday 11-23)
# starts 11-22 16:00 UTC, the month starts 10-31 16:00 UTC.
NOW = dt.datetime(2026, 11, 25, 6, 0)
TODAY = dt.datetime(2026, 11, 25, 1, 0)
MONDAY = dt.datetime(2026, 11, 23, 1, 0)


@pytest.fixture
def business(db):
    add_product(db, "面膜", 100_00)
    add_product(db, "精华", 200_00)
    add_product(db, "眼霜", 150_00)
    add_product(db, "小样", 50_00)
    add_product(db, "试用装", 99_00)
    a = add_customer(
        db, name="老A", created_at=dt.datetime(2026, 10, 10), stage="returning", customer_class="A"
    )
    b = add_customer(db, name="新B", created_at=TODAY, stage="new", customer_class="B")
    c = add_customer(db, name="周C", created_at=MONDAY, stage="new", customer_class="B")
    d = add_customer(
        db, name="月D", created_at=dt.datetime(2026, 11, 5), stage="sleeping", customer_class="C"
    )
    e = add_customer(db, name="界E", created_at=dt.datetime(2026, 10, 31, 17, 0))  # Nov 1 01:00 local
    add_customer(
        db, name="前F", created_at=dt.datetime(2026, 10, 31, 15, 0), stage="prospect"
    )  # Oct 31 local
    g = add_customer(db, name="睡G", created_at=dt.datetime(2026, 1, 5))
    add_order(db, a, "面膜", status="received", now=dt.datetime(2026, 10, 12))
    add_order(db, a, "精华", status="paid", now=TODAY)
    add_order(db, b, "试用装", now=TODAY)  # pending: an order, not revenue
    add_order(db, c, "眼霜", status="shipped", now=MONDAY)
    add_order(db, c, "面膜", status="cancelled", now=TODAY)
    add_order(db, d, "小样", status="paid", now=dt.datetime(2026, 11, 6))
    add_order(db, e, "小样", status="received", now=dt.datetime(2026, 3, 1))  # 269 days before NOW: lost
    add_order(db, g, "小样", status="received", now=dt.datetime(2026, 8, 1))  # 116 days before NOW: sleeping
    with db.session() as s:
        # Orders refresh the stage from the history (storage/segments.py) as of each order: E and G
        # were new when they ordered; time alone has made them lost and sleeping by NOW.
        for customer_id, stage in (
            (a, "returning"),
            (b, "new"),
            (c, "new"),
            (d, "new"),
            (e, "new"),
            (g, "new"),
        ):
            s.get(Customer, customer_id).stage = stage
        s.add(Referral(referrer_id=a, referee_id=b, source="qr", status="pending", created_at=TODAY))
        s.add(Referral(referrer_id=a, referee_id=c, source="typed", status="rejected", created_at=MONDAY))
    return db


def test_figures_reply(platform, business):
    with time_machine.travel(NOW.replace(tzinfo=dt.UTC), tick=False):
        reply = platform.say(SELLER_OPENID, "统计")
    lines = reply.splitlines()
    assert lines[0] == "📊 经营统计（11-25 14:00）"
    assert "【今天】新客1 · 订单2 · 推荐1" in lines
    assert "　营业额¥200 · 客单价¥200 · 复购率50%" in lines
    assert "【本周】新客2 · 订单3 · 推荐1" in lines
    assert "　营业额¥350 · 客单价¥175 · 复购率33%" in lines
    assert "【本月】新客4 · 订单4 · 推荐1" in lines
    assert "　营业额¥400 · 客单价¥133.33 · 复购率25%" in lines
    # The seller's own account (created by this very message) is not a customer.
    assert "【客户】共7 · 沉睡1 · 流失1" in lines
    assert "　阶段：潜客1 新客3 老客户1 沉睡1 流失1" in lines
    assert "　等级：A类1 B类2 C类1 未分级3" in lines
    assert all(len(line) <= 40 for line in lines)


def test_figures_functions(business):
    with business.read_session() as s:
        periods, pool = business_figures(s, NOW, "Asia/Shanghai", [SELLER_OPENID])
    today, month = periods["today"], periods["month"]
    assert (today.orders, today.paid_orders, today.revenue_cents, today.buyers, today.repeat_buyers) == (
        2,
        1,
        20000,
        2,
        1,
    )
    assert (month.new_customers, month.orders, month.revenue_cents, month.average_order_cents) == (
        4,
        4,
        40000,
        13333,
    )
    assert month.repurchase_rate == pytest.approx(0.25)
    assert (pool.total, pool.sleeping, pool.lost, pool.by_class.get("")) == (7, 1, 1, 3)


def test_period_starts_follow_the_timezone():
    starts = period_starts(NOW, "Asia/Shanghai")
    assert starts == {
        "today": dt.datetime(2026, 11, 24, 16),
        "week": dt.datetime(2026, 11, 22, 16),
        "month": dt.datetime(2026, 10, 31, 16),
    }
    # Just after midnight in Shanghai it is still the previous day in UTC.
    assert period_starts(dt.datetime(2026, 11, 30, 16, 30), "Asia/Shanghai")["month"] == dt.datetime(
        2026, 11, 30, 16
    )
    # New York changes from daylight time in November: the month began at UTC-4, today at UTC-5.
    ny = period_starts(NOW, "America/New_York")
    assert ny["month"] == dt.datetime(2026, 11, 1, 4) and ny["today"] == dt.datetime(2026, 11, 25, 5)


def test_empty_shop(platform):
    reply = platform.say(SELLER_OPENID, "统计")
    assert "新客0 · 订单0" in reply and "客单价¥0 · 复购率0%" in reply and "【客户】共0" in reply


def test_figures_take_no_arguments(platform):
    assert "不需要加内容" in platform.say(SELLER_OPENID, "统计 本月")


# --- 客户, 统计 and the export agree: one rule, one clock (issue 15, item 7) ----------------------

ORDERED = dt.datetime(2026, 3, 2, 2, 0)  # the last order; 60 days later the customer is asleep


def _export(platform, client):
    import io
    import re

    import openpyxl

    reply = platform.say(SELLER_OPENID, "导出")
    token = re.search(r'/downloads/export#([^"]+)"', reply).group(1)  # the link's token (in its fragment)
    response = client.post("/downloads/export", data={"token": token})
    assert response.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    rows = list(wb["客户"].iter_rows(values_only=True))
    customers = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    overview = {row[0]: row[1] for row in wb["概览"].iter_rows(min_row=2, max_row=17, values_only=True)}
    return customers, overview


def _console(platform, customer_id):
    import re

    profile = platform.say(SELLER_OPENID, f"客户 #{customer_id}")
    figures = platform.say(SELLER_OPENID, "统计")
    pool = re.search(r"【客户】共(\d+) · 沉睡(\d+) · 流失(\d+)", figures)
    return re.search(r"阶段：(\S+) ·", profile).group(1), tuple(int(n) for n in pool.groups())


@pytest.fixture
def sleeper(db):
    """One customer whose stage was stored at their order (新客), one who never ordered, and the
    seller's own account with an order of its own (it is not a customer)."""
    add_product(db, "面膜", 100_00)
    customer = add_customer(db, openid="o_sleepy", name="睡美人", created_at=ORDERED)
    add_customer(db, openid="o_window", name="只看看", created_at=ORDERED)
    add_order(db, customer, "面膜", status="received", now=ORDERED)
    seller = add_customer(db, openid=SELLER_OPENID, name="店主", created_at=ORDERED)
    add_order(db, seller, "面膜", status="received", now=ORDERED)
    with db.read_session() as s:
        assert s.get(Customer, customer).stage == "new"  # computed when the order came in
    return customer


def _assert_agree(platform, client, customer_id, stage_label, export_label, sleeping):
    stage, (total, asleep, lost) = _console(platform, customer_id)
    customers, overview = _export(platform, client)
    assert stage == stage_label and customers[customer_id]["阶段"] == export_label
    assert (
        (total, asleep, lost)
        == (overview["客户总数"], overview["沉睡客户"], overview["流失客户"])
        == (2, sleeping, 0)
    )
    assert set(customers) == {customer_id, customer_id + 1}  # the seller's own account is not a customer


def test_console_and_export_agree_on_a_stage_time_has_moved(platform, client, sleeper):
    """90 days after the order, with no recompute since: both say sleeping."""
    with time_machine.travel((ORDERED + dt.timedelta(days=90)).replace(tzinfo=dt.UTC), tick=False):
        _assert_agree(platform, client, sleeper, "沉睡", "沉睡客户", 1)


def test_console_and_export_use_the_simulators_clock(app, platform, client, sleeper):
    """The simulator's clock (the app's clock seam) is 90 days ahead of the real one: both read the
    stage as of the simulated time."""
    simulated = ORDERED + dt.timedelta(days=90)
    app.extensions["huitou_clock"] = lambda _session=None: simulated
    with time_machine.travel((ORDERED + dt.timedelta(days=1)).replace(tzinfo=dt.UTC), tick=False):
        _assert_agree(platform, client, sleeper, "沉睡", "沉睡客户", 1)
        app.extensions["huitou_clock"] = lambda _session=None: ORDERED + dt.timedelta(days=1)
        _assert_agree(platform, client, sleeper, "新客", "新客", 0)
