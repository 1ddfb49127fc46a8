"""The platform's subscription-notice events (订阅通知), recorded per customer and template.

* ``subscribe_msg_popup_event``: the customer tapped allow (``accept``) or cancel (``reject``) in
  the popup of the ``wx-open-subscribe`` button; every accept is one consent, good for one notice.
* ``subscribe_msg_change_event``: the customer switched a template off in the notice settings
  (``reject``): the unused consents for it are dropped.
* ``subscribe_msg_sent_event``: the platform's receipt for a notice we sent; it confirms the
  consent that notice used (with the platform's ``MsgID``).

wechatpy does not know these events (they parse as ``UnknownMessage``); their lists are read from
the message's fields (``Incoming.fields``). One ``<List>`` parses as a dict, several as a list. None of them is the customer
writing to the account, so none opens the 48-hour window (``bot.inbound.finish_inbound``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from bot.message import Incoming
from storage import consents
from storage.models import Customer, InboundMessage

POPUP = "subscribe_msg_popup_event"
CHANGE = "subscribe_msg_change_event"
SENT = "subscribe_msg_sent_event"
EVENTS = frozenset({POPUP, CHANGE, SENT})
_CONTAINERS = {
    POPUP: "SubscribeMsgPopupEvent",
    CHANGE: "SubscribeMsgChangeEvent",
    SENT: "SubscribeMsgSentEvent",
}


def entries(incoming: Incoming) -> list[dict[str, Any]]:
    """The event's ``<List>`` entries (one or several), each a dict of the XML's fields."""
    container = incoming.fields.get(_CONTAINERS.get(incoming.event or "", "")) or {}
    items = container.get("List") if isinstance(container, dict) else None
    if isinstance(items, dict):
        items = [items]
    return [item for item in items or [] if isinstance(item, dict) and item.get("TemplateId")]


def record(
    session: Session, incoming: Incoming, inbound: InboundMessage, customer: Customer, now: dt.datetime
) -> None:
    """Record the event for ``customer``; the passive answer is empty ("success")."""
    event = incoming.event
    items = entries(incoming)
    inbound.msg_type, inbound.event = "event", event
    inbound.content = f"[事件] {event} " + " ".join(
        f"{item['TemplateId']}:{item.get('SubscribeStatusString') or item.get('ErrorStatus') or ''}"
        for item in items
    )
    session.flush()  # the customer row exists (it was just created on first contact)
    for item in items:
        template_id = str(item["TemplateId"]).strip()
        status = str(item.get("SubscribeStatusString") or "").strip().lower()
        if event == POPUP and status in ("accept", "reject"):
            consents.record_choice(
                session, customer.id, template_id, status == "accept", at=now, scene=item.get("PopupScene")
            )
        elif event == CHANGE and status == "reject":
            consents.drop_open(
                session, customer.id, template_id, "the customer switched the template off", now
            )
        elif event == SENT:
            code = str(item.get("ErrorCode") or "0").strip()
            error = None if code == "0" else f"{code}: {item.get('ErrorStatus') or ''}"
            consents.confirm_sent(
                session, customer.id, template_id, msgid=item.get("MsgID"), error=error, now=now
            )
    return None
