"""Helpers shared by the seller commands: order and customer references, paging, dates."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from bot import conversation_state, texts
from bot.seller.registry import SellerContext
from storage.clock import shop_zone, to_local
from storage.contact import mask_phone, to_halfwidth
from storage.customer_search import find_customers
from storage.models import Customer, Order, OutboxMessage
from storage.orders import format_yuan

PAGE_SIZE = 8
# WeChat cuts passive text replies at about 2 KB (UTF-8): a page stays below this.
PAGE_MAX_BYTES = 1800
STATE_PAGE = "seller_page"

_REF = re.compile(r"#?\s*(\d{1,9})")


def parse_ref(word: str | None) -> int | None:
    """``#12`` or ``12`` → 12; None for anything else."""
    if not word:
        return None
    match = _REF.fullmatch(to_halfwidth(word).strip())
    return int(match.group(1)) if match else None


def get_order(ctx: SellerContext, word: str | None) -> Order:
    """The order ``word`` names (``#12``), or a CommandError saying what is wrong."""
    order_id = parse_ref(word)
    if order_id is None:
        raise ctx.fail(
            texts.SELLER_NEED_ORDER_REF if not word else texts.SELLER_BAD_ORDER_REF.format(word=word)
        )
    order = ctx.session.get(Order, order_id)
    if order is None:
        raise ctx.fail(texts.SELLER_ORDER_NOT_FOUND.format(order_id=order_id), show_usage=False)
    return order


def match_customers(ctx: SellerContext, query: str | None) -> list[Customer]:
    """The customers ``query`` names (``#7``, phone, nickname, name): at least one, or a CommandError."""
    if not query:
        raise ctx.fail(texts.SELLER_NEED_CUSTOMER)
    found = find_customers(ctx.session, query, limit=PAGE_SIZE + 1)
    if not found:
        raise ctx.fail(texts.SELLER_CUSTOMER_NOT_FOUND.format(query=query), show_usage=False)
    return found


def several_customers(query: str, found: list[Customer]) -> str:
    """The answer when ``query`` fits several customers: who they are, to repeat with ``#id``."""
    lines = "\n".join(customer_line(c) for c in found[:PAGE_SIZE])
    more = texts.SELLER_MORE_MATCHES if len(found) > PAGE_SIZE else ""
    return texts.SELLER_CUSTOMER_AMBIGUOUS.format(query=query, lines=lines, more=more)


def get_customer(ctx: SellerContext, query: str | None) -> Customer:
    """The one customer ``query`` names, or a CommandError (several matches are listed)."""
    found = match_customers(ctx, query)
    if len(found) > 1:
        raise ctx.fail(several_customers(query or "", found), show_usage=False)
    return found[0]


def outbox_key_exists(session, dedupe_key: str) -> bool:
    """Whether a message with this dedupe key was queued already.

    Asked before enqueueing rather than read from ``enqueue``'s return value: on PostgreSQL the
    driver reports no row count for the insert-or-ignore, so that value is always False there.
    """
    return session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)) is not None


def customer_line(customer: Customer) -> str:
    """``#7 张三（小张）138****8000``: one customer on one line, phone masked."""
    label = customer.name or customer.nickname or texts.SELLER_NO_NAME
    if customer.name and customer.nickname and customer.nickname != customer.name:
        label += texts.SELLER_CUSTOMER_NICKNAME.format(nickname=customer.nickname)
    phone = mask_phone(customer.phone)
    return f"#{customer.id} {label}" + (f" {phone}" if phone else "")


def items_text(order: Order) -> str:
    return "、".join(f"{item.product_name}×{item.quantity}" for item in order.items)


def order_line(order: Order) -> str:
    """``#12 张三 面膜×2 ¥198``."""
    return f"#{order.id} {order.customer.display_name} {items_text(order)} {format_yuan(order.amount_cents)}"


def local(config, moment: dt.datetime) -> dt.datetime:
    """A stored naive-UTC time in the seller's timezone."""
    return to_local(moment, shop_zone(config))


def short_time(config, moment: dt.datetime | None) -> str:
    return local(config, moment).strftime("%m-%d %H:%M") if moment else ""


def short_date(config, moment: dt.datetime | None) -> str:
    return local(config, moment).strftime("%Y-%m-%d") if moment else ""


def paged(ctx: SellerContext, *, header: str, lines: list[str], total: int, empty: str) -> str:
    """One page of a list starting at ``ctx.offset``; ``更多`` shows the next one.

    ``lines`` are the rows from ``ctx.offset`` on (at most PAGE_SIZE are shown, fewer when the
    page would pass PAGE_MAX_BYTES). Where the next page starts is kept in the seller's
    conversation state, so ``更多`` continues exactly this list.
    """
    if total == 0 or (not lines and ctx.offset == 0):
        conversation_state.clear(ctx.session, ctx.seller.id)
        return empty
    if not lines:
        conversation_state.clear(ctx.session, ctx.seller.id)
        return texts.SELLER_NO_MORE
    shown: list[str] = []
    size = len(header.encode())
    for line in lines[:PAGE_SIZE]:
        size += len(line.encode()) + 1
        if shown and size > PAGE_MAX_BYTES:
            break
        shown.append(line)
    end = ctx.offset + len(shown)
    parts = [header, *shown]
    if end < total:
        parts.append(texts.SELLER_PAGE_FOOTER.format(start=ctx.offset + 1, end=end, total=total))
        conversation_state.save(
            ctx.session,
            ctx.seller.id,
            STATE_PAGE,
            {"command": ctx.command.name, "args": ctx.args, "offset": end},
            ctx.config,
            ctx.now,
        )
    else:
        conversation_state.clear(ctx.session, ctx.seller.id)
    return "\n".join(parts)
