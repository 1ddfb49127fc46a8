"""The simulator plays the WeChat platform: it builds, signs (and in safe mode encrypts) a message
and hands it to the app's own ``/wechat`` through an in-process WSGI call.

An HTTP request to itself would deadlock a single-threaded development server; the Flask test
client calls the WSGI app directly, so the message takes exactly the webhook's path (signature
check, decryption, parsing, dedupe, bot, passive reply) without a socket.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass
from xml.sax.saxutils import escape

import xmltodict
from flask import Flask, has_request_context, request
from wechatpy.crypto import WeChatCrypto

ACCOUNT = "gh_huitou_simulator"


@dataclass
class WebhookReply:
    """What the webhook answered: HTTP status, and the reply text when there was one."""

    status: int
    text: str | None
    encrypted: bool


def _sign(*parts: str) -> str:
    """The platform's query signature: sha1 of the sorted token, timestamp and nonce."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def new_msg_id() -> int:
    """A 64-bit MsgId like the platform's, unique enough for a simulator (time + randomness)."""
    return (time.time_ns() // 1000) * 1000 + secrets.randbelow(1000)


def text_xml(openid: str, text: str, created: dt.datetime, msg_id: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName>{escape(openid)}</FromUserName>"
        f"<CreateTime>{_epoch(created)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{escape(text)}</Content><MsgId>{msg_id}</MsgId></xml>"
    )


def event_xml(openid: str, event: str, created: dt.datetime) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName>{escape(openid)}</FromUserName>"
        f"<CreateTime>{_epoch(created)}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event></xml>"
    )


def _epoch(moment: dt.datetime) -> int:
    return int(moment.replace(tzinfo=dt.UTC).timestamp())


def _crypto(app: Flask) -> WeChatCrypto | None:
    cfg = app.config
    if not cfg.get("WECHAT_ENCODING_AES_KEY"):
        return None
    return WeChatCrypto(cfg["WECHAT_TOKEN"], cfg["WECHAT_ENCODING_AES_KEY"], cfg.get("WECHAT_APP_ID") or "")


def post_to_webhook(app: Flask, xml: str) -> WebhookReply:
    """Sign (and encrypt in safe mode) ``xml`` like the platform, POST it to ``/wechat`` in-process.

    The query timestamp is the real time: the webhook's replay window guards the transport,
    while the message's own CreateTime carries the simulated time.
    """
    token = app.config["WECHAT_TOKEN"]
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(5)
    params = {"timestamp": timestamp, "nonce": nonce, "signature": _sign(token, timestamp, nonce),
              "openid": "simulator"}
    crypto = _crypto(app)
    body = xml
    if crypto is not None:
        envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
        params.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
        body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>")
    # The simulator's own address stands in for the platform's Host, so links the bot builds from
    # the request (the seller's export link) point where the simulator is served.
    base_url = request.host_url if has_request_context() else None
    response = app.test_client().post("/wechat", query_string=params, data=body.encode(),
                                      content_type="text/xml", base_url=base_url)
    return WebhookReply(response.status_code, read_reply_text(app, response.get_data(as_text=True)),
                        crypto is not None)


def read_reply_text(app: Flask, body: str | None) -> str | None:
    """The text of a passive reply body as the webhook rendered it (decrypted in safe mode)."""
    if not body or body == "success" or not body.lstrip().startswith("<"):
        return None
    try:
        data = xmltodict.parse(body)["xml"]
        if "Encrypt" in data:
            crypto = _crypto(app)
            if crypto is None:
                return None
            plain = crypto.decrypt_message(body, data["MsgSignature"], data["TimeStamp"], data["Nonce"])
            data = xmltodict.parse(plain)["xml"]
    except Exception:  # a body we cannot read is shown as "no reply", never crashes the page
        return None
    return data.get("Content")
