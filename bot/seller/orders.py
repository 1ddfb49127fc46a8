"""Orders: 记单 (record by hand), 付款, 发货, 收货, 取消, 订单 (details and history), 未付款, 未发货."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from bot import texts
from bot.customer_replies import load_catalogue
from bot.notices import enqueue_shipping_notice
from bot.order_parser import parse_order
from bot.seller.common import (
    PAGE_SIZE,
    get_customer,
    get_order,
    items_text,
    order_line,
    outbox_key_exists,
    paged,
    short_time,
)
from bot.seller.registry import SellerContext, seller_command
from storage import orders as order_store
from storage.models import Order, OrderStatus, Product
from storage.orders import ItemSpec, OrderError, format_yuan

TRACKING_NO = re.compile(r"[A-Za-z0-9-]{6,40}")
MAX_COURIER = 30
PAID_FLAG = re.compile(r"\s*(?:已付款|已付|付过了)\s*$")


def _transition(ctx: SellerContext, action: str, done: str) -> str:
    words = ctx.words
    order = get_order(ctx, words[0] if words else None)
    detail = " ".join(words[1:]) or None
    try:
        order_store.transition(ctx.session, order, action, actor=ctx.actor, now=ctx.now, detail=detail)
    except OrderError as exc:
        raise ctx.fail(str(exc), show_usage=False) from exc
    return done.format(line=order_line(order))


@seller_command(
    "付款", aliases=("已付款", "收款"), group=texts.SELLER_GROUP_ORDERS, **texts.SELLER_HELP["付款"]
)
def pay(ctx: SellerContext) -> str:
    return _transition(ctx, "pay", texts.SELLER_ORDER_PAID)


@seller_command("发货", aliases=("发出",), group=texts.SELLER_GROUP_ORDERS, **texts.SELLER_HELP["发货"])
def ship(ctx: SellerContext) -> str:
    words = ctx.words
    order = get_order(ctx, words[0] if words else None)
    if len(words) < 3:
        raise ctx.fail(texts.SELLER_SHIP_NEED_TRACKING)
    if len(words) > 3:
        raise ctx.fail(texts.SELLER_SHIP_TOO_MANY)
    courier, tracking_no = words[1], words[2].upper()
    if len(courier) > MAX_COURIER or TRACKING_NO.fullmatch(courier):
        raise ctx.fail(texts.SELLER_SHIP_BAD_COURIER.format(word=courier))
    if not TRACKING_NO.fullmatch(tracking_no):
        raise ctx.fail(texts.SELLER_SHIP_BAD_TRACKING.format(word=words[2]))
    try:
        order_store.ship(ctx.session, order, courier, tracking_no, actor=ctx.actor, now=ctx.now)
    except OrderError as exc:
        raise ctx.fail(str(exc), show_usage=False) from exc
    already = outbox_key_exists(ctx.session, f"ship:order:{order.id}")
    enqueue_shipping_notice(ctx.session, order, ctx.now)
    notice = texts.SELLER_SHIP_NOTICE_ALREADY if already else texts.SELLER_SHIP_NOTICE_QUEUED
    return texts.SELLER_ORDER_SHIPPED.format(
        line=order_line(order), courier=courier, tracking_no=tracking_no, notice=notice
    )


@seller_command(
    "收货", aliases=("签收", "已收货"), group=texts.SELLER_GROUP_ORDERS, **texts.SELLER_HELP["收货"]
)
def receive(ctx: SellerContext) -> str:
    return _transition(ctx, "receive", texts.SELLER_ORDER_RECEIVED)


@seller_command(
    "取消", aliases=("取消订单", "撤单"), group=texts.SELLER_GROUP_ORDERS, **texts.SELLER_HELP["取消"]
)
def cancel(ctx: SellerContext) -> str:
    return _transition(ctx, "cancel", texts.SELLER_ORDER_CANCELLED)


@seller_command("订单", aliases=("查单",), group=texts.SELLER_GROUP_ORDERS, **texts.SELLER_HELP["订单"])
def show_order(ctx: SellerContext) -> str:
    words = ctx.words
    if len(words) != 1:
        raise ctx.fail(texts.SELLER_NEED_ORDER_REF)
    order = get_order(ctx, words[0])
    lines = [
        texts.SELLER_ORDER_HEADER.format(
            order_id=order.id,
            status=order_store.STATUS_LABELS[order.status],
            customer=order.customer.display_name,
            customer_id=order.customer_id,
        ),
        texts.SELLER_ORDER_ITEMS.format(items=items_text(order), total=format_yuan(order.amount_cents)),
    ]
    if order.tracking_no:
        lines.append(
            texts.SELLER_ORDER_TRACKING.format(courier=order.courier or "", tracking_no=order.tracking_no)
        )
    lines.append(texts.SELLER_ORDER_HISTORY)
    for event in order.events:
        who = _actor_label(ctx, event.actor)
        detail = f" {event.detail}" if event.detail else ""
        lines.append(
            texts.SELLER_ORDER_EVENT.format(
                time=short_time(ctx.config, event.created_at),
                action=texts.SELLER_EVENT_LABELS.get(event.action, event.action),
                actor=who,
                detail=detail,
            )
        )
    return "\n".join(lines)


def _actor_label(ctx: SellerContext, actor: str) -> str:
    if actor == ctx.actor:
        return texts.SELLER_ACTOR_ME
    return texts.SELLER_ACTOR_LABELS.get(actor, texts.SELLER_ACTOR_OTHER_SELLER)


def _status_list(ctx: SellerContext, status: str, header: str, empty: str) -> str:
    session = ctx.session
    total = session.scalar(select(func.count()).select_from(Order).where(Order.status == status)) or 0
    rows = session.scalars(
        select(Order)
        .where(Order.status == status)
        .order_by(Order.created_at, Order.id)
        .options(selectinload(Order.items), selectinload(Order.customer))
        .offset(ctx.offset)
        .limit(PAGE_SIZE)
    ).all()
    lines = [f"{order_line(o)} · {short_time(ctx.config, o.created_at)}" for o in rows]
    return paged(ctx, header=header.format(total=total), lines=lines, total=total, empty=empty)


@seller_command(
    "未付款", aliases=("待付款",), group=texts.SELLER_GROUP_ORDERS, paged=True, **texts.SELLER_HELP["未付款"]
)
def unpaid(ctx: SellerContext) -> str:
    return _status_list(ctx, OrderStatus.PENDING, texts.SELLER_UNPAID_HEADER, texts.SELLER_UNPAID_EMPTY)


@seller_command(
    "未发货", aliases=("待发货",), group=texts.SELLER_GROUP_ORDERS, paged=True, **texts.SELLER_HELP["未发货"]
)
def unshipped(ctx: SellerContext) -> str:
    return _status_list(ctx, OrderStatus.PAID, texts.SELLER_UNSHIPPED_HEADER, texts.SELLER_UNSHIPPED_EMPTY)


@seller_command(
    "记单", aliases=("补单", "录单"), group=texts.SELLER_GROUP_ORDERS, **texts.SELLER_HELP["记单"]
)
def record_order(ctx: SellerContext) -> str:
    """An order agreed elsewhere (a personal WeChat chat, a call): customer, products, maybe 已付款."""
    words = ctx.words
    if len(words) < 2:
        raise ctx.fail(texts.SELLER_RECORD_NEED_ITEMS)
    customer = get_customer(ctx, words[0])
    rest = ctx.args.split(None, 1)[1]
    paid_match = PAID_FLAG.search(rest)
    if paid_match:
        rest = rest[: paid_match.start()]
    catalogue = load_catalogue(ctx.session)
    parsed = parse_order(rest, catalogue)
    if parsed.ambiguous:
        ambiguity = parsed.ambiguous[0]
        raise ctx.fail(
            texts.SELLER_RECORD_AMBIGUOUS.format(
                word=ambiguity.word, options="、".join(c.name for c in ambiguity.candidates)
            )
        )
    if not parsed.items:
        raise ctx.fail(
            texts.SELLER_RECORD_NO_PRODUCT.format(
                text=rest.strip(),
                catalogue="、".join(c.name for c in catalogue) or texts.SELLER_PRODUCTS_EMPTY,
            )
        )
    products = {p.id: p for p in _products(ctx, [i.product.product_id for i in parsed.items])}
    specs = [ItemSpec(products[i.product.product_id], i.quantity) for i in parsed.items]
    try:
        order = order_store.create_order(
            ctx.session,
            customer,
            specs,
            actor=ctx.actor,
            now=ctx.now,
            source="seller",
            recipient_name=customer.name,
            phone=customer.phone,
            province=customer.province,
            city=customer.city,
            district=customer.district,
            address_detail=customer.address_detail,
        )
        if paid_match:
            order_store.transition(ctx.session, order, "pay", actor=ctx.actor, now=ctx.now)
    except OrderError as exc:
        raise ctx.fail(str(exc)) from exc
    status = order_store.STATUS_LABELS[order.status]
    missing = texts.SELLER_RECORD_NO_ADDRESS if not (customer.phone and customer.address) else ""
    return texts.SELLER_ORDER_RECORDED.format(line=order_line(order), status=status, missing=missing)


def _products(ctx: SellerContext, ids: list[int]) -> list[Product]:
    return list(ctx.session.scalars(select(Product).where(Product.id.in_(ids))))
