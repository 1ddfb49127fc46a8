"""The webhook as the platform calls it: verification, modes, exactly-once, hostile input."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import time_machine
from sqlalchemy import func, select

from storage.db import get_db
from storage.models import Customer, InboundMessage, OutboxMessage
from tests.conftest import FAKE_APP_SECRET
from tests.wechat_platform import ACCOUNT, TOKEN, WeChatPlatform, sign


def count(db, model) -> int:
    with db.read_session() as s:
        return s.scalar(select(func.count()).select_from(model))


def signed_params(timestamp: str | None = None, nonce: str = "n0nce") -> dict:
    timestamp = timestamp or str(int(time.time()))
    return {"timestamp": timestamp, "nonce": nonce, "signature": sign(TOKEN, timestamp, nonce)}


# --- URL verification ------------------------------------------------------------------------


def test_verification_echoes_echostr_for_valid_signature(client):
    response = client.get("/wechat", query_string={**signed_params(), "echostr": "4213920383"})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "4213920383"


@pytest.mark.parametrize("tamper", ["signature", "timestamp", "nonce"])
def test_verification_refuses_bad_signature(client, tamper):
    params = {**signed_params(), "echostr": "abc"}
    params[tamper] = params[tamper] + "0"
    response = client.get("/wechat", query_string=params)
    assert response.status_code == 403
    assert "abc" not in response.get_data(as_text=True)


def test_verification_refuses_stale_timestamp(client):
    params = {**signed_params(str(int(time.time()) - 3600)), "echostr": "abc"}
    assert client.get("/wechat", query_string=params).status_code == 403


# --- Receiving in each mode ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_text_message_is_logged_and_answered_in_every_mode(client, db, mode):
    platform = WeChatPlatform(client, mode=mode)
    reply = platform.post_text("o_customer_1", "你好")
    assert reply.status == 200
    assert reply.xml["ToUserName"] == "o_customer_1"
    assert reply.xml["FromUserName"] == ACCOUNT
    assert reply.xml["MsgType"] == "text"
    assert reply.text
    if mode != "plain":
        assert "<Encrypt>" in reply.body and "你好" not in reply.body
    with db.read_session() as s:
        customer = s.scalar(select(Customer).where(Customer.openid == "o_customer_1"))
        assert customer is not None and customer.last_inbound_at is not None
        logged = s.scalars(select(InboundMessage)).all()
        assert [(m.msg_type, m.content, m.customer_id) for m in logged] == [("text", "你好", customer.id)]


def test_same_message_three_times_is_processed_once_with_identical_replies(platform, db):
    xml = platform.text_xml("o_customer_2", "在吗", msg_id=987654321)
    replies = [platform.post_xml(xml) for _ in range(3)]
    assert {r.status for r in replies} == {200}
    assert replies[0].body == replies[1].body == replies[2].body
    assert replies[0].text
    assert count(db, InboundMessage) == 1
    assert count(db, Customer) == 1


def test_concurrent_duplicate_deliveries_store_one_message(app, db):
    platform_xml = WeChatPlatform.text_xml("o_customer_3", "要一盒面膜", msg_id=555000111)
    results: list = []
    barrier = threading.Barrier(6)

    def deliver():
        platform = WeChatPlatform(app.test_client(), mode="safe")
        barrier.wait()
        results.append(platform.post_xml(platform_xml))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 6
    assert {r.status for r in results} == {200}
    assert len({r.text for r in results}) == 1
    assert count(db, InboundMessage) == 1
    assert count(db, Customer) == 1


def test_messages_from_a_new_follower_racing_create_one_customer(app, db):
    barrier = threading.Barrier(5)
    statuses: list[int] = []

    def deliver(i: int):
        platform = WeChatPlatform(app.test_client(), mode="safe")
        barrier.wait()
        statuses.append(platform.post_text("o_new_racer", f"第{i}条").status)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [200] * 5
    assert count(db, InboundMessage) == 5
    assert count(db, Customer) == 1


# --- Refusals: nothing stored ----------------------------------------------------------------


def _assert_nothing_stored(db):
    assert count(db, InboundMessage) == 0
    assert count(db, Customer) == 0


def test_wrong_signature_is_403(platform, db):
    body, params = platform.envelope(platform.text_xml("o_x", "hi"), str(int(time.time())), "abc")
    params["signature"] = "0" * 40
    assert platform.post_raw(body, params).status == 403
    _assert_nothing_stored(db)


def test_wrong_msg_signature_is_403(platform, db):
    body, params = platform.envelope(platform.text_xml("o_x", "hi"), str(int(time.time())), "abc")
    params["msg_signature"] = "0" * 40
    assert platform.post_raw(body, params).status == 403
    _assert_nothing_stored(db)


def test_replayed_old_message_is_403(platform, db):
    reply = platform.post_xml(platform.text_xml("o_x", "hi"), timestamp=str(int(time.time()) - 3600))
    assert reply.status == 403
    _assert_nothing_stored(db)


def test_wrong_appid_inside_envelope_is_400(client, db):
    other = WeChatPlatform(client, mode="safe", app_id="wxOTHERAPP00000000")
    assert other.post_text("o_x", "hi").status == 400
    _assert_nothing_stored(db)


def test_safe_mode_without_configured_key_is_400(app_config, db):
    from app import create_app

    app_config["WECHAT_ENCODING_AES_KEY"] = None
    client = create_app(app_config).test_client()
    assert WeChatPlatform(client, mode="safe").post_text("o_x", "hi").status == 400
    _assert_nothing_stored(db)


@pytest.mark.parametrize(
    "body",
    [
        "<xml><ToUserName>gh</ToUserName><FromUserName>o_x",  # truncated
        "not xml at all",
        "",
        "<xml><FromUserName>o_x</FromUserName></xml>",  # no MsgType
        # entity expansion ("billion laughs")
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        "<xml><FromUserName>o_x</FromUserName><MsgType>text</MsgType><Content>&lol2;</Content><MsgId>1</MsgId></xml>",
        # external entity
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<xml><FromUserName>o_x</FromUserName><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>",
    ],
    ids=["truncated", "not-xml", "empty", "no-msgtype", "billion-laughs", "external-entity"],
)
@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_malformed_or_hostile_xml_is_400(client, db, body, mode):
    platform = WeChatPlatform(client, mode=mode)
    timestamp, nonce = str(int(time.time())), "n1"
    if mode == "plain":
        params = signed_params(timestamp, nonce)
        sent = body
    else:
        # A correctly encrypted and signed envelope around the hostile plaintext.
        sent, params = platform.envelope(body, timestamp, nonce)
    assert platform.post_raw(sent, params).status == 400
    _assert_nothing_stored(db)
    # The process is unharmed: the next good message works.
    assert platform.post_text("o_after", "你好").status == 200


def test_hostile_envelope_in_safe_mode_is_400(platform, db):
    timestamp, nonce = str(int(time.time())), "n2"
    body = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><xml><Encrypt>&lol;</Encrypt></xml>'
    params = {
        **signed_params(timestamp, nonce),
        "encrypt_type": "aes",
        "msg_signature": sign(TOKEN, timestamp, nonce),
    }
    assert platform.post_raw(body, params).status == 400
    _assert_nothing_stored(db)


def test_oversized_body_is_413(platform, db):
    reply = platform.post_text("o_x", "很" * 40000)
    assert reply.status == 413
    _assert_nothing_stored(db)


# --- Events and other message types ----------------------------------------------------------


def test_subscribe_with_scene_creates_customer_and_keeps_scene(platform, db):
    reply = platform.post_event("o_follower", "subscribe", "qrscene_ref_ABCD")
    assert reply.status == 200 and reply.text
    with db.read_session() as s:
        customer = s.scalar(select(Customer).where(Customer.openid == "o_follower"))
        assert customer.subscribed and customer.subscribe_scene == "ref_ABCD"


def test_scan_from_existing_follower_keeps_bare_scene(platform, db):
    platform.post_text("o_old", "你好")
    assert platform.post_event("o_old", "SCAN", "ref_WXYZ").status == 200
    with db.read_session() as s:
        assert s.scalar(select(Customer.subscribe_scene).where(Customer.openid == "o_old")) == "ref_WXYZ"


def test_unsubscribe_keeps_history_and_resubscribe_reactivates(platform, db):
    platform.post_text("o_leaver", "你好")
    assert platform.post_event("o_leaver", "unsubscribe", create_time=int(time.time()) - 5).body == "success"
    with db.read_session() as s:
        customer = s.scalar(select(Customer).where(Customer.openid == "o_leaver"))
        assert not customer.subscribed and customer.unsubscribed_at is not None
    assert count(db, InboundMessage) == 2
    reply = platform.post_event("o_leaver", "subscribe")
    assert "欢迎回来" in reply.text
    with db.read_session() as s:
        customer = s.scalar(select(Customer).where(Customer.openid == "o_leaver"))
        assert customer.subscribed and customer.unsubscribed_at is None


def test_duplicate_event_is_processed_once(platform, db):
    xml = platform.event_xml("o_evt", "subscribe", create_time=1_700_000_000)
    first, second = platform.post_xml(xml), platform.post_xml(xml)
    assert first.body == second.body
    assert count(db, InboundMessage) == 1


@pytest.mark.parametrize(
    ("msg_type", "fields"),
    [
        ("image", "<PicUrl><![CDATA[http://example.com/a.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId>"),
        ("voice", "<MediaId><![CDATA[m2]]></MediaId><Format><![CDATA[amr]]></Format>"),
        ("video", "<MediaId><![CDATA[m3]]></MediaId><ThumbMediaId><![CDATA[t3]]></ThumbMediaId>"),
        (
            "location",
            "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>20</Scale><Label><![CDATA[广州]]></Label>",
        ),
        (
            "link",
            "<Title><![CDATA[看看]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[http://e.com]]></Url>",
        ),
        ("miniprogrampage", "<Title><![CDATA[小程序]]></Title>"),
    ],
)
def test_non_text_messages_are_logged_and_answered_politely(platform, db, msg_type, fields):
    reply = platform.post_xml(platform.media_xml("o_media", msg_type, fields))
    assert reply.status == 200
    assert reply.text  # a polite Chinese answer, never an error
    with db.read_session() as s:
        assert s.scalar(select(InboundMessage.msg_type)) == msg_type


def test_reply_text_cannot_inject_xml(app):
    from wechatpy import create_reply, parse_message

    from handlers.wechat import sanitize_reply_text

    msg = parse_message(WeChatPlatform.text_xml("o_x", "hi"))
    hostile = "a]]><MsgType>news</MsgType><![CDATA[b"
    rendered = create_reply(sanitize_reply_text(hostile), msg).render()
    assert parse_message(rendered).content == hostile


def test_slow_processing_answers_success_and_sends_reply_via_outbox(app_config, db):
    from app import create_app

    app_config["WEBHOOK_REPLY_BUDGET_SECONDS"] = 0  # every reply is "too late"
    platform = WeChatPlatform(create_app(app_config).test_client(), mode="safe")
    reply = platform.post_text("o_slow", "你好")
    assert reply.status == 200 and reply.body == "success"
    with db.read_session() as s:
        queued = s.scalars(select(OutboxMessage)).all()
        assert [(m.kind, m.transactional, bool(m.text)) for m in queued] == [("reply", True, True)]


def test_database_unavailable_answers_without_storing(app, platform, db, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import handlers.wechat as webhook

    def broken(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(webhook.bot_inbound, "record_inbound", broken)
    reply = platform.post_text("o_busy", "要两盒面膜")
    assert reply.status == 200
    assert "再发一次" in reply.text
    _assert_nothing_stored(db)


# --- The passive reply or the outbox, exactly one of them -------------------------------------

NOW = dt.datetime(2026, 3, 14, 4, 0, tzinfo=dt.UTC)  # any moment: the wall clock is pinned around it


@pytest.fixture
def delivering(app_config, fake_wechat):
    """An app whose outbox drain talks to the fake WeChat API, with the production reply budget."""
    from app import create_app

    app_config.update(
        {
            "WECHAT_APP_SECRET": FAKE_APP_SECRET,
            "WECHAT_API_BASE_URL": fake_wechat.base_url,
            "DELIVERY_RATE_PER_SECOND": 0,
            "WEBHOOK_REPLY_BUDGET_SECONDS": 4,
        }
    )
    app = create_app(app_config)
    yield app
    get_db(app).dispose()


def reply_rows(db) -> list[OutboxMessage]:
    with db.read_session() as s:
        return s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reply")).all()


def drain_at(app, moment: dt.datetime):
    from bot.delivery.drain import drain_outbox

    return drain_outbox(get_db(app), app.config, now=moment.replace(tzinfo=None))


def sent_texts(fake_wechat) -> list[str]:
    return [call.body["text"]["content"] for call in fake_wechat.accepted("message/custom/send")]


def test_a_passive_reply_written_in_time_withdraws_its_outbox_copy(delivering, fake_wechat):
    db = get_db(delivering)
    with time_machine.travel(NOW, tick=False):
        reply = WeChatPlatform(delivering.test_client()).post_text("o_in_time", "你好")
    assert reply.status == 200 and reply.text
    assert reply_rows(db) == []  # queued in the message's transaction, withdrawn once written
    drain_at(delivering, NOW + dt.timedelta(minutes=5))
    assert sent_texts(fake_wechat) == []  # the customer heard it once, passively


def test_a_reply_whose_body_was_never_written_goes_by_the_outbox_once(delivering, fake_wechat):
    """The worker committed the message, then died (or hung) before the server wrote the body:
    the response is never iterated, so its outbox copy stays and is sent once the platform gave up."""
    db = get_db(delivering)
    platform = WeChatPlatform(delivering.test_client())
    with time_machine.travel(NOW, tick=False):
        body, params = platform.envelope(platform.text_xml("o_killed", "你好"), str(int(time.time())), "n9")
        response = delivering.test_client().post(
            "/wechat", query_string=params, data=body, content_type="text/xml"
        )
        assert response.status_code == 200
        response.close()  # the body is never written
    [row] = reply_rows(db)
    assert row.status == "pending" and row.text
    assert (
        NOW.replace(tzinfo=None) + dt.timedelta(seconds=15)
        < row.next_attempt_at
        <= NOW.replace(tzinfo=None) + dt.timedelta(seconds=20)
    )
    drain_at(delivering, NOW + dt.timedelta(seconds=10))  # the platform may still retry: wait
    assert sent_texts(fake_wechat) == []
    drain_at(delivering, NOW + dt.timedelta(seconds=25))
    drain_at(delivering, NOW + dt.timedelta(minutes=5))
    assert sent_texts(fake_wechat) == [row.text]


def test_time_queued_before_a_worker_counts_against_the_reply_budget(delivering, fake_wechat):
    """The platform signed the request 6 s ago (it waited in gunicorn's queue): too late for a passive
    reply even though the worker itself was quick, so the answer is "success" and the outbox sends it."""
    db = get_db(delivering)
    platform = WeChatPlatform(delivering.test_client())
    with time_machine.travel(NOW, tick=False):
        sent_at = str(int(time.time()) - 6)
        reply = platform.post_xml(platform.text_xml("o_queued", "你好"), timestamp=sent_at)
    assert reply.status == 200 and reply.body == "success"
    [row] = reply_rows(db)
    assert row.status == "pending" and row.next_attempt_at <= NOW.replace(tzinfo=None)
    drain_at(delivering, NOW + dt.timedelta(seconds=1))
    assert sent_texts(fake_wechat) == [row.text]


def test_a_passive_reply_written_after_the_platform_gave_up_is_sent_by_the_outbox(delivering, fake_wechat):
    """With a generous budget the reply is rendered, but 10 s after the platform sent the request:
    it has dropped the connection, so the outbox copy is kept and sent."""
    delivering.config["WEBHOOK_REPLY_BUDGET_SECONDS"] = 60
    platform = WeChatPlatform(delivering.test_client())
    with time_machine.travel(NOW, tick=False):
        reply = platform.post_xml(platform.text_xml("o_late", "你好"), timestamp=str(int(time.time()) - 10))
    assert reply.text
    [row] = reply_rows(get_db(delivering))
    assert row.status == "pending"
    drain_at(delivering, NOW + dt.timedelta(seconds=30))
    assert sent_texts(fake_wechat) == [reply.text]


def test_a_platform_timestamp_ahead_of_our_clock_does_not_stretch_the_budget(delivering, fake_wechat):
    platform = WeChatPlatform(delivering.test_client())
    with time_machine.travel(NOW, tick=False):
        reply = platform.post_xml(platform.text_xml("o_ahead", "你好"), timestamp=str(int(time.time()) + 60))
    assert reply.text  # answered passively, as from a request that just arrived
    assert reply_rows(get_db(delivering)) == []


# --- Signed messages of odd shape: 400, nothing stored, nothing personal logged ---------------

SECRET_OPENID = "o_private_openid_77"
_HEAD = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><CreateTime>1700000000</CreateTime>"


def _text_msg(inner: str) -> str:
    return f"{_HEAD}{inner}</xml>"


ODD_SHAPES = {
    "element-inside-content": _text_msg(
        f"<FromUserName>{SECRET_OPENID}</FromUserName><MsgType>text</MsgType>"
        "<Content><b>要两盒面膜</b></Content><MsgId>1</MsgId>"
    ),
    "repeated-fromusername": _text_msg(
        f"<FromUserName>{SECRET_OPENID}</FromUserName><FromUserName>o_other"
        "</FromUserName><MsgType>text</MsgType><Content>你好</Content><MsgId>2</MsgId>"
    ),
    "msgid-not-digits": _text_msg(
        f"<FromUserName>{SECRET_OPENID}</FromUserName><MsgType>text</MsgType>"
        "<Content>你好</Content><MsgId>abc</MsgId>"
    ),
    "5000-nested-elements": _text_msg(
        f"<FromUserName>{SECRET_OPENID}</FromUserName><MsgType>text</MsgType>"
        "<Content>你好</Content><MsgId>3</MsgId><Extra>" + "<a>" * 5000 + "x" + "</a>" * 5000 + "</Extra>"
    ),
    "xinclude": _text_msg(
        f"<FromUserName>{SECRET_OPENID}</FromUserName><MsgType>text</MsgType><Content>"
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" '
        'parse="text"/></Content><MsgId>4</MsgId>'
    ),
    "event-key-element": _text_msg(
        f"<FromUserName>{SECRET_OPENID}</FromUserName><MsgType>event</MsgType>"
        "<Event>CLICK</Event><EventKey><k>1</k></EventKey>"
    ),
    "createtime-not-digits": (
        f"<xml><ToUserName>{ACCOUNT}</ToUserName><FromUserName>{SECRET_OPENID}</FromUserName>"
        "<CreateTime>soon</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
        "<MsgId>5</MsgId></xml>"
    ),
    "openid-not-an-openid": _text_msg(
        "<FromUserName>o x;DROP</FromUserName><MsgType>text</MsgType><Content>你好</Content><MsgId>6</MsgId>"
    ),
    "attribute": _text_msg(
        f'<FromUserName a="1">{SECRET_OPENID}</FromUserName><MsgType>text</MsgType>'
        "<Content>你好</Content><MsgId>7</MsgId>"
    ),
    "other-root": (
        f"<msg><FromUserName>{SECRET_OPENID}</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>text</MsgType><Content>你好</Content><MsgId>8</MsgId></msg>"
    ),
}


@pytest.mark.parametrize("mode", ["plain", "safe"])
@pytest.mark.parametrize("shape", list(ODD_SHAPES))
def test_signed_message_of_odd_shape_is_400_stores_nothing_logs_nothing_personal(
    client, db, caplog, shape, mode
):
    caplog.set_level("DEBUG")
    platform = WeChatPlatform(client, mode=mode)
    reply = platform.post_xml(ODD_SHAPES[shape])  # correctly signed (and encrypted in safe mode)
    assert reply.status == 400
    _assert_nothing_stored(db)
    assert SECRET_OPENID not in caplog.text and "o_other" not in caplog.text
    assert platform.post_text("o_after", "你好").status == 200  # the next good message works


def test_the_platforms_deepest_message_shape_is_accepted(platform, db):
    """A mass-send report nests five levels (CopyrightCheckResult/ResultList/item/…): within bounds."""
    xml = _text_msg(
        "<FromUserName>mphelper</FromUserName><MsgType>event</MsgType><Event>MASSSENDJOBFINISH"
        "</Event><MsgID>1000001625</MsgID><Status>send success</Status><TotalCount>2</TotalCount>"
        "<CopyrightCheckResult><Count>1</Count><ResultList><item><ArticleIdx>1</ArticleIdx>"
        "<UserDeclareState>0</UserDeclareState></item></ResultList><CheckState>2</CheckState>"
        "</CopyrightCheckResult>"
    )
    assert platform.post_xml(xml).body == "success"
    assert count(db, InboundMessage) == 1


# --- Events the platform sends on its own ---------------------------------------------------

LONG_AGO = dt.datetime(2026, 1, 1, 8, 0)


def _known_unreachable_customer(db, openid: str) -> None:
    from storage.customers import get_or_create_by_openid

    with db.session() as s:
        customer, _ = get_or_create_by_openid(s, openid, LONG_AGO)
        customer.last_inbound_at = LONG_AGO
        customer.unreachable = True


def _window(db, openid: str) -> tuple[dt.datetime | None, bool]:
    with db.read_session() as s:
        customer = s.scalar(select(Customer).where(Customer.openid == openid))
        return customer.last_inbound_at, customer.unreachable


PLATFORM_EVENTS = {
    "TEMPLATESENDJOBFINISH": "<MsgID>200163836</MsgID><Status><![CDATA[success]]></Status>",
    "TEMPLATESENDJOBFINISH-blocked": "<MsgID>200163837</MsgID><Status><![CDATA[failed:user block]]></Status>",
    "MASSSENDJOBFINISH": "<MsgID>1000001625</MsgID><Status><![CDATA[send success]]></Status>",
    "LOCATION": "<Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>",
    "VIEW": "<EventKey><![CDATA[https://shop.example.com/]]></EventKey><MenuId>410418124</MenuId>",
    "view_miniprogram": "<EventKey><![CDATA[pages/index/index]]></EventKey><MenuId>1</MenuId>",
    "unsubscribe": "",
}


def _event(openid: str, event: str, fields: str = "", create_time: int = 1_780_000_000) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event>{fields}</xml>"
    )


@pytest.mark.parametrize("name", list(PLATFORM_EVENTS))
def test_events_the_platform_sends_on_its_own_open_no_window_and_clear_no_unreachable(platform, db, name):
    _known_unreachable_customer(db, "o_passive")
    assert platform.post_xml(_event("o_passive", name.split("-")[0], PLATFORM_EVENTS[name])).status == 200
    assert _window(db, "o_passive") == (LONG_AGO, True)
    assert count(db, InboundMessage) == 1  # logged all the same


@pytest.mark.parametrize(
    ("event", "fields"),
    [
        ("CLICK", "<EventKey><![CDATA[MENU_ORDERS]]></EventKey>"),
        (
            "scancode_push",
            "<EventKey><![CDATA[scan_1]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]>"
            "</ScanType><ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>",
        ),
        (
            "scancode_waitmsg",
            "<EventKey><![CDATA[scan_2]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]>"
            "</ScanType><ScanResult><![CDATA[2]]></ScanResult></ScanCodeInfo>",
        ),
        ("SCAN", "<EventKey><![CDATA[123]]></EventKey><Ticket><![CDATA[t]]></Ticket>"),
        ("subscribe", ""),
    ],
)
def test_the_users_own_actions_open_the_window_and_clear_unreachable(platform, db, event, fields):
    _known_unreachable_customer(db, "o_active")
    assert platform.post_xml(_event("o_active", event, fields, create_time=int(time.time()))).status == 200
    last_inbound_at, unreachable = _window(db, "o_active")
    assert last_inbound_at > LONG_AGO and not unreachable


def test_a_template_report_of_a_block_marks_the_customer_unreachable(platform, db):
    platform.post_text("o_blocker", "你好")
    assert _window(db, "o_blocker")[1] is False
    report = "<MsgID>200163840</MsgID><Status><![CDATA[failed:user block]]></Status>"
    assert platform.post_xml(_event("o_blocker", "TEMPLATESENDJOBFINISH", report)).body == "success"
    assert _window(db, "o_blocker")[1] is True
    platform.post_text("o_blocker", "在吗")  # they write again: reachable
    assert _window(db, "o_blocker")[1] is False


def test_a_platform_event_about_an_unknown_sender_creates_no_customer(platform, db):
    xml = _event("mphelper", "MASSSENDJOBFINISH", "<MsgID>1000001626</MsgID><Status>send success</Status>")
    assert platform.post_xml(xml).body == "success"
    assert count(db, Customer) == 0
    with db.read_session() as s:
        assert s.scalar(select(InboundMessage.customer_id)) is None


def test_two_menu_clicks_of_one_second_are_both_kept_and_each_retry_once(platform, db):
    first = _event("o_clicker", "CLICK", "<EventKey><![CDATA[MENU_ORDERS]]></EventKey>")
    second = _event("o_clicker", "CLICK", "<EventKey><![CDATA[MENU_HELP]]></EventKey>")
    for xml in (first, second, first, second):
        assert platform.post_xml(xml).status == 200
    with db.read_session() as s:
        contents = sorted(s.scalars(select(InboundMessage.content)))
    assert contents == ["[事件] click MENU_HELP", "[事件] click MENU_ORDERS"]


def test_two_template_reports_of_one_second_are_both_kept(platform, db):
    platform.post_text("o_reported", "你好")
    for msg_id, status in ((300001, "success"), (300002, "failed:user block")):
        fields = f"<MsgID>{msg_id}</MsgID><Status><![CDATA[{status}]]></Status>"
        platform.post_xml(_event("o_reported", "TEMPLATESENDJOBFINISH", fields))
    assert count(db, InboundMessage) == 3
    assert _window(db, "o_reported")[1] is True


def test_an_event_key_too_long_for_the_column_is_hashed_into_the_dedupe_key(platform, db):
    xml = _event("o_long_key", "CLICK", f"<EventKey><![CDATA[{'K' * 300}]]></EventKey>")
    assert platform.post_xml(xml).status == 200 and platform.post_xml(xml).status == 200
    with db.read_session() as s:
        [key] = s.scalars(select(InboundMessage.msg_key)).all()
    assert len(key) <= 128


# --- A retry in the other mode ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_mode", "retry_mode"), [("safe", "plain"), ("plain", "safe"), ("compat", "plain")]
)
def test_a_retry_in_the_other_mode_gets_the_reply_in_its_own_mode(client, db, first_mode, retry_mode):
    xml = WeChatPlatform.text_xml("o_switch", "你好", msg_id=424242)
    first = WeChatPlatform(client, mode=first_mode).post_xml(xml)
    retry = WeChatPlatform(client, mode=retry_mode).post_xml(xml)
    assert first.text and retry.text == first.text
    assert ("<Encrypt>" in retry.body) == (retry_mode != "plain")
    assert (
        WeChatPlatform(client, mode=first_mode).post_xml(xml).body == first.body
    )  # same mode: byte for byte
    assert count(db, InboundMessage) == 1


# --- Bodies past the limit, streamed ---------------------------------------------------------


def test_a_chunked_body_past_the_limit_is_413(app, db):
    """A real HTTP server on loopback (it terminates chunked bodies as gunicorn does)."""
    import requests
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        platform = WeChatPlatform(None, mode="plain")
        base = f"http://127.0.0.1:{server.server_port}/wechat"

        def post_chunked(xml: str) -> requests.Response:
            body, params = platform.envelope(xml, str(int(time.time())), "chunk")
            data = body.encode()
            chunks = (data[i : i + 8192] for i in range(0, len(data), 8192))  # no Content-Length: chunked
            return requests.post(
                base, params=params, data=chunks, headers={"Content-Type": "text/xml"}, timeout=10
            )

        big = post_chunked(platform.text_xml("o_big", "很" * 24000))  # ~70 KB
        assert big.status_code == 413
        _assert_nothing_stored(db)
        small = post_chunked(platform.text_xml("o_small", "你好"))
        assert small.status_code == 200 and "<Content>" in small.text
    finally:
        server.shutdown()
        thread.join(10)
