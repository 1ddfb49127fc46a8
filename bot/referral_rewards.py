"""Referral rewards: when a referee's first paid order rewards both sides, holds the pair for the
seller, or is reversed by a cancellation, and the notices each of those sends.

Called after every order change through the database's order hooks (installed by
:func:`bot.order_reactions.install`); the ledger itself is written by ``storage/referrals.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from bot import texts
from bot.referrals import notify_sellers_of_hold, reward_text
from storage import referrals as store
from storage.models import Customer, Order, OrderStatus, Referral
from storage.outbox import enqueue


def on_order_change(
    session: Session, order: Order, action: str, now: dt.datetime, config: Mapping[str, Any]
) -> None:
    """The referral effects of an order change: rewards on the first payment, reversal on cancel."""
    if action not in ("pay", "cancel"):
        return
    if action == "cancel":
        store.refund_redemptions(session, order, now)
    referral = store.referral_of(session, order.customer_id)
    if referral is None:
        return
    if action == "pay":
        _on_referee_paid(session, referral, order, now, config)
    elif referral.order_id == order.id and referral.status == store.REWARDED:
        store.reverse_rewards(session, referral, now)


def _on_referee_paid(
    session: Session, referral: Referral, order: Order, now: dt.datetime, config: Mapping[str, Any]
) -> None:
    if referral.status not in (store.PENDING, store.HELD) or not store.is_first_paid_order(session, order):
        return
    referral.order_id = order.id
    if referral.status == store.HELD:
        return  # waits for the seller's review
    if referral.reason != store.APPROVED:
        referrer, referee = (
            session.get(Customer, referral.referrer_id),
            session.get(Customer, referral.referee_id),
        )
        reason = store.suspicion(session, referrer, referee)
        if reason:
            referral.status, referral.reason = store.HELD, reason
            notify_sellers_of_hold(session, referral, config, now)
            return
    grant_rewards(session, referral, order, now, config)


def grant_rewards(
    session: Session, referral: Referral, order: Order, now: dt.datetime, config: Mapping[str, Any]
) -> None:
    """Reward both sides (amounts from config) and tell them."""
    rewards = store.Rewards.from_config(config)
    store.record_rewards(session, referral, order, rewards, now)
    _enqueue_reward_notices(session, referral, rewards, now)


def _enqueue_reward_notices(
    session: Session, referral: Referral, rewards: store.Rewards, now: dt.datetime
) -> None:
    """Tell both sides their reward arrived (account information, so not subject to marketing rules)."""
    sides = (
        (
            "referrer",
            referral.referrer_id,
            texts.REFERRAL_REWARD_NOTICE_REFERRER,
            rewards.referrer_points,
            rewards.referrer_coupon_cents,
        ),
        (
            "referee",
            referral.referee_id,
            texts.REFERRAL_REWARD_NOTICE_REFEREE,
            rewards.referee_points,
            rewards.referee_coupon_cents,
        ),
    )
    for side, customer_id, template, points, coupon in sides:
        if not (points or coupon):
            continue
        customer = session.get(Customer, customer_id)
        enqueue(
            session,
            dedupe_key=f"referral:reward:{referral.id}:{side}",
            kind="referral_reward",
            text=template.format(reward=reward_text(points, coupon)),
            now=now,
            customer_id=customer_id,
            openid=customer.openid,
            transactional=True,
            payload={"referral_id": referral.id},
        )


def review(
    session: Session, referral: Referral, approve: bool, now: dt.datetime, config: Mapping[str, Any]
) -> Referral:
    """The seller's decision on a held pair. Approved: rewarded now if the first order is paid."""
    if referral.status != store.HELD:
        raise store.ReferralError(f"推荐 #{referral.id} 不在待审核状态")
    if not approve:
        referral.status = store.REJECTED
        return referral
    referral.status, referral.reason = store.PENDING, store.APPROVED
    order = session.get(Order, referral.order_id) if referral.order_id else None
    if order is not None and order.paid_at is not None and order.status != OrderStatus.CANCELLED:
        grant_rewards(session, referral, order, now, config)
    return referral
