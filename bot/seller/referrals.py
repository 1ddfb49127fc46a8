"""Referral program for the seller: 推荐 (figures), 审核 (held pairs), 兑换 (redeem), 代理, 积分 (ledger).

Rules and queries live in ``storage/referrals.py``; this module parses the seller's words and words
the answers (texts in ``bot/texts.py``).
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import case, func, select

from bot import referral_rewards, texts
from bot.referrals import ledger_line
from bot.seller.common import PAGE_SIZE, customer_line, get_customer, get_order, parse_ref
from bot.seller.registry import SellerContext, seller_command
from config import parse_list
from storage import referrals as store
from storage.contact import to_halfwidth
from storage.models import Customer, Referral
from storage.orders import format_yuan

LEDGER_ENTRIES_SHOWN = 6
APPROVE_WORDS = ("通过", "同意", "批准", "确认", "可以", "ok")
REJECT_WORDS = ("拒绝", "驳回", "不通过", "不同意", "作废")
_POINTS = re.compile(r"(\d{1,7})(?:积分|分)?")
_COUPON = re.compile(r"(?:券|优惠券)?[¥￥]?(\d{1,6}(?:\.\d{1,2})?)(?:元|块)?(?:券|优惠券)?")


def _help(name: str) -> dict[str, str]:
    return texts.REFERRAL_SELLER_HELP[name]


@seller_command("推荐", aliases=("推荐统计", "转介绍"), group=texts.SELLER_GROUP_REFERRALS, **_help("推荐"))
def referral_figures(ctx: SellerContext) -> str:
    if ctx.args:
        raise ctx.fail(texts.SELLER_NO_ARGS)
    session = ctx.session
    total = store.figures(session, ctx.now)
    recent = store.figures(session, ctx.now, since=ctx.now - dt.timedelta(days=30), top=0)
    # The seller's own accounts are never referral candidates (they are not customers to ask).
    sellers = tuple(
        session.scalars(
            select(Customer.id).where(Customer.openid.in_(parse_list(ctx.config.get("SELLER_OPENIDS"))))
        )
    )
    candidates = store.referral_candidates(
        session, ctx.now, exclude=(*(f.customer.id for f in total.top), *sellers)
    )
    if not total.made and not candidates:
        return texts.SELLER_REFERRALS_NONE
    lines = [
        texts.SELLER_REFERRALS_HEADER,
        texts.SELLER_REFERRALS_TOTALS.format(
            made=total.made, converted=total.converted, held=total.held, reversed=total.reversed
        ),
        texts.SELLER_REFERRALS_RECENT.format(made=recent.made, converted=recent.converted),
        texts.SELLER_REFERRALS_REWARDS.format(
            points=total.points_granted, coupon=format_yuan(total.coupon_granted_cents)
        ),
    ]
    if total.top:
        lines.append(texts.SELLER_REFERRALS_TOP)
        lines.extend(
            texts.SELLER_REFERRALS_TOP_LINE.format(
                line=customer_line(f.customer), made=f.made, converted=f.converted, orders=f.paid_orders
            )
            for f in total.top
        )
    if candidates:
        lines.append(texts.SELLER_REFERRALS_CANDIDATES)
        lines.extend(
            texts.SELLER_REFERRALS_CANDIDATE_LINE.format(
                line=customer_line(c.customer), orders=c.paid_orders, sociable=c.sociable
            )
            for c in candidates
        )
    if total.held:
        lines.append(texts.SELLER_REFERRALS_HELD_HINT.format(held=total.held))
    return "\n".join(lines)


def _review_line(session, referral: Referral) -> str:
    referrer, referee = (
        session.get(Customer, referral.referrer_id),
        session.get(Customer, referral.referee_id),
    )
    return texts.SELLER_REVIEW_LINE.format(
        referral_id=referral.id,
        referrer=customer_line(referrer),
        referee=customer_line(referee),
        reason=texts.REFERRAL_HOLD_REASONS.get(referral.reason or "", referral.reason or ""),
        order=texts.SELLER_REVIEW_LINE_ORDER.format(order_id=referral.order_id) if referral.order_id else "",
    )


@seller_command("审核", aliases=("审批",), group=texts.SELLER_GROUP_REFERRALS, **_help("审核"))
def review(ctx: SellerContext) -> str:
    words = ctx.words
    if not words:
        held = ctx.session.scalars(
            select(Referral).where(Referral.status == store.HELD).order_by(Referral.id).limit(PAGE_SIZE)
        ).all()
        if not held:
            return texts.SELLER_REVIEW_NONE
        return "\n".join([texts.SELLER_REVIEW_HEADER, *(_review_line(ctx.session, r) for r in held)])
    referral_id = parse_ref(words[0])
    if referral_id is None:
        raise ctx.fail(texts.SELLER_REVIEW_NEED_DECISION)
    decision = "".join(words[1:]).lower()
    if decision not in APPROVE_WORDS and decision not in REJECT_WORDS:
        raise ctx.fail(texts.SELLER_REVIEW_NEED_DECISION)
    referral = ctx.session.get(Referral, referral_id)
    if referral is None:
        raise ctx.fail(texts.SELLER_REVIEW_NOT_FOUND.format(referral_id=referral_id), show_usage=False)
    try:
        referral_rewards.review(ctx.session, referral, decision in APPROVE_WORDS, ctx.now, ctx.config)
    except store.ReferralError as exc:
        raise ctx.fail(str(exc), show_usage=False) from exc
    if referral.status == store.REJECTED:
        return texts.SELLER_REVIEW_REJECTED.format(referral_id=referral.id)
    result = (
        texts.SELLER_REVIEW_APPROVED_REWARDED
        if referral.status == store.REWARDED
        else texts.SELLER_REVIEW_APPROVED_WAITING
    )
    return texts.SELLER_REVIEW_APPROVED.format(referral_id=referral.id, result=result)


def _amounts(ctx: SellerContext, word: str) -> tuple[int, int]:
    """``200`` / ``200积分`` → points; ``10元`` / ``¥10`` / ``券10`` → coupon cents."""
    word = to_halfwidth(word).strip()
    if re.search(r"[元块¥￥券]", word):
        match = _COUPON.fullmatch(word)
        if match:
            return 0, round(float(match.group(1)) * 100)
    else:
        match = _POINTS.fullmatch(word)
        if match:
            return int(match.group(1)), 0
    raise ctx.fail(texts.SELLER_REDEEM_BAD_AMOUNT.format(word=word))


@seller_command("兑换", aliases=("抵扣", "用积分"), group=texts.SELLER_GROUP_REFERRALS, **_help("兑换"))
def redeem(ctx: SellerContext) -> str:
    words = ctx.words
    order = get_order(ctx, words[0] if words else None)
    if len(words) != 2:
        raise ctx.fail(texts.SELLER_REDEEM_NEED_AMOUNT)
    points, coupon = _amounts(ctx, words[1])
    try:
        discount = store.redeem(
            ctx.session,
            order,
            points=points,
            coupon_cents=coupon,
            actor=ctx.actor,
            now=ctx.now,
            config=ctx.config,
        )
    except store.ReferralError as exc:
        raise ctx.fail(str(exc), show_usage=False) from exc
    value = store.Rewards.from_config(ctx.config).point_value_cents
    done_points, done_coupon = store.redeemed_on(ctx.session, order.id)
    due = order.amount_cents - done_points * value - done_coupon
    book = store.ledger(ctx.session, order.customer_id)
    what = (
        texts.SELLER_REDEEM_POINTS.format(points=points)
        if points
        else texts.SELLER_REDEEM_COUPON.format(amount=format_yuan(coupon))
    )
    return texts.SELLER_REDEEM_DONE.format(
        order_id=order.id,
        what=what,
        discount=format_yuan(discount),
        due=format_yuan(due),
        customer=customer_line(order.customer),
        points=book.points_balance,
        coupon=format_yuan(book.coupon_balance_cents),
    )


@seller_command("代理", aliases=("升代理", "设为代理"), group=texts.SELLER_GROUP_REFERRALS, **_help("代理"))
def promote(ctx: SellerContext) -> str:
    customer = get_customer(ctx, ctx.args.strip())
    if not store.promote_to_distributor(ctx.session, customer):
        raise ctx.fail(
            texts.SELLER_ALREADY_DISTRIBUTOR.format(line=customer_line(customer)), show_usage=False
        )
    return texts.SELLER_PROMOTED.format(line=customer_line(customer))


@seller_command("积分", aliases=("查积分", "奖励"), group=texts.SELLER_GROUP_REFERRALS, **_help("积分"))
def points(ctx: SellerContext) -> str:
    customer = get_customer(ctx, ctx.args.strip())
    session = ctx.session
    code = store.ensure_code(session, customer)
    book = store.ledger(session, customer.id)
    made, converted = session.execute(
        select(
            func.count(Referral.id),
            func.coalesce(func.sum(case((Referral.status == store.REWARDED, 1), else_=0)), 0),
        ).where(Referral.referrer_id == customer.id)
    ).one()
    lines = [
        texts.SELLER_LEDGER_HEADER.format(line=customer_line(customer), code=code),
        texts.SELLER_LEDGER_POINTS.format(
            balance=book.points_balance,
            earned=book.points_earned,
            spent=book.points_spent,
            reversed=book.points_reversed,
        ),
        texts.SELLER_LEDGER_COUPON.format(
            balance=format_yuan(book.coupon_balance_cents),
            earned=format_yuan(book.coupon_earned_cents),
            spent=format_yuan(book.coupon_spent_cents),
            reversed=format_yuan(book.coupon_reversed_cents),
        ),
        texts.SELLER_LEDGER_REFERRALS.format(
            made=made,
            converted=int(converted),
            referrer=texts.SELLER_LEDGER_REFERRED_BY.format(referrer_id=customer.referrer_id)
            if customer.referrer_id
            else "",
        ),
    ]
    if not book.entries:
        lines.append(texts.SELLER_LEDGER_EMPTY)
    for entry in book.entries[:LEDGER_ENTRIES_SHOWN]:
        order = texts.SELLER_LEDGER_ENTRY_ORDER.format(order_id=entry.order_id) if entry.order_id else ""
        lines.append(ledger_line(entry, ctx.config) + order)
    return "\n".join(lines)
