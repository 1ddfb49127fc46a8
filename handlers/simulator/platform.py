"""A stand-in for the WeChat platform: builds, signs and (in safe or compatible mode) encrypts
messages like the real one, posts them to ``/wechat`` and reads the passive reply.

One stand-in serves the simulator and the test suite (``tests/wechat_platform.py`` gives it the
tests' credentials). The simulator posts through an in-process WSGI call (Flask's test client):
an HTTP request to itself would deadlock a single-threaded development server, and the test
client takes exactly the webhook's path (signature check, decryption, parsing, dedupe, bot,
passive reply) without a socket.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import xmltodict
from flask import Flask, has_request_context, request
from wechatpy.crypto import WeChatCrypto

SIMULATOR_ACCOUNT = "gh_huitou_simulator"

_msg_ids = itertools.count(int(time.time()) * 1000)


def sign(token: str, timestamp: str, nonce: str) -> str:
    """The platform's query signature: sha1 of the sorted token, timestamp and nonce."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def new_msg_id() -> int:
    """A 64-bit MsgId like the platform's, unique across restarts (time + randomness)."""
    return (time.time_ns() // 1000) * 1000 + secrets.randbelow(1000)


def epoch(moment: dt.datetime) -> int:
    """A naive-UTC (or aware) moment as the platform's CreateTime."""
    return int((moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp())


@dataclass
class Reply:
    status: int
    body: str
    xml: dict | None  # decrypted, parsed reply (None for "success" or errors)

    @property
    def text(self) -> str | None:
        return self.xml.get("Content") if self.xml else None


class WeChatPlatform:
    """Posts messages to ``/wechat`` the way the platform does (mode: plain, compat or safe).

    ``client`` is anything with Flask's test-client ``post`` (the app's own test client, or an
    HTTP client for a server in another process). Its ``clock`` attribute, when it has one, signs
    the query timestamp: a server in another process checks it against the machine's real clock.
    """

    def __init__(
        self,
        client,
        mode: str = "safe",
        *,
        token: str,
        aes_key: str | None = None,
        app_id: str = "",
        account: str = SIMULATOR_ACCOUNT,
        base_url: str | None = None,
    ):
        if mode != "plain" and not aes_key:
            raise ValueError("safe and compatible modes need an EncodingAESKey")
        self.client = client
        self.clock: Callable[[], float] = getattr(client, "clock", time.time)
        self.mode = mode
        self.token = token
        self.account = account
        self.base_url = base_url
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None

    # -- building ---------------------------------------------------------------------------
    def text_xml(
        self, openid: str, text: str, msg_id: int | None = None, create_time: int | None = None
    ) -> str:
        msg_id = next(_msg_ids) if msg_id is None else msg_id
        create_time = int(time.time()) if create_time is None else create_time
        return (
            f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{escape(text)}</Content><MsgId>{msg_id}</MsgId></xml>"
        )

    def event_xml(
        self, openid: str, event: str, event_key: str | None = None, create_time: int | None = None
    ) -> str:
        create_time = int(time.time()) if create_time is None else create_time
        key = f"<EventKey><![CDATA[{event_key}]]></EventKey>" if event_key is not None else ""
        return (
            f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{key}</xml>"
        )

    def subscribe_msg_xml(
        self, openid: str, event: str, entries: list[dict[str, str]], create_time: int | None = None
    ) -> str:
        """A subscription-notice event (``subscribe_msg_popup_event``, ``…_change_event``,
        ``…_sent_event``) with one ``<List>`` per entry, as the platform pushes them."""
        create_time = int(time.time()) if create_time is None else create_time
        container = {
            "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
            "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
            "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
        }[event]
        lists = "".join(
            "<List>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in entry.items()) + "</List>"
            for entry in entries
        )
        return (
            f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><{container}>{lists}</{container}></xml>"
        )

    def media_xml(self, openid: str, msg_type: str, fields: str, msg_id: int | None = None) -> str:
        msg_id = next(_msg_ids) if msg_id is None else msg_id
        return (
            f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
            f"{fields}<MsgId>{msg_id}</MsgId></xml>"
        )

    # -- sending ----------------------------------------------------------------------------
    def envelope(self, xml: str, timestamp: str, nonce: str) -> tuple[str, dict]:
        """Body and query parameters for ``xml`` in this platform's mode."""
        params = {
            "timestamp": timestamp,
            "nonce": nonce,
            "signature": sign(self.token, timestamp, nonce),
            "openid": "ignored",
        }
        if self.mode == "plain":
            return xml, params
        encrypted = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, timestamp))["xml"]
        params.update(encrypt_type="aes", msg_signature=encrypted["MsgSignature"])
        if self.mode == "compat":
            body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypted['Encrypt']}]]></Encrypt></xml>")
        else:
            body = (
                f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypted['Encrypt']}]]></Encrypt></xml>"
            )
        return body, params

    def post_xml(self, xml: str, timestamp: str | None = None, nonce: str | None = None) -> Reply:
        timestamp = timestamp or str(int(self.clock()))
        nonce = nonce or secrets.token_hex(5)
        body, params = self.envelope(xml, timestamp, nonce)
        return self.post_raw(body, params)

    def post_raw(self, body: str | bytes, params: dict) -> Reply:
        extra: dict[str, Any] = {"base_url": self.base_url} if self.base_url else {}
        response = self.client.post(
            "/wechat", query_string=params, data=body, content_type="text/xml", **extra
        )
        return self.read_reply(response.status_code, response.get_data(as_text=True))

    def read_reply(self, status: int, body: str) -> Reply:
        if status != 200 or body == "success" or not body.strip():
            return Reply(status, body, None)
        if self.mode == "plain":
            return Reply(status, body, xmltodict.parse(body)["xml"])
        envelope = xmltodict.parse(body)["xml"]
        plain = self.crypto.decrypt_message(
            body, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
        )
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


# --- the simulator's use of it ------------------------------------------------------------------


@dataclass
class WebhookReply:
    """What the webhook answered: HTTP status, and the reply text when there was one."""

    status: int
    text: str | None
    encrypted: bool


def app_platform(app: Flask) -> WeChatPlatform:
    """The platform as the app is configured: safe mode when an EncodingAESKey is set, else plain.

    Posts in-process; the simulator's own address stands in for the platform's Host, so links the
    bot builds from the request (the seller's export link) point where the simulator is served.
    """
    cfg = app.config
    aes_key = cfg.get("WECHAT_ENCODING_AES_KEY")
    return WeChatPlatform(
        app.test_client(),
        "safe" if aes_key else "plain",
        token=cfg["WECHAT_TOKEN"],
        aes_key=aes_key,
        app_id=cfg.get("WECHAT_APP_ID") or "",
        base_url=request.host_url if has_request_context() else None,
    )


def post_to_webhook(app: Flask, xml: str) -> WebhookReply:
    """Sign (and encrypt in safe mode) ``xml`` like the platform, POST it to ``/wechat`` in-process.

    The query timestamp is the real time: the webhook's replay window guards the transport,
    while the message's own CreateTime carries the simulated time.
    """
    platform = app_platform(app)
    reply = platform.post_xml(xml)
    return WebhookReply(reply.status, reply.text, platform.mode != "plain")


def read_reply_text(app: Flask, body: str | None) -> str | None:
    """The text of a passive reply body as the webhook rendered it (decrypted in safe mode)."""
    if not body or body == "success" or not body.lstrip().startswith("<"):
        return None
    try:
        return app_platform(app).read_reply(200, body).text
    except Exception:  # a body we cannot read is shown as "no reply", never crashes the page
        return None
