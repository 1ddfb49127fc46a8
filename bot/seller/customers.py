"""Customers: 客户 (find and show the profile), 备注 (亲情牌 notes), 标签 (tags), 生日 (birthday)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bot import texts
from bot.seller.birthday import format_birthday, parse_birthday
from bot.seller.common import (
    customer_line,
    get_customer,
    local,
    match_customers,
    several_customers,
    short_date,
)
from bot.seller.registry import SellerContext, seller_command
from storage.models import Customer, CustomerNote, Order, OrderStatus, Referral, RewardEntry
from storage.orders import format_yuan
from storage.segments import current_stage

NOTES_SHOWN = 3
NOTE_SHOWN_CHARS = 60  # a profile stays one screen; 备注 echoes a note in full when it is added
MAX_NOTE = 500
MAX_TAGS_LENGTH = 255
PAID_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.RECEIVED)
COUNTED_REFERRALS = ("pending", "held", "rewarded")


def profile(ctx: SellerContext, customer: Customer) -> str:
    """The customer's card: who, stage and class, orders and spend, timing, referrals, tags, notes."""
    session = ctx.session
    orders, last_order = session.execute(
        select(func.count(Order.id), func.max(Order.created_at)).where(
            Order.customer_id == customer.id, Order.status != OrderStatus.CANCELLED
        )
    ).one()
    spent = (
        session.scalar(
            select(func.coalesce(func.sum(Order.amount_cents), 0)).where(
                Order.customer_id == customer.id, Order.status.in_(PAID_STATUSES)
            )
        )
        or 0
    )
    referrals = (
        session.scalar(
            select(func.count(Referral.id)).where(
                Referral.referrer_id == customer.id, Referral.status.in_(COUNTED_REFERRALS)
            )
        )
        or 0
    )
    points = (
        session.scalar(
            select(func.coalesce(func.sum(RewardEntry.points), 0)).where(
                RewardEntry.customer_id == customer.id
            )
        )
        or 0
    )
    lines = [texts.SELLER_PROFILE_HEADER.format(line=customer_line(customer))]
    current = current_stage(session, customer, ctx.now)  # as of now: the rule and clock the export uses
    stage = texts.SELLER_STAGE_LABELS.get(current, current or "")
    lines.append(
        texts.SELLER_PROFILE_STAGE.format(stage=stage, klass=customer.customer_class or texts.SELLER_NONE)
    )
    lines.append(texts.SELLER_PROFILE_ORDERS.format(orders=orders, spent=format_yuan(spent)))
    last = last_order or customer.last_order_at
    lines.append(
        texts.SELLER_PROFILE_TIMING.format(
            last=short_date(ctx.config, last) or texts.SELLER_NONE,
            next=short_date(ctx.config, customer.expected_next_purchase_at) or texts.SELLER_NONE,
        )
    )
    lines.append(
        texts.SELLER_PROFILE_REFERRAL.format(
            code=customer.referral_code or texts.SELLER_NONE, referrals=referrals, points=points
        )
    )
    if customer.address:
        lines.append(texts.SELLER_PROFILE_ADDRESS.format(address=customer.address))
    birthday = format_birthday(
        customer.birthday_month, customer.birthday_day, customer.birthday_is_lunar, customer.birthday_year
    )
    if customer.tags or birthday:
        lines.append(
            texts.SELLER_PROFILE_TAGS.format(
                tags=customer.tags or texts.SELLER_NONE, birthday=birthday or texts.SELLER_NONE
            )
        )
    notes = session.scalars(
        select(CustomerNote)
        .where(CustomerNote.customer_id == customer.id)
        .order_by(CustomerNote.id.desc())
        .limit(NOTES_SHOWN)
    ).all()
    if notes:
        lines.append(texts.SELLER_PROFILE_NOTES)
        lines.extend(
            texts.SELLER_PROFILE_NOTE.format(
                date=local(ctx.config, n.created_at).strftime("%m-%d"), text=_shorten(n.text)
            )
            for n in notes
        )
    if customer.opted_out:
        lines.append(texts.SELLER_PROFILE_OPTED_OUT)
    return "\n".join(lines)


def _shorten(text: str) -> str:
    return text if len(text) <= NOTE_SHOWN_CHARS else text[:NOTE_SHOWN_CHARS] + "…"


@seller_command(
    "客户", aliases=("查客户", "顾客"), group=texts.SELLER_GROUP_CUSTOMERS, **texts.SELLER_HELP["客户"]
)
def find_customer(ctx: SellerContext) -> str:
    query = ctx.args.strip()
    found = match_customers(ctx, query)
    return profile(ctx, found[0]) if len(found) == 1 else several_customers(query, found)


def _customer_and_text(ctx: SellerContext, missing: str) -> tuple[Customer, str]:
    parts = ctx.args.split(None, 1)
    if not parts:
        raise ctx.fail(texts.SELLER_NEED_CUSTOMER)
    customer = get_customer(ctx, parts[0])
    if len(parts) < 2 or not parts[1].strip():
        raise ctx.fail(missing)
    return customer, parts[1].strip()


@seller_command(
    "备注", aliases=("记下", "亲情牌"), group=texts.SELLER_GROUP_CUSTOMERS, **texts.SELLER_HELP["备注"]
)
def add_note(ctx: SellerContext) -> str:
    customer, text = _customer_and_text(ctx, texts.SELLER_NOTE_EMPTY)
    if len(text) > MAX_NOTE:
        raise ctx.fail(texts.SELLER_NOTE_TOO_LONG.format(limit=MAX_NOTE))
    ctx.session.add(
        CustomerNote(customer_id=customer.id, text=text, created_by=ctx.actor, created_at=ctx.now)
    )
    return texts.SELLER_NOTE_ADDED.format(customer=customer.display_name, customer_id=customer.id, text=text)


def _split_tags(text: str) -> list[str]:
    return [t.strip() for t in re.split(r"[,，、;；\s]+", text) if t.strip()]


@seller_command("标签", aliases=("打标签",), group=texts.SELLER_GROUP_CUSTOMERS, **texts.SELLER_HELP["标签"])
def tag(ctx: SellerContext) -> str:
    """``标签 #7 老客,敏感肌`` adds tags; ``-老客`` removes one; ``清空`` removes all."""
    customer, text = _customer_and_text(ctx, texts.SELLER_TAGS_EMPTY)
    current = _split_tags(customer.tags or "")
    if text == texts.SELLER_TAGS_CLEAR_WORD:
        current = []
    else:
        for word in _split_tags(text):
            if word.startswith("-"):
                if word[1:] not in current:
                    raise ctx.fail(texts.SELLER_TAG_NOT_SET.format(tag=word[1:]), show_usage=False)
                current.remove(word[1:])
            elif word not in current:
                current.append(word)
    joined = ",".join(current)
    if len(joined) > MAX_TAGS_LENGTH:
        raise ctx.fail(texts.SELLER_TAGS_TOO_LONG)
    customer.tags = joined or None
    customer.updated_at = ctx.now
    return texts.SELLER_TAGS_SET.format(
        customer=customer.display_name, customer_id=customer.id, tags=joined or texts.SELLER_NONE
    )


@seller_command("生日", group=texts.SELLER_GROUP_CUSTOMERS, **texts.SELLER_HELP["生日"])
def birthday(ctx: SellerContext) -> str:
    customer, text = _customer_and_text(ctx, texts.SELLER_BIRTHDAY_EMPTY)
    parsed = parse_birthday(text, local(ctx.config, ctx.now).date())
    if parsed is None:
        raise ctx.fail(texts.SELLER_BIRTHDAY_BAD.format(text=text))
    customer.birthday_month = parsed.month
    customer.birthday_day = parsed.day
    customer.birthday_is_lunar = parsed.is_lunar
    customer.birthday_year = parsed.year
    customer.updated_at = ctx.now
    return texts.SELLER_BIRTHDAY_SET.format(
        customer=customer.display_name,
        customer_id=customer.id,
        birthday=format_birthday(parsed.month, parsed.day, parsed.is_lunar, parsed.year),
    )
