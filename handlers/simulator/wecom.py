"""The simulator's WeCom mode: a customer adds the seller on WeCom, the seller taps "send" on mass-send tasks.

Switching the mode on gives the app the simulator's own WeCom credentials
(``bot.delivery.wecom_sandbox``), so the WeCom client is the in-process sandbox; it is refused when
real WeCom settings are configured. The customer's add is WeCom's ``change_external_contact`` /
``add_external_contact`` callback, encrypted with wechatpy's enterprise crypto and posted to the
real ``/wecom`` in-process; the member's tap is recorded in the sandbox and read back by the
channel's next poll.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

import xmltodict
from flask import Flask
from sqlalchemy import func, select
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.delivery import wecom_sandbox as sandbox
from bot.wecom_events import customer_state
from storage.db import Database
from storage.models import Customer, WecomTask, WecomTaskRecipient

SETTINGS = {
    "WECOM_CORP_ID": sandbox.CORP_ID,
    "WECOM_SECRET": sandbox.SECRET,
    "WECOM_AGENT_ID": sandbox.AGENT_ID,
    "WECOM_TOKEN": sandbox.TOKEN,
    "WECOM_ENCODING_AES_KEY": sandbox.AES_KEY,
    "SELLER_WECOM_USERIDS": [sandbox.MEMBER],
}


def mode_on(app: Flask) -> bool:
    return sandbox.is_sandbox(app.config)


def enable(app: Flask) -> bool:
    """Switch the WeCom mode on; False when real WeCom settings are configured (never overwritten)."""
    if app.config.get("WECOM_CORP_ID") and not mode_on(app):
        return False
    app.config.update(SETTINGS)
    return True


def external_userid(customer_id: int) -> str:
    return f"wm_sim_{customer_id}"


def contact_added_xml(customer: Customer, secret_key: str, create_time: int) -> str:
    """The event WeCom pushes when the customer adds the member through their personal 「联系我」 QR."""
    return (
        f"<xml><ToUserName><![CDATA[{sandbox.CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        f"<UserID><![CDATA[{sandbox.MEMBER}]]></UserID>"
        f"<ExternalUserID><![CDATA[{external_userid(customer.id)}]]></ExternalUserID>"
        f"<State><![CDATA[{customer_state(customer.id, secret_key)}]]></State>"
        f"<WelcomeCode><![CDATA[{secrets.token_hex(16)}]]></WelcomeCode></xml>"
    )


def post_callback(app: Flask, xml: str) -> int:
    """Encrypt and sign ``xml`` as WeCom does and POST it to ``/wecom`` in-process; the HTTP status."""
    crypto = WeChatCrypto(sandbox.TOKEN, sandbox.AES_KEY, sandbox.CORP_ID)
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    encrypted = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
    body = (
        f"<xml><ToUserName><![CDATA[{sandbox.CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted['Encrypt']}]]></Encrypt>"
        f"<AgentID>{sandbox.AGENT_ID}</AgentID></xml>"
    )
    params = {"msg_signature": encrypted["MsgSignature"], "timestamp": timestamp, "nonce": nonce}
    response = app.test_client().post("/wecom", query_string=params, data=body, content_type="text/xml")
    return response.status_code


def tasks_to_confirm(database: Database) -> list[dict[str, Any]]:
    """Open tasks the member has not tapped yet, oldest first: what the WeCom app's 群发助手 lists."""
    with database.read_session() as session:
        rows = session.execute(
            select(WecomTask, func.count(WecomTaskRecipient.id))
            .outerjoin(WecomTaskRecipient, WecomTaskRecipient.task_id == WecomTask.id)
            .where(WecomTask.status == "open", WecomTask.confirmed_at.is_(None), WecomTask.msgid.is_not(None))
            .group_by(WecomTask.id)
            .order_by(WecomTask.id)
        ).all()
        return [
            {"id": t.id, "text": t.text, "customers": int(n), "created_at": t.created_at.isoformat()}
            for t, n in rows
        ]


def confirm_all(database: Database, now: dt.datetime) -> int:
    """One tap: the member sends every task waiting; returns how many."""
    return sum(sandbox.confirm(database, task["id"], now) for task in tasks_to_confirm(database))
