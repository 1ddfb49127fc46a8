"""What happens when the platform delivers a message: log it, update the customer, decide the reply.

Transport concerns (signatures, crypto, dedupe, rendering) live in ``handlers/wechat.py``; this
module is the conversation side and runs inside the webhook's transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from bot import referrals, subscribe_events, texts
from bot.customer_replies import handle_customer_text
from bot.seller_commands import handle_seller_text
from storage.customers import find_by_openid, get_or_create_by_openid
from storage.models import Customer, InboundMessage

# Message types the platform sends that carry no text for the conversation.
NON_TEXT_TYPES = ("image", "voice", "video", "shortvideo", "location", "link")

# The events the platform counts as the user's own action, which let the account answer with
# customer-service messages (its "客服消息" rules: the user sends a message, clicks a custom menu of
# the click / scancode_push / scancode_waitmsg kinds, follows the account, scans a QR code). Every
# other event (VIEW, LOCATION reports, TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH, unsubscribe …) is
# sent by the platform on its own: it opens no window, clears no ``unreachable``, creates no customer.
USER_ACTION_EVENTS = frozenset(
    {"subscribe", "subscribe_scan_product", "scan", "click", "scancode_push", "scancode_waitmsg"}
)
# A template message's delivery report for a customer who blocked the account.
TEMPLATE_BLOCKED = "failed:user block"


def is_user_action(msg: Any) -> bool:
    """Whether the platform counts ``msg`` as the user's action (every message; some events)."""
    return msg.type != "event" or event_name(msg) in USER_ACTION_EVENTS


def message_key(msg: Any) -> str:
    """The dedupe key: MsgId for messages; for events FromUserName, CreateTime, Event and what tells two
    events of one second apart (EventKey, e.g. two menu clicks; MsgID of a template report)."""
    if msg.type == "event":
        key = f"event:{msg.source}:{msg._data.get('CreateTime', '')}:{event_name(msg)}"
        parts = [str(msg._data.get(name) or "") for name in ("EventKey", "MsgID")]
        detail = ":".join(parts).rstrip(":")
        if not detail:
            return key  # as before: a plain subscribe / unsubscribe / report without id
        if len(key) + len(detail) > 100:  # msg_key holds 128 characters
            detail = "h" + hashlib.sha256(detail.encode()).hexdigest()[:32]
        return f"{key}:{detail}"
    if msg.id:
        return f"msg:{msg.id}"
    # Some message types from some clients arrive without MsgId; fall back to the event-style key.
    return f"msg:{msg.source}:{msg._data.get('CreateTime', '')}:{msg.type}"


def event_name(msg: Any) -> str:
    """The event in lower case, with wechatpy's ``subscribe_scan`` folded back into ``subscribe``."""
    event = (getattr(msg, "event", None) or msg._data.get("Event") or "").lower()
    return "subscribe" if event == "subscribe_scan" else event


def describe_content(msg: Any) -> str | None:
    """A loggable description of the message's content."""
    kind = msg.type
    if kind == "text":
        return msg.content
    if kind == "voice":
        return getattr(msg, "recognition", None) or f"[语音] {msg.media_id}"
    if kind in ("image",):
        return f"[图片] {getattr(msg, 'image', '') or ''}"
    if kind in ("video", "shortvideo"):
        return f"[视频] {msg.media_id}"
    if kind == "location":
        return f"[位置] {msg.label or ''} ({msg.location_x},{msg.location_y})"
    if kind == "link":
        return f"[链接] {msg.title or ''} {msg.url or ''}"
    if kind == "event":
        key = msg._data.get("EventKey")
        return f"[事件] {event_name(msg)}" + (f" {key}" if key else "")
    return f"[{kind}]"


def _platform_time(msg: Any) -> dt.datetime | None:
    raw = msg._data.get("CreateTime")
    try:
        return dt.datetime.fromtimestamp(int(raw), dt.UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def record_inbound(
    session: Session, msg: Any, key: str, now: dt.datetime
) -> tuple[InboundMessage, Customer | None]:
    """The message's row and its customer (created on first contact; None for a platform event
    about an openid we do not know).

    The row is returned *unsaved*: the webhook adds it last (:func:`finish_inbound`), with its
    intent and response body, so storing it is one INSERT. Its UNIQUE ``msg_key`` still decides,
    at commit, which of two racing deliveries of one message wins (the loser's whole transaction
    is rolled back).
    """
    if is_user_action(msg):
        customer, _created = get_or_create_by_openid(session, msg.source, now)
    else:  # the platform's own report or event: about a customer we know, or about nobody
        customer = find_by_openid(session, msg.source)
    event = event_name(msg) or None if msg.type == "event" else None
    inbound = InboundMessage(
        msg_key=key,
        customer_id=customer.id if customer is not None else None,
        openid=msg.source,
        msg_type=msg.type,
        event=event,
        content=describe_content(msg),
        platform_created_at=_platform_time(msg),
        received_at=now,
    )
    return inbound, customer


def finish_inbound(
    session: Session, inbound: InboundMessage, customer: Customer | None, now: dt.datetime
) -> None:
    """Add the message's row and, for the user's own action, open the customer's service window
    (last, so that the customer's changes of the whole message are written in as few UPDATEs as
    possible)."""
    if customer is not None and (inbound.msg_type != "event" or inbound.event in USER_ACTION_EVENTS):
        customer.last_inbound_at = now
        customer.unreachable = False  # they just wrote to us: the API can reach them again
    session.add(inbound)


def reply_for(
    session: Session,
    msg: Any,
    inbound: InboundMessage,
    customer: Customer | None,
    config: Mapping[str, Any],
    now: dt.datetime,
) -> str | None:
    """The passive reply text for a stored message, or None for no reply ("success")."""
    if customer is None:
        return None  # a platform event about nobody we know
    if subscribe_events.handles(msg):  # subscription-notice consents and receipts (bot/subscribe_events.py)
        return subscribe_events.record(session, msg, inbound, customer, now)
    if msg.type == "event":
        return _reply_for_event(session, msg, customer, config, now)
    if msg.type == "text" or (msg.type == "voice" and getattr(msg, "recognition", None)):
        text = msg.content if msg.type == "text" else msg.recognition
        return reply_for_text(session, customer, text or "", inbound, config, now)
    return texts.NON_TEXT_RECEIVED.get(msg.type, texts.NON_TEXT_DEFAULT)


def fallback_reply(msg: Any, customer: Customer | None, config: Mapping[str, Any]) -> str | None:
    """The answer stored when working out the real one failed: safe, and true whatever went wrong."""
    if msg.type == "event" or customer is None:
        return texts.WELCOME if event_name(msg) == "subscribe" else None
    if customer.openid in config.get("SELLER_OPENIDS", ()):
        return texts.SELLER_COMMAND_FAILED
    if msg.type == "text" or msg.type == "voice":
        return texts.DEFAULT_REPLY
    return texts.NON_TEXT_RECEIVED.get(msg.type, texts.NON_TEXT_DEFAULT)


def reply_for_text(
    session: Session,
    customer: Customer,
    text: str,
    inbound: InboundMessage,
    config: Mapping[str, Any],
    now: dt.datetime,
) -> str | None:
    """Route a text to the seller console (for seller openids) or the customer conversation."""
    if customer.openid in config.get("SELLER_OPENIDS", ()):
        reply = handle_seller_text(session, customer, text, config, now)
        if reply is not None:
            return reply

    return handle_customer_text(session, customer, text, inbound, config, now)


def _reply_for_event(
    session: Session, msg: Any, customer: Customer, config: Mapping[str, Any], now: dt.datetime
) -> str | None:
    event = event_name(msg)
    if event == "subscribe":
        returning = customer.unsubscribed_at is not None
        customer.subscribed = True
        customer.subscribed_at = now
        customer.unsubscribed_at = None
        scene = getattr(msg, "scene_id", None)  # SubscribeScanEvent: EventKey "qrscene_<scene>"
        if scene and not customer.subscribe_scene:
            customer.subscribe_scene = str(scene)
        extra = on_scene(session, customer, scene, config, now) if scene else None
        welcome = texts.WELCOME_BACK if returning else texts.WELCOME
        return f"{welcome}\n{extra}" if extra else welcome
    if event == "scan":
        scene = getattr(msg, "scene_id", None)
        if scene and not customer.subscribe_scene:
            customer.subscribe_scene = str(scene)
        return on_scene(session, customer, scene, config, now) if scene else None
    if event == "unsubscribe":
        customer.subscribed = False
        customer.unsubscribed_at = now
        return None
    if event == "templatesendjobfinish":
        status = str(msg._data.get("Status") or "").replace(" ", "").lower()
        if status == TEMPLATE_BLOCKED.replace(" ", ""):
            customer.unreachable = True  # the API cannot reach them until they act again
        return None
    return None


def on_scene(
    session: Session, customer: Customer, scene: str | None, config: Mapping[str, Any], now: dt.datetime
) -> str | None:
    """Hook for parametric QR scenes (referral codes use ``ref_<code>``); returns extra reply text."""

    return referrals.on_scene(session, customer, scene, config, now)
