"""The WeChat webhook at ``/wechat``: verification, receipt, exactly-once processing, passive reply.

Plain, compatible and safe (AES) modes, all through wechatpy. Each delivery is processed once:
the inbound row's UNIQUE ``msg_key`` is inserted in the same transaction as the work it causes
(last, together with the response body), so a platform retry finds the committed row and gets
the stored response body, byte for byte, and a duplicate racing in another worker fails on the
constraint at commit, is rolled back whole and answers with the winner's stored body.

One customer's messages are worked on one at a time: the transaction first takes the customer's
lock (``storage.customers.lock_customer``), so a second message sees everything the first did.

The passive reply and the outbox (``reply:<key>``), exactly one of them reaches the customer:

- the reply-time budget (``WEBHOOK_REPLY_BUDGET_SECONDS``) runs from the platform's signed
  ``timestamp`` (when WeChat sent the request: time queued in front of a busy worker counts) or the
  worker's start, whichever is earlier. Past it the answer is ``success`` and the reply is queued
  in the outbox, due at once;
- within it, the reply is queued in the same transaction too, but due only when the platform has
  given up on the request and its retries (``WEBHOOK_REPLY_FALLBACK_SECONDS`` after the platform
  sent it), and the passive reply is rendered. Once the WSGI server has written the body (the
  response is a one-chunk iterator; the code after the chunk runs only when the server asks for
  the next one, i.e. after the write returned, never when it failed), the queued copy is withdrawn
  with a conditional UPDATE (``pending`` → ``cancelled``). A worker killed or stuck between commit
  and write leaves the copy pending, and the drain sends it. A body written later than the
  platform waits (5 s, plus the timestamp's one-second resolution) is not withdrawn either: the
  platform dropped it. The one window for both is a withdrawal that cannot commit (the database gone
  in the milliseconds after the write); it is logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bot import inbound as bot_inbound
from bot import texts
from bot.message import Incoming
from handlers import wechat_message
from handlers.wechat_xml import UnsafeXml, check_envelope, check_message
from storage.customers import lock_customer
from storage.db import Database, get_db
from storage.models import InboundMessage, OutboxMessage, utcnow
from storage.outbox import enqueue

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__)

SUCCESS = "success"

# The platform waits 5 s for a passive reply; its ``timestamp`` has a resolution of one second.
PLATFORM_WAIT_SECONDS = 5.0
TIMESTAMP_RESOLUTION_SECONDS = 1.0
DEFAULT_REPLY_FALLBACK_SECONDS = 20.0


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
    arrived = _arrival(started)
    limit = int(current_app.config["WEBHOOK_MAX_BODY_BYTES"])
    if request.content_length is not None and request.content_length > limit:
        abort(413)
    # A streamed (chunked) body is cut at max_content_length without an error: read one byte more
    # than allowed, so a body past the limit shows as one.
    request.max_content_length = limit + 1
    body = request.get_data(cache=False)
    if len(body) > limit:
        abort(413)

    encrypted = request.args.get("encrypt_type", "raw").lower() == "aes"
    crypto = _crypto()
    if encrypted:
        if crypto is None:
            abort(400, "safe mode message but WECHAT_ENCODING_AES_KEY is not configured")
        try:
            check_envelope(body)
        except UnsafeXml as exc:
            abort(400, f"refused envelope: {exc}")
        try:
            xml = crypto.decrypt_message(
                body,
                request.args.get("msg_signature", ""),
                request.args.get("timestamp", ""),
                request.args.get("nonce", ""),
            )
        except InvalidSignatureException:
            abort(403)
        except InvalidAppIdException:
            abort(400, "AppID inside the envelope does not match")
        except Exception as exc:  # malformed envelope, bad base64/padding: all the sender's fault
            log.info("rejecting undecryptable safe-mode body (%s)", type(exc).__name__)
            abort(400)
    else:
        xml = body

    try:
        msg, incoming = _parse(xml)
    except BadRequest as exc:
        abort(400, str(exc))

    try:
        answer = _process_once(msg, incoming, encrypted, crypto, arrived)
    except OperationalError:
        # The database is unavailable: tell the customer to resend, store (and claim) nothing.
        # (the engine hides statement parameters, so the traceback names no customer)
        log.warning("database unavailable while handling %s", log_ref(incoming.key), exc_info=True)
        return _render(texts.SYSTEM_BUSY, msg, encrypted, crypto)
    return _respond(answer)


def _arrival(started: float) -> float:
    """When the platform sent this request, on the monotonic clock: its signed ``timestamp`` (whole
    seconds of the platform's clock, so up to a second early) or the worker's start, whichever is
    earlier. A timestamp ahead of our clock counts as "now"; one further back than the replay window
    was refused already."""
    try:
        queued = time.time() - int(request.args.get("timestamp", ""))
    except ValueError:
        return started
    queued = min(max(queued, 0.0), float(current_app.config["WEBHOOK_REPLAY_WINDOW_SECONDS"]))
    return min(started, time.monotonic() - queued)


def _parse(xml: bytes | str) -> tuple[Any, Incoming]:
    """wechatpy's message (for the passive reply) and the conversation's :class:`Incoming`."""
    try:
        check_message(xml)
    except UnsafeXml as exc:
        raise BadRequest(f"refused message: {exc}") from None
    try:
        msg = parse_message(xml)
        fields = wechat_message.fields_of(xml)
    except (ExpatError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadRequest(f"unreadable message XML: {type(exc).__name__}") from None
    if not getattr(msg, "source", None):
        raise BadRequest("message without FromUserName")
    return msg, wechat_message.incoming(msg, fields)


def log_ref(key: str) -> str:
    """A dedupe key fit for logs: MsgIds as they are, keys naming the sender's openid hashed."""
    if re.fullmatch(r"msg:\d+", key):
        return key
    return f"{key.split(':', 1)[0]}#{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class _ReplyFailed(Exception):
    """Working out the reply raised: the message is stored again with a safe answer."""


@dataclass(frozen=True)
class _Answer:
    """What the platform gets: ``body`` (in the request's mode), and whether it is a passive reply
    whose outbox copy is withdrawn once the body was written in time."""

    body: str
    key: str
    passive: bool
    arrived: float
    database: Database


_SEEN = select(InboundMessage.response_body).where(InboundMessage.msg_key == bindparam("key"))
# Conditional on "pending": a copy a drain has claimed (only possible once the platform gave up) is
# not touched. Deleted rather than marked cancelled: the outbox stays the list of messages sent
# through the API (the seller's figures and the drain read it), not one extra row per message;
# the passive reply itself is kept in inbound_message.response_body.
_WITHDRAW = delete(OutboxMessage).where(
    OutboxMessage.dedupe_key == bindparam("dedupe"), OutboxMessage.status == "pending"
)


def _process_once(
    msg: Any, incoming: Incoming, encrypted: bool, crypto: WeChatCrypto | None, arrived: float
) -> _Answer:
    """Store and answer ``msg`` unless it was seen before.

    The happy path is one transaction without savepoints. If the conversation code raises (a bug,
    not the database), that transaction is rolled back and a second one stores the message with
    a safe answer, so a message is never lost and never half-processed.
    """
    key = incoming.key
    database = get_db()
    cfg = current_app.config
    # The app's clock seam (called with the session): real UTC, or the simulator's clock (never in
    # production mode).
    clock = current_app.extensions.get("huitou_clock", _real_clock)

    def answer(stored: str, seen: bool) -> _Answer:
        body = _for_mode(stored, encrypted, crypto) if seen else stored
        return _Answer(body, key, body != SUCCESS, arrived, database)

    try:
        return answer(
            *_store_and_answer(
                database, msg, incoming, encrypted, crypto, arrived, clock, cfg, fallback=False
            )
        )
    except _ReplyFailed:
        pass
    except IntegrityError:
        stored = _stored_response(database, key)
        if stored is not None:
            # a duplicate delivery committed first (another worker): answer as it did
            return answer(stored, True)
        log.error("storing %s broke a constraint; storing it with a safe answer", log_ref(key))
    try:
        return answer(
            *_store_and_answer(database, msg, incoming, encrypted, crypto, arrived, clock, cfg, fallback=True)
        )
    except IntegrityError:
        stored = _stored_response(database, key)
        if stored is None:
            raise
        return answer(stored, True)


def _real_clock(_session: Any = None) -> dt.datetime:
    return utcnow()


def _stored_response(database: Any, key: str) -> str | None:
    with database.read_session() as session:
        return session.scalar(_SEEN, {"key": key})


def _store_and_answer(
    database: Any,
    msg: Any,
    incoming: Incoming,
    encrypted: bool,
    crypto: WeChatCrypto | None,
    arrived: float,
    clock: Any,
    cfg: Any,
    *,
    fallback: bool,
) -> tuple[str, bool]:
    """``(response body, seen)``: the stored body of a message seen before, or the new one's."""
    # The pure part first, outside the write lock (re-checked against the catalogue inside).
    understanding = None if fallback else bot_inbound.understand_early(incoming)
    with database.session() as session:
        key = incoming.key
        lock_customer(session, incoming.sender)  # first: one customer's messages one after the other
        seen = session.scalar(_SEEN, {"key": key})
        if seen is not None:
            return seen, True
        now = clock(session)
        inbound, customer = bot_inbound.record_inbound(session, incoming, now)
        if fallback:
            reply_text = bot_inbound.fallback_reply(incoming, customer, cfg)
        else:
            try:
                reply_text = bot_inbound.reply_for(
                    session, incoming, inbound, customer, cfg, now, understanding
                )
            except OperationalError:
                raise
            except Exception as exc:  # a bug must not lose the message (nor keep half of its effects)
                log.exception("handling %s failed; storing it with a safe answer", log_ref(key))
                raise _ReplyFailed from exc
        if reply_text and customer is not None:
            elapsed = time.monotonic() - arrived
            if elapsed > float(cfg["WEBHOOK_REPLY_BUDGET_SECONDS"]):
                # Too late for a passive reply (the platform gives up at 5 s): the outbox sends it now.
                not_before = None
                reply_for_platform = None
            else:
                # The outbox's copy, due once the platform has given up on this request and its
                # retries; withdrawn when the passive reply below was written in time.
                fallback_after = float(
                    cfg.get("WEBHOOK_REPLY_FALLBACK_SECONDS", DEFAULT_REPLY_FALLBACK_SECONDS)
                )
                not_before = now + dt.timedelta(seconds=max(fallback_after - elapsed, 0.0))
                reply_for_platform = reply_text
            enqueue(
                session,
                dedupe_key=f"reply:{key}",
                kind="reply",
                text=reply_text,
                customer_id=customer.id,
                transactional=True,
                now=now,
                not_before=not_before,
            )
            reply_text = reply_for_platform
        response_body = _render(reply_text, msg, encrypted, crypto).get_data(as_text=True)
        inbound.response_body = response_body
        # Inserted at commit; a duplicate that committed first makes the commit fail here.
        bot_inbound.finish_inbound(session, incoming, inbound, customer, now)
        return response_body, False


def _respond(answer: _Answer) -> Response:
    mimetype = "text/plain" if answer.body == SUCCESS else "application/xml"
    if not answer.passive:
        return Response(answer.body, mimetype=mimetype)
    data = answer.body.encode()

    def body_then_withdraw() -> Iterator[bytes]:
        yield data
        # Only reached when the server asks for the next chunk, i.e. after it wrote this one.
        _withdraw_outbox_copy(answer)

    response = Response(body_then_withdraw(), mimetype=mimetype)
    response.headers["Content-Length"] = str(len(data))
    return response


def _withdraw_outbox_copy(answer: _Answer) -> None:
    """The passive reply was written: withdraw its outbox copy, unless it was written too late."""
    elapsed = time.monotonic() - answer.arrived
    if elapsed > PLATFORM_WAIT_SECONDS + TIMESTAMP_RESOLUTION_SECONDS:
        log.info(
            "passive reply to %s written after %.1f s, past the platform's wait; the outbox sends it",
            log_ref(answer.key),
            elapsed,
        )
        return
    try:
        with answer.database.session() as session:
            session.execute(_WITHDRAW, {"dedupe": f"reply:{answer.key}"})
    except Exception as exc:  # the reply went passively; the outbox copy may follow (logged, rare)
        log.error(
            "could not withdraw the outbox copy of the passive reply to %s (%s)",
            log_ref(answer.key),
            type(exc).__name__,
        )


def _for_mode(stored: str, encrypted: bool, crypto: WeChatCrypto | None) -> str:
    """A stored response body for a retry in ``encrypted`` mode: as stored when the modes agree
    (byte for byte), else decrypted or encrypted (the platform's mode can change between tries)."""
    if stored == SUCCESS or crypto is None:
        return stored
    data = xmltodict.parse(stored)["xml"]
    stored_encrypted = "Encrypt" in data and "MsgType" not in data
    if stored_encrypted == encrypted:
        return stored
    if stored_encrypted:
        return crypto.decrypt_message(data, data["MsgSignature"], data["TimeStamp"], data["Nonce"])
    return crypto.encrypt_message(stored, secrets.token_hex(8), str(int(time.time())))


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
