"""What happens when the platform delivers a message: log it, update the customer, decide the reply.

Transport concerns (signatures, crypto, dedupe, rendering) live in ``handlers/wechat.py``; this
module is the conversation side and runs inside the webhook's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from bot import subscribe_events, texts
from storage.customers import get_or_create_by_openid
from storage.models import Customer, InboundMessage

# Message types the platform sends that carry no text for the conversation.
NON_TEXT_TYPES = ("image", "voice", "video", "shortvideo", "location", "link")


def message_key(msg: Any) -> str:
    """The dedupe key: MsgId for messages, FromUserName+CreateTime+Event for events."""
    if msg.type == "event":
        return f"event:{msg.source}:{msg._data.get('CreateTime', '')}:{event_name(msg)}"
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


def record_inbound(session: Session, msg: Any, key: str, now: dt.datetime) -> tuple[InboundMessage, Customer]:
    """The message's row and its customer (created on first contact).

    The row is returned *unsaved*: the webhook adds it last (:func:`finish_inbound`), with its
    intent and response body, so storing it is one INSERT. Its UNIQUE ``msg_key`` still decides,
    at commit, which of two racing deliveries of one message wins (the loser's whole transaction
    is rolled back).
    """
    customer, _created = get_or_create_by_openid(session, msg.source, now)
    event = event_name(msg) or None if msg.type == "event" else None
    inbound = InboundMessage(
        msg_key=key,
        customer_id=customer.id,
        openid=msg.source,
        msg_type=msg.type,
        event=event,
        content=describe_content(msg),
        platform_created_at=_platform_time(msg),
        received_at=now,
    )
    return inbound, customer


def finish_inbound(session: Session, inbound: InboundMessage, customer: Customer, now: dt.datetime) -> None:
    """Add the message's row and open the customer's 48 h service window (last, so that the
    customer's changes of the whole message are written in as few UPDATEs as possible)."""
    if inbound.event != "unsubscribe" and inbound.event not in subscribe_events.EVENTS:  # platform receipts
        customer.last_inbound_at = now
        customer.unreachable = False  # they just wrote to us: the API can reach them again
    session.add(inbound)


def reply_for(session: Session, msg: Any, inbound: InboundMessage, customer: Customer,
              config: Mapping[str, Any], now: dt.datetime) -> str | None:
    """The passive reply text for a stored message, or None for no reply ("success")."""
    if subscribe_events.handles(msg):  # subscription-notice consents and receipts (bot/subscribe_events.py)
        return subscribe_events.record(session, msg, inbound, customer, now)
    if msg.type == "event":
        return _reply_for_event(session, msg, customer, config, now)
    if msg.type == "text" or (msg.type == "voice" and getattr(msg, "recognition", None)):
        text = msg.content if msg.type == "text" else msg.recognition
        return reply_for_text(session, customer, text or "", inbound, config, now)
    return texts.NON_TEXT_RECEIVED.get(msg.type, texts.NON_TEXT_DEFAULT)


def fallback_reply(msg: Any, customer: Customer, config: Mapping[str, Any]) -> str | None:
    """The answer stored when working out the real one failed: safe, and true whatever went wrong."""
    if msg.type == "event":
        return texts.WELCOME if event_name(msg) == "subscribe" else None
    if customer.openid in config.get("SELLER_OPENIDS", ()):
        return texts.SELLER_COMMAND_FAILED
    if msg.type == "text" or msg.type == "voice":
        return texts.DEFAULT_REPLY
    return texts.NON_TEXT_RECEIVED.get(msg.type, texts.NON_TEXT_DEFAULT)


def reply_for_text(session: Session, customer: Customer, text: str, inbound: InboundMessage,
                   config: Mapping[str, Any], now: dt.datetime) -> str | None:
    """Route a text to the seller console (for seller openids) or the customer conversation."""
    if customer.openid in config.get("SELLER_OPENIDS", ()):
        from bot.seller_commands import handle_seller_text

        reply = handle_seller_text(session, customer, text, config, now)
        if reply is not None:
            return reply
    from bot.customer_replies import handle_customer_text

    return handle_customer_text(session, customer, text, inbound, config, now)


def _reply_for_event(session: Session, msg: Any, customer: Customer, config: Mapping[str, Any],
                     now: dt.datetime) -> str | None:
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
    return None


def on_scene(session: Session, customer: Customer, scene: str | None, config: Mapping[str, Any],
             now: dt.datetime) -> str | None:
    """Hook for parametric QR scenes (referral codes use ``ref_<code>``); returns extra reply text."""
    from bot import referrals

    return referrals.on_scene(session, customer, scene, config, now)
