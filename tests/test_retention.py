"""Retention sweeps over a small shop with controlled time: timing boundaries, keys, Chinese texts,
who is left out, idempotence, cancellation by a newer order, catch-up after downtime."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from scheduler import retention
from storage.models import Complaint, Customer, Order, OutboxMessage
from tests.retention_helpers import (
    CONFIG,
    UTC,
    add_customer,
    add_products,
    keys,
    outbox,
    place_order,
    run,
    ship_order,
)

T0 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def shop(db):
    add_products(db)
    return db


# 补水面膜 × 2 → 60 days of supply from shipping at T0.
CYCLE = [
    # sweep, kind, due after shipping
    (retention.sweep_experience, "experience", 2 * DAY),
    (retention.sweep_care, "care", 30 * DAY),
    (retention.sweep_repurchase, "repurchase", 57 * DAY),
    (retention.sweep_lapse, "lapse", 67 * DAY),
]


@pytest.mark.parametrize(("sweep", "kind", "due"), CYCLE)
def test_product_cycle_message_is_due_exactly_on_time_and_once(shop, sweep, kind, due):
    customer = add_customer(shop, "o_cycle", "王芳")
    order = place_order(shop, customer, {"补水面膜": 2}, T0 - DAY, ship_after=DAY)

    assert run(shop, sweep, T0 + due - MINUTE) == 0
    assert run(shop, sweep, T0 + due) == 1
    assert run(shop, sweep, T0 + due + MINUTE) == 0  # a second tick sends nothing
    [row] = outbox(shop, kind)
    assert row.dedupe_key == f"{kind}:order:{order}"
    assert row.customer_id == customer and row.openid == "o_cycle"
    assert row.transactional is False and row.status == "pending"
    assert "王芳" in row.text and "补水面膜" in row.text


def test_cycle_texts_say_what_each_step_is_for(shop):
    customer = add_customer(shop, "o_txt", "李娜")
    place_order(shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    for sweep, _kind, due in CYCLE:
        run(shop, sweep, T0 + due)
    texts = {row.kind: row.text for row in outbox(shop)}
    assert "收到" in texts["experience"]
    assert "怎么样" in texts["care"]
    assert "快用完" in texts["repurchase"] and "再来一份" in texts["repurchase"]
    assert "立减20元" in texts["lapse"]  # the configured offer


def test_replying_as_the_repurchase_nudge_suggests_places_the_order_and_ends_the_old_cycle(platform, shop):
    with time_machine.travel(T0, tick=False):
        platform.say("o_re", "要两盒面膜 孙丽 13800138000 广东省深圳市南山区科技园路1号")
    with shop.session() as s:
        order_id = s.scalar(select(Order.id))
    ship_order(shop, order_id, T0 + DAY)
    run(shop, retention.sweep_repurchase, T0 + 58 * DAY)
    [nudge] = outbox(shop, "repurchase")
    suggested = re.search("“(.+?)”", nudge.text).group(1)
    assert suggested == "再来一份补水面膜"
    with time_machine.travel(T0 + 59 * DAY, tick=False):
        platform.say("o_re", suggested)
    with shop.read_session() as s:
        first, again = s.scalars(select(Order).order_by(Order.id)).all()
        assert [(i.product_name, i.quantity) for i in again.items] == [("补水面膜", 1)]
        assert again.address == first.address == "广东省深圳市南山区科技园路1号"
    assert run(shop, retention.sweep_lapse, T0 + 68 * DAY) == 0


def test_supply_is_quantity_times_usage_days_of_the_first_line_to_run_out(shop):
    customer = add_customer(shop, "o_mix")
    # 精华 × 1 = 60 days, 面膜 × 3 = 90 days: the repurchase nudge follows the essence.
    order = place_order(shop, customer, {"补水面膜": 3, "玻尿酸精华液": 1}, T0, ship_after=dt.timedelta(0))
    assert run(shop, retention.sweep_repurchase, T0 + 57 * DAY - MINUTE) == 0
    assert run(shop, retention.sweep_repurchase, T0 + 57 * DAY) == 1
    assert keys(shop, "repurchase") == [f"repurchase:order:{order}"]


def test_an_order_without_usage_days_gets_only_the_experience_message(shop):
    customer = add_customer(shop, "o_gift")
    place_order(shop, customer, {"定制礼盒": 1}, T0, ship_after=dt.timedelta(0))
    for sweep, _kind, due in CYCLE:
        run(shop, sweep, T0 + due)
    assert [row.kind for row in outbox(shop)] == ["experience"]


def test_unshipped_order_has_no_cycle_until_it_ships(shop):
    customer = add_customer(shop, "o_wait")
    order = place_order(shop, customer, {"补水面膜": 1}, T0)
    assert run(shop, retention.sweep_experience, T0 + 3 * DAY) == 0
    ship_order(shop, order, T0 + 5 * DAY)
    assert run(shop, retention.sweep_experience, T0 + 7 * DAY) == 1
    assert run(shop, retention.sweep_care, T0 + 5 * DAY + 15 * DAY) == 1


def test_newer_order_of_the_same_product_cancels_the_older_cycle(shop):
    customer = add_customer(shop, "o_again")
    first = place_order(shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    assert run(shop, retention.sweep_care, T0 + 30 * DAY) == 1  # queued, not yet delivered

    second = place_order(shop, customer, {"补水面膜": 1}, T0 + 31 * DAY, ship_after=DAY)

    [care] = outbox(shop, "care")
    assert care.dedupe_key == f"care:order:{first}"
    assert care.status == "cancelled" and care.skip_reason == "newer_order"
    # The first order's repurchase/lapse never come; the second order runs its own cycle (30 days).
    assert run(shop, retention.sweep_repurchase, T0 + 57 * DAY) == 0
    assert run(shop, retention.sweep_lapse, T0 + 67 * DAY) == 0
    assert run(shop, retention.sweep_repurchase, T0 + 32 * DAY + 27 * DAY) == 1
    assert keys(shop, "repurchase") == [f"repurchase:order:{second}"]


def test_sent_messages_stay_sent_when_a_newer_order_comes(shop):
    customer = add_customer(shop, "o_sent")
    place_order(shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    run(shop, retention.sweep_experience, T0 + 2 * DAY)
    with shop.session() as s:
        s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "experience")).status = "sent"
    place_order(shop, customer, {"补水面膜": 1}, T0 + 10 * DAY)
    assert [row.status for row in outbox(shop, "experience")] == ["sent"]


def test_order_of_another_product_does_not_cancel_the_cycle(shop):
    customer = add_customer(shop, "o_other")
    first = place_order(shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    place_order(shop, customer, {"玻尿酸精华液": 1}, T0 + 10 * DAY, ship_after=dt.timedelta(0))
    assert run(shop, retention.sweep_repurchase, T0 + 57 * DAY) == 1
    assert keys(shop, "repurchase") == [f"repurchase:order:{first}"]


def test_cancelled_newer_order_restores_the_older_cycle(shop):
    customer = add_customer(shop, "o_undo")
    first = place_order(shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    place_order(shop, customer, {"补水面膜": 1}, T0 + 40 * DAY, cancel=True)
    assert run(shop, retention.sweep_repurchase, T0 + 57 * DAY) == 1
    assert keys(shop, "repurchase") == [f"repurchase:order:{first}"]


def test_catch_up_after_downtime_sends_once_but_not_ancient_history(shop):
    early = add_customer(shop, "o_early")
    late = add_customer(shop, "o_late")
    place_order(shop, early, {"补水面膜": 2}, T0 - 10 * DAY, ship_after=dt.timedelta(0))  # due T0-8d
    kept = place_order(shop, late, {"补水面膜": 2}, T0 - 7 * DAY, ship_after=dt.timedelta(0))  # due T0-5d
    # The scheduler was down; the first tick at T0 catches up what is less than 7 days late.
    assert run(shop, retention.sweep_experience, T0) == 1
    assert keys(shop, "experience") == [f"experience:order:{kept}"]
    assert run(shop, retention.sweep_experience, T0 + DAY) == 0


def test_catch_up_window_is_configurable(shop):
    customer = add_customer(shop, "o_conf")
    place_order(shop, customer, {"补水面膜": 2}, T0 - 10 * DAY, ship_after=dt.timedelta(0))
    assert run(shop, retention.sweep_experience, T0, {**CONFIG, "RETENTION_CATCHUP_DAYS": "14"}) == 1


def test_timings_are_configurable(shop):
    customer = add_customer(shop, "o_time")
    place_order(shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    config = {**CONFIG, "RETENTION_REPURCHASE_LEAD_DAYS": "5", "RETENTION_EXPERIENCE_DAYS": "1"}
    assert run(shop, retention.sweep_experience, T0 + DAY, config) == 1
    assert run(shop, retention.sweep_repurchase, T0 + 55 * DAY - MINUTE, config) == 0
    assert run(shop, retention.sweep_repurchase, T0 + 55 * DAY, config) == 1


def test_texts_are_configurable(shop, tmp_path):
    customer = add_customer(shop, "o_copy", "赵敏")
    place_order(shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    path = tmp_path / "texts.json"
    path.write_text('{"experience": "{name}，{products}到了吗？有问题找我"}', encoding="utf-8")
    run(shop, retention.sweep_experience, T0 + 2 * DAY, {**CONFIG, "RETENTION_TEXTS": str(path)})
    assert outbox(shop, "experience")[0].text == "赵敏，补水面膜到了吗？有问题找我"


@pytest.mark.parametrize(
    ("texts", "error"),
    [
        ('{"nope": "x"}', "unknown text names"),
        ('{"care": "{nom}，用得怎么样"}', "unknown placeholder"),
        ('["care"]', "JSON object"),
    ],
)
def test_bad_text_overrides_are_refused_with_the_reason(texts, error):
    with pytest.raises(ValueError, match=error):
        retention.settings_from({**CONFIG, "RETENTION_TEXTS": texts})


def test_all_festivals_can_be_switched_off(shop):
    add_customer(shop, "o_none")
    assert retention.settings_from({**CONFIG, "RETENTION_FESTIVALS": "none"}).festivals == ()
    assert retention.settings_from({**CONFIG, "RETENTION_FESTIVALS": "all"}).festivals[0] == "new-year"


def test_opted_out_and_complaining_customers_get_no_marketing(shop):
    happy = add_customer(shop, "o_happy")
    gone = add_customer(shop, "o_gone", opted_out=True)
    upset = add_customer(shop, "o_upset")
    settled = add_customer(shop, "o_settled")
    for customer in (happy, gone, upset, settled):
        place_order(shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    with shop.session() as s:
        s.add(Complaint(customer_id=upset, text="过敏了", status="open"))
        s.add(Complaint(customer_id=settled, text="破损", status="closed"))
    assert run(shop, retention.sweep_experience, T0 + 2 * DAY) == 2
    assert {row.customer_id for row in outbox(shop)} == {happy, settled}


def test_name_falls_back_to_nickname_then_a_friendly_word(shop):
    nick = add_customer(shop, "o_nick", None, nickname="小鱼")
    anon = add_customer(shop, "o_anon", None)
    for customer in (nick, anon):
        place_order(shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    run(shop, retention.sweep_experience, T0 + 2 * DAY)
    texts = {row.customer_id: row.text for row in outbox(shop)}
    assert texts[nick].startswith("小鱼") and texts[anon].startswith("亲")


# --- inquiries ------------------------------------------------------------------------------------


def test_inquiry_without_order_is_followed_up_once_after_24_hours(platform, shop):
    with time_machine.travel(T0, tick=False):
        platform.say("o_ask", "面膜多少钱")
    assert run(shop, retention.sweep_inquiry_followup, T0 + 24 * 60 * MINUTE - MINUTE) == 0
    assert run(shop, retention.sweep_inquiry_followup, T0 + DAY) == 1
    assert run(shop, retention.sweep_inquiry_followup, T0 + 2 * DAY) == 0
    [row] = outbox(shop, "followup")
    assert row.dedupe_key.startswith("followup:inquiry:")
    assert "补水面膜" in row.text and "下单" in row.text


def test_inquiry_followed_by_an_order_gets_no_follow_up(platform, shop):
    with time_machine.travel(T0, tick=False):
        platform.say("o_buy", "面膜多少钱")
    with time_machine.travel(T0 + dt.timedelta(hours=3), tick=False):
        platform.say("o_buy", "要两盒面膜 张三 13800138000 广东省深圳市南山区科技园路1号")
    assert run(shop, retention.sweep_inquiry_followup, T0 + DAY) == 0


def test_inquiry_follow_up_is_not_sent_days_later(platform, shop):
    with time_machine.travel(T0, tick=False):
        platform.say("o_old", "面膜多少钱")
    assert run(shop, retention.sweep_inquiry_followup, T0 + 9 * DAY) == 0


# --- greetings ------------------------------------------------------------------------------------


def _at_local(date: dt.date, hour: int = 8) -> dt.datetime:
    """``hour`` o'clock in Shanghai on ``date`` as aware UTC."""
    return dt.datetime(
        date.year, date.month, date.day, hour, tzinfo=dt.timezone(dt.timedelta(hours=8))
    ).astimezone(UTC)


@pytest.mark.parametrize(
    ("year", "festival_day"), [(2026, dt.date(2026, 9, 25)), (2027, dt.date(2027, 9, 15))]
)
def test_mid_autumn_greeting_two_days_ahead(shop, year, festival_day):
    first = add_customer(shop, "o_f1", "陈静", customer_class="A")
    second = add_customer(shop, "o_f2", "周婷", customer_class="C")
    add_customer(shop, "o_f3", opted_out=True)
    config = {**CONFIG, "RETENTION_FESTIVALS": "mid-autumn"}
    assert run(shop, retention.sweep_festivals, _at_local(festival_day - 3 * DAY, 23), config) == 0
    assert run(shop, retention.sweep_festivals, _at_local(festival_day - 2 * DAY, 0), config) == 2
    assert run(shop, retention.sweep_festivals, _at_local(festival_day, 20), config) == 0
    rows = {row.customer_id: row for row in outbox(shop, "festival")}
    assert set(rows) == {first, second}
    assert rows[first].dedupe_key == f"festival:{year}-mid-autumn:customer:{first}"
    assert "中秋快乐" in rows[first].text and "陈静" in rows[first].text
    assert "老客专享" in rows[first].text  # class A gets the offer
    assert "老客专享" not in rows[second].text


def test_festival_missed_by_downtime_is_sent_until_the_day_but_not_after(shop):
    customer = add_customer(shop, "o_f4")
    config = {**CONFIG, "RETENTION_FESTIVALS": "qixi"}
    assert run(shop, retention.sweep_festivals, _at_local(dt.date(2026, 8, 20)), config) == 0
    assert run(shop, retention.sweep_festivals, _at_local(dt.date(2026, 8, 19)), config) == 1
    assert keys(shop, "festival") == [f"festival:2026-qixi:customer:{customer}"]


def test_festival_can_be_switched_off(shop):
    add_customer(shop, "o_f5")
    config = {**CONFIG, "RETENTION_FESTIVALS": "spring-festival,mid-autumn"}
    assert run(shop, retention.sweep_festivals, _at_local(dt.date(2026, 8, 17)), config) == 0  # Qixi off
    with pytest.raises(ValueError, match="unknown festivals"):
        retention.settings_from({**CONFIG, "RETENTION_FESTIVALS": "christmas"})


def test_solar_festivals_use_the_sellers_timezone(shop):
    add_customer(shop, "o_f6")
    config = {**CONFIG, "RETENTION_FESTIVALS": "double-11"}
    # 2026-11-08 17:00 UTC is already 11-09 01:00 in Shanghai: two days ahead of 双11.
    assert run(shop, retention.sweep_festivals, dt.datetime(2026, 11, 8, 15, 59, tzinfo=UTC), config) == 0
    assert run(shop, retention.sweep_festivals, dt.datetime(2026, 11, 8, 17, 0, tzinfo=UTC), config) == 1
    assert "双11" in outbox(shop, "festival")[0].text


def test_solar_and_lunar_birthdays_two_days_ahead(shop):
    solar = add_customer(shop, "o_b1", "孙丽", birthday_month=5, birthday_day=3, customer_class="A")
    lunar = add_customer(shop, "o_b2", "吴倩", birthday_month=2, birthday_day=30, birthday_is_lunar=True)
    add_customer(shop, "o_b3", birthday_month=5, birthday_day=3, opted_out=True)
    # Lunar 2/30 has no 30th in 2026: celebrated on 二月廿九 = 2026-04-16, greeted on 04-14.
    assert run(shop, retention.sweep_birthdays, _at_local(dt.date(2026, 4, 13))) == 0
    assert run(shop, retention.sweep_birthdays, _at_local(dt.date(2026, 4, 14))) == 1
    assert run(shop, retention.sweep_birthdays, _at_local(dt.date(2026, 5, 1))) == 1
    assert run(shop, retention.sweep_birthdays, _at_local(dt.date(2026, 5, 2))) == 0
    rows = {row.customer_id: row for row in outbox(shop, "birthday")}
    assert rows[lunar].dedupe_key == f"birthday:2026:customer:{lunar}"
    assert rows[solar].dedupe_key == f"birthday:2026:customer:{solar}"
    assert "生日快乐" in rows[lunar].text and "吴倩" in rows[lunar].text
    assert "生日礼" in rows[solar].text and "生日礼" not in rows[lunar].text
    # In 2027 the 2nd lunar month has a 30th: 2027-04-06, greeted on 04-04.
    assert run(shop, retention.sweep_birthdays, _at_local(dt.date(2027, 4, 4))) == 1
    assert f"birthday:2027:customer:{lunar}" in keys(shop, "birthday")


# --- win-back -------------------------------------------------------------------------------------


def _set_last_inbound(db, customer_id: int, at: dt.datetime) -> None:
    with db.session() as s:
        s.get(Customer, customer_id).last_inbound_at = at.replace(tzinfo=None)


def test_winback_sequence_of_three_for_a_sleeping_customer(shop):
    customer = add_customer(shop, "o_w1", "郑爽")
    place_order(shop, customer, {"定制礼盒": 1}, T0)  # no usage days: sleeping after 60 days
    assert run(shop, retention.sweep_winback, T0 + 60 * DAY - MINUTE) == 0
    assert run(shop, retention.sweep_winback, T0 + 60 * DAY) == 1
    assert run(shop, retention.sweep_winback, T0 + 67 * DAY - MINUTE) == 0
    assert run(shop, retention.sweep_winback, T0 + 67 * DAY) == 1
    assert run(shop, retention.sweep_winback, T0 + 81 * DAY) == 1
    assert run(shop, retention.sweep_winback, T0 + 90 * DAY) == 0
    rows = outbox(shop, "winback")
    start = (T0 + dt.timedelta(hours=8)).date().isoformat()
    assert [row.dedupe_key for row in rows] == [
        f"winback:{start}:customer:{customer}:step:{n}" for n in (1, 2, 3)
    ]
    assert "想您" in rows[0].text and "定制礼盒" in rows[1].text and "立减20元" in rows[2].text


def test_winback_waits_for_one_and_a_half_cycles(shop):
    customer = add_customer(shop, "o_w2")
    # Ordering every 50 days: median 50 → sleeping after 75 days without an order.
    place_order(shop, customer, {"定制礼盒": 1}, T0)
    place_order(shop, customer, {"定制礼盒": 1}, T0 + 50 * DAY)
    last = T0 + 50 * DAY
    assert run(shop, retention.sweep_winback, last + 75 * DAY - MINUTE) == 0
    assert run(shop, retention.sweep_winback, last + 75 * DAY) == 1


def test_reply_stops_the_winback_sequence(shop):
    customer = add_customer(shop, "o_w3")
    place_order(shop, customer, {"定制礼盒": 1}, T0)
    run(shop, retention.sweep_winback, T0 + 60 * DAY)
    _set_last_inbound(shop, customer, T0 + 62 * DAY)  # the customer answered
    assert run(shop, retention.sweep_winback, T0 + 67 * DAY) == 0
    assert run(shop, retention.sweep_winback, T0 + 81 * DAY) == 0
    assert len(outbox(shop, "winback")) == 1


def test_reply_cancels_a_queued_winback_message(shop):
    customer = add_customer(shop, "o_w4")
    place_order(shop, customer, {"定制礼盒": 1}, T0)
    run(shop, retention.sweep_winback, T0 + 60 * DAY)
    _set_last_inbound(shop, customer, T0 + 60 * DAY + MINUTE)
    run(shop, retention.sweep_winback, T0 + 60 * DAY + 2 * MINUTE)
    [row] = outbox(shop, "winback")
    assert row.status == "cancelled" and row.skip_reason == "customer_replied"


def test_order_stops_the_winback_sequence(shop):
    customer = add_customer(shop, "o_w5")
    place_order(shop, customer, {"定制礼盒": 1}, T0)
    run(shop, retention.sweep_winback, T0 + 60 * DAY)
    place_order(shop, customer, {"定制礼盒": 1}, T0 + 61 * DAY)
    [row] = outbox(shop, "winback")
    assert row.status == "cancelled" and row.skip_reason == "new_order"
    assert run(shop, retention.sweep_winback, T0 + 67 * DAY) == 0
    assert run(shop, retention.sweep_winback, T0 + 81 * DAY) == 0


def test_winback_via_the_webhook_reply(platform, shop):
    with time_machine.travel(T0, tick=False):
        platform.say("o_w6", "要一个礼盒 张三 13800138000 广东省深圳市南山区科技园路1号")
    assert run(shop, retention.sweep_winback, T0 + 60 * DAY) == 1
    with time_machine.travel(T0 + 63 * DAY, tick=False):
        platform.say("o_w6", "最近在忙，过阵子再买")
    assert run(shop, retention.sweep_winback, T0 + 67 * DAY) == 0


# --- registration ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("first", ["scheduler.retention", "scheduler.registry", "scheduler.calendar", "app"])
def test_retention_sweeps_are_registered_once_whatever_is_imported_first(first):
    code = (
        f"import {first}\nfrom scheduler.registry import SWEEPS\n"
        "names = [s.name for s in SWEEPS]\n"
        "print(names.count('retention.care'), sum(n.startswith('retention.') for n in names))"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.split() == ["1", str(len(retention.RETENTION_SWEEPS))]


def test_retention_sweeps_are_marketing_except_segments():
    assert {s.name: s.marketing for s in retention.RETENTION_SWEEPS if not s.marketing} == {
        "retention.segments": False
    }


def test_winback_catch_up_may_send_two_due_steps_in_order(shop):
    customer = add_customer(shop, "o_w7")
    place_order(shop, customer, {"定制礼盒": 1}, T0)
    config = {**CONFIG, "RETENTION_CATCHUP_DAYS": "14"}
    # Down from day 59 to day 68: steps 1 (day 60) and 2 (day 67) are both less than 14 days late.
    assert run(shop, retention.sweep_winback, T0 + 68 * DAY, config) == 2
    assert [row.dedupe_key[-6:] for row in outbox(shop, "winback")] == ["step:1", "step:2"]
    assert run(shop, retention.sweep_winback, T0 + 68 * DAY, config) == 0


def test_the_sellers_own_account_gets_no_marketing(shop):
    """HUITOU_SELLER_OPENIDS are not marketing recipients: no greeting, cycle message, follow-up or win-back,
    even when the seller's account has ordered, asked and has a birthday like a customer."""
    from storage.inquiries import record_inquiry

    config = {**CONFIG, "SELLER_OPENIDS": "o_seller_own,o_seller_two", "RETENTION_FESTIVALS": "womens-day"}
    seller = add_customer(shop, "o_seller_own", "店主")
    buyer = add_customer(shop, "o_buyer_own", "张三")
    for customer in (seller, buyer):
        with shop.session() as s:
            s.get(Customer, customer).birthday_month, s.get(Customer, customer).birthday_day = 3, 6
            record_inquiry(s, customer, "面膜怎么用", topic="usage", product_id=None, now=naive_at(T0))
        place_order(shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
        place_order(shop, customer, {"定制礼盒": 1}, T0 + DAY)
    for moment in [T0 + n * DAY for n in range(0, 130)]:  # 03-06: the 03-08 greeting is due
        for sweep in retention.RETENTION_SWEEPS:
            run(shop, sweep.run, moment, config)
    rows = outbox(shop)
    kinds = {row.kind for row in rows if row.customer_id == buyer}
    assert {"experience", "care", "repurchase", "birthday", "winback", "festival"} <= kinds
    assert [row for row in rows if row.customer_id == seller] == []


def naive_at(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)
