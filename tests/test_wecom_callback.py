"""The WeCom callback at /wecom: verification, the webhook rules, the seller console in the app."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from storage.models import InboundMessage
from tests.conftest import SELLER_OPENID
from tests.wecom_platform import SELLER_USERID, WeComPlatform


def inbound_count(db) -> int:
    with db.read_session() as s:
        return s.scalar(select(func.count()).select_from(InboundMessage))


def test_without_wecom_settings_there_is_no_wecom_callback_and_wechat_still_works(client, platform):
    assert client.get("/wecom").status_code == 404
    assert client.post("/wecom", data="<xml/>").status_code == 404
    assert platform.say(SELLER_OPENID, "帮助")


def test_url_verification_decrypts_echostr_after_checking_msg_signature(wecom):
    response = wecom.verify_url("echo-1234567890")
    assert response.status_code == 200 and response.get_data(as_text=True) == "echo-1234567890"
    assert wecom.verify_url("echo", bad_signature=True).status_code == 403
    assert wecom.verify_url("echo", timestamp=str(int(time.time()) - 3600)).status_code == 403


def test_a_listed_member_gets_the_seller_console_in_the_app(wecom, platform):
    on_wecom = wecom.say(SELLER_USERID, "帮助")
    assert on_wecom == platform.say(SELLER_OPENID, "帮助")
    assert "发货" in on_wecom


def test_a_member_not_listed_is_told_the_app_is_for_the_shop_owner(wecom):
    assert "只给店主使用" in wecom.say("SomeoneElse", "帮助")


def test_the_same_message_delivered_three_times_is_processed_once_with_identical_replies(wecom, db):
    xml = wecom.text_xml(SELLER_USERID, "帮助", msg_id=424242)
    replies = [wecom.post_xml(xml) for _ in range(3)]
    assert {r.status for r in replies} == {200}
    assert len({r.body for r in replies}) == 1
    assert inbound_count(db) == 1


def test_bad_signature_stale_timestamp_hostile_xml_and_oversized_bodies_are_refused(wecom, db):
    xml = wecom.text_xml(SELLER_USERID, "帮助")
    timestamp = str(int(time.time()))
    body, params = wecom.envelope(xml, timestamp, "n1")
    assert wecom.post_raw(body, {**params, "msg_signature": "0" * 40}).status == 403
    old = str(int(time.time()) - 3600)
    body, params = wecom.envelope(xml, old, "n2")
    assert wecom.post_raw(body, params).status == 403
    hostile = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        "<xml><FromUserName>x</FromUserName><MsgType>text</MsgType><Content>&lol2;</Content></xml>"
    )
    body, params = wecom.envelope(hostile, timestamp, "n3")
    assert wecom.post_raw(body, params).status == 400
    assert wecom.post_raw("<xml><Encrypt>not base64!</Encrypt></xml>", params).status in (400, 403)
    assert wecom.post_xml(wecom.text_xml(SELLER_USERID, "很" * 40000)).status == 413
    assert inbound_count(db) == 0
    assert wecom.say(SELLER_USERID, "帮助")  # unharmed


def test_a_callback_signed_with_another_token_is_403(wecom_settings, client, db):
    stranger = WeComPlatform(client, token="someone-elses-token")
    assert stranger.post_xml(stranger.text_xml(SELLER_USERID, "帮助")).status == 403
    assert inbound_count(db) == 0


@pytest.mark.parametrize("text", ["统计", "待发"])
def test_other_seller_commands_answer_the_same_on_both_channels(wecom, platform, text):
    assert wecom.say(SELLER_USERID, text) == platform.say(SELLER_OPENID, text)
