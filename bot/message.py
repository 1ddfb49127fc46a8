"""The one message type the conversation sees, whatever platform it came from.

A platform adapter (``handlers/wechat_message.py`` for the Official Account) turns the platform's
request into an :class:`Incoming`; ``bot/inbound.py`` dispatches it by ``kind`` (and events by
``event``) through a registry. Nothing in ``bot/`` reads a platform library's message objects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TEXT = "text"
VOICE = "voice"
EVENT = "event"


@dataclass(frozen=True)
class Incoming:
    """A message or event as the conversation needs it.

    ``key`` is the platform's dedupe key (unique per delivery, the same for its retries);
    ``user_action`` says whether the platform counts it as the user's own action (which opens the
    customer-service window); ``fields`` are the platform's fields as sent, for the few handlers
    that need more (a subscription event's list, a template report's status).
    """

    platform: str  # "wechat" (Official Account), "wecom"
    sender: str  # the platform's id of the sender (an openid)
    kind: str  # text, voice, image, video, shortvideo, location, link, event, or the platform's own
    key: str
    text: str | None = None  # the text, or the voice message's recognition
    event: str | None = None  # lower case; a subscribe through a QR code is "subscribe"
    event_key: str | None = None
    scene: str | None = None  # the QR code's scene (``qrscene_`` stripped)
    created_at: dt.datetime | None = None  # the platform's time, naive UTC
    user_action: bool = True
    description: str | None = None  # a loggable description of the content
    fields: Mapping[str, Any] = field(default_factory=dict)

    def field(self, name: str) -> str:
        """One of the platform's fields as text ("" when absent)."""
        value = self.fields.get(name)
        return "" if value is None or isinstance(value, dict | list) else str(value)
