"""The simulator's endpoints: messages go through the real webhook, the outbox shows in the chat,
the clock persists, the demo shop loads once, and nothing of it exists in production mode."""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest
import time_machine
from sqlalchemy import func, select

from app import create_app
from handlers.simulator import clock
from handlers.simulator.demo import CUSTOMERS, PRODUCTS, load_demo_shop
from handlers.simulator.views import SIM_SELLER_OPENID, production_mode, simulator_enabled
from storage.db import get_db
from storage.models import (
    Customer,
    InboundMessage,
    Order,
    OrderEvent,
    OutboxMessage,
    Product,
    SubscribeConsent,
)
from tests.conftest import SELLER_OPENID

ORDER_TEXT = "要两盒面膜 张三 13800138000 广东省深圳市南山区科技园路1号"
MASKED_ORDER_TEXT = "要两盒面膜 张三 138****8000 广东省深圳市南山区****"
NOW = dt.datetime(2026, 11, 23, 4, 0)  # 12:00 in Shanghai


@pytest.fixture
def demo(db):
    with db.session() as s:
        load_demo_shop(s, NOW)
    return db


def new_customer(client, nickname="小美") -> str:
    response = client.post("/simulator/api/customers", json={"nickname": nickname})
    assert response.status_code == 200, response.json
    return response.json["openid"]


def say(client, openid, text, **kwargs):
    return client.post("/simulator/api/message", json={"openid": openid, "text": text}, **kwargs)


# --- through the webhook -------------------------------------------------------------------------


def test_typed_order_goes_through_the_webhook_encrypted(client, demo):
    openid = new_customer(client)
    response = say(client, openid, ORDER_TEXT)

    assert response.status_code == 200
    data = response.json
    assert data["encrypted"] is True  # the fixture configures an EncodingAESKey: safe mode
    assert "已为您登记订单" in data["reply"] and "138****8000" in data["reply"]
    with demo.read_session() as s:
        inbound = s.scalars(
            select(InboundMessage).where(InboundMessage.openid == openid).order_by(InboundMessage.id)
        ).all()
        order = s.scalar(select(Order).join(Customer).where(Customer.openid == openid))
        customer = s.scalar(select(Customer).where(Customer.openid == openid))
    assert [m.msg_type for m in inbound] == ["event", "text"]  # subscribe, then the typed text
    assert inbound[1].content == ORDER_TEXT and inbound[1].msg_key.startswith("msg:")
    assert inbound[1].response_body.startswith("<xml>") and "<Encrypt>" in inbound[1].response_body
    assert order.amount_cents == 19800 and order.phone == "13800138000"
    assert f"#{order.id}" in data["reply"]
    assert customer.nickname == "小美"


def test_plain_mode_without_aes_key(app_config, demo):
    app_config["WECHAT_ENCODING_AES_KEY"] = None
    app = create_app(app_config)
    client = app.test_client()
    openid = new_customer(client)
    data = say(client, openid, "面膜多少钱").json
    assert data["encrypted"] is False and "¥99" in data["reply"]
    get_db(app).dispose()


def test_chat_page_shows_the_conversation_from_the_database(client, demo):
    openid = new_customer(client, "阿花")
    say(client, openid, ORDER_TEXT)

    page = client.get(f"/simulator/?openid={openid}").get_data(as_text=True)
    assert "阿花" in page and MASKED_ORDER_TEXT in page and "已为您登记订单" in page and "欢迎关注" in page
    fragment = client.get(f"/simulator/chat?openid={openid}").get_data(as_text=True)
    assert fragment.index(MASKED_ORDER_TEXT) < fragment.index("已为您登记订单")


def test_replies_stay_under_their_message_at_the_same_instant(client, demo):
    openid = new_customer(client)
    with time_machine.travel(NOW, tick=False):
        say(client, openid, "面膜多少钱")
        say(client, openid, "眼霜多少钱")
    fragment = client.get(f"/simulator/chat?openid={openid}").get_data(as_text=True)
    positions = [fragment.index(t) for t in ("面膜多少钱", "面膜：¥99", "眼霜多少钱", "眼霜：¥168")]
    assert positions == sorted(positions)


def test_delivered_outbox_rows_appear_in_the_customers_chat(client, db):
    openid = new_customer(client)
    with db.session() as s:
        customer = s.scalar(select(Customer).where(Customer.openid == openid))
        common = {
            "customer_id": customer.id,
            "payload": {},
            "attempts": 1,
            "priority": 50,
            "created_at": NOW,
            "updated_at": NOW,
            "next_attempt_at": NOW,
        }
        s.add_all(
            [
                OutboxMessage(
                    dedupe_key="t:1",
                    kind="ship",
                    text="您的订单已发货📦",
                    channel="sandbox",
                    status="sent",
                    sent_at=NOW,
                    **common,
                ),
                OutboxMessage(
                    dedupe_key="t:2",
                    kind="repurchase",
                    text="面膜快用完了吧？",
                    channel="draft",
                    status="drafted",
                    **common,
                ),
                OutboxMessage(
                    dedupe_key="t:3", kind="care", text="还没送出的关怀", status="pending", **common
                ),
                OutboxMessage(
                    dedupe_key="t:4",
                    kind="seller_notice",
                    text="给店主的通知",
                    openid=SELLER_OPENID,
                    channel="sandbox",
                    status="sent",
                    sent_at=NOW,
                    **common,
                ),
            ]
        )

    chat = client.get(f"/simulator/chat?openid={openid}").get_data(as_text=True)
    assert "您的订单已发货📦" in chat and "沙箱投递 · 发货通知" in chat
    assert "面膜快用完了吧？" in chat and "店主草稿（待店主手动发送） · 回购提醒" in chat
    assert "还没送出的关怀" not in chat  # not delivered yet: not on the phone
    assert "给店主的通知" not in chat  # addressed to the seller
    assert "给店主的通知" in client.get(f"/simulator/chat?openid={SELLER_OPENID}").get_data(as_text=True)

    outbox = client.get("/simulator/outbox").get_data(as_text=True)
    for label in ("发货通知", "回购提醒", "使用关怀", "店主通知"):
        assert f"<td>{label}</td>" in outbox
    assert "待发送" in outbox and "已转草稿" in outbox and "已发送" in outbox


def test_the_simulator_shows_kinds_channels_statuses_and_reasons_in_chinese(client, db):
    """No internal English name reaches the seller: every kind, channel, status and skip reason the
    code writes has a Chinese label (bot/texts.py), shown in the outbox table and the chat tags."""
    import re

    from bot import texts

    openid = new_customer(client)
    kinds = list(texts.OUTBOX_KIND_LABELS)
    reasons = list(texts.OUTBOX_SKIP_REASON_LABELS)
    with db.session() as s:
        customer = s.scalar(select(Customer).where(Customer.openid == openid))
        common = {
            "customer_id": customer.id,
            "payload": {},
            "attempts": 1,
            "priority": 50,
            "created_at": NOW,
            "updated_at": NOW,
            "next_attempt_at": NOW,
        }
        for n, kind in enumerate(kinds):
            s.add(
                OutboxMessage(
                    dedupe_key=f"k:{n}",
                    kind=kind,
                    text=f"消息{n}",
                    channel="service",
                    status="sent",
                    sent_at=NOW,
                    **common,
                )
            )
        for n, reason in enumerate(reasons):
            s.add(
                OutboxMessage(
                    dedupe_key=f"r:{n}",
                    kind="draft_digest",
                    text=f"跳过{n}",
                    status="skipped",
                    skip_reason=reason,
                    **common,
                )
            )
        s.add(
            OutboxMessage(
                dedupe_key="c:1", kind="festival", text="草稿", channel="draft", status="drafted", **common
            )
        )
        s.add(
            OutboxMessage(
                dedupe_key="c:2",
                kind="winback",
                text="模板",
                channel="template",
                status="cancelled",
                **common,
            )
        )
    outbox = client.get("/simulator/outbox").get_data(as_text=True)
    chat = client.get(f"/simulator/chat?openid={openid}").get_data(as_text=True)
    for label in (*texts.OUTBOX_KIND_LABELS.values(), *texts.OUTBOX_SKIP_REASON_LABELS.values()):
        assert label in outbox, label
    assert "客服消息" in outbox and "店主草稿" in outbox and "模板消息" in outbox and "已取消" in outbox
    assert "店主草稿（待店主手动发送） · 节日祝福" in chat and "模板消息 · 老客召回" not in chat  # cancelled
    visible = re.sub(r"<[^>]+>", " ", outbox + chat)  # the text a seller reads (not markup or classes)
    for word in (
        *kinds,
        *reasons,
        "service",
        "template",
        "draft",
        "sandbox",
        "pending",
        "skipped",
        "drafted",
    ):
        assert not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", visible), word


def test_seller_account_gets_the_seller_console_path(client, app):
    page = client.get("/simulator/").get_data(as_text=True)
    assert SELLER_OPENID in page and "卖家后台" in page
    response = say(client, SELLER_OPENID, "你好")
    assert response.status_code == 200
    with get_db(app).read_session() as s:
        assert (
            s.scalar(select(InboundMessage.content).where(InboundMessage.openid == SELLER_OPENID)) == "你好"
        )


def test_a_sim_seller_is_added_when_no_seller_is_configured(app_config):
    app_config["SELLER_OPENIDS"] = ""
    app = create_app(app_config)
    assert app.config["SELLER_OPENIDS"] == [SIM_SELLER_OPENID]
    get_db(app).dispose()


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"openid": "nobody", "text": "你好"}, 404, "没有找到"),
        ({"openid": SELLER_OPENID, "text": "   "}, 400, "不能为空"),
        ({"openid": SELLER_OPENID, "text": "长" * 601}, 400, "太长"),
    ],
)
def test_bad_messages_get_a_clear_error_and_store_nothing(client, db, payload, status, error):
    response = client.post("/simulator/api/message", json=payload)
    assert response.status_code == status and error in response.json["error"]
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_actions_accept_json_only(client, db):
    response = client.post("/simulator/api/message", data={"openid": SELLER_OPENID, "text": "你好"})
    assert response.status_code == 415
    for path in ("customers", "clock", "tick", "clock/reset", "demo", "subscribe"):
        assert client.post(f"/simulator/api/{path}", data="x").status_code == 415
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 0


# --- enabled only outside production ---------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "enabled"),
    [
        ({}, False),  # production unless development is explicit
        ({"ENV": "development"}, True),
        ({"ENV": "Development", "WECHAT_APP_ID": "wx1"}, True),  # an AppID alone is not a production account
        ({"ENV": "development", "SIMULATOR": "false"}, False),
        ({"ENV": "development", "SIMULATOR": "true"}, True),
        ({"ENV": "development", "WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s"}, False),
        (
            {"ENV": "development", "WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s", "SIMULATOR": "true"},
            False,
        ),
        ({"ENV": "production"}, False),
        ({"ENV": "Production", "SIMULATOR": True}, False),
        ({"SIMULATOR": True}, False),
    ],
)
def test_when_the_simulator_is_enabled(cfg, enabled):
    assert simulator_enabled(cfg) is enabled


@pytest.mark.parametrize(
    "extra",
    [
        {"WECHAT_APP_SECRET": "real-secret"},
        {"ENV": "production", "SIMULATOR": "true"},
        {"SIMULATOR": "false"},
    ],
)
def test_simulator_is_404_in_production_mode(app_config, extra):
    app_config.update(extra)
    app = create_app(app_config)
    client = app.test_client()
    assert client.get("/simulator/").status_code == 404
    assert client.get("/simulator/static/simulator.js").status_code == 404
    assert (
        client.post("/simulator/api/message", json={"openid": SELLER_OPENID, "text": "你好"}).status_code
        == 404
    )
    assert client.post("/simulator/api/demo", json={}).status_code == 404
    assert client.get("/").status_code == 404
    assert "huitou_clock" not in app.extensions
    get_db(app).dispose()


def test_production_mode_definition():
    assert production_mode({"ENV": "production"}) and production_mode({})
    assert production_mode({"ENV": "development", "WECHAT_APP_ID": "wx", "WECHAT_APP_SECRET": "s"})
    assert not production_mode({"ENV": "development", "WECHAT_APP_ID": "wx"})


def test_root_redirects_to_the_simulator(client):
    response = client.get("/")
    assert response.status_code == 302 and response.location.endswith("/simulator/")


# --- the clock -------------------------------------------------------------------------------


def test_clock_jump_persists_and_stamps_later_messages(client, app, demo):
    openid = new_customer(client)
    with time_machine.travel(NOW, tick=False):
        response = client.post("/simulator/api/clock", json={"at": "2026-12-23T10:00"})
        assert response.status_code == 200 and response.json["clock"]["now"] == "2026-12-23 10:00"
        assert response.json["ticks"] == 30  # daily at 10:00 from 11-24 to 12-22 (29), then the target
        say(client, openid, "面膜多少钱")
        # A new app on the same database (a restart) still has the simulated time.
        again = create_app({**app.config, "SELLER_OPENIDS": SELLER_OPENID})
        assert clock.simulated_now(get_db(again)) == dt.datetime(2026, 12, 23, 2, 0)
        get_db(again).dispose()
    with demo.read_session() as s:
        received = s.scalar(select(InboundMessage.received_at).where(InboundMessage.content == "面膜多少钱"))
    assert received == dt.datetime(2026, 12, 23, 2, 0)  # 10:00 Shanghai, the simulated time


def test_clock_only_moves_forward_and_resets(client, db):
    with time_machine.travel(NOW, tick=False):
        response = client.post("/simulator/api/clock", json={"at": "2026-11-23T09:00"})
        assert response.status_code == 400 and "晚于当前模拟时间" in response.json["error"]
        assert (
            client.post("/simulator/api/clock", json={"at": "明天"}).json["error"].startswith("时间格式不对")
        )
        client.post("/simulator/api/clock", json={"at": "2026-11-30T12:00"})
        assert clock.simulated_now(db) == dt.datetime(2026, 11, 30, 4, 0)
        assert client.post("/simulator/api/clock/reset", json={}).json["clock"]["offset_days"] == 0
        assert clock.simulated_now(db) == NOW


def test_tick_times_run_daily_on_the_way_then_at_the_target():
    start = dt.datetime(2026, 11, 23, 4, 0)  # 12:00 Shanghai
    times = clock.tick_times(start, dt.datetime(2026, 11, 26, 12, 0), "Asia/Shanghai")
    assert times == [
        dt.datetime(2026, 11, 24, 2, 0),
        dt.datetime(2026, 11, 25, 2, 0),
        dt.datetime(2026, 11, 26, 2, 0),
        dt.datetime(2026, 11, 26, 12, 0),
    ]
    assert clock.tick_times(start, start + dt.timedelta(hours=1), "Asia/Shanghai") == [
        start + dt.timedelta(hours=1)
    ]
    quarter = clock.tick_times(start, start + dt.timedelta(days=92), "Asia/Shanghai")
    assert len(quarter) == 93 and quarter == sorted(quarter)
    assert all(b - a <= dt.timedelta(days=1) for a, b in zip(quarter, quarter[1:], strict=False))


def test_jumps_further_than_a_quarter_are_refused_not_thinned(client, db):
    with time_machine.travel(NOW, tick=False):
        response = client.post("/simulator/api/clock", json={"at": "2027-06-01T10:00"})
        assert response.status_code == 400 and "最多往后调 92 天" in response.json["error"]
        assert clock.simulated_now(db) == NOW  # unchanged


# --- the demo shop ---------------------------------------------------------------------------


def test_demo_shop_loads_once_with_recent_history(runner, db):
    with time_machine.travel(NOW, tick=False):
        first = runner.invoke(args=["demo"])
        second = runner.invoke(args=["demo"])
    assert first.exit_code == 0 and f"新增商品 {len(PRODUCTS)} 个" in first.output
    assert second.exit_code == 0 and "新增商品 0 个、客户 0 位、历史订单 0 笔" in second.output
    with db.read_session() as s:
        products = {p.name: p for p in s.scalars(select(Product))}
        assert products["面膜"].price_cents == 9900 and products["面膜"].usage_days == 30
        assert s.scalar(select(func.count()).select_from(Customer)) == len(CUSTOMERS)
        orders = s.scalars(select(Order)).all()
        assert len(orders) == sum(len(c.orders) for c in CUSTOMERS)
        assert all(NOW - dt.timedelta(days=210) < o.created_at < NOW for o in orders)
        assert all(o.status == "received" and o.tracking_no for o in orders)
        assert s.scalar(select(func.count()).select_from(OrderEvent)) == 4 * len(orders)
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0  # history sends nothing
        wang = s.scalar(select(Customer).where(Customer.openid == "demo_wangfang"))
        # Her 60-day eye cream from 55 days ago runs out within the week: a nudge is due.
        assert (NOW - wang.last_order_at).days == 55


def test_demo_button_and_refusal_in_production(client, app_config):
    assert "新增商品 5 个" in client.post("/simulator/api/demo", json={}).json["message"]
    app_config["ENV"] = "production"
    app = create_app(app_config)
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code != 0 and "生产模式" in result.output
    get_db(app).dispose()


# --- with the real scheduler (delivery and retention sweeps) -------------------------------------


def test_shipping_notice_reaches_the_customers_chat_at_once(client, demo):
    openid = new_customer(client)
    order_id = int(re.search(r"#(\d+)", say(client, openid, ORDER_TEXT).json["reply"]).group(1))
    reply = say(client, SELLER_OPENID, f"发货 #{order_id} 顺丰 SF1234567890").json
    assert reply["tick_error"] is None

    chat = client.get(f"/simulator/chat?openid={openid}").get_data(as_text=True)
    assert "SF1234567890" in chat and "客服消息 · 发货通知" in chat  # inside the 48 h window: service message
    with demo.read_session() as s:
        notice = s.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"ship:order:{order_id}"))
    assert notice.status == "sent" and notice.channel == "service"


def test_a_week_ahead_the_demo_customer_gets_her_repurchase_nudge(client, demo):
    """The README's walkthrough: demo shop, 芳芳（王芳）, +7 天."""
    with time_machine.travel(NOW, tick=False):
        response = client.post("/simulator/api/clock", json={"at": "2026-11-30T12:00"})
    assert response.json["ok"], response.json
    chat = client.get("/simulator/chat?openid=demo_wangfang").get_data(as_text=True)
    assert "眼霜" in chat and "· 回购提醒" in chat
    with demo.read_session() as s:
        nudges = s.scalars(
            select(OutboxMessage)
            .join(Customer, Customer.id == OutboxMessage.customer_id)
            .where(Customer.openid == "demo_wangfang", OutboxMessage.kind == "repurchase")
        ).all()
    assert len(nudges) == 1 and nudges[0].status in ("sent", "drafted")


def test_a_customer_who_taps_the_consent_gets_the_reminder_57_days_later_as_a_subscription_notice(
    client, demo
):
    """The order reply's "🔔用完前提醒我" link is a button in the phone; tapping it plays the platform's
    popup accept through /wechat (a demo template is configured); 57 days after shipping (two boxes of
    a 30-day mask, three days' lead), far out of the 48-hour window, the repurchase reminder goes out as a subscription notice and shows in the chat."""
    with time_machine.travel(NOW, tick=False):
        openid = new_customer(client)
        reply = say(client, openid, ORDER_TEXT).json["reply"]
        assert "🔔用完前提醒我" in reply and "/subscribe/" in reply
        order_id = int(re.search(r"#(\d+)", reply).group(1))
        assert say(client, SELLER_OPENID, f"发货 #{order_id} 顺丰 SF1234567890").json["tick_error"] is None
        chat = client.get(f"/simulator/chat?openid={openid}").get_data(as_text=True)
        assert 'class="sim-subscribe"' in chat and "/subscribe/" not in chat

        response = client.post("/simulator/api/subscribe", json={"openid": openid})
        assert response.status_code == 200 and response.json["ok"], response.json
        assert response.json["message"] == "已开启✅ 到时候我会提醒您。"
        with demo.read_session() as s:
            customer = s.scalar(select(Customer).where(Customer.openid == openid))
            consents = s.scalars(
                select(SubscribeConsent).where(SubscribeConsent.customer_id == customer.id)
            ).all()
        assert [c.template_id for c in consents] == ["sim_tpl_repurchase"]

        later = clock.to_local(NOW + dt.timedelta(days=57), "Asia/Shanghai").strftime("%Y-%m-%dT%H:%M")
        response = client.post("/simulator/api/clock", json={"at": later})
        assert response.json["ok"], response.json

    with demo.read_session() as s:
        reminders = s.scalars(
            select(OutboxMessage)
            .join(Customer, Customer.id == OutboxMessage.customer_id)
            .where(Customer.openid == openid, OutboxMessage.kind == "repurchase")
        ).all()
    assert [(r.channel, r.status) for r in reminders] == [("subscribe", "sent")]
    chat = client.get(f"/simulator/chat?openid={openid}").get_data(as_text=True)
    assert "订阅通知 · 回购提醒" in chat


def test_the_consent_button_needs_a_known_customer(client, db):
    response = client.post("/simulator/api/subscribe", json={"openid": "nobody"})
    assert response.status_code == 404 and "没有找到" in response.json["error"]


# --- the README's first command ----------------------------------------------------------------


@pytest.mark.slow
def test_huitou_serve_serves_the_simulator(tmp_path):
    """`huitou serve` really listens (Flask ignores app.run() inside a CLI command) and shows /simulator."""
    import socket
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUITOU_", "WECHAT_"))}
    env.update(
        HUITOU_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}", PYTHONPATH=str(Path(__file__).parent.parent)
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", "import app; app.main()", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stderr:  # werkzeug logs "Running on ..." once the socket is bound
            if "Running on" in line:
                break
        else:
            pytest.fail(f"huitou serve exited: {proc.wait()} {proc.stdout.read()}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            page = response.read().decode()
        assert response.url.endswith("/simulator/") and "回头 · 模拟器" in page
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- only for the serving address; no full phones or addresses on screen ---------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example:5000"},  # DNS rebinding: the attacker's name resolved to 127.0.0.1
        {"Host": "127.0.0.1:5000", "Origin": "http://evil.example:5000"},
        {"Host": "localhost", "Origin": "null"},
    ],
)
def test_the_simulator_refuses_other_hosts_and_origins(client, db, headers):
    for path in (
        "/simulator/",
        "/simulator/chat?openid=sim_seller",
        "/simulator/outbox",
        "/simulator/static/simulator.js",
    ):
        assert client.get(path, headers=headers).status_code == 403, path
    for path in ("message", "customers", "clock", "tick", "clock/reset", "demo", "subscribe"):
        response = client.post(
            f"/simulator/api/{path}", json={"openid": SELLER_OPENID, "text": "导出"}, headers=headers
        )
        assert response.status_code == 403 and "本机地址" in response.json["error"], path
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "127.0.0.1:5000"},
        {"Host": "localhost:8080", "Origin": "http://localhost:8080"},
        {"Host": "[::1]:5000", "Origin": "http://[::1]:5000"},
        {"Host": "127.0.0.2"},
    ],
)
def test_the_simulator_answers_its_serving_address(client, headers):
    assert client.get("/simulator/", headers=headers).status_code == 200
    assert client.post("/simulator/api/tick", json={}, headers=headers).status_code == 200


def test_configured_simulator_hosts_are_accepted(app, client):
    app.config["SIMULATOR_HOSTS"] = ["devbox.lan"]
    assert client.get("/simulator/", headers={"Host": "devbox.lan:5000"}).status_code == 200
    assert client.get("/simulator/", headers={"Host": "other.lan:5000"}).status_code == 403


def test_phones_and_addresses_are_masked_everywhere_the_simulator_shows_them(client, demo):
    openid = new_customer(client, "阿花")
    reply = say(client, openid, ORDER_TEXT).json["reply"]
    assert "13800138000" not in reply and "科技园路1号" not in reply
    seller = say(client, SELLER_OPENID, "客户 张三").json["reply"]
    assert "13800138000" not in seller and "138****8000" in seller
    views = [
        client.get(f"/simulator/?openid={openid}"),
        client.get(f"/simulator/chat?openid={openid}"),
        client.get(f"/simulator/chat?openid={SELLER_OPENID}"),
        client.get("/simulator/outbox"),
    ]
    for view in views:
        text = re.sub(r'placeholder="[^"]*"', "", view.get_data(as_text=True))  # the input's example text
        assert "13800138000" not in text and "科技园路1号" not in text
    assert "138****8000" in views[1].get_data(as_text=True)


def test_the_export_link_is_clickable_and_points_at_the_simulator(client):
    say(client, SELLER_OPENID, "导出", base_url="http://127.0.0.1:5123/")
    chat = client.get(f"/simulator/chat?openid={SELLER_OPENID}", base_url="http://127.0.0.1:5123/")
    page = chat.get_data(as_text=True)
    assert '<a href="http://127.0.0.1:5123/downloads/export#' in page and 'rel="noopener noreferrer"' in page


# --- WeCom mode ----------------------------------------------------------------------------------


def test_wecom_mode_welcome_then_one_tap_sends_the_repurchase_task(client, demo):
    """Issue 17: the customer adds the seller on WeCom, 57 days later the nudge is a task the seller taps."""
    with time_machine.travel(NOW, tick=False):
        assert client.post("/simulator/api/wecom/add", json={"openid": "x"}).status_code == 409  # mode off
        assert client.post("/simulator/api/wecom/mode", json={}).json["ok"]
        openid = new_customer(client)
        order_id = int(re.search(r"#(\d+)", say(client, openid, ORDER_TEXT).json["reply"]).group(1))
        assert say(client, SELLER_OPENID, f"发货 #{order_id} 顺丰 SF1234567890").json["tick_error"] is None
        added = client.post("/simulator/api/wecom/add", json={"openid": openid})
        assert added.status_code == 200, added.json
        chat = client.get(f"/simulator/chat?openid={openid}").get_data(as_text=True)
        assert "以后上新、补货和售后都可以直接在这里找我" in chat and "企业微信欢迎语" in chat
        assert client.get("/simulator/api/wecom/tasks").json["tasks"] == []

        jumped = client.post("/simulator/api/clock", json={"at": "2027-01-19T12:00"})  # + 57 days
        assert jumped.json["ok"], jumped.json
        tasks = client.get("/simulator/api/wecom/tasks").json["tasks"]
        assert len(tasks) == 1 and tasks[0]["customers"] == 1

        confirmed = client.post("/simulator/api/wecom/confirm", json={})
        assert confirmed.json["ok"] and confirmed.json["confirmed"] == 1, confirmed.json
    assert client.get("/simulator/api/wecom/tasks").json["tasks"] == []
    with demo.read_session() as s:
        nudge = s.scalar(
            select(OutboxMessage)
            .join(Customer, Customer.id == OutboxMessage.customer_id)
            .where(Customer.openid == openid, OutboxMessage.kind == "repurchase")
        )
    assert nudge.status == "sent" and nudge.channel == "wecom"
    chat = client.get(f"/simulator/chat?openid={openid}").get_data(as_text=True)
    assert "企业微信群发 · 回购提醒" in chat


def test_the_wecom_sandbox_is_development_only_and_never_replaces_real_settings(app_config):
    from bot.delivery.wecom_client import HuitouWeComClient, make_client
    from bot.delivery.wecom_sandbox import CORP_ID, SandboxWeComClient

    sim = {"ENV": "development", "WECOM_CORP_ID": CORP_ID, "WECOM_SECRET": "s"}
    app = create_app({**app_config, "WECOM_CORP_ID": "ww1234567890abcdef", "WECOM_SECRET": "real"})
    try:
        assert isinstance(make_client(sim, get_db(app)), SandboxWeComClient)
        assert isinstance(make_client({**sim, "ENV": "production"}, get_db(app)), HuitouWeComClient)
        response = app.test_client().post("/simulator/api/wecom/mode", json={})
        assert response.status_code == 409 and app.config["WECOM_CORP_ID"] == "ww1234567890abcdef"
    finally:
        get_db(app).dispose()
