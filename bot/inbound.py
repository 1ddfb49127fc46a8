"""What happens when a platform delivers a message: log it, update the customer, decide the reply.

The conversation sees one message type, :class:`bot.message.Incoming`, made by the platform's
adapter (``handlers/wechat_message.py``). Replies are looked up in two registries, the way
wechatpy registers message types: by ``kind`` (:func:`on_kind`) and, for events, by event name
(:func:`on_event`). Transport concerns (signatures, crypto, dedupe, rendering) live in
``handlers/``; this module runs inside the webhook's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from bot import conversation_state, referrals, subscribe_events, texts
from bot.customer_replies import Understanding, handle_customer_text, understand
from bot.message import EVENT, TEXT, VOICE, Incoming
from bot.seller_commands import handle_seller_text
from storage.customers import find_by_openid, get_or_create_by_openid
from storage.models import Customer, InboundMessage

log = logging.getLogger(__name__)

Reply = str | None
Handler = Callable[[Session, Incoming, InboundMessage, Customer, Mapping[str, Any], dt.datetime], Reply]

KIND_HANDLERS: dict[str, Handler] = {}
EVENT_HANDLERS: dict[str, Handler] = {}

# A template message's delivery report for a customer who blocked the account.
TEMPLATE_BLOCKED = "failed:userblock"


def on_kind(*kinds: str) -> Callable[[Handler], Handler]:
    """Register the reply for messages of these kinds."""

    def register(handler: Handler) -> Handler:
        for kind in kinds:
            KIND_HANDLERS[kind] = handler
        return handler

    return register


def on_event(*events: str) -> Callable[[Handler], Handler]:
    """Register the reply for these events (lower case)."""

    def register(handler: Handler) -> Handler:
        for event in events:
            EVENT_HANDLERS[event] = handler
        return handler

    return register


# --- storing ---------------------------------------------------------------------------------------


def record_inbound(
    session: Session, incoming: Incoming, now: dt.datetime
) -> tuple[InboundMessage, Customer | None]:
    """The message's row and its customer (created on first contact; None for a platform event
    about an openid we do not know).

    The row is returned *unsaved* (a plain object never added to the session): the webhook inserts
    it last (:func:`finish_inbound`), with its intent and response body, so storing it is one INSERT. Its UNIQUE ``msg_key`` still decides,
    at commit, which of two racing deliveries of one message wins (the loser's whole transaction
    is rolled back).
    """
    if incoming.user_action:
        customer, created = get_or_create_by_openid(session, incoming.sender, now, wrote_now=True)
        if created:  # a customer created just now has no conversation yet
            conversation_state.known_absent(session, customer.id)
    else:  # the platform's own report or event: about a customer we know, or about nobody
        customer = find_by_openid(session, incoming.sender)
    inbound = InboundMessage(
        msg_key=incoming.key,
        customer_id=customer.id if customer is not None else None,
        openid=incoming.sender,
        msg_type=incoming.kind,
        event=incoming.event if incoming.kind == EVENT else None,
        content=incoming.description,
        platform_created_at=incoming.created_at,
        received_at=now,
    )
    return inbound, customer


def finish_inbound(
    session: Session, incoming: Incoming, inbound: InboundMessage, customer: Customer | None, now: dt.datetime
) -> None:
    """Add the message's row and, for the user's own action, open the customer's service window
    (last, so that the customer's changes of the whole message are written in as few UPDATEs as
    possible)."""
    if customer is not None and incoming.user_action:
        customer.last_inbound_at = now
        customer.unreachable = False  # they just wrote to us: the API can reach them again
    # A Core INSERT built once (the row is not needed as an object afterwards); a duplicate that
    # committed first fails it here, which rolls the whole message back.
    session.execute(_INSERT_INBOUND, {name: getattr(inbound, name) for name in _INBOUND_COLUMNS})


_INSERT_INBOUND = insert(InboundMessage.__table__)
_INBOUND_COLUMNS = tuple(c.key for c in InboundMessage.__table__.columns if not c.primary_key)


# --- replying --------------------------------------------------------------------------------------


def reply_for(
    session: Session,
    incoming: Incoming,
    inbound: InboundMessage,
    customer: Customer | None,
    config: Mapping[str, Any],
    now: dt.datetime,
    understanding: Understanding | None = None,
) -> Reply:
    """The passive reply text for a stored message, or None for no reply ("success").

    ``understanding``: what :func:`understand_early` made of the message before the transaction.
    """
    if customer is None:
        return None  # a platform event about nobody we know
    handler = KIND_HANDLERS.get(incoming.kind, _non_text)
    if understanding is not None:  # only made for texts: the handler is ``_text``
        return handler(session, incoming, inbound, customer, config, now, understanding=understanding)
    return handler(session, incoming, inbound, customer, config, now)


def understand_early(incoming: Incoming) -> Understanding | None:
    """The pure part of answering a text (intent, order parse, address split), done before the
    message's write transaction; None for anything else."""
    if incoming.kind not in (TEXT, VOICE) or incoming.text is None:
        return None
    try:
        return understand(incoming.text)
    except Exception:  # a bug: the transaction redoes it, and a failure there is stored safely
        log.exception("understanding a message before its transaction failed")
        return None


def fallback_reply(incoming: Incoming, customer: Customer | None, config: Mapping[str, Any]) -> Reply:
    """The answer stored when working out the real one failed: safe, and true whatever went wrong."""
    if incoming.kind == EVENT or customer is None:
        return texts.WELCOME if incoming.event == "subscribe" else None
    if customer.openid in config.get("SELLER_OPENIDS", ()):
        return texts.SELLER_COMMAND_FAILED
    if incoming.kind in (TEXT, VOICE):
        return texts.DEFAULT_REPLY
    return texts.NON_TEXT_RECEIVED.get(incoming.kind, texts.NON_TEXT_DEFAULT)


def _non_text(session, incoming: Incoming, inbound, customer, config, now) -> Reply:
    return texts.NON_TEXT_RECEIVED.get(incoming.kind, texts.NON_TEXT_DEFAULT)


@on_kind(TEXT, VOICE)
def _text(session, incoming: Incoming, inbound, customer, config, now, understanding=None) -> Reply:
    if incoming.text is None:  # a voice message without recognition
        return _non_text(session, incoming, inbound, customer, config, now)
    return reply_for_text(session, customer, incoming.text, inbound, config, now, understanding)


@on_kind(EVENT)
def _event(session, incoming: Incoming, inbound, customer, config, now) -> Reply:
    handler = EVENT_HANDLERS.get(incoming.event or "")
    return handler(session, incoming, inbound, customer, config, now) if handler else None


def reply_for_text(
    session: Session,
    customer: Customer,
    text: str,
    inbound: InboundMessage,
    config: Mapping[str, Any],
    now: dt.datetime,
    understanding: Understanding | None = None,
) -> Reply:
    """Route a text to the seller console (for seller openids) or the customer conversation."""
    if customer.openid in config.get("SELLER_OPENIDS", ()):
        reply = handle_seller_text(session, customer, text, config, now)
        if reply is not None:
            return reply
    return handle_customer_text(session, customer, text, inbound, config, now, understanding)


@on_event("subscribe")
def _subscribe(session, incoming: Incoming, inbound, customer: Customer, config, now) -> Reply:
    returning = customer.unsubscribed_at is not None
    customer.subscribed = True
    customer.subscribed_at = now
    customer.unsubscribed_at = None
    scene = incoming.scene
    if scene and not customer.subscribe_scene:
        customer.subscribe_scene = scene
    extra = on_scene(session, customer, scene, config, now) if scene else None
    welcome = texts.WELCOME_BACK if returning else texts.WELCOME
    return f"{welcome}\n{extra}" if extra else welcome


@on_event("scan")
def _scan(session, incoming: Incoming, inbound, customer: Customer, config, now) -> Reply:
    scene = incoming.scene
    if scene and not customer.subscribe_scene:
        customer.subscribe_scene = scene
    return on_scene(session, customer, scene, config, now) if scene else None


@on_event("unsubscribe")
def _unsubscribe(session, incoming: Incoming, inbound, customer: Customer, config, now) -> Reply:
    customer.subscribed = False
    customer.unsubscribed_at = now
    return None


@on_event("templatesendjobfinish")
def _template_report(session, incoming: Incoming, inbound, customer: Customer, config, now) -> Reply:
    if incoming.field("Status").replace(" ", "").lower() == TEMPLATE_BLOCKED:
        customer.unreachable = True  # the API cannot reach them until they act again
    return None


@on_event(*subscribe_events.EVENTS)  # subscription-notice consents and receipts (bot/subscribe_events.py)
def _subscription_notice(session, incoming: Incoming, inbound, customer: Customer, config, now) -> Reply:
    return subscribe_events.record(session, incoming, inbound, customer, now)


def on_scene(
    session: Session, customer: Customer, scene: str | None, config: Mapping[str, Any], now: dt.datetime
) -> Reply:
    """Parametric QR scenes (referral codes use ``ref_<code>``); returns extra reply text."""
    return referrals.on_scene(session, customer, scene, config, now)
