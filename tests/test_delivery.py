"""Outbound delivery through a fake WeChat API on loopback: channels, errors, tokens, crash safety."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
import time_machine
from sqlalchemy import update

from bot import texts
from bot.delivery import drain as drain_module
from bot.delivery.drain import RateLimiter, drain_outbox
from bot.delivery.transport import make_client
from scheduler.tick import run_tick
from storage.db import Database
from storage.models import Customer, OutboxMessage
from storage.outbox import enqueue, list_drafts
from tests import retention_helpers as shop
from tests.conftest import FAKE_APP_SECRET, SELLER_OPENID
from tests.delivery_helpers import TEMPLATES, add_customer, one, outbox, place_order, ship, ship_new_order

NOW = dt.datetime(2026, 11, 23, 4, 0)  # naive UTC = 12:00 in Shanghai
OPENID = "o_customer_001"


@pytest.fixture
def app_config(app_config, fake_wechat):
    app_config.update(
        {
            "WECHAT_APP_SECRET": FAKE_APP_SECRET,
            "WECHAT_API_BASE_URL": fake_wechat.base_url,
            "DELIVERY_RATE_PER_SECOND": 0,
            "DELIVERY_TEMPLATES": TEMPLATES,
        }
    )
    return app_config


def in_window(db, openid=OPENID, **fields) -> int:
    return add_customer(
        db, openid, NOW - dt.timedelta(days=30), last_inbound_at=NOW - dt.timedelta(hours=1), **fields
    )


def out_of_window(db, openid=OPENID, **fields) -> int:
    return add_customer(
        db, openid, NOW - dt.timedelta(days=30), last_inbound_at=NOW - dt.timedelta(hours=49), **fields
    )


def marketing(db, customer_id, key, *, priority=50, kind="repurchase", at=NOW) -> None:
    with db.session() as s:
        assert enqueue(
            s,
            dedupe_key=key,
            kind=kind,
            text=f"{key} 的提醒",
            customer_id=customer_id,
            priority=priority,
            now=at,
        )


# --- channels ------------------------------------------------------------------------------------


def test_shipping_notice_inside_window_goes_as_service_message(app, db, fake_wechat):
    customer_id = in_window(db)
    order_id = ship_new_order(db, customer_id, NOW)

    summary = run_tick(app, at=NOW)

    row = one(db, "ship")
    assert (row.status, row.channel, row.dedupe_key) == ("sent", "service", f"ship:order:{order_id}")
    sent = fake_wechat.accepted("message/custom/send")
    assert len(sent) == 1
    assert sent[0].body["touser"] == OPENID
    assert (
        f"SF{order_id:08d}" in sent[0].body["text"]["content"] and "面膜×2" in sent[0].body["text"]["content"]
    )
    assert [c.path for c in fake_wechat.token_calls] == ["stable_token"]
    assert fake_wechat.token_calls[0].body["force_refresh"] is False
    assert summary.drain.total("sent") == 1 and summary.ok


def test_a_second_tick_sends_nothing_again(app, db, fake_wechat):
    ship_new_order(db, in_window(db), NOW)
    run_tick(app, at=NOW)
    second = run_tick(app, at=NOW + dt.timedelta(minutes=5))
    assert len(fake_wechat.accepted()) == 1
    assert second.sweeps["shipping_notices"] == 0 and not second.drain.outcomes


def test_outside_window_a_service_notice_uses_its_template(app, db, fake_wechat):
    order_id = ship_new_order(db, out_of_window(db), NOW)

    run_tick(app, at=NOW)

    row = one(db, "ship")
    assert (row.status, row.channel) == ("sent", "template")
    assert row.api_msgid == "1000"
    [call] = fake_wechat.accepted("message/template/send")
    assert call.body["template_id"] == "TPL_SHIP"
    assert call.body["data"]["keyword3"] == {"value": f"SF{order_id:08d}"}
    assert call.body["data"]["first"]["value"].startswith("张三您好")
    assert not fake_wechat.calls("message/custom/send")


def test_outside_window_without_template_it_becomes_a_seller_draft(app, db, fake_wechat):
    app.config["DELIVERY_TEMPLATES"] = "{}"
    ship_new_order(db, out_of_window(db), NOW)

    run_tick(app, at=NOW)

    row = one(db, "ship")
    assert (row.status, row.channel) == ("drafted", "draft")
    with db.read_session() as s:
        assert [d.id for d in list_drafts(s)] == [row.id]
    assert not fake_wechat.requests


def test_marketing_outside_window_is_drafted_never_templated(app, db, fake_wechat):
    marketing(db, out_of_window(db), "repurchase:order:1")
    run_tick(app, at=NOW)
    assert one(db, "repurchase").status == "drafted"
    assert not fake_wechat.requests


def test_seller_gets_a_daily_digest_of_drafts(app, db, fake_wechat, platform):
    app.config["DELIVERY_TEMPLATES"] = "{}"
    add_customer(db, SELLER_OPENID, NOW, name="店主", last_inbound_at=NOW)
    ship_new_order(db, out_of_window(db), NOW)
    ship_new_order(db, out_of_window(db, "o_customer_002", name="李四"), NOW)
    run_tick(app, at=NOW)  # 12:00 local: the notices become drafts
    assert [r.status for r in outbox(db, "ship")] == ["drafted", "drafted"]
    run_tick(app, at=NOW + dt.timedelta(minutes=5))  # past 09:00 local: today's digest
    run_tick(app, at=NOW + dt.timedelta(minutes=10))
    [digest] = outbox(db, "draft_digest")
    assert digest.status == "sent" and digest.openid == SELLER_OPENID
    [call] = fake_wechat.accepted("message/custom/send")
    assert call.body["touser"] == SELLER_OPENID
    assert "今日待发：2 条" in call.body["text"]["content"] and "李四" in call.body["text"]["content"]

    assert "已发 #编号" in call.body["text"]["content"]
    with time_machine.travel(NOW.replace(tzinfo=dt.UTC) + dt.timedelta(hours=2), tick=False):
        draft_id = outbox(db, "ship")[0].id
        reply = platform.say(SELLER_OPENID, f"已发 #{draft_id}")  # the seller console
    assert reply == texts.SELLER_DRAFT_DONE.format(draft_id=draft_id, left=1)
    assert outbox(db, "ship")[0].status == "sent"
    next_morning = NOW + dt.timedelta(hours=21)  # 09:00 local the next day
    run_tick(app, at=next_morning - dt.timedelta(minutes=1))
    assert len(outbox(db, "draft_digest")) == 1
    run_tick(app, at=next_morning)
    assert len(outbox(db, "draft_digest")) == 2
    assert "今日待发：1 条" in fake_wechat.accepted("message/custom/send")[-1].body["text"]["content"]


def test_the_service_quota_is_five_per_window(app, db, fake_wechat):
    customer_id = in_window(db)
    for _ in range(6):
        ship_new_order(db, customer_id, NOW)

    run_tick(app, at=NOW)

    assert [r.channel for r in outbox(db, "ship")] == ["service"] * 5 + ["template"]
    assert all(r.status == "sent" for r in outbox(db, "ship"))
    assert len(fake_wechat.accepted("message/custom/send")) == 5


def test_a_new_customer_message_opens_a_new_window(app, db, fake_wechat):
    customer_id = in_window(db)
    app.config["DELIVERY_TEMPLATES"] = "{}"
    for _ in range(5):
        ship_new_order(db, customer_id, NOW)
    run_tick(app, at=NOW)
    with db.session() as s:
        s.get(Customer, customer_id).last_inbound_at = NOW + dt.timedelta(minutes=30)
    ship_new_order(db, customer_id, NOW + dt.timedelta(hours=1))
    run_tick(app, at=NOW + dt.timedelta(hours=1))
    assert [r.channel for r in outbox(db, "ship")] == ["service"] * 6


# --- error codes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("errcode", [45015, 45047])
def test_out_of_window_or_quota_answers_fall_back_to_the_next_channel(app, db, fake_wechat, errcode):
    ship_new_order(db, in_window(db), NOW)
    fake_wechat.fail("message/custom/send", errcode)

    run_tick(app, at=NOW)

    row = one(db, "ship")
    assert (row.status, row.channel) == ("sent", "template")
    assert str(errcode) in row.last_error
    assert len(fake_wechat.calls("message/custom/send")) == 1
    assert len(fake_wechat.accepted()) == 1


def test_out_of_window_answer_without_template_drafts(app, db, fake_wechat):
    app.config["DELIVERY_TEMPLATES"] = "{}"
    ship_new_order(db, in_window(db), NOW)
    fake_wechat.fail("message/custom/send", 45015)
    run_tick(app, at=NOW)
    row = one(db, "ship")
    assert (row.status, row.channel) == ("drafted", "draft") and "45015" in row.last_error


@pytest.mark.parametrize("failure", [{"errcode": -1}, {"http": 502}, {"http": 503}, {"drop": True}])
def test_busy_network_and_server_errors_retry_with_backoff(app, db, fake_wechat, failure):
    ship_new_order(db, in_window(db), NOW)
    fake_wechat.fail("message/custom/send", **failure)

    first = run_tick(app, at=NOW)
    row = one(db, "ship")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == NOW + dt.timedelta(seconds=60)
    assert first.drain.total("retry") == 1

    run_tick(app, at=NOW + dt.timedelta(seconds=30))  # not due yet
    assert len(fake_wechat.calls("message/custom/send")) == 1
    run_tick(app, at=NOW + dt.timedelta(seconds=60))
    row = one(db, "ship")
    assert (row.status, row.channel, row.attempts) == ("sent", "service", 2)
    assert len(fake_wechat.accepted()) == 1


def test_backoff_doubles_and_ends_failed_with_the_last_error(app, db, fake_wechat):
    app.config["DELIVERY_MAX_ATTEMPTS"] = 3
    ship_new_order(db, in_window(db), NOW)
    fake_wechat.fail("message/custom/send", -1, times=3)
    at = NOW
    delays = []
    for _ in range(3):
        run_tick(app, at=at)
        row = one(db, "ship")
        if row.status == "pending":
            delays.append((row.next_attempt_at - at).total_seconds())
            at = row.next_attempt_at
    assert delays == [60, 120]
    row = one(db, "ship")
    assert row.status == "failed" and row.attempts == 3
    assert row.last_error.startswith("service: -1")
    assert not fake_wechat.accepted()


@pytest.mark.parametrize("errcode", [40001, 42001])
def test_a_refused_token_is_refreshed_once_and_the_call_retried(app, db, fake_wechat, errcode):
    ship_new_order(db, in_window(db), NOW)
    fake_wechat.fail("message/custom/send", errcode)

    run_tick(app, at=NOW)

    assert one(db, "ship").status == "sent"
    assert len(fake_wechat.calls("message/custom/send")) == 2
    assert [c.body["force_refresh"] for c in fake_wechat.token_calls] == [False, True]


def test_an_expired_token_is_replaced(app, db, fake_wechat):
    customer_id = in_window(db)
    ship_new_order(db, customer_id, NOW)
    run_tick(app, at=NOW)
    fake_wechat.expire_tokens()
    ship_new_order(db, customer_id, NOW)
    run_tick(app, at=NOW)
    assert [r.status for r in outbox(db, "ship")] == ["sent", "sent"]
    assert len(fake_wechat.token_calls) == 2


def test_a_token_refused_twice_is_not_retried_forever(app, db, fake_wechat):
    ship_new_order(db, in_window(db), NOW)
    fake_wechat.fail("message/custom/send", 40001, times=2)

    run_tick(app, at=NOW)

    row = one(db, "ship")
    assert row.status == "pending" and "40001" in row.last_error
    assert len(fake_wechat.calls("message/custom/send")) == 2
    run_tick(app, at=row.next_attempt_at)
    assert one(db, "ship").status == "sent"


def test_rate_limit_pauses_the_whole_sender(app, db, fake_wechat):
    for n in range(3):
        ship_new_order(db, in_window(db, f"o_customer_{n}"), NOW)
    fake_wechat.fail("message/custom/send", 45009)

    first = run_tick(app, at=NOW)
    assert first.drain.paused_until == NOW + dt.timedelta(seconds=60)
    assert {r.status for r in outbox(db, "ship")} == {"pending"}
    assert len(fake_wechat.calls("message/custom/send")) == 1

    run_tick(app, at=NOW + dt.timedelta(seconds=30))  # still paused: no call at all
    assert len(fake_wechat.calls("message/custom/send")) == 1

    run_tick(app, at=NOW + dt.timedelta(seconds=60))
    assert {r.status for r in outbox(db, "ship")} == {"sent"}
    assert len(fake_wechat.accepted()) == 3


@pytest.mark.parametrize("errcode", [43004, 43101, 40003])
def test_unreachable_customers_are_marked_and_the_seller_sends_by_hand(app, db, fake_wechat, errcode):
    customer_id = in_window(db)
    ship_new_order(db, customer_id, NOW)
    marketing(db, customer_id, "repurchase:order:99", priority=60)
    fake_wechat.fail("message/custom/send", errcode)

    run_tick(app, at=NOW)

    ship_row = one(db, "ship")
    assert (ship_row.status, ship_row.channel) == ("drafted", "draft")
    assert str(errcode) in ship_row.last_error
    nudge = one(db, "repurchase")
    assert (nudge.status, nudge.skip_reason) == ("skipped", "unreachable")
    with db.read_session() as s:
        customer = s.get(Customer, customer_id)
        assert customer.unreachable and str(errcode) in customer.unreachable_reason
    assert len(fake_wechat.requests) == 2  # token + the one refused send; nothing tried for the nudge


def test_an_unknown_rejection_falls_through_and_is_recorded(app, db, fake_wechat):
    ship_new_order(db, out_of_window(db), NOW)
    fake_wechat.fail("message/template/send", 40037)  # invalid template id
    run_tick(app, at=NOW)
    row = one(db, "ship")
    assert (row.status, row.channel) == ("drafted", "draft") and "40037" in row.last_error


def test_a_seller_notice_the_platform_refuses_ends_failed_with_the_error(app, db, fake_wechat):
    add_customer(db, SELLER_OPENID, NOW, name="店主", last_inbound_at=NOW)
    with db.session() as s:
        enqueue(
            s,
            dedupe_key="seller:test:1",
            kind="seller_notice",
            text="新订单",
            openid=SELLER_OPENID,
            transactional=True,
            now=NOW,
        )
    fake_wechat.fail("message/custom/send", 45002)  # content too long
    run_tick(app, at=NOW)
    row = one(db, "seller_notice")
    assert row.status == "failed" and "45002" in row.last_error


def test_a_notice_for_a_seller_who_never_wrote_waits_for_their_first_message(app, db, fake_wechat):
    with db.session() as s:
        enqueue(
            s,
            dedupe_key="seller:test:1",
            kind="seller_notice",
            text="新订单",
            openid=SELLER_OPENID,
            transactional=True,
            now=NOW,
        )
    run_tick(app, at=NOW)
    row = one(db, "seller_notice")
    assert (row.status, row.skip_reason) == ("waiting", None)  # never skipped (bot/seller/waiting.py)
    assert not fake_wechat.requests


# --- marketing rules --------------------------------------------------------------------------------


def test_opted_out_customers_get_service_notices_but_no_marketing(app, db, fake_wechat):
    customer_id = in_window(db, opted_out=True)
    marketing(db, customer_id, "repurchase:order:1")
    ship_new_order(db, customer_id, NOW)

    run_tick(app, at=NOW)

    nudge = one(db, "repurchase")
    assert (nudge.status, nudge.skip_reason) == ("skipped", "opted_out")
    assert one(db, "ship").status == "sent"
    assert len(fake_wechat.accepted()) == 1


def test_unsubscribed_customers_get_no_marketing_and_notices_become_drafts(app, db, fake_wechat):
    customer_id = in_window(db, subscribed=False)
    marketing(db, customer_id, "repurchase:order:1")
    ship_new_order(db, customer_id, NOW)
    run_tick(app, at=NOW)
    assert one(db, "repurchase").skip_reason == "unsubscribed"
    assert one(db, "ship").status == "drafted"
    assert not fake_wechat.accepted()


def test_an_open_complaint_stops_marketing_until_the_seller_closes_it(app, db, fake_wechat, platform):
    customer_id = in_window(db)
    marketing(db, customer_id, "repurchase:order:1")
    with time_machine.travel(NOW.replace(tzinfo=dt.UTC), tick=False):
        platform.say(OPENID, "收到的面膜盒子破损了")  # a complaint, forwarded to the seller
    ship_new_order(db, customer_id, NOW)

    run_tick(app, at=NOW + dt.timedelta(minutes=1))

    nudge = one(db, "repurchase")
    assert (nudge.status, nudge.skip_reason) == ("skipped", "complaint_open")
    assert one(db, "ship").status == "sent"


def test_quiet_hours_postpone_marketing_to_the_morning(app, db, fake_wechat):
    evening = dt.datetime(2026, 11, 23, 22, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    customer_id = add_customer(
        db, OPENID, NOW, last_inbound_at=evening.astimezone(dt.UTC).replace(tzinfo=None)
    )
    with time_machine.travel(evening, tick=False):
        marketing(db, customer_id, "repurchase:order:1", at=evening)
        ship_new_order(db, customer_id, evening.astimezone(dt.UTC).replace(tzinfo=None))
        run_tick(app)
    nudge = one(db, "repurchase")
    assert nudge.status == "pending"
    assert nudge.next_attempt_at == dt.datetime(2026, 11, 24, 1, 0)  # 09:00 Shanghai
    assert one(db, "ship").status == "sent"  # transactional: no quiet hours

    with time_machine.travel(dt.datetime(2026, 11, 24, 8, 59, tzinfo=evening.tzinfo), tick=False):
        run_tick(app)
    assert one(db, "repurchase").status == "pending"
    with time_machine.travel(dt.datetime(2026, 11, 24, 9, 0, tzinfo=evening.tzinfo), tick=False):
        run_tick(app)
    assert one(db, "repurchase").status == "sent"
    assert len(fake_wechat.accepted()) == 2


def test_the_marketing_cap_sends_the_most_important_kind_first(app, db, fake_wechat):
    customer_id = in_window(db)
    marketing(db, customer_id, "winback:customer:1", kind="winback", priority=60)
    marketing(db, customer_id, "birthday:2026:customer:1", kind="birthday", priority=20)

    run_tick(app, at=NOW)

    assert one(db, "birthday").status == "sent"
    winback = one(db, "winback")
    assert (winback.status, winback.skip_reason) == ("skipped", "capped")

    marketing(db, customer_id, "repurchase:order:5", at=NOW + dt.timedelta(days=2))
    run_tick(app, at=NOW + dt.timedelta(days=2))
    assert one(db, "repurchase").skip_reason == "capped"
    with db.session() as s:
        s.get(Customer, customer_id).last_inbound_at = NOW + dt.timedelta(days=3)
    marketing(
        db, customer_id, "festival:2026-winter:customer:1", kind="festival", at=NOW + dt.timedelta(days=3)
    )
    run_tick(app, at=NOW + dt.timedelta(days=3, minutes=1))
    assert one(db, "festival").status == "sent"


SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def test_the_readme_story_a_festival_draft_gives_its_slot_to_the_repurchase_nudge(app, db, fake_wechat):
    """A greeting drafted two days before the nudge must not cost the customer the nudge (issue 15)."""
    app.config["RETENTION_FESTIVALS"] = "national-day"  # greeting drafted 2027-09-29, two days ahead
    products = shop.add_products(db)
    assert products
    shipped = dt.datetime(2027, 9, 30, 8, 0, tzinfo=SHANGHAI) - dt.timedelta(days=57)
    customer_id = shop.add_customer(db, OPENID, last_inbound_at=shop.naive(shipped))  # long out of window
    shop.place_order(
        db, customer_id, {"补水面膜": 2}, shipped, ship_after=dt.timedelta(0)
    )  # 60 days of supply

    day = dt.datetime(2027, 9, 27, 10, 0, tzinfo=SHANGHAI)  # once a day at 10:00, like the simulator
    summaries = {}
    while day.date() <= dt.date(2027, 10, 2):
        summaries[day.date()] = run_tick(app, at=day)
        day += dt.timedelta(days=1)

    greeting, nudge = one(db, "festival"), one(db, "repurchase")
    assert greeting.created_at == shop.naive(dt.datetime(2027, 9, 29, 10, 0, tzinfo=SHANGHAI))
    assert nudge.created_at == shop.naive(dt.datetime(2027, 9, 30, 10, 0, tzinfo=SHANGHAI))
    assert (nudge.status, nudge.channel) == ("drafted", "draft")  # the nudge got the slot
    assert (greeting.status, greeting.skip_reason) == ("skipped", "capped")
    assert greeting.last_error.startswith("withdrawn") and f"repurchase #{nudge.id}" in greeting.last_error
    assert summaries[dt.date(2027, 9, 30)].drain.outcomes[("festival", "withdrawn")] == 1
    with db.read_session() as s:
        assert [d.id for d in list_drafts(s)] == [nudge.id]  # the seller's 待发 holds the nudge only
    assert not fake_wechat.accepted()


def test_a_greeting_yields_to_a_nudge_due_later_in_the_cap_window(app, db, fake_wechat):
    customer_id = in_window(db)
    with db.session() as s:
        enqueue(
            s,
            dedupe_key="repurchase:order:1",
            kind="repurchase",
            text="面膜快用完了吧？",
            customer_id=customer_id,
            now=NOW,
            not_before=NOW + dt.timedelta(days=1),
        )
    marketing(db, customer_id, "festival:2026-winter:customer:1", kind="festival")

    run_tick(app, at=NOW)
    greeting = one(db, "festival")
    assert (greeting.status, greeting.skip_reason) == ("skipped", "capped")
    run_tick(app, at=NOW + dt.timedelta(days=1))
    assert (one(db, "repurchase").status, one(db, "repurchase").channel) == ("sent", "service")
    assert [c.body["text"]["content"] for c in fake_wechat.accepted()] == ["面膜快用完了吧？"]


def test_due_together_the_nudge_wins_the_cap_over_an_older_greeting(app, db, fake_wechat):
    customer_id = in_window(db)
    marketing(
        db, customer_id, "festival:2026-winter:customer:1", kind="festival", at=NOW - dt.timedelta(hours=1)
    )
    marketing(db, customer_id, "winback:2026-08-01:customer:1:step:1", kind="winback")
    marketing(db, customer_id, "repurchase:order:1")

    run_tick(app, at=NOW)

    assert one(db, "repurchase").status == "sent"
    assert {(r.kind, r.status, r.skip_reason) for r in outbox(db) if r.kind != "repurchase"} == {
        ("festival", "skipped", "capped"),
        ("winback", "skipped", "capped"),
    }


def test_a_draft_is_withdrawn_only_for_the_message_that_keeps_the_slot(app, db, fake_wechat):
    customer_id = out_of_window(db)  # everything becomes a seller draft
    marketing(db, customer_id, "festival:2026-winter:customer:1", kind="festival")
    run_tick(app, at=NOW)
    assert one(db, "festival").status == "drafted"

    tomorrow = NOW + dt.timedelta(days=1)
    marketing(db, customer_id, "care:order:1", kind="care", at=tomorrow)
    with db.session() as s:
        enqueue(
            s,
            dedupe_key="repurchase:order:1",
            kind="repurchase",
            text="面膜快用完了吧？",
            customer_id=customer_id,
            now=tomorrow,
            not_before=tomorrow + dt.timedelta(days=1),
        )
    run_tick(app, at=tomorrow)
    # The tip outranks the greeting, but the nudge due tomorrow outranks both: the draft stays for now.
    assert (one(db, "care").status, one(db, "care").skip_reason) == ("skipped", "capped")
    assert one(db, "festival").status == "drafted"

    run_tick(app, at=tomorrow + dt.timedelta(days=1))
    assert one(db, "repurchase").status == "drafted"
    assert (one(db, "festival").status, one(db, "festival").skip_reason) == ("skipped", "capped")
    with db.read_session() as s:
        assert [d.kind for d in list_drafts(s)] == ["repurchase"]


def test_a_message_already_sent_keeps_its_slot(app, db, fake_wechat):
    customer_id = in_window(db)
    marketing(db, customer_id, "festival:2026-winter:customer:1", kind="festival")
    run_tick(app, at=NOW)
    assert one(db, "festival").status == "sent"

    marketing(db, customer_id, "repurchase:order:1", at=NOW + dt.timedelta(days=1))
    run_tick(app, at=NOW + dt.timedelta(days=1))
    assert (one(db, "repurchase").status, one(db, "repurchase").skip_reason) == ("skipped", "capped")
    assert one(db, "festival").status == "sent" and len(fake_wechat.accepted()) == 1


# --- tokens, concurrency, crashes ---------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["stable", "classic"])
def test_two_processes_share_one_token(app, database_url, fake_wechat, endpoint):
    app.config["DELIVERY_TOKEN_ENDPOINT"] = endpoint
    first, second = Database(database_url), Database(database_url)
    try:
        client_a, client_b = make_client(app.config, first), make_client(app.config, second)
        client_a.send_text("o_a", "你好")
        client_b.send_text("o_b", "你好")
        client_a.send_text("o_a", "再见")
    finally:
        first.dispose()
        second.dispose()
    assert len(fake_wechat.token_calls) == 1
    assert fake_wechat.token_calls[0].path == ("stable_token" if endpoint == "stable" else "token")
    tokens = {c.params["access_token"] for c in fake_wechat.accepted()}
    assert len(tokens) == 1 and len(fake_wechat.accepted()) == 3


def test_a_refresh_race_fetches_one_token(app, database_url, fake_wechat):
    app.config["DELIVERY_TOKEN_ENDPOINT"] = "classic"  # each /token call invalidates the previous token
    databases = [Database(database_url) for _ in range(4)]
    clients = [make_client(app.config, d) for d in databases]
    barrier = threading.Barrier(len(clients))
    errors = []

    def send(client, n):
        barrier.wait()
        try:
            client.send_text(f"o_{n}", "你好")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(c, n)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for d in databases:
        d.dispose()
    assert not errors
    assert len(fake_wechat.token_calls) == 1
    assert len(fake_wechat.accepted()) == 4


def test_two_drainers_never_send_a_row_twice(app, db, database_url, fake_wechat):
    for n in range(24):
        ship_new_order(db, in_window(db, f"o_customer_{n:02d}"), NOW)
    app.config["DELIVERY_BATCH_SIZE"] = 4
    databases = [Database(database_url) for _ in range(2)]
    barrier = threading.Barrier(2)
    summaries = []

    def drainer(database):
        barrier.wait()
        summaries.append(drain_outbox(database, app.config, NOW))

    threads = [threading.Thread(target=drainer, args=(d,)) for d in databases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for d in databases:
        d.dispose()

    assert {r.status for r in outbox(db, "ship")} == {"sent"}
    sent_to = [c.body["touser"] for c in fake_wechat.accepted()]
    assert len(sent_to) == 24 and len(set(sent_to)) == 24
    assert sum(s.total("sent") for s in summaries) == 24


def test_a_crash_after_the_api_accepted_never_sends_twice(app, db, fake_wechat, monkeypatch):
    ship_new_order(db, in_window(db), NOW)
    ship_new_order(db, in_window(db, "o_customer_002"), NOW)  # claimed in the same batch, not tried
    real_mark = drain_module._mark

    def crash(*args, **kwargs):
        raise RuntimeError("process killed between send and mark")

    monkeypatch.setattr(drain_module, "_mark", crash)
    crashed = run_tick(app, at=NOW)
    assert "drain" in crashed.errors
    assert [r.status for r in outbox(db, "ship")] == ["sending", "pending"]
    assert len(fake_wechat.accepted()) == 1

    monkeypatch.setattr(drain_module, "_mark", real_mark)
    run_tick(app, at=NOW + dt.timedelta(minutes=5))  # another drainer may still be mid-call: leave it
    assert [r.status for r in outbox(db, "ship")] == ["sending", "sent"]
    run_tick(app, at=NOW + dt.timedelta(minutes=10))  # a tick's own clock never ages a claim
    assert [r.status for r in outbox(db, "ship")] == ["sending", "sent"]
    with db.session() as s:  # DELIVERY_SENDING_TIMEOUT_SECONDS later by the database's clock
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "sending")
            .values(claimed_at=dt.datetime(2000, 1, 1))
        )
    later = run_tick(app, at=NOW + dt.timedelta(minutes=15))
    first = outbox(db, "ship")[0]
    assert first.status == "failed" and first.last_error.startswith("interrupted")
    assert later.drain.total("interrupted") == 1
    assert [c.body["touser"] for c in fake_wechat.calls("message/custom/send")] == [OPENID, "o_customer_002"]


def test_whatever_the_api_does_a_shipped_order_gets_exactly_one_notice(app, db, fake_wechat):
    customer_ids = [in_window(db, f"o_customer_{n}") for n in range(6)]
    fake_wechat.fail_every_other("message/custom/send")
    fake_wechat.fail("message/custom/send", 45015)
    order_ids = [ship_new_order(db, cid, NOW) for cid in customer_ids]
    at = NOW
    for step in range(12):
        if step == 3:
            fake_wechat.expire_tokens()
        run_tick(app, at=at)
        at += dt.timedelta(minutes=5)
    rows = outbox(db, "ship")
    assert [r.dedupe_key for r in rows] == [f"ship:order:{o}" for o in order_ids]
    assert {r.status for r in rows} == {"sent"}
    delivered = [c.body["touser"] for c in fake_wechat.accepted()]
    assert sorted(delivered) == sorted(f"o_customer_{n}" for n in range(6))


# --- sandbox, rate limit ----------------------------------------------------------------------------


def test_without_credentials_the_sandbox_records_deliveries(app, db, fake_wechat):
    app.config["WECHAT_APP_SECRET"] = None
    ship_new_order(db, in_window(db), NOW)
    run_tick(app, at=NOW)
    row = one(db, "ship")
    assert (row.status, row.channel) == ("sent", "service")
    assert row.api_msgid.startswith("sandbox:")
    assert not fake_wechat.requests


def test_rate_limiter_spaces_sends():
    clock = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        clock[0] += seconds

    limiter = RateLimiter(4, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert slept == [0.25, 0.25, 0.25, 0.25]
    assert clock[0] == pytest.approx(1.0)


def test_the_drain_respects_its_rate_limit(app, db, fake_wechat):
    app.config["DELIVERY_RATE_PER_SECOND"] = 10
    for n in range(3):
        ship_new_order(db, in_window(db, f"o_customer_{n}"), NOW)
    clock = [0.0]
    limiter = RateLimiter(10, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    drain_outbox(db, app.config, NOW, limiter=limiter)
    assert len(fake_wechat.accepted()) == 3
    assert clock[0] == pytest.approx(0.2)


def test_template_fields_come_from_configuration(app, db, fake_wechat):
    app.config["DELIVERY_TEMPLATES"] = json.dumps(
        {
            "ship": {
                "template_id": "TPL_CUSTOM",
                "url": "https://shop.example/orders",
                "fields": {"thing1": "{items}", "character_string2": "{tracking_no}", "unknown": "{nope}"},
            }
        }
    )
    order_id = place_order(db, out_of_window(db), NOW)
    ship(db, order_id, NOW, tracking_no="YT123")
    run_tick(app, at=NOW)
    [call] = fake_wechat.accepted("message/template/send")
    assert call.body["template_id"] == "TPL_CUSTOM" and call.body["url"] == "https://shop.example/orders"
    assert call.body["data"] == {
        "thing1": {"value": "面膜×2"},
        "character_string2": {"value": "YT123"},
        "unknown": {"value": ""},
    }


# --- through the webhook -------------------------------------------------------------------------------


def test_a_customer_who_writes_opens_the_window_and_becomes_reachable_again(app, db, fake_wechat, platform):
    customer_id = out_of_window(db, unreachable=True, unreachable_reason="43004: require subscribe")
    platform.say(OPENID, "在吗")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ship_new_order(db, customer_id, now)

    run_tick(app, at=now + dt.timedelta(seconds=1))

    row = one(db, "ship")
    assert (row.status, row.channel) == ("sent", "service")
    assert fake_wechat.accepted("message/custom/send")[0].body["touser"] == OPENID
    with db.read_session() as s:
        assert s.get(Customer, customer_id).unreachable is False
