"""The WeChat webhook at ``/wechat``: verification, receipt, exactly-once processing, passive reply.

Plain, compatible and safe (AES) modes, all through wechatpy. Each delivery is processed once:
the inbound row's UNIQUE ``msg_key`` is inserted in the same transaction as the work it causes
(last, together with the response body), so a platform retry finds the committed row and gets
the stored response body, byte for byte, and a duplicate racing in another worker fails on the
constraint at commit, is rolled back whole and answers with the winner's stored body.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from typing import Any
from xml.parsers.expat import ExpatError

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, OperationalError
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bot import inbound as bot_inbound
from bot import texts
from storage.db import get_db
from storage.models import InboundMessage, utcnow
from storage.outbox import enqueue

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__)

SUCCESS = "success"


class BadRequest(Exception):
    """The body is not a message we can accept (→ 400)."""


def _verify_query_signature() -> None:
    cfg = current_app.config
    signature = request.args.get("signature", "")
    timestamp = request.args.get("timestamp", "")
    nonce = request.args.get("nonce", "")
    try:
        check_signature(cfg["WECHAT_TOKEN"], signature, timestamp, nonce)
    except InvalidSignatureException:
        abort(403)
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        abort(403)
    if age > float(cfg["WEBHOOK_REPLAY_WINDOW_SECONDS"]):
        abort(403)


def _crypto() -> WeChatCrypto | None:
    cfg = current_app.config
    if not cfg.get("WECHAT_ENCODING_AES_KEY"):
        return None
    return WeChatCrypto(cfg["WECHAT_TOKEN"], cfg["WECHAT_ENCODING_AES_KEY"], cfg.get("WECHAT_APP_ID") or "")


@bp.get("/wechat")
def verify() -> Response:
    """URL verification: echo ``echostr`` only for a valid signature."""
    _verify_query_signature()
    return Response(request.args.get("echostr", ""), mimetype="text/plain")


@bp.post("/wechat")
def receive() -> Response:
    started = time.monotonic()
    _verify_query_signature()
    limit = int(current_app.config["WEBHOOK_MAX_BODY_BYTES"])
    if request.content_length is not None and request.content_length > limit:
        abort(413)
    request.max_content_length = limit
    body = request.get_data(cache=False)  # raises 413 past the limit for chunked bodies too

    encrypted = request.args.get("encrypt_type", "raw").lower() == "aes"
    crypto = _crypto()
    if encrypted:
        if crypto is None:
            abort(400, "safe mode message but WECHAT_ENCODING_AES_KEY is not configured")
        try:
            xml = crypto.decrypt_message(
                body, request.args.get("msg_signature", ""), request.args.get("timestamp", ""),
                request.args.get("nonce", ""),
            )
        except InvalidSignatureException:
            abort(403)
        except InvalidAppIdException:
            abort(400, "AppID inside the envelope does not match")
        except Exception:  # malformed envelope, bad base64/padding, hostile XML: all the sender's fault
            log.info("rejecting undecryptable safe-mode body", exc_info=True)
            abort(400)
    else:
        xml = body

    try:
        msg = _parse(xml)
    except BadRequest as exc:
        abort(400, str(exc))

    try:
        reply_text, response_body = _process_once(msg, encrypted, crypto, started)
    except OperationalError:
        # The database is unavailable: tell the customer to resend, store (and claim) nothing.
        log.exception("database unavailable while handling %s", bot_inbound.message_key(msg))
        return _render(texts.SYSTEM_BUSY, msg, encrypted, crypto)
    return Response(response_body, mimetype="application/xml" if response_body != SUCCESS else "text/plain")


def _parse(xml: bytes | str) -> Any:
    try:
        msg = parse_message(xml)
    except (ExpatError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadRequest(f"unreadable message XML: {type(exc).__name__}") from exc
    if not getattr(msg, "source", None):
        raise BadRequest("message without FromUserName")
    return msg


class _ReplyFailed(Exception):
    """Working out the reply raised: the message is stored again with a safe answer."""


_SEEN = select(InboundMessage.response_body).where(InboundMessage.msg_key == bindparam("key"))


def _process_once(msg: Any, encrypted: bool, crypto: WeChatCrypto | None, started: float) -> tuple[str | None, str]:
    """Store and answer ``msg`` unless it was seen before; returns (reply text, response body).

    The happy path is one transaction without savepoints. If the conversation code raises (a bug,
    not the database), that transaction is rolled back and a second one stores the message with
    a safe answer, so a message is never lost and never half-processed.
    """
    key = bot_inbound.message_key(msg)
    database = get_db()
    cfg = current_app.config
    # The app's clock seam (called with the session): real UTC, or the simulator's clock (never in
    # production mode).
    clock = current_app.extensions.get("huitou_clock", _real_clock)
    try:
        return _store_and_answer(database, msg, key, encrypted, crypto, started, clock, cfg, fallback=False)
    except _ReplyFailed:
        pass
    except IntegrityError:
        stored = _stored_response(database, key)
        if stored is not None:
            return None, stored  # a duplicate delivery committed first (another worker): answer as it did
        log.exception("storing %s broke a constraint; storing it with a safe answer", key)
    try:
        return _store_and_answer(database, msg, key, encrypted, crypto, started, clock, cfg, fallback=True)
    except IntegrityError:
        stored = _stored_response(database, key)
        if stored is None:
            raise
        return None, stored


def _real_clock(_session: Any = None) -> dt.datetime:
    return utcnow()


def _stored_response(database: Any, key: str) -> str | None:
    with database.read_session() as session:
        return session.scalar(_SEEN, {"key": key})


def _store_and_answer(database: Any, msg: Any, key: str, encrypted: bool, crypto: WeChatCrypto | None,
                      started: float, clock: Any, cfg: Any, *, fallback: bool) -> tuple[str | None, str]:
    with database.session() as session:
        seen = session.scalar(_SEEN, {"key": key})
        if seen is not None:
            return None, seen
        now = clock(session)
        inbound, customer = bot_inbound.record_inbound(session, msg, key, now)
        if fallback:
            reply_text = bot_inbound.fallback_reply(msg, customer, cfg)
        else:
            try:
                reply_text = bot_inbound.reply_for(session, msg, inbound, customer, cfg, now)
            except OperationalError:
                raise
            except Exception as exc:  # a bug must not lose the message (nor keep half of its effects)
                log.exception("handling %s failed; storing it with a safe answer", key)
                raise _ReplyFailed from exc
        if reply_text and time.monotonic() - started > float(cfg["WEBHOOK_REPLY_BUDGET_SECONDS"]):
            # Too late for a passive reply (the platform gives up at 5 s): send it via the outbox.
            enqueue(session, dedupe_key=f"reply:{key}", kind="reply", text=reply_text,
                    customer_id=customer.id, transactional=True, now=now)
            reply_text = None
        response_body = _render(reply_text, msg, encrypted, crypto).get_data(as_text=True)
        inbound.response_body = response_body
        # Inserted at commit; a duplicate that committed first makes the commit fail here.
        bot_inbound.finish_inbound(session, inbound, customer, now)
        return reply_text, response_body


def sanitize_reply_text(text: str) -> str:
    """Make text safe inside wechatpy's CDATA section (it does not escape ``]]>``)."""
    return text.replace("]]>", "]]]]><![CDATA[>")


def _render(reply_text: str | None, msg: Any, encrypted: bool, crypto: WeChatCrypto | None) -> Response:
    if not reply_text:
        return Response(SUCCESS, mimetype="text/plain")
    xml = create_reply(sanitize_reply_text(reply_text), msg).render()
    if encrypted and crypto is not None:
        xml = crypto.encrypt_message(xml, secrets.token_hex(8), str(int(time.time())))
    return Response(xml, mimetype="application/xml")
