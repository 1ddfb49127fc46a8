"""Seller console, customers: 客户 (find, profile) · 备注 · 标签 · 生日."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from storage.models import Customer, CustomerNote, Referral, RewardEntry
from tests.conftest import SELLER_OPENID
from tests.seller_support import add_customer, add_order, add_product, fetch, say

NOW = dt.datetime(2026, 11, 20, 6, 0)  # 14:00 in Shanghai


@pytest.fixture
def pool(db):
    add_product(db, "面膜", 9900, 30)
    zhang = add_customer(
        db,
        openid="o_zhang",
        name="张三",
        nickname="小张",
        phone="13800138000",
        stage="returning",
        customer_class="A",
        referral_code="ZS88AB",
        province="广东省",
        city="深圳市",
        district="南山区",
        address_detail="科技园路1号",
        expected_next_purchase_at=dt.datetime(2026, 12, 1, 2, 0),
    )
    li = add_customer(db, openid="o_li", nickname="李小雨", phone="13900139000", stage="new")
    zhang2 = add_customer(db, openid="o_zhang2", name="张三丰", phone="13700137000")
    return db, zhang, li, zhang2


def test_profile_by_id_shows_everything_with_phone_masked(platform, pool):
    db, zhang, li, _ = pool
    add_order(db, zhang, "面膜", 2, status="received", now=dt.datetime(2026, 10, 1, 2, 0))
    add_order(db, zhang, "面膜", 1, status="paid", now=dt.datetime(2026, 11, 10, 2, 0))
    add_order(db, zhang, "面膜", 1)  # pending: an order, not yet money
    add_order(db, zhang, "面膜", 5, status="cancelled")
    with db.session() as s:
        s.add(Referral(referrer_id=zhang, referee_id=li, source="qr", status="rewarded"))
        s.add(RewardEntry(customer_id=zhang, points=120, reason="推荐奖励"))
        s.add(RewardEntry(customer_id=zhang, points=-20, reason="兑换"))
    say(platform, f"备注 #{zhang} 孩子下月高考")
    reply = say(platform, f"客户 #{zhang}")
    assert f"#{zhang} 张三（小张） 138****8000" in reply
    assert "13800138000" not in reply
    # Three orders and a paid referral: a fan, read off the orders and referrals as of now (segments.stage_as_of).
    assert "阶段：粉丝" in reply and "等级：A" in reply
    assert "订单：3笔" in reply and "累计消费：¥297" in reply
    with db.read_session() as s:
        expected = s.get(Customer, zhang).expected_next_purchase_at  # kept by storage/segments.py
    local = expected.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    assert "最近购买：" in reply and f"预计回购：{local:%Y-%m-%d}" in reply
    assert "推荐码：ZS88AB" in reply and "推荐：1人" in reply and "积分：100" in reply
    assert "孩子下月高考" in reply
    assert "广东省深圳市南山区科技园路1号" in reply


@pytest.mark.parametrize("query", ["13800138000", "138 0013 8000", "+86 138-0013-8000", "张三", "小张"])
def test_find_one_customer(platform, pool, query):
    _, zhang, _, _ = pool
    assert say(platform, f"客户 {query}").startswith(f"👤 #{zhang} 张三")


def test_phone_tail_finds_the_customer(platform, pool):
    _, zhang, _, _ = pool
    assert say(platform, "客户 8000").startswith(f"👤 #{zhang} 张三")
    assert say(platform, "客户 尾号8000").startswith(f"👤 #{zhang} 张三")
    assert "没找到" in say(platform, "客户 1234")


def test_partial_nickname_finds_the_customer(platform, pool):
    _, _, li, _ = pool
    assert f"#{li} 李小雨" in say(platform, "客户 小雨")


def test_several_matches_are_listed(platform, pool):
    _, zhang, _, zhang2 = pool
    reply = say(platform, "客户 张")
    assert "多位客户" in reply and f"#{zhang} 张三" in reply and f"#{zhang2} 张三丰" in reply
    assert "阶段" not in reply


def test_customer_not_found_and_missing_query(platform, pool):
    assert "没找到客户“王五”" in say(platform, "客户 王五")
    assert "没找到客户“#999”" in say(platform, "客户 #999")
    assert "用法：客户" in say(platform, "客户")


def test_note_is_stored_with_author(platform, pool):
    db, zhang, _, _ = pool
    reply = say(platform, "备注 13800138000 孩子下月高考")
    assert "已记下" in reply and "孩子下月高考" in reply
    with db.read_session() as s:
        note = s.scalar(select(CustomerNote).where(CustomerNote.customer_id == zhang))
        assert (note.text, note.created_by) == ("孩子下月高考", SELLER_OPENID)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("备注", "请写客户"),
        ("备注 #{id}", "请写备注内容"),
        ("备注 #999 孩子下月高考", "没找到客户"),
        ("备注 张 孩子下月高考", "多位客户"),
    ],
)
def test_note_errors(platform, pool, text, expected):
    db, zhang, _, _ = pool
    assert expected in say(platform, text.format(id=zhang))
    with db.read_session() as s:
        assert s.scalars(select(CustomerNote)).all() == []


def test_tags_add_remove_clear(platform, pool):
    db, zhang, _, _ = pool
    assert "老客,敏感肌" in say(platform, f"标签 #{zhang} 老客,敏感肌")
    say(platform, f"标签 #{zhang} 敏感肌，宝妈")
    assert fetch(db, Customer, zhang).tags == "老客,敏感肌,宝妈"
    say(platform, f"标签 #{zhang} -老客")
    assert fetch(db, Customer, zhang).tags == "敏感肌,宝妈"
    assert "没有“学生”这个标签" in say(platform, f"标签 #{zhang} -学生")
    assert fetch(db, Customer, zhang).tags == "敏感肌,宝妈"
    say(platform, f"标签 #{zhang} 清空")
    assert fetch(db, Customer, zhang).tags is None
    assert "请写标签" in say(platform, f"标签 #{zhang}")


@pytest.mark.parametrize(
    "text, month, day, lunar, year, shown",
    [
        ("农历八月十五", 8, 15, True, None, "农历八月十五"),
        ("1990-05-20", 5, 20, False, 1990, "1990年5月20日"),
        ("5月20日", 5, 20, False, None, "5月20日"),
        ("阴历腊月初八", 12, 8, True, None, "农历腊月初八"),
        ("农历正月廿三", 1, 23, True, None, "农历正月廿三"),
        ("公历10月1日", 10, 1, False, None, "10月1日"),
        ("2月29日", 2, 29, False, None, "2月29日"),
        ("农历2000年正月三十", 1, 30, True, 2000, "农历2000年正月三十"),
    ],
)
def test_birthday_forms(platform, pool, text, month, day, lunar, year, shown):
    db, zhang, _, _ = pool
    reply = say(platform, f"生日 #{zhang} {text}")
    assert shown in reply
    row = fetch(db, Customer, zhang)
    assert (row.birthday_month, row.birthday_day, row.birthday_is_lunar, row.birthday_year) == (
        month,
        day,
        lunar,
        year,
    )
    assert shown in say(platform, f"客户 #{zhang}")


@pytest.mark.parametrize(
    "text", ["2月30日", "13月1日", "农历八月三十一", "明天", "2990-01-01", "农历1990年正月三十"]
)  # 1990's first lunar month had 29 days
def test_invalid_birthday_changes_nothing(platform, pool, text):
    db, zhang, _, _ = pool
    say(platform, f"生日 #{zhang} 5月20日")
    reply = say(platform, f"生日 #{zhang} {text}")
    assert "不是有效的日期" in reply and "用法：生日" in reply
    row = fetch(db, Customer, zhang)
    assert (row.birthday_month, row.birthday_day) == (5, 20)


def test_profile_dates_in_seller_timezone(platform, pool):
    db, zhang, _, _ = pool
    # 2026-11-09 17:30 UTC is already 11-10 in Shanghai.
    add_order(db, zhang, "面膜", 1, status="paid", now=dt.datetime(2026, 11, 9, 17, 30))
    with time_machine.travel(NOW.replace(tzinfo=dt.UTC), tick=False):
        assert "最近购买：2026-11-10" in say(platform, f"客户 #{zhang}")


def test_profile_stays_short_with_long_notes(platform, pool):
    _, zhang, _, _ = pool
    for i in range(5):
        say(platform, f"备注 #{zhang} 第{i}条：" + "上次说孩子下个月高考，记得问问考得怎么样，" * 10)
    reply = say(platform, f"客户 #{zhang}")
    assert len(reply.encode()) < 1800
    assert "第4条" in reply and "第3条" in reply and "第2条" in reply and "第1条" not in reply
