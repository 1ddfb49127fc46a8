"""What the simulator shows: a chat as it would look on the phone, the outbox, the customer list.

Everything is read back from the database (inbound log, stored passive replies, outbox rows), so
the page shows what the bot really recorded and a reload loses nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from bot import texts
from storage.models import Customer, InboundMessage, OutboxMessage

# Display labels (bot/texts.py): how a message reached the phone, how it ended, what it was, why skipped.
CHANNEL_LABELS = texts.OUTBOX_CHANNEL_LABELS
STATUS_LABELS = texts.OUTBOX_STATUS_LABELS
KIND_LABELS = texts.OUTBOX_KIND_LABELS
REASON_LABELS = texts.OUTBOX_SKIP_REASON_LABELS
# Rows that reached the chat: sent by the bot, or handed to the seller to send by hand.
SHOWN_IN_CHAT = ("sent", "drafted")
CHAT_LIMIT = 200
OUTBOX_LIMIT = 200


@dataclass(frozen=True)
class ChatEntry:
    side: str  # "me" (typed in the simulator) or "bot"
    text: str
    at: dt.datetime  # naive UTC
    tag: str | None = None  # for proactive messages: channel and kind
    draft: bool = False


def recipient_filter(openid: str, customer_id: int | None):
    """Outbox rows addressed to ``openid``: by openid, or by customer when the row names none."""
    by_customer = and_(OutboxMessage.openid.is_(None), OutboxMessage.customer_id == customer_id)
    return or_(OutboxMessage.openid == openid, by_customer) if customer_id else OutboxMessage.openid == openid


def chat_entries(
    session: Session, openid: str, read_reply: Callable[[str | None], str | None]
) -> list[ChatEntry]:
    """The conversation with ``openid``: typed messages, the bot's passive replies, delivered messages."""
    customer = session.scalar(select(Customer).where(Customer.openid == openid))
    # Sorted by time, then inbound before outbox, then id: replies stay under their message even
    # when two messages share a timestamp.
    entries: list[tuple[tuple[dt.datetime, int, int, int], ChatEntry]] = []
    inbound = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.openid == openid)
        .order_by(InboundMessage.id.desc())
        .limit(CHAT_LIMIT)
    ).all()
    for row in inbound:
        if row.msg_type != "event":
            entries.append(
                ((row.received_at, 0, row.id, 0), ChatEntry("me", row.content or "", row.received_at))
            )
        reply = read_reply(row.response_body)
        if reply:
            entries.append(((row.received_at, 0, row.id, 1), ChatEntry("bot", reply, row.received_at)))
    outbox = session.scalars(
        select(OutboxMessage)
        .where(
            recipient_filter(openid, customer.id if customer else None),
            OutboxMessage.status.in_(SHOWN_IN_CHAT),
        )
        .order_by(OutboxMessage.id.desc())
        .limit(CHAT_LIMIT)
    ).all()
    for row in outbox:
        at = row.sent_at or row.updated_at or row.created_at
        channel = channel_label(row.channel)
        if row.status == "drafted":
            channel += texts.OUTBOX_DRAFT_SUFFIX
        tag = texts.OUTBOX_TAG.format(channel=channel, kind=kind_label(row.kind))
        entries.append(
            ((at, 1, row.id, 0), ChatEntry("bot", row.text, at, tag=tag, draft=row.status == "drafted"))
        )
    entries.sort(key=lambda item: item[0])
    return [entry for _key, entry in entries[-CHAT_LIMIT:]]


def kind_label(kind: str | None) -> str:
    """The message's kind in Chinese (a kind without a label shows as a generic one, never English)."""
    return KIND_LABELS.get(kind or "", texts.OUTBOX_KIND_OTHER)


def channel_label(channel: str | None) -> str:
    return CHANNEL_LABELS.get(channel, CHANNEL_LABELS[None])


def reason_label(skip_reason: str | None, last_error: str | None) -> str | None:
    """Why a row was skipped or cancelled, in Chinese; an API error is shown as the API wrote it."""
    if skip_reason:
        return REASON_LABELS.get(skip_reason, texts.OUTBOX_SKIP_REASON_OTHER)
    return texts.OUTBOX_ERROR_LABEL.format(error=last_error) if last_error else None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    kind: str  # label
    channel: str  # label
    status: str  # raw status (pending, sent, ...)
    status_label: str
    reason: str | None
    recipient: str
    text: str
    created_at: dt.datetime
    done_at: dt.datetime | None


def outbox_rows(session: Session, limit: int = OUTBOX_LIMIT) -> list[OutboxRow]:
    """The newest outbox rows with who they are for and how they ended."""
    rows = session.execute(
        select(OutboxMessage, Customer)
        .outerjoin(Customer, Customer.id == OutboxMessage.customer_id)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    ).all()
    result = []
    for row, customer in rows:
        recipient = customer.display_name if customer is not None else (row.openid or "")
        if row.openid and customer is not None and row.openid != customer.openid:
            recipient = row.openid  # a seller notice about this customer
        result.append(
            OutboxRow(
                id=row.id,
                kind=kind_label(row.kind),
                channel=channel_label(row.channel),
                status=row.status,
                status_label=STATUS_LABELS.get(row.status, row.status),
                reason=reason_label(row.skip_reason, row.last_error),
                recipient=recipient,
                text=row.text,
                created_at=row.created_at,
                done_at=row.sent_at or (row.updated_at if row.status != "pending" else None),
            )
        )
    return result


@dataclass(frozen=True)
class Contact:
    openid: str
    label: str
    seller: bool


def contacts(session: Session, seller_openids: list[str], limit: int = 100) -> list[Contact]:
    """People to chat as: the seller accounts first, then customers with an openid, latest first."""
    customers = session.scalars(
        select(Customer)
        .where(Customer.openid.is_not(None))
        .order_by(Customer.last_inbound_at.desc().nulls_last(), Customer.id.desc())
        .limit(limit)
    ).all()
    result = [Contact(openid, "店主", True) for openid in seller_openids]
    result += [Contact(c.openid, _label(c), False) for c in customers if c.openid not in seller_openids]
    return result


def _label(customer: Customer) -> str:
    """The nickname the simulator gave, with the name the customer typed when it differs."""
    if customer.nickname and customer.name and customer.name != customer.nickname:
        return f"{customer.nickname}（{customer.name}）"
    return customer.display_name
