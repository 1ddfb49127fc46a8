"""Seller notices are never lost: while the seller's window is closed they wait, and the seller's
next message (or 待办) brings them, the digest first, within the passive reply's limit."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from bot import texts
from scheduler.tick import run_tick
from storage.outbox import enqueue
from tests.conftest import FAKE_APP_SECRET, SELLER_OPENID
from tests.delivery_helpers import add_customer, outbox
from tests.test_customer_messages import add_catalogue

NOW = dt.datetime(2026, 11, 23, 4, 0)  # naive UTC = 12:00 in Shanghai
ADDRESS = "广东省深圳市南山区科技园路1号"


@pytest.fixture
def app_config(app_config, fake_wechat):
    app_config.update(
        {
            "WECHAT_APP_SECRET": FAKE_APP_SECRET,
            "WECHAT_API_BASE_URL": fake_wechat.base_url,
            "DELIVERY_RATE_PER_SECOND": 0,
        }
    )
    return app_config


def at(moment: dt.datetime):
    return time_machine.travel(moment.replace(tzinfo=dt.UTC), tick=False)


def seller_rows(db, kind=None):
    return [r for r in outbox(db, kind) if r.openid == SELLER_OPENID and r.customer_id is None]


def test_a_seller_quiet_for_a_week_gets_the_waiting_digest_with_their_next_message(
    app, db, platform, fake_wechat
):
    add_catalogue(db)
    add_customer(
        db,
        SELLER_OPENID,
        NOW - dt.timedelta(days=30),
        name="店主",
        last_inbound_at=NOW - dt.timedelta(days=7),
    )  # last wrote a week ago
    quiet = add_customer(
        db, "o_quiet", NOW - dt.timedelta(days=60), name="李四", last_inbound_at=NOW - dt.timedelta(days=20)
    )
    with db.session() as s:  # a reminder for a customer out of window: a draft for the seller
        enqueue(
            s,
            dedupe_key="repurchase:test:1",
            kind="repurchase",
            text="李四，面膜快用完啦",
            customer_id=quiet,
            now=NOW,
        )
    with at(NOW):
        platform.say("o_buyer", f"要两盒面膜 王五 13800138000 {ADDRESS}")  # a new order: a seller notice
    for day in range(4):  # four days of ticks: the notice and each day's digest wait
        run_tick(app, at=NOW + dt.timedelta(days=day))
    assert {r.kind: r.status for r in seller_rows(db)} == {
        "seller_notice": "waiting",
        "draft_digest": "waiting",
    }
    assert len(seller_rows(db, "draft_digest")) == 3  # days 1-3 (the draft was made by day 0's drain)
    # Nothing tried into the seller's closed window (the buyer got a payment reminder meanwhile).
    assert all(c.body["touser"] != SELLER_OPENID for c in fake_wechat.calls("message/custom/send"))

    with at(NOW + dt.timedelta(days=4, hours=1)):
        reply = platform.say(SELLER_OPENID, "在吗")
    assert reply.startswith(texts.SELLER_NOT_A_COMMAND)  # the answer to what they wrote comes first
    assert texts.SELLER_WAITING_HEADER.format(count=2) in reply
    digest_at, notice_at = reply.index("今日待发：1 条"), reply.index("王五")
    assert digest_at < notice_at  # the digest first, then the rest
    assert reply.count("今日待发") == 1  # one fresh digest stands for the three that waited
    assert len(reply.encode("utf-8")) <= 2048
    assert {(r.status, r.channel) for r in seller_rows(db)} == {("sent", "reply")}

    with at(NOW + dt.timedelta(days=4, hours=2)):
        assert platform.say(SELLER_OPENID, "待办") == texts.SELLER_WAITING_EMPTY  # nothing delivered twice


def test_what_does_not_fit_the_passive_reply_follows_as_service_messages(app, db, platform, fake_wechat):
    add_customer(
        db,
        SELLER_OPENID,
        NOW - dt.timedelta(days=30),
        name="店主",
        last_inbound_at=NOW - dt.timedelta(days=3),
    )
    with db.session() as s:
        for n in range(9):
            enqueue(
                s,
                dedupe_key=f"seller:test:{n}",
                kind="seller_notice",
                text=f"新订单 #{n} " + "详情" * 60,
                openid=SELLER_OPENID,
                transactional=True,
                now=NOW,
            )
    run_tick(app, at=NOW)
    assert {r.status for r in seller_rows(db)} == {"waiting"}

    with at(NOW + dt.timedelta(hours=1)):
        reply = platform.say(SELLER_OPENID, "待办")
    assert len(reply.encode("utf-8")) <= 2048
    delivered = [r for r in seller_rows(db) if r.status == "sent"]
    assert delivered and all(f"新订单 #{r.dedupe_key.rsplit(':', 1)[1]} " in reply for r in delivered)
    rest = [r for r in seller_rows(db) if r.status == "pending"]
    assert len(delivered) + len(rest) == 9 and 0 < len(rest) <= 5  # 5: the service quota of a window
    assert texts.SELLER_WAITING_MORE.format(count=len(rest)) in reply

    run_tick(app, at=NOW + dt.timedelta(hours=1, minutes=1))  # the seller just wrote: the window is open
    assert {r.status for r in seller_rows(db)} == {"sent"}
    assert len(fake_wechat.accepted("message/custom/send")) == len(rest)


def test_a_window_the_platform_says_is_closed_makes_the_notice_wait(app, db, fake_wechat):
    add_customer(db, SELLER_OPENID, NOW, name="店主", last_inbound_at=NOW - dt.timedelta(hours=1))
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
    fake_wechat.fail("message/custom/send", 45015)
    run_tick(app, at=NOW)
    [row] = seller_rows(db)
    assert row.status == "waiting" and "45015" in row.last_error


def test_daiban_with_nothing_waiting(app, db, platform):
    add_customer(db, SELLER_OPENID, NOW, name="店主", last_inbound_at=NOW)
    with at(NOW):
        assert platform.say(SELLER_OPENID, "待办") == texts.SELLER_WAITING_EMPTY
