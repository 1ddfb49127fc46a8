"""The WeCom (企业微信) callback at ``/wecom``: URL verification, encrypted events and messages.

WeCom always encrypts (``msg_signature`` over token, timestamp, nonce and the ciphertext). The
same rules as ``/wechat``: 403 for a bad signature or a timestamp outside the replay window, 413
past the body limit, 400 for a body that is not a message we can read (hostile XML included),
and every delivery processed once: the ``inbound_message`` row's UNIQUE ``msg_key`` is inserted in
the transaction of the work it causes, so a platform retry gets the stored response body.

Members chatting with the self-built app get the seller console (an encrypted passive reply);
customer-contact events link customers and queue the welcome, which is sent right after the
transaction commits (its ``WelcomeCode`` lives 20 seconds).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import create_reply

from bot import texts, wecom_events
from handlers.wechat_message import fields_of
from storage.db import get_db
from storage.models import InboundMessage, utcnow

log = logging.getLogger(__name__)

bp = Blueprint("wecom", __name__)

SUCCESS = "success"


def _crypto() -> WeChatCrypto:
    cfg = current_app.config
    if not (cfg.get("WECOM_TOKEN") and cfg.get("WECOM_ENCODING_AES_KEY") and cfg.get("WECOM_CORP_ID")):
        abort(404)  # WeCom is optional: without its settings there is no /wecom
    return WeChatCrypto(
        str(cfg["WECOM_TOKEN"]), str(cfg["WECOM_ENCODING_AES_KEY"]), str(cfg["WECOM_CORP_ID"])
    )


def _check_replay_window() -> None:
    try:
        age = abs(time.time() - int(request.args.get("timestamp", "")))
    except ValueError:
        abort(403)
    if age > float(current_app.config["WEBHOOK_REPLAY_WINDOW_SECONDS"]):
        abort(403)


@bp.get("/wecom")
def verify() -> Response:
    """URL verification: ``echostr`` is decrypted (after its ``msg_signature`` is checked) and echoed."""
    crypto = _crypto()
    _check_replay_window()
    try:
        echo = crypto.check_signature(
            request.args.get("msg_signature", ""),
            request.args.get("timestamp", ""),
            request.args.get("nonce", ""),
            request.args.get("echostr", ""),
        )
    except InvalidSignatureException:
        abort(403)
    except Exception:  # bad base64, wrong corp id inside: the sender's fault
        log.info("rejecting an undecryptable WeCom echostr", exc_info=True)
        abort(400)
    return Response(echo, mimetype="text/plain")


@bp.post("/wecom")
def receive() -> Response:
    started = time.monotonic()
    crypto = _crypto()
    _check_replay_window()
    limit = int(current_app.config["WEBHOOK_MAX_BODY_BYTES"])
    if request.content_length is not None and request.content_length > limit:
        abort(413)
    request.max_content_length = limit
    body = request.get_data(cache=False)
    try:
        xml = crypto.decrypt_message(
            body,
            request.args.get("msg_signature", ""),
            request.args.get("timestamp", ""),
            request.args.get("nonce", ""),
        )
    except InvalidSignatureException:
        abort(403)
    except InvalidCorpIdException:
        abort(400, "CorpID inside the envelope does not match")
    except Exception:  # malformed envelope, bad padding, hostile XML
        log.info("rejecting an undecryptable WeCom body", exc_info=True)
        abort(400)
    try:
        parsed = parse_message(xml)
        msg = WecomMessage(parsed, fields_of(xml))
    except (ExpatError, ValueError, KeyError, TypeError, AttributeError):
        abort(400, "unreadable message XML")
    if parsed is None or not getattr(parsed, "source", None):
        abort(400, "message without FromUserName")

    key = message_key(msg)
    database = get_db()
    try:
        stored = _stored_response(database, key)
        if stored is not None:
            return _response(stored)
        details = _prefetch(msg, database)
        response_body, welcome_id, now = _process_once(database, msg, key, details, crypto, started)
    except OperationalError:
        log.exception("database unavailable while handling WeCom %s", key)
        abort(503)
    if welcome_id is not None:
        # After the commit and at once: WeCom's WelcomeCode expires 20 seconds after the event.
        wecom_events.send_welcome(database, current_app.config, welcome_id, now)
    return _response(response_body)


@dataclass(frozen=True)
class WecomMessage:
    """wechatpy's parsed message (for the passive reply) with the fields as WeCom sent them."""

    parsed: Any
    fields: dict[str, Any]

    @property
    def source(self) -> str:
        return self.parsed.source

    @property
    def type(self) -> str:
        return self.parsed.type


def _type(msg: Any) -> str:
    # wechatpy has no classes for the customer-contact events: they parse as UnknownMessage.
    return str(msg.fields.get("MsgType") or msg.type).lower()


def _response(body: str) -> Response:
    return Response(body, mimetype="text/plain" if body == SUCCESS else "application/xml")


def message_key(msg: Any) -> str:
    """The dedupe key: MsgId for messages; sender, time, event and the contact change for events."""
    data = msg.fields
    if _type(msg) != "event" and data.get("MsgId"):
        key = f"wecom:msg:{data['MsgId']}"
    else:
        parts = [
            data.get(name) or ""
            for name in (
                "FromUserName",
                "CreateTime",
                "Event",
                "ChangeType",
                "UserID",
                "ExternalUserID",
                "MsgType",
            )
        ]
        key = "wecom:event:" + ":".join(str(p) for p in parts)
    return key if len(key) <= 128 else "wecom:sha1:" + hashlib.sha1(key.encode()).hexdigest()


def _stored_response(database: Any, key: str) -> str | None:
    with database.read_session() as session:
        return session.scalar(select(InboundMessage.response_body).where(InboundMessage.msg_key == key))


def _is_contact_add(msg: Any) -> bool:
    data = msg.fields
    return (
        _type(msg) == "event"
        and str(data.get("Event", "")).lower() == "change_external_contact"
        and str(data.get("ChangeType", "")).lower() in wecom_events.ADD_TYPES
    )


def _prefetch(msg: Any, database: Any) -> dict[str, Any] | None:
    """The new contact's details (unionid, the member's remark_mobiles), asked before the transaction."""
    from bot.delivery.errors import DeliveryError
    from bot.delivery.wecom_client import is_configured, make_client

    cfg = current_app.config
    if not _is_contact_add(msg) or not is_configured(cfg):
        return None
    try:
        return make_client(cfg, database, timeout=3.0).get_external_contact(
            str(msg.fields.get("ExternalUserID"))
        )
    except DeliveryError as exc:  # linking then goes by state only (or a new customer)
        log.warning("externalcontact/get failed: %s", exc)
        return None


def _real_clock(_session: Any = None) -> dt.datetime:
    return utcnow()


def _process_once(
    database: Any, msg: Any, key: str, details: dict[str, Any] | None, crypto: WeChatCrypto, started: float
) -> tuple[str, int | None, dt.datetime]:
    """Store and handle ``msg`` once; returns (response body, welcome outbox id, now)."""
    clock = current_app.extensions.get("huitou_clock", _real_clock)
    for fallback in (False, True):
        try:
            with database.session() as session:
                seen = session.scalar(
                    select(InboundMessage.response_body).where(InboundMessage.msg_key == key)
                )
                if seen is not None:
                    return seen, None, utcnow()
                now = clock(session)
                reply_text, welcome_id = (
                    (None, None) if fallback else _handle(session, msg, details, started, now)
                )
                if fallback and _type(msg) == "text":
                    reply_text = texts.SELLER_COMMAND_FAILED
                body = _render(reply_text, msg, crypto)
                session.add(
                    InboundMessage(
                        msg_key=key,
                        openid=wecom_events.member_openid(str(msg.source)),
                        msg_type=_type(msg)[:20],
                        event=(
                            str(msg.fields.get("ChangeType") or msg.fields.get("Event") or "")[:40] or None
                        ),
                        content=_describe(msg),
                        received_at=now,
                        response_body=body,
                    )
                )
                return body, welcome_id, now
        except IntegrityError:
            stored = _stored_response(database, key)
            if stored is not None:
                return stored, None, utcnow()
            if fallback:
                raise
            log.exception("storing WeCom %s broke a constraint; storing it with a safe answer", key)
        except OperationalError:
            raise
        except Exception:  # a bug must not lose the message (nor keep half of its effects)
            if fallback:
                raise
            log.exception("handling WeCom %s failed; storing it with a safe answer", key)
    raise AssertionError("unreachable")  # pragma: no cover


def _describe(msg: Any) -> str | None:
    data = msg.fields
    if _type(msg) == "text":
        return data.get("Content")
    if _type(msg) == "event":
        return f"[企业微信事件] {data.get('Event', '')} {data.get('ChangeType', '')}".strip()
    return f"[{_type(msg)}]"


def _handle(
    session: Any, msg: Any, details: dict[str, Any] | None, started: float, now: dt.datetime
) -> tuple[str | None, int | None]:
    cfg = current_app.config
    data = msg.fields
    if _type(msg) == "event":
        if str(data.get("Event", "")).lower() != "change_external_contact":
            return None, None
        event = wecom_events.ContactEvent.from_data(data)
        if not event.userid or not event.external_userid:
            return None, None
        if event.change_type in wecom_events.ADD_TYPES:
            return None, wecom_events.on_contact_added(session, event, details, cfg, now)
        if event.change_type in wecom_events.GONE_TYPES:
            wecom_events.on_contact_gone(session, event, cfg, now)
        return None, None
    userid = str(msg.source)
    if _type(msg) == "text":
        reply = wecom_events.handle_member_text(session, userid, str(data.get("Content") or ""), cfg, now)
    elif userid in wecom_events.seller_userids(cfg):
        reply = texts.WECOM_NON_TEXT
    else:
        reply = texts.WECOM_NOT_A_SELLER
    if reply and time.monotonic() - started > float(cfg["WEBHOOK_REPLY_BUDGET_SECONDS"]):
        # Too late for a passive reply: the app sends it (message/send has no window).
        wecom_events.notify_members(session, f"reply:{message_key(msg)}", reply, [userid], now)
        reply = None
    return reply, None


def _render(reply_text: str | None, msg: Any, crypto: WeChatCrypto) -> str:
    if not reply_text:
        return SUCCESS
    from handlers.wechat import sanitize_reply_text

    xml = create_reply(sanitize_reply_text(reply_text), msg.parsed).render()
    return crypto.encrypt_message(xml, secrets.token_hex(8), str(int(time.time())))
