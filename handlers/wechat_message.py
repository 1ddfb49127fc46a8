"""The Official Account's adapter: a parsed WeChat message → the conversation's :class:`Incoming`.

wechatpy parses and types the message (``parse_message``); its fields as sent come from the same
XML (``xmltodict``, as wechatpy reads it), so nothing here reaches into wechatpy's private state.
The dedupe key, the platform's time, which events count as the user's own action and the
loggable description are the Official Account's rules and live here, not in the conversation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import xmltodict

from bot.message import EVENT, TEXT, VOICE, Incoming

PLATFORM = "wechat"

# The events the platform counts as the user's own action, which let the account answer with
# customer-service messages (its "客服消息" rules: the user sends a message, clicks a custom menu of
# the click / scancode_push / scancode_waitmsg kinds, follows the account, scans a QR code). Every
# other event (VIEW, LOCATION reports, TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH, unsubscribe …) is
# sent by the platform on its own: it opens no window, clears no ``unreachable``, creates no customer.
USER_ACTION_EVENTS = frozenset(
    {"subscribe", "subscribe_scan_product", "scan", "click", "scancode_push", "scancode_waitmsg"}
)


def fields_of(xml: bytes | str) -> dict[str, Any]:
    """The message's fields as sent (the ``<xml>`` element's children)."""
    data = xmltodict.parse(xml)["xml"]
    return dict(data) if isinstance(data, dict) else {}


def event_name(msg: Any, fields: dict[str, Any]) -> str:
    """The event in lower case, with wechatpy's ``subscribe_scan`` folded back into ``subscribe``."""
    event = (getattr(msg, "event", None) or fields.get("Event") or "").lower()
    return "subscribe" if event == "subscribe_scan" else event


def message_key(msg: Any, fields: dict[str, Any]) -> str:
    """The dedupe key: MsgId for messages; for events FromUserName, CreateTime, Event and what tells two
    events of one second apart (EventKey, e.g. two menu clicks; MsgID of a template report)."""
    created = fields.get("CreateTime", "")
    if str(fields.get("MsgType") or msg.type).lower() == EVENT:
        key = f"event:{msg.source}:{created}:{event_name(msg, fields)}"
        parts = [str(fields.get(name) or "") for name in ("EventKey", "MsgID")]
        detail = ":".join(parts).rstrip(":")
        if not detail:
            return key  # a plain subscribe / unsubscribe / report without id
        if len(key) + len(detail) > 100:  # msg_key holds 128 characters
            detail = "h" + hashlib.sha256(detail.encode()).hexdigest()[:32]
        return f"{key}:{detail}"
    if msg.id:
        return f"msg:{msg.id}"
    # Some message types from some clients arrive without MsgId; fall back to the event-style key.
    return f"msg:{msg.source}:{created}:{msg.type}"


def _description(msg: Any, fields: dict[str, Any], event: str) -> str:
    kind = msg.type
    if kind == TEXT:
        return msg.content
    if kind == VOICE:
        return getattr(msg, "recognition", None) or f"[语音] {msg.media_id}"
    if kind == "image":
        return f"[图片] {getattr(msg, 'image', '') or ''}"
    if kind in ("video", "shortvideo"):
        return f"[视频] {msg.media_id}"
    if kind == "location":
        return f"[位置] {msg.label or ''} ({msg.location_x},{msg.location_y})"
    if kind == "link":
        return f"[链接] {msg.title or ''} {msg.url or ''}"
    if kind == EVENT:
        key = fields.get("EventKey")
        return f"[事件] {event}" + (f" {key}" if key and not isinstance(key, dict) else "")
    return f"[{kind}]"


def _platform_time(fields: dict[str, Any]) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(fields.get("CreateTime")), dt.UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def incoming(msg: Any, fields: dict[str, Any]) -> Incoming:
    """The conversation's view of ``msg`` (parsed by wechatpy from the XML whose ``fields`` these are)."""
    # wechatpy parses events it does not know (subscription-notice events …) as "unknown": the
    # platform's own MsgType says what it is.
    kind = str(fields.get("MsgType") or msg.type).lower()
    event = event_name(msg, fields) if kind == EVENT else None
    text = None
    if msg.type == TEXT:
        text = msg.content or ""
    elif msg.type == VOICE:
        text = getattr(msg, "recognition", None) or None
    scene = getattr(msg, "scene_id", None)  # SubscribeScanEvent / ScanEvent: EventKey "qrscene_<scene>"
    event_key = fields.get("EventKey")
    return Incoming(
        platform=PLATFORM,
        sender=msg.source,
        kind=kind,
        key=message_key(msg, fields),
        text=text,
        event=event or None,
        event_key=str(event_key) if event_key and not isinstance(event_key, dict) else None,
        scene=str(scene) if scene else None,
        created_at=_platform_time(fields),
        user_action=kind != EVENT or event in USER_ACTION_EVENTS,
        description=_description(msg, fields, event or ""),
        fields=fields,
    )
