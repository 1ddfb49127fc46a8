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
    a = add_customer(db, name="老A", created_at=dt.datetime(2026, 10, 10), stage="returning", customer_class="A")
    b = add_customer(db, name="新B", created_at=TODAY, stage="new", customer_class="B")
    c = add_customer(db, name="周C", created_at=MONDAY, stage="new", customer_class="B")
    d = add_customer(db, name="月D", created_at=dt.datetime(2026, 11, 5), stage="sleeping", customer_class="C")
    add_customer(db, name="界E", created_at=dt.datetime(2026, 10, 31, 17, 0), stage="lost")  # Nov 1 01:00 local
    add_customer(db, name="前F", created_at=dt.datetime(2026, 10, 31, 15, 0), stage="prospect")  # Oct 31 local
    add_order(db, a, "面膜", status="received", now=dt.datetime(2026, 10, 12))
    add_order(db, a, "精华", status="paid", now=TODAY)
    add_order(db, b, "试用装", now=TODAY)  # pending: an order, not revenue
    add_order(db, c, "眼霜", status="shipped", now=MONDAY)
    add_order(db, c, "面膜", status="cancelled", now=TODAY)
    add_order(db, d, "小样", status="paid", now=dt.datetime(2026, 11, 6))
    with db.session() as s:
        # Orders refresh the stage from the history (storage/segments.py); pin the stages this
        # test is about, as the daily recompute would have left them.
        for customer_id, stage in ((a, "returning"), (b, "new"), (c, "new"), (d, "sleeping")):
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
    assert "【客户】共6 · 沉睡1 · 流失1" in lines
    assert "　阶段：潜客1 新客2 老客户1 沉睡1 流失1" in lines
    assert "　等级：A类1 B类2 C类1 未分级2" in lines
    assert all(len(line) <= 40 for line in lines)


def test_figures_functions(business):
    with business.read_session() as s:
        periods, pool = business_figures(s, NOW, "Asia/Shanghai", [SELLER_OPENID])
    today, month = periods["today"], periods["month"]
    assert (today.orders, today.paid_orders, today.revenue_cents, today.buyers, today.repeat_buyers) == (2, 1, 20000, 2, 1)
    assert (month.new_customers, month.orders, month.revenue_cents, month.average_order_cents) == (4, 4, 40000, 13333)
    assert month.repurchase_rate == pytest.approx(0.25)
    assert (pool.total, pool.sleeping, pool.lost, pool.by_class.get("")) == (6, 1, 1, 2)


def test_period_starts_follow_the_timezone():
    starts = period_starts(NOW, "Asia/Shanghai")
    assert starts == {"today": dt.datetime(2026, 11, 24, 16), "week": dt.datetime(2026, 11, 22, 16),
                      "month": dt.datetime(2026, 10, 31, 16)}
    # Just after midnight in Shanghai it is still the previous day in UTC.
    assert period_starts(dt.datetime(2026, 11, 30, 16, 30), "Asia/Shanghai")["month"] == dt.datetime(2026, 11, 30, 16)
    # New York changes from daylight time in November: the month began at UTC-4, today at UTC-5.
    ny = period_starts(NOW, "America/New_York")
    assert ny["month"] == dt.datetime(2026, 11, 1, 4) and ny["today"] == dt.datetime(2026, 11, 25, 5)


def test_empty_shop(platform):
    reply = platform.say(SELLER_OPENID, "统计")
    assert "新客0 · 订单0" in reply and "客单价¥0 · 复购率0%" in reply and "【客户】共0" in reply


def test_figures_take_no_arguments(platform):
    assert "不需要加内容" in platform.say(SELLER_OPENID, "统计 本月")
