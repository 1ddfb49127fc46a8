"""Subscription notices (订阅通知): the consent link, the consent page, the platform's events and the
subscribe channel, against the fake WeChat API and the real signed/encrypted webhook."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re

import pytest
import time_machine
from sqlalchemy import select

from bot.delivery.subscribe_message import fit_value
from scheduler.tick import run_tick
from storage.models import Customer, Order, SubscribeConsent
from storage.orders import transition
from storage.outbox import enqueue
from tests.conftest import FAKE_APP_SECRET
from tests.delivery_helpers import one, outbox
from tests.test_customer_messages import add_catalogue

NOW = dt.datetime(2026, 11, 23, 4, 0)  # naive UTC = 12:00 in Shanghai
OPENID = "o_subscriber_1"
ADDRESS = "广东省深圳市南山区科技园路1号"
PUBLIC_URL = "https://shop.example"
REMIND, SHIP_NOTICE = "TPL_REMIND_1", "TPL_SHIPPED_2"
SUBSCRIBE_TEMPLATES = {
    "repurchase": {
        "template_id": REMIND,
        "page": "https://shop.example/reorder",
        "fields": {"thing1": "{products}", "thing2": "{text}", "time3": "三天内"},
    },
    "ship": {
        "template_id": SHIP_NOTICE,
        "fields": {"character_string1": "{tracking_no}", "thing2": "{items}"},
    },
}
LINK = re.compile(re.escape(PUBLIC_URL) + r"/subscribe/(\S+)")


@pytest.fixture
def app_config(app_config, fake_wechat):
    app_config.update(
        {
            "WECHAT_APP_SECRET": FAKE_APP_SECRET,
            "WECHAT_API_BASE_URL": fake_wechat.base_url,
            "DELIVERY_RATE_PER_SECOND": 0,
            "PUBLIC_URL": PUBLIC_URL,
            "DELIVERY_SUBSCRIBE_TEMPLATES": json.dumps(SUBSCRIBE_TEMPLATES),
        }
    )
    return app_config


def at(moment: dt.datetime):
    return time_machine.travel(moment.replace(tzinfo=dt.UTC), tick=False)


def customer(db, openid=OPENID) -> Customer:
    with db.read_session() as s:
        return s.scalar(select(Customer).where(Customer.openid == openid))


def consents(db) -> list[SubscribeConsent]:
    with db.read_session() as s:
        return list(s.scalars(select(SubscribeConsent).order_by(SubscribeConsent.id)))


def order_by_link(platform, db, moment=NOW) -> tuple[int, str]:
    """The customer orders by chat; returns the order id and the consent link's token."""
    add_catalogue(db)
    with at(moment):
        reply = platform.say(OPENID, f"要两盒面膜 张三 13800138000 {ADDRESS}")
    assert "已为您登记订单" in reply and "用完前提醒我" in reply, reply
    with db.read_session() as s:
        order_id = s.scalar(select(Order.id))
    return order_id, LINK.search(reply).group(1)


def tap(platform, moment, *choices: tuple[str, str], openid=OPENID):
    """The customer's choices in the popup, as the platform pushes them to /wechat."""
    with at(moment):
        reply = platform.post_subscribe_msg(
            openid,
            "subscribe_msg_popup_event",
            [{"TemplateId": t, "SubscribeStatusString": s, "PopupScene": "1"} for t, s in choices],
        )
    assert reply.status == 200 and reply.body == "success"


def ship(db, order_id, moment):
    with db.session() as s:
        order = s.get(Order, order_id)
        order.courier, order.tracking_no = "顺丰", "SF1234567890"
        transition(s, order, "ship", actor="test", now=moment)


# --- the done-when story ---------------------------------------------------------------------------


def test_allow_on_the_orders_link_brings_the_repurchase_reminder_once_as_a_subscription_notice(
    app, db, client, platform, fake_wechat
):
    order_id, token = order_by_link(platform, db)

    page = client.get(f"/subscribe/{token}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert f'<wx-open-subscribe template="{REMIND},{SHIP_NOTICE}"' in body and "开启提醒" in body
    config = json.loads(re.search(r"var WX_CONFIG = (\{.*?\});", body).group(1))
    assert config["openTagList"] == ["wx-open-subscribe"] and config["appId"] == app.config["WECHAT_APP_ID"]
    [ticket_call] = fake_wechat.calls("ticket/getticket")
    assert ticket_call.params["type"] == "jsapi"
    signed = (
        f"jsapi_ticket={fake_wechat.ticket}&noncestr={config['nonceStr']}&timestamp={config['timestamp']}"
        f"&url={PUBLIC_URL}/subscribe/{token}"
    )
    assert config["signature"] == hashlib.sha1(signed.encode()).hexdigest()
    assert client.get(f"/subscribe/{token}").status_code == 200
    assert len(fake_wechat.calls("ticket/getticket")) == 1  # the ticket is cached and shared

    tap(platform, NOW + dt.timedelta(minutes=2), (REMIND, "accept"), (SHIP_NOTICE, "reject"))
    fake_wechat.consent(OPENID, REMIND)  # the platform's side of the same tap
    assert [(c.template_id, c.status) for c in consents(db)] == [(REMIND, "open"), (SHIP_NOTICE, "rejected")]
    assert customer(db).last_inbound_at == NOW  # the popup is not the customer writing: no new window

    shipped = NOW + dt.timedelta(days=1)
    ship(db, order_id, shipped)
    run_tick(app, at=shipped)
    assert one(db, "ship").channel == "service"  # inside the window: the consents are kept for later

    due = shipped + dt.timedelta(days=57)  # 2 × 30 days of masks, reminded 3 days before they run out
    run_tick(app, at=due)
    reminder = one(db, "repurchase")
    assert (reminder.status, reminder.channel) == ("sent", "subscribe")
    [call] = fake_wechat.accepted("message/subscribe/bizsend")
    assert call.body["touser"] == OPENID and call.body["template_id"] == REMIND
    assert call.body["page"] == "https://shop.example/reorder"
    assert call.body["data"]["thing1"] == {"value": "补水面膜"}
    assert len(call.body["data"]["thing2"]["value"]) == 20 and call.body["data"]["thing2"]["value"].endswith(
        "…"
    )
    [used, _rejected] = consents(db)
    assert (used.status, used.outbox_id, used.confirmed_at) == ("used", reminder.id, None)

    with at(due + dt.timedelta(seconds=5)):
        receipt = platform.post_subscribe_msg(
            OPENID,
            "subscribe_msg_sent_event",
            [
                {
                    "TemplateId": REMIND,
                    "MsgID": "1700827132819554304",
                    "ErrorCode": "0",
                    "ErrorStatus": "success",
                }
            ],
        )
    assert receipt.body == "success"
    used = consents(db)[0]
    assert used.confirmed_at is not None and used.msgid == "1700827132819554304"
    assert customer(db).last_inbound_at == NOW  # the receipt opens no window either

    later = due + dt.timedelta(days=10)  # a second reminder, no new consent: the next channel (a draft)
    with db.session() as s:
        enqueue(
            s,
            dedupe_key="repurchase:test:2",
            kind="repurchase",
            text="再提醒一次",
            customer_id=customer(db).id,
            now=later,
        )
    run_tick(app, at=later)
    second = [r for r in outbox(db, "repurchase") if r.dedupe_key == "repurchase:test:2"][0]
    assert (second.status, second.channel) == ("drafted", "draft")
    assert len(fake_wechat.calls("message/subscribe/bizsend")) == 1


def test_a_refused_notice_43101_drops_the_consents_and_falls_through(app, db, platform, fake_wechat):
    _order_id, _token = order_by_link(platform, db)
    tap(platform, NOW, (REMIND, "accept"))
    tap(platform, NOW + dt.timedelta(minutes=1), (REMIND, "accept"))
    # No fake_wechat.consent(): the customer switched the template off and we never heard of it.
    later = NOW + dt.timedelta(days=5)
    with db.session() as s:
        enqueue(
            s,
            dedupe_key="repurchase:test:1",
            kind="repurchase",
            text="快用完啦",
            customer_id=customer(db).id,
            now=later,
        )
    run_tick(app, at=later)
    row = one(db, "repurchase")
    assert (row.status, row.channel) == ("drafted", "draft") and "43101" in row.last_error
    assert [c.status for c in consents(db)] == ["dropped", "dropped"]
    assert not customer(db).unreachable  # refusing one template is not blocking the account


def test_outside_the_window_a_consent_goes_before_the_template_message(app, db, platform, fake_wechat):
    app.config["DELIVERY_TEMPLATES"] = json.dumps({"ship": {"template_id": "TPL_TEMPLATE_SHIP"}})
    order_id, _token = order_by_link(platform, db)
    tap(platform, NOW, (SHIP_NOTICE, "accept"))
    fake_wechat.consent(OPENID, SHIP_NOTICE)
    shipped = NOW + dt.timedelta(days=3)
    ship(db, order_id, shipped)
    run_tick(app, at=shipped)
    row = one(db, "ship")
    assert (row.status, row.channel) == ("sent", "subscribe")
    [call] = fake_wechat.accepted("message/subscribe/bizsend")
    assert call.body["data"] == {
        "character_string1": {"value": "SF1234567890"},
        "thing2": {"value": "补水面膜×2"},
    }
    assert "page" not in call.body  # none configured: the notice opens nothing
    assert not fake_wechat.calls("message/template/send")


def test_a_template_switched_off_in_the_settings_drops_its_unused_consents(app, db, platform, fake_wechat):
    order_by_link(platform, db)
    tap(platform, NOW, (REMIND, "accept"), (SHIP_NOTICE, "accept"))
    with at(NOW + dt.timedelta(hours=1)):
        platform.post_subscribe_msg(
            OPENID, "subscribe_msg_change_event", [{"TemplateId": REMIND, "SubscribeStatusString": "reject"}]
        )
    assert [(c.template_id, c.status) for c in consents(db)] == [(REMIND, "dropped"), (SHIP_NOTICE, "open")]


def test_two_reminders_one_consent_only_one_notice(app, db, platform, fake_wechat):
    order_by_link(platform, db)
    tap(platform, NOW, (REMIND, "accept"))
    fake_wechat.consent(OPENID, REMIND, times=5)
    app.config["DELIVERY_MARKETING_CAP"] = 5
    later = NOW + dt.timedelta(days=5)
    with db.session() as s:
        for n in (1, 2):
            enqueue(
                s,
                dedupe_key=f"repurchase:test:{n}",
                kind="repurchase",
                text="快用完啦",
                customer_id=customer(db).id,
                now=later,
            )
    run_tick(app, at=later)
    assert sorted(r.channel for r in outbox(db, "repurchase")) == ["draft", "subscribe"]
    assert len(fake_wechat.calls("message/subscribe/bizsend")) == 1


def test_the_consent_link_cannot_be_forged(app, db, client, platform):
    _order_id, token = order_by_link(platform, db)
    assert client.get(f"/subscribe/{token}").status_code == 200
    payload, _, signature = token.partition(".")
    forged = client.get(f"/subscribe/{payload[:-1]}x.{signature}")
    assert forged.status_code == 404 and "这个链接无效" in forged.get_data(as_text=True)
    assert client.get("/subscribe/MQ.not-a-signature").status_code == 404


def test_without_subscription_templates_no_link_is_offered(app, db, platform):
    app.config["DELIVERY_SUBSCRIBE_TEMPLATES"] = "{}"
    add_catalogue(db)
    with at(NOW):
        reply = platform.say(OPENID, f"要两盒面膜 张三 13800138000 {ADDRESS}")
    assert "已为您登记订单" in reply and "/subscribe/" not in reply


def test_the_shipping_notice_carries_the_link_too(app, db, platform, fake_wechat):
    order_id, token = order_by_link(platform, db)
    ship(db, order_id, NOW + dt.timedelta(hours=1))
    run_tick(app, at=NOW + dt.timedelta(hours=1))
    [call] = fake_wechat.accepted("message/custom/send")
    assert f"到货提醒：{PUBLIC_URL}/subscribe/{token}" in call.body["text"]["content"]


def test_the_page_escapes_the_customers_name(app, db, client, platform):
    _order_id, token = order_by_link(platform, db)
    with db.session() as s:
        s.scalar(select(Customer).where(Customer.openid == OPENID)).name = "<script>x</script>"
    body = client.get(f"/subscribe/{token}").get_data(as_text=True)
    assert "<script>x</script>" not in body and html.escape("<script>x</script>") in body


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("thing1", "补水面膜、玻尿酸精华液、氨基酸洗面奶、防晒霜", "补水面膜、玻尿酸精华液、氨基酸洗面奶…"),
        ("thing2", "短的", "短的"),
        ("thing3", "第一行\n第二行", "第一行 第二行"),
        ("thing4", "", "无"),
        ("thing5", "一二三四五六七八九十一二三四五六七八👍🏻好", "一二三四五六七八九十一二三四五六七八…"),
        ("phrase6", "已经发货啦！", "已经发货啦"),
        ("name7", "欧阳娜娜娜娜娜娜娜娜娜", "欧阳娜娜娜娜娜娜娜娜"),
        ("name8", "Alexandra Catherine Smith", "Alexandra Catherine"),
        ("character_string9", "SF 1234-5678 顺丰", "SF1234-5678"),
        ("number10", "共 1,288.50 元", "1288.50"),
        ("amount11", "合计：¥1,288.00", "¥1288.00"),
        ("symbol12", "……——!!", "……——!"),
        ("phone_number13", "+86 138-0013-8000", "+86138-0013-8000"),
        ("time14", "2026年12月1日 15:01", "2026年12月1日 15:01"),
    ],
)
def test_field_values_are_fitted_to_the_platforms_limits(key, value, expected):
    assert fit_value(key, value) == expected
