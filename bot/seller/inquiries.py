"""Inquiries: 咨询 (open ones), 回复 (answer through the bot), 关闭 (close without answering)."""

from __future__ import annotations

from sqlalchemy import func, select

from bot import texts
from bot.seller.common import PAGE_SIZE, outbox_key_exists, paged, parse_ref, short_time
from bot.seller.registry import SellerContext, seller_command
from storage import inquiries as inquiry_store
from storage.models import Customer, Inquiry, Product
from storage.outbox import enqueue

MAX_ANSWER = 600
QUESTION_SHOWN = 40


def _question(text: str) -> str:
    return text if len(text) <= QUESTION_SHOWN else text[:QUESTION_SHOWN] + "…"


@seller_command(
    "咨询",
    aliases=("待回复", "问题"),
    group=texts.SELLER_GROUP_INQUIRIES,
    paged=True,
    **texts.SELLER_HELP["咨询"],
)
def open_inquiries(ctx: SellerContext) -> str:
    session = ctx.session
    total = (
        session.scalar(select(func.count()).select_from(Inquiry).where(Inquiry.status == inquiry_store.OPEN))
        or 0
    )
    rows = session.execute(
        select(Inquiry, Customer, Product.name)
        .join(Customer, Customer.id == Inquiry.customer_id)
        .outerjoin(Product, Product.id == Inquiry.product_id)
        .where(Inquiry.status == inquiry_store.OPEN)
        .order_by(Inquiry.created_at, Inquiry.id)
        .offset(ctx.offset)
        .limit(PAGE_SIZE)
    ).all()
    lines = [
        texts.SELLER_INQUIRY_LINE.format(
            inquiry_id=inquiry.id,
            customer=customer.display_name,
            time=short_time(ctx.config, inquiry.created_at),
            product=texts.SELLER_INQUIRY_PRODUCT.format(product=product) if product else "",
            text=_question(inquiry.text),
        )
        for inquiry, customer, product in rows
    ]
    return paged(
        ctx,
        header=texts.SELLER_INQUIRIES_HEADER.format(total=total),
        lines=lines,
        total=total,
        empty=texts.SELLER_INQUIRIES_EMPTY,
    )


def _get_inquiry(ctx: SellerContext, word: str | None) -> Inquiry:
    inquiry_id = parse_ref(word)
    if inquiry_id is None:
        raise ctx.fail(
            texts.SELLER_NEED_INQUIRY_REF if not word else texts.SELLER_BAD_INQUIRY_REF.format(word=word)
        )
    inquiry = ctx.session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise ctx.fail(texts.SELLER_INQUIRY_NOT_FOUND.format(inquiry_id=inquiry_id), show_usage=False)
    return inquiry


@seller_command("回复", aliases=("答复",), group=texts.SELLER_GROUP_INQUIRIES, **texts.SELLER_HELP["回复"])
def answer(ctx: SellerContext) -> str:
    parts = ctx.args.split(None, 1)
    inquiry = _get_inquiry(ctx, parts[0] if parts else None)
    if len(parts) < 2 or not parts[1].strip():
        raise ctx.fail(texts.SELLER_ANSWER_EMPTY)
    text = parts[1].strip()
    if len(text) > MAX_ANSWER:
        raise ctx.fail(texts.SELLER_ANSWER_TOO_LONG.format(limit=MAX_ANSWER))
    if inquiry.status == inquiry_store.CLOSED:
        raise ctx.fail(texts.SELLER_INQUIRY_IS_CLOSED.format(inquiry_id=inquiry.id), show_usage=False)
    key = f"inquiry-answer:{inquiry.id}"
    if outbox_key_exists(ctx.session, key):
        raise ctx.fail(texts.SELLER_INQUIRY_ALREADY_ANSWERED.format(inquiry_id=inquiry.id), show_usage=False)
    message = texts.SELLER_ANSWER_TO_CUSTOMER.format(question=_question(inquiry.text), answer=text)
    enqueue(
        ctx.session,
        dedupe_key=key,
        kind="inquiry_answer",
        text=message,
        customer_id=inquiry.customer_id,
        transactional=True,
        now=ctx.now,
        payload={"inquiry_id": inquiry.id, "seller": ctx.actor},
    )
    inquiry_store.answer_inquiry(ctx.session, inquiry, text, ctx.now)
    customer = ctx.session.get(Customer, inquiry.customer_id)
    return texts.SELLER_ANSWER_QUEUED.format(inquiry_id=inquiry.id, customer=customer.display_name)


@seller_command(
    "关闭", aliases=("关闭咨询",), group=texts.SELLER_GROUP_INQUIRIES, **texts.SELLER_HELP["关闭"]
)
def close(ctx: SellerContext) -> str:
    words = ctx.words
    inquiry = _get_inquiry(ctx, words[0] if words else None)
    if inquiry.status == inquiry_store.CLOSED:
        return texts.SELLER_INQUIRY_ALREADY_CLOSED.format(inquiry_id=inquiry.id)
    inquiry.status = inquiry_store.CLOSED
    inquiry.closed_at = ctx.now
    return texts.SELLER_INQUIRY_CLOSED.format(inquiry_id=inquiry.id)
