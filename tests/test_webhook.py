"""The webhook as the platform calls it: verification, modes, exactly-once, hostile input."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from storage.models import Customer, InboundMessage, OutboxMessage
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
    params = {**signed_params(timestamp, nonce), "encrypt_type": "aes", "msg_signature": sign(TOKEN, timestamp, nonce)}
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
        ("location", "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>20</Scale><Label><![CDATA[广州]]></Label>"),
        ("link", "<Title><![CDATA[看看]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[http://e.com]]></Url>"),
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
