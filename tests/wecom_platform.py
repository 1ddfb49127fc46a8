"""A stand-in for WeCom's callback side: builds and encrypts events and messages like WeCom does.

Posts to ``/wecom`` through the app's test client with ``msg_signature``/``timestamp``/``nonce``,
encrypted with wechatpy's enterprise crypto, and decrypts the passive replies.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import time
from dataclasses import dataclass
from xml.sax.saxutils import escape

import xmltodict
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto

CORP_ID = "ww1234567890abcdef"
AGENT_ID = 1000002
TOKEN = "wecom-test-token"
AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
SECRET = "wecom-test-secret"
SELLER_USERID = "ShopOwner"

_msg_ids = itertools.count(int(time.time()) * 1000 + 7)


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


@dataclass
class Reply:
    status: int
    body: str
    xml: dict | None

    @property
    def text(self) -> str | None:
        return self.xml.get("Content") if self.xml else None


class WeComPlatform:
    def __init__(self, client, token: str = TOKEN, aes_key: str = AES_KEY, corp_id: str = CORP_ID):
        self.client = client
        self.clock = getattr(client, "clock", time.time)
        self.token, self.aes_key, self.corp_id = token, aes_key, corp_id
        self.crypto = WeChatCrypto(token, aes_key, corp_id)

    # -- building ---------------------------------------------------------------------------
    def text_xml(self, userid: str, text: str, msg_id: int | None = None) -> str:
        msg_id = next(_msg_ids) if msg_id is None else msg_id
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{userid}]]></FromUserName><CreateTime>{int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content>{escape(text)}</Content><MsgId>{msg_id}</MsgId>"
            f"<AgentID>{AGENT_ID}</AgentID></xml>"
        )

    def contact_xml(
        self,
        change_type: str,
        userid: str,
        external_userid: str,
        *,
        state: str | None = None,
        welcome_code: str | None = None,
        create_time: int | None = None,
    ) -> str:
        create_time = int(time.time()) if create_time is None else create_time
        extra = f"<State><![CDATA[{state}]]></State>" if state is not None else ""
        extra += f"<WelcomeCode><![CDATA[{welcome_code}]]></WelcomeCode>" if welcome_code else ""
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change_type}]]></ChangeType>"
            f"<UserID><![CDATA[{userid}]]></UserID><ExternalUserID><![CDATA[{external_userid}]]></ExternalUserID>"
            f"{extra}</xml>"
        )

    # -- sending ----------------------------------------------------------------------------
    def envelope(self, xml: str, timestamp: str, nonce: str) -> tuple[str, dict]:
        encrypted = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, timestamp))["xml"]
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted['Encrypt']}]]></Encrypt><AgentID>{AGENT_ID}</AgentID></xml>"
        )
        return body, {"msg_signature": encrypted["MsgSignature"], "timestamp": timestamp, "nonce": nonce}

    def post_xml(self, xml: str, timestamp: str | None = None) -> Reply:
        timestamp = timestamp or str(int(self.clock()))
        body, params = self.envelope(xml, timestamp, secrets.token_hex(5))
        return self.post_raw(body, params)

    def post_raw(self, body: str | bytes, params: dict) -> Reply:
        response = self.client.post("/wecom", query_string=params, data=body, content_type="text/xml")
        return self.read_reply(response.status_code, response.get_data(as_text=True))

    def read_reply(self, status: int, body: str) -> Reply:
        if status != 200 or body == "success" or not body.strip():
            return Reply(status, body, None)
        envelope = xmltodict.parse(body)["xml"]
        plain = self.crypto.decrypt_message(
            body, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
        )
        return Reply(status, body, xmltodict.parse(plain)["xml"])

    def say(self, userid: str, text: str) -> str | None:
        reply = self.post_xml(self.text_xml(userid, text))
        assert reply.status == 200, reply.body
        return reply.text

    def contact_event(self, change_type: str, userid: str, external_userid: str, **kwargs) -> Reply:
        return self.post_xml(self.contact_xml(change_type, userid, external_userid, **kwargs))

    def verify_url(self, echo: str, *, timestamp: str | None = None, bad_signature: bool = False):
        """GET /wecom the way the admin console's "save" does; returns the response."""
        timestamp = timestamp or str(int(self.clock()))
        nonce = secrets.token_hex(5)
        key = base64.b64decode(self.aes_key + "=")
        echostr = PrpCrypto(key).encrypt(echo, self.corp_id)
        echostr = echostr.decode() if isinstance(echostr, bytes) else echostr
        sig = signature(self.token, timestamp, nonce, echostr)
        if bad_signature:
            sig = "0" * 40
        return self.client.get(
            "/wecom",
            query_string={"msg_signature": sig, "timestamp": timestamp, "nonce": nonce, "echostr": echostr},
        )
