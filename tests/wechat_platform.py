"""A stand-in for the WeChat platform: builds, signs and encrypts messages like the real one does.

Every test talks to the webhook through this helper (``post_text(openid, text) -> reply``), in
plain, compatible or safe mode, so tests exercise the same path a real Official Account does.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass
from xml.sax.saxutils import escape

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature  # noqa: F401  (re-exported for tests)

TOKEN = "test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx1234567890abcdef"
ACCOUNT = "gh_huitou_test"

_msg_ids = itertools.count(int(time.time()) * 1000)


def sign(token: str, timestamp: str, nonce: str) -> str:
    import hashlib

    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


@dataclass
class Reply:
    status: int
    body: str
    xml: dict | None  # decrypted, parsed reply (None for "success" or errors)

    @property
    def text(self) -> str | None:
        return self.xml.get("Content") if self.xml else None


class WeChatPlatform:
    """Posts messages to ``/wechat`` the way the platform does (mode: plain, compat or safe)."""

    def __init__(self, client, mode: str = "safe", token: str = TOKEN, aes_key: str = AES_KEY,
                 app_id: str = APP_ID):
        self.client = client
        # Signatures carry the sender's clock: a server in another process (HttpClient) checks them
        # against the machine's real clock, which time-machine does not move.
        self.clock = getattr(client, "clock", time.time)
        self.mode = mode
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, app_id)

    # -- building ---------------------------------------------------------------------------
    @staticmethod
    def text_xml(openid: str, text: str, msg_id: int | None = None, create_time: int | None = None) -> str:
        msg_id = next(_msg_ids) if msg_id is None else msg_id
        create_time = int(time.time()) if create_time is None else create_time
        return (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{escape(text)}</Content><MsgId>{msg_id}</MsgId></xml>"
        )

    @staticmethod
    def event_xml(openid: str, event: str, event_key: str | None = None, create_time: int | None = None) -> str:
        create_time = int(time.time()) if create_time is None else create_time
        key = f"<EventKey><![CDATA[{event_key}]]></EventKey>" if event_key is not None else ""
        return (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{key}</xml>"
        )

    @staticmethod
    def subscribe_msg_xml(openid: str, event: str, entries: list[dict[str, str]],
                          create_time: int | None = None) -> str:
        """A subscription-notice event (``subscribe_msg_popup_event``, ``…_change_event``,
        ``…_sent_event``) with one ``<List>`` per entry, as the platform pushes them."""
        create_time = int(time.time()) if create_time is None else create_time
        container = {"subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
                     "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
                     "subscribe_msg_sent_event": "SubscribeMsgSentEvent"}[event]
        lists = "".join("<List>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in entry.items()) + "</List>"
                        for entry in entries)
        return (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><{container}>{lists}</{container}></xml>"
        )

    @staticmethod
    def media_xml(openid: str, msg_type: str, fields: str, msg_id: int | None = None) -> str:
        msg_id = next(_msg_ids) if msg_id is None else msg_id
        return (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
            f"{fields}<MsgId>{msg_id}</MsgId></xml>"
        )

    # -- sending ----------------------------------------------------------------------------
    def envelope(self, xml: str, timestamp: str, nonce: str) -> tuple[str, dict]:
        """Body and query parameters for ``xml`` in this platform's mode."""
        params = {"timestamp": timestamp, "nonce": nonce, "signature": sign(self.token, timestamp, nonce),
                  "openid": "ignored"}
        if self.mode == "plain":
            return xml, params
        encrypted = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, timestamp))["xml"]
        params.update(encrypt_type="aes", msg_signature=encrypted["MsgSignature"])
        if self.mode == "compat":
            body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypted['Encrypt']}]]></Encrypt></xml>")
        else:
            body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted['Encrypt']}]]></Encrypt></xml>"
        return body, params

    def post_xml(self, xml: str, timestamp: str | None = None, nonce: str | None = None) -> Reply:
        timestamp = timestamp or str(int(self.clock()))
        nonce = nonce or secrets.token_hex(5)
        body, params = self.envelope(xml, timestamp, nonce)
        return self.post_raw(body, params)

    def post_raw(self, body: str | bytes, params: dict) -> Reply:
        response = self.client.post("/wechat", query_string=params, data=body, content_type="text/xml")
        return self.read_reply(response.status_code, response.get_data(as_text=True))

    def read_reply(self, status: int, body: str) -> Reply:
        if status != 200 or body == "success" or not body.strip():
            return Reply(status, body, None)
        if self.mode == "plain":
            return Reply(status, body, xmltodict.parse(body)["xml"])
        envelope = xmltodict.parse(body)["xml"]
        plain = self.crypto.decrypt_message(body, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
        return Reply(status, body, xmltodict.parse(plain)["xml"])

    def post_text(self, openid: str, text: str, **kwargs) -> Reply:
        return self.post_xml(self.text_xml(openid, text, **kwargs))

    def say(self, openid: str, text: str) -> str | None:
        """Send a text as ``openid`` and return the bot's reply text (asserting a 200)."""
        reply = self.post_text(openid, text)
        assert reply.status == 200, reply.body
        return reply.text

    def post_event(self, openid: str, event: str, event_key: str | None = None, **kwargs) -> Reply:
        return self.post_xml(self.event_xml(openid, event, event_key, **kwargs))

    def post_subscribe_msg(self, openid: str, event: str, entries: list[dict[str, str]], **kwargs) -> Reply:
        return self.post_xml(self.subscribe_msg_xml(openid, event, entries, **kwargs))
