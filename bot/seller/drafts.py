"""待发: messages the bot could not deliver itself, to copy into personal WeChat; 已发 marks one done."""

from __future__ import annotations

from sqlalchemy import select

from bot import texts
from bot.seller.common import paged, parse_ref
from bot.seller.registry import SellerContext, seller_command
from storage.models import Customer
from storage.outbox import count_drafts, list_drafts, mark_draft_done

DRAFTS_PER_PAGE = 5


@seller_command(
    "待发", aliases=("草稿", "代发"), group=texts.SELLER_GROUP_DRAFTS, paged=True, **texts.SELLER_HELP["待发"]
)
def drafts(ctx: SellerContext) -> str:
    total = count_drafts(ctx.session)
    rows = list_drafts(ctx.session, limit=DRAFTS_PER_PAGE, offset=ctx.offset)
    ids = {r.customer_id for r in rows if r.customer_id}
    customers = (
        {c.id: c for c in ctx.session.scalars(select(Customer).where(Customer.id.in_(ids)))} if ids else {}
    )
    lines = []
    for row in rows:
        customer = customers.get(row.customer_id)
        who = (
            texts.SELLER_DRAFT_CUSTOMER.format(name=customer.display_name, customer_id=customer.id)
            if customer
            else (row.openid or "")
        )
        lines.append(texts.SELLER_DRAFT_LINE.format(draft_id=row.id, customer=who, text=row.text))
    return paged(
        ctx,
        header=texts.SELLER_DRAFTS_HEADER.format(total=total),
        lines=lines,
        total=total,
        empty=texts.SELLER_DRAFTS_EMPTY,
    )


@seller_command("已发", aliases=("发了",), group=texts.SELLER_GROUP_DRAFTS, **texts.SELLER_HELP["已发"])
def draft_done(ctx: SellerContext) -> str:
    words = ctx.words
    if len(words) != 1:
        raise ctx.fail(texts.SELLER_NEED_DRAFT_REF)
    draft_id = parse_ref(words[0])
    if draft_id is None:
        raise ctx.fail(texts.SELLER_BAD_DRAFT_REF.format(word=words[0]))
    if not mark_draft_done(ctx.session, draft_id, ctx.now):
        raise ctx.fail(texts.SELLER_DRAFT_NOT_FOUND.format(draft_id=draft_id), show_usage=False)
    return texts.SELLER_DRAFT_DONE.format(draft_id=draft_id, left=count_drafts(ctx.session))
