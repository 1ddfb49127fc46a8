"""待办: seller notices that waited for the seller, delivered with the seller's next message.

A seller notice (new order, inquiry, complaint, the daily digest of drafts …) that no channel can
carry (the seller's 48-hour window is closed and no WeCom app is configured: with WeCom the app
stays first, ``bot/delivery/rules.py``) is never skipped: it ``waits``. The next time that seller
writes to the bot, the passive reply carries what waited after the answer to what they wrote: a
digest of today's drafts first (the waiting daily digests are old news: one fresh digest stands for
them), then the other notices oldest first, within the passive reply's 2048 bytes. What does not
fit goes back to the outbox right away and leaves as customer-service messages (the seller just
wrote, so their window is open again). ``待办`` asks for them any time.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, select

from bot import texts
from bot.delivery.rules import WAITING
from bot.delivery.seller_draft import digest_text
from bot.seller.registry import SellerContext, seller_command
from storage.models import Customer, OutboxMessage
from storage.outbox import count_drafts, list_drafts

PASSIVE_REPLY_MAX_BYTES = 2048  # WeChat's limit for a passive text reply
DIGEST_KIND = "draft_digest"
REPLY_CHANNEL = "reply"  # delivered inside the seller's passive reply


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def waiting_notices(session, openid: str) -> list[OutboxMessage]:
    """The seller's waiting notices: digests first, then the rest in the order they were queued."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.status == WAITING,
                OutboxMessage.openid == openid,
                OutboxMessage.customer_id.is_(None),
            )
            .order_by(case((OutboxMessage.kind == DIGEST_KIND, 0), else_=1), OutboxMessage.id)
        )
    )


def _fresh_digest(session) -> str | None:
    total = count_drafts(session)
    if not total:
        return None
    drafts = list_drafts(session, limit=5)
    ids = {row.customer_id for row in drafts if row.customer_id}
    names = (
        {c.id: c.display_name for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
        if ids
        else {}
    )
    return digest_text(total, drafts, names)


def with_waiting_notices(session, seller: Customer, reply: str | None, now: dt.datetime) -> str | None:
    """``reply`` followed by what waited for ``seller`` (see the module docstring)."""
    if not seller.openid:
        return reply
    rows = waiting_notices(session, seller.openid)
    if not rows:
        return reply
    digests = [row for row in rows if row.kind == DIGEST_KIND]
    others = [row for row in rows if row.kind != DIGEST_KIND]
    entries: list[tuple[str, list[OutboxMessage]]] = []
    if digests:
        fresh = _fresh_digest(session)
        if fresh is None:  # every draft was sent meanwhile: the digests have nothing left to say
            for row in digests:
                row.status, row.skip_reason, row.updated_at = "skipped", "superseded", now
        else:
            digests[-1].text = fresh
            entries.append((fresh, digests))
    entries += [(row.text, [row]) for row in others]
    if not entries:
        return reply

    base = reply or ""
    header = texts.SELLER_WAITING_HEADER.format(count=len(entries))
    parts: list[str] = []
    left = entries
    for index, (text, _rows) in enumerate(entries):
        rest = len(entries) - index - 1
        tail = ("\n" + texts.SELLER_WAITING_MORE.format(count=rest)) if rest else ""
        candidate = "\n\n".join(p for p in (base, header + "\n" + "\n\n".join(parts + [text])) if p)
        if _size(candidate + tail) > PASSIVE_REPLY_MAX_BYTES:
            break
        parts.append(text)
        left = entries[index + 1 :]
    for _text, group in entries[: len(parts)]:
        for row in group:
            row.status, row.channel, row.sent_at, row.updated_at = "sent", REPLY_CHANNEL, now, now
    for _text, group in left:  # out again right away, as customer-service messages
        *older, newest = group
        for row in older:
            row.status, row.skip_reason, row.updated_at = "skipped", "superseded", now
        newest.status, newest.next_attempt_at, newest.updated_at = "pending", now, now
    if not parts:
        return reply
    section = header + "\n" + "\n\n".join(parts)
    if left:
        section += "\n" + texts.SELLER_WAITING_MORE.format(count=len(left))
    return "\n\n".join(p for p in (base, section) if p)


@seller_command("待办", aliases=("通知",), group=texts.SELLER_GROUP_DRAFTS, **texts.SELLER_HELP["待办"])
def waiting(ctx: SellerContext) -> str:
    return with_waiting_notices(ctx.session, ctx.seller, None, ctx.now) or texts.SELLER_WAITING_EMPTY
