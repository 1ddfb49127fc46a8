"""Referral program storage: codes, attribution, rewards and the reward ledger.

Rules (issue 7):

- every customer has one short code for life (``ensure_code``), drawn from an alphabet without the
  look-alikes 0/O/1/I; the UNIQUE constraint on ``customer.referral_code`` settles collisions and races;
- one referrer per referee, set before or with the referee's first order and never changed; no
  self-referral; the referee must never have ordered (a still-pending first order is allowed: the
  code may come *with* the first order);
- a pair sharing a phone or an address is ``held`` for the seller instead of rewarded;
- rewards (points and/or coupon cents, both sides, amounts from config) are granted when the
  referee's first order is paid, and reversed by negative ledger entries if that order is cancelled.

The ledger is append-only: ``reward_ledger`` rows with a ``reason`` key (``REASON_*``); balances are sums.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from storage import segments
from storage.models import (
    Complaint,
    Customer,
    CustomerStage,
    InboundMessage,
    Order,
    OrderEvent,
    OrderStatus,
    Referral,
    RewardEntry,
    Testimonial,
)
from storage.upsert import insert_ignore

# 32 symbols: digits and capitals without 0, O, 1, I (read aloud and typed without confusion).
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 6
CODE_ATTEMPTS = 20
_CODE_RE = re.compile(f"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")

DISTRIBUTOR_TAG = "代理"  # one of storage.segments.DISTRIBUTOR_TAGS

# referral.status
PENDING = "pending"
HELD = "held"
REWARDED = "rewarded"
REVERSED = "reversed"
REJECTED = "rejected"

# referral.reason keys (texts.REFERRAL_HOLD_REASONS names them for the seller)
SAME_PHONE = "same_phone"
SAME_ADDRESS = "same_address"
APPROVED = "approved"  # the seller cleared a held pair: never held again for the same reason

# reward_ledger.reason keys
REASON_REFERRER = "referrer_reward"
REASON_REFEREE = "referee_reward"
REASON_REVERSED = "reward_reversed"
REASON_REDEEM = "redeem"
REASON_REDEEM_REFUND = "redeem_refund"

# attribution outcomes
ATTRIBUTED = "attributed"
ATTRIBUTED_HELD = "held"
UNKNOWN_CODE = "unknown_code"
SELF = "self"
ALREADY = "already"
SAME_REFERRER = "same_referrer"
NOT_NEW = "not_new"
CYCLE = "cycle"

REWARD_DEFAULTS = {
    "REFERRAL_REFERRER_POINTS": 200,
    "REFERRAL_REFERRER_COUPON_CENTS": 1500,
    "REFERRAL_REFEREE_POINTS": 100,
    "REFERRAL_REFEREE_COUPON_CENTS": 1000,
    "REFERRAL_POINT_VALUE_CENTS": 1,
}


class ReferralError(ValueError):
    """A request the rules refuse (the message says why, in Chinese, for the seller)."""


@dataclass(frozen=True)
class Rewards:
    """What each side gets when the referee's first order is paid."""

    referrer_points: int
    referrer_coupon_cents: int
    referee_points: int
    referee_coupon_cents: int
    point_value_cents: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Rewards:
        def number(key: str) -> int:
            try:
                return max(int(config.get(key, REWARD_DEFAULTS[key])), 0)
            except (TypeError, ValueError):
                return REWARD_DEFAULTS[key]

        return cls(
            number("REFERRAL_REFERRER_POINTS"),
            number("REFERRAL_REFERRER_COUPON_CENTS"),
            number("REFERRAL_REFEREE_POINTS"),
            number("REFERRAL_REFEREE_COUPON_CENTS"),
            max(number("REFERRAL_POINT_VALUE_CENTS"), 1),
        )


# --- Codes -------------------------------------------------------------------------------------


def generate_code(length: int = CODE_LENGTH) -> str:
    """A random code over ``CODE_ALPHABET`` with at least one digit and one letter, so a code sent
    alone is recognised as a code (not a number or a word). ``secrets``: codes are not guessable."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def normalize_code(text: str | None) -> str | None:
    """Upper-case, trimmed; None when it cannot be one of our codes."""
    code = (text or "").strip().upper()
    return code if _CODE_RE.match(code) else None


def ensure_code(session: Session, customer: Customer) -> str:
    """The customer's code, assigned on first need and never changed afterwards.

    The conditional UPDATE only fills an empty code, so two workers racing for the same customer
    agree on one value; a collision with another customer's code (UNIQUE) just draws again.
    """
    if customer.referral_code:
        return customer.referral_code
    session.flush()
    table = Customer.__table__
    # A failed statement aborts a PostgreSQL transaction, so a collision needs a savepoint there;
    # SQLite undoes just the failed statement (and a savepoint costs two more round trips).
    guard = session.begin_nested if session.get_bind().dialect.name != "sqlite" else contextlib.nullcontext
    for _ in range(CODE_ATTEMPTS):
        code = generate_code()
        try:
            with guard():
                won = session.execute(
                    update(table)
                    .where(table.c.id == customer.id, table.c.referral_code.is_(None))
                    .values(referral_code=code)
                    .returning(table.c.referral_code)
                ).scalar()
        except IntegrityError:
            continue
        if won:
            set_committed_value(customer, "referral_code", won)
            return won
        session.refresh(customer, ["referral_code"])  # another worker assigned one first
        if customer.referral_code:
            return customer.referral_code
    raise RuntimeError("could not assign a unique referral code")


def find_by_code(session: Session, code: str | None) -> Customer | None:
    code = normalize_code(code)
    if code is None:
        return None
    return session.scalar(select(Customer).where(Customer.referral_code == code))


# --- Attribution -------------------------------------------------------------------------------


@dataclass
class Attribution:
    outcome: str
    referral: Referral | None = None
    referrer: Customer | None = None


def referral_of(session: Session, referee_id: int) -> Referral | None:
    return session.scalar(select(Referral).where(Referral.referee_id == referee_id))


def _orders_of(session: Session, customer_id: int) -> list[Order]:
    return list(session.scalars(select(Order).where(Order.customer_id == customer_id).order_by(Order.id)))


def is_new_customer(session: Session, customer: Customer) -> bool:
    """Never ordered — or only the first order, placed but not yet paid (the code came with it)."""
    orders = _orders_of(session, customer.id)
    if not orders:
        return True
    return len(orders) == 1 and orders[0].status == OrderStatus.PENDING and orders[0].paid_at is None


def attribute(
    session: Session, referee: Customer, code: str | None, source: str, now: dt.datetime
) -> Attribution:
    """Make the owner of ``code`` the referrer of ``referee`` if every rule allows it."""
    referrer = find_by_code(session, code)
    if referrer is None:
        return Attribution(UNKNOWN_CODE)
    if referrer.id == referee.id:
        return Attribution(SELF, referrer=referrer)
    existing = referral_of(session, referee.id)
    if existing is not None or referee.referrer_id is not None:
        same = (existing.referrer_id if existing else referee.referrer_id) == referrer.id
        return Attribution(SAME_REFERRER if same else ALREADY, existing, referrer)
    if referrer.referrer_id == referee.id:
        return Attribution(CYCLE, referrer=referrer)
    if not is_new_customer(session, referee):
        return Attribution(NOT_NEW, referrer=referrer)

    first_order = next(iter(_orders_of(session, referee.id)), None)
    reason = suspicion(session, referrer, referee)
    inserted = insert_ignore(
        session,
        Referral.__table__,
        {
            "referrer_id": referrer.id,
            "referee_id": referee.id,
            "source": source,
            "status": HELD if reason else PENDING,
            "reason": reason,
            "order_id": first_order.id if first_order else None,
            "created_at": now,
        },
        ["referee_id"],
    )
    referral = referral_of(session, referee.id)
    if not inserted:  # a concurrent message attributed this referee first: it stands
        return Attribution(
            SAME_REFERRER if referral.referrer_id == referrer.id else ALREADY, referral, referrer
        )
    session.execute(
        update(Customer.__table__)
        .where(Customer.__table__.c.id == referee.id, Customer.__table__.c.referrer_id.is_(None))
        .values(referrer_id=referrer.id)
    )
    session.refresh(referee, ["referrer_id"])
    if first_order is not None:
        first_order.referral_code_used = referrer.referral_code
    return Attribution(ATTRIBUTED_HELD if reason else ATTRIBUTED, referral, referrer)


def _digits(phone: str | None) -> str | None:
    digits = re.sub(r"\D", "", phone or "")
    return digits[-11:] if len(digits) >= 7 else None


def _address_key(*parts: str | None) -> str | None:
    text = re.sub(r"[\s,，。.·\-#]", "", "".join(p for p in parts if p))
    return text or None


def _contact_keys(session: Session, customer: Customer) -> tuple[set[str], set[str]]:
    """Every phone and address known for the customer: profile and orders."""
    phones = {_digits(customer.phone)}
    addresses = {
        _address_key(customer.province, customer.city, customer.district, customer.address_detail)
        if customer.address_detail
        else None
    }
    for order in _orders_of(session, customer.id):
        phones.add(_digits(order.phone))
        if order.address_detail:
            addresses.add(_address_key(order.province, order.city, order.district, order.address_detail))
    return phones - {None}, addresses - {None}


def suspicion(session: Session, referrer: Customer, referee: Customer) -> str | None:
    """``SAME_PHONE`` / ``SAME_ADDRESS`` when the pair looks like one person; None otherwise."""
    referrer_phones, referrer_addresses = _contact_keys(session, referrer)
    referee_phones, referee_addresses = _contact_keys(session, referee)
    if referrer_phones & referee_phones:
        return SAME_PHONE
    if referrer_addresses & referee_addresses:
        return SAME_ADDRESS
    return None


# --- Rewards on payment, reversal on cancellation -----------------------------------------------
# The rules (when to reward, hold or reverse, and the notices) live in ``bot/referral_rewards.py``;
# these are the ledger writes they make.


def is_first_paid_order(session: Session, order: Order) -> bool:
    earlier = session.scalar(
        select(func.count())
        .select_from(Order)
        .where(Order.customer_id == order.customer_id, Order.id != order.id, Order.paid_at.is_not(None))
    )
    return not earlier


def record_rewards(
    session: Session, referral: Referral, order: Order, rewards: Rewards, now: dt.datetime
) -> None:
    """Both sides' ledger entries; the referrer becomes a fan (a distributor stays one)."""
    sides = (
        (referral.referrer_id, REASON_REFERRER, rewards.referrer_points, rewards.referrer_coupon_cents),
        (referral.referee_id, REASON_REFEREE, rewards.referee_points, rewards.referee_coupon_cents),
    )
    for customer_id, reason, points, coupon in sides:
        if points or coupon:
            session.add(
                RewardEntry(
                    customer_id=customer_id,
                    points=points,
                    coupon_cents=coupon,
                    reason=reason,
                    referral_id=referral.id,
                    order_id=order.id,
                    created_at=now,
                )
            )
    referral.status = REWARDED
    referral.rewarded_at = now
    referral.order_id = order.id
    session.flush()
    segments.refresh_customer(session, session.get(Customer, referral.referrer_id), now)  # now a fan


def reverse_rewards(session: Session, referral: Referral, now: dt.datetime) -> None:
    """Cancel a referral's rewards with negative entries (the ledger is never edited)."""
    grants = session.scalars(
        select(RewardEntry).where(
            RewardEntry.referral_id == referral.id, RewardEntry.reason.in_((REASON_REFERRER, REASON_REFEREE))
        )
    ).all()
    for grant in grants:
        session.add(
            RewardEntry(
                customer_id=grant.customer_id,
                points=-grant.points,
                coupon_cents=-grant.coupon_cents,
                reason=REASON_REVERSED,
                referral_id=referral.id,
                order_id=grant.order_id,
                created_at=now,
            )
        )
    referral.status = REVERSED
    session.flush()
    segments.refresh_customer(session, session.get(Customer, referral.referrer_id), now)  # a fan no more?


def has_converted_referral(session: Session, customer_id: int) -> bool:
    """True when one of the customer's referees has paid (and it was not reversed): a fan."""
    return bool(
        session.scalar(
            select(func.count())
            .select_from(Referral)
            .where(Referral.referrer_id == customer_id, Referral.status == REWARDED)
        )
    )


# --- Seller actions ----------------------------------------------------------------------------


def promote_to_distributor(session: Session, customer: Customer) -> bool:
    """Make the customer a distributor (代理); False when they already are one."""
    if customer.stage == CustomerStage.DISTRIBUTOR:
        return False
    customer.stage = CustomerStage.DISTRIBUTOR
    # The stage recompute (storage/segments.py) keeps distributors by this tag.
    tags = [t for t in (customer.tags or "").split(",") if t.strip()]
    if DISTRIBUTOR_TAG not in tags:
        customer.tags = ",".join([*tags, DISTRIBUTOR_TAG])
    return True


# --- Ledger ------------------------------------------------------------------------------------


@dataclass
class Ledger:
    """A customer's rewards: totals per kind and the entries, newest first."""

    points_earned: int = 0
    points_spent: int = 0
    points_reversed: int = 0
    coupon_earned_cents: int = 0
    coupon_spent_cents: int = 0
    coupon_reversed_cents: int = 0
    entries: list[RewardEntry] = field(default_factory=list)

    @property
    def points_balance(self) -> int:
        return self.points_earned - self.points_spent - self.points_reversed

    @property
    def coupon_balance_cents(self) -> int:
        return self.coupon_earned_cents - self.coupon_spent_cents - self.coupon_reversed_cents


def ledger(session: Session, customer_id: int) -> Ledger:
    entries = list(
        session.scalars(
            select(RewardEntry)
            .where(RewardEntry.customer_id == customer_id)
            .order_by(RewardEntry.created_at.desc(), RewardEntry.id.desc())
        )
    )
    result = Ledger(entries=entries)
    for e in entries:
        if e.reason == REASON_REVERSED:
            result.points_reversed -= e.points
            result.coupon_reversed_cents -= e.coupon_cents
        elif e.reason in (REASON_REDEEM, REASON_REDEEM_REFUND):
            result.points_spent -= e.points
            result.coupon_spent_cents -= e.coupon_cents
        else:
            result.points_earned += e.points
            result.coupon_earned_cents += e.coupon_cents
    return result


def redeemed_on(session: Session, order_id: int) -> tuple[int, int]:
    """(points, coupon cents) currently redeemed against the order."""
    points, coupon = session.execute(
        select(
            func.coalesce(func.sum(RewardEntry.points), 0),
            func.coalesce(func.sum(RewardEntry.coupon_cents), 0),
        ).where(
            RewardEntry.order_id == order_id, RewardEntry.reason.in_((REASON_REDEEM, REASON_REDEEM_REFUND))
        )
    ).one()
    return -int(points), -int(coupon)


def redeem(
    session: Session,
    order: Order,
    *,
    points: int = 0,
    coupon_cents: int = 0,
    actor: str,
    now: dt.datetime,
    config: Mapping[str, Any],
) -> int:
    """Spend the order's customer's points and/or coupon balance on it; returns the discount in cents.

    Raises ReferralError (nothing changed) when the balance, the order's state or its amount do not allow it.
    """
    if points < 0 or coupon_cents < 0 or not (points or coupon_cents):
        raise ReferralError("兑换数量必须大于0")
    if order.status == OrderStatus.CANCELLED:
        raise ReferralError(f"订单 #{order.id} 已取消，不能兑换")
    # Lock the customer's row (PostgreSQL) so two redemptions cannot both spend one balance.
    session.execute(select(Customer.id).where(Customer.id == order.customer_id).with_for_update())
    balance = ledger(session, order.customer_id)
    if points > balance.points_balance:
        raise ReferralError(f"积分不足：可用 {max(balance.points_balance, 0)} 分")
    if coupon_cents > balance.coupon_balance_cents:
        raise ReferralError(f"优惠券余额不足：可用 {max(balance.coupon_balance_cents, 0) / 100:g} 元")
    value = Rewards.from_config(config).point_value_cents
    done_points, done_coupon = redeemed_on(session, order.id)
    discount = points * value + coupon_cents
    if discount + done_points * value + done_coupon > order.amount_cents:
        raise ReferralError(f"抵扣超过订单 #{order.id} 的金额")
    session.add(
        RewardEntry(
            customer_id=order.customer_id,
            points=-points,
            coupon_cents=-coupon_cents,
            reason=REASON_REDEEM,
            order_id=order.id,
            created_at=now,
        )
    )
    session.add(
        OrderEvent(
            order=order,
            action="redeem",
            actor=actor,
            created_at=now,
            detail=f"points={points} coupon_cents={coupon_cents} discount_cents={discount}",
        )
    )
    session.flush()
    return discount


def refund_redemptions(session: Session, order: Order, now: dt.datetime) -> None:
    points, coupon = redeemed_on(session, order.id)
    if points or coupon:
        session.add(
            RewardEntry(
                customer_id=order.customer_id,
                points=points,
                coupon_cents=coupon,
                reason=REASON_REDEEM_REFUND,
                order_id=order.id,
                created_at=now,
            )
        )
        session.flush()


# --- Figures -----------------------------------------------------------------------------------


@dataclass
class ReferrerFigure:
    customer: Customer
    made: int
    converted: int
    paid_orders: int


@dataclass
class Figures:
    made: int
    converted: int
    held: int
    reversed: int
    rejected: int
    points_granted: int
    coupon_granted_cents: int
    top: list[ReferrerFigure]


def figures(session: Session, now: dt.datetime, since: dt.datetime | None = None, top: int = 5) -> Figures:
    """Referrals made / converted / held, rewards granted net of reversals, and the top referrers.

    Top referrers are ranked by converted referrals, then referrals made, then paid orders in the
    last 12 months (the seed's referral candidates: frequent buyers who share).
    """

    def count(*where) -> int:
        stmt = select(func.count()).select_from(Referral).where(*where)
        if since is not None:
            stmt = stmt.where(Referral.created_at >= since)
        return int(session.scalar(stmt) or 0)

    granted = select(
        func.coalesce(func.sum(RewardEntry.points), 0), func.coalesce(func.sum(RewardEntry.coupon_cents), 0)
    ).where(RewardEntry.reason.in_((REASON_REFERRER, REASON_REFEREE, REASON_REVERSED)))
    if since is not None:
        granted = granted.where(RewardEntry.created_at >= since)
    points, coupon = session.execute(granted).one()

    converted = func.sum(case((Referral.status == REWARDED, 1), else_=0))
    rows = session.execute(
        select(Referral.referrer_id, func.count().label("made"), converted.label("converted"))
        .group_by(Referral.referrer_id)
        .order_by(converted.desc(), func.count().desc(), Referral.referrer_id)
        .limit(top * 4)
    ).all()
    year_ago = now - dt.timedelta(days=365)
    top_rows = []
    for referrer_id, made, conv in rows:
        paid = (
            session.scalar(
                select(func.count())
                .select_from(Order)
                .where(
                    Order.customer_id == referrer_id,
                    Order.paid_at >= year_ago,
                    Order.status != OrderStatus.CANCELLED,
                )
            )
            or 0
        )
        top_rows.append(
            ReferrerFigure(session.get(Customer, referrer_id), int(made), int(conv or 0), int(paid))
        )
    top_rows.sort(key=lambda f: (-f.converted, -f.made, -f.paid_orders, f.customer.id))
    return Figures(
        made=count(),
        converted=count(Referral.status == REWARDED),
        held=count(Referral.status == HELD),
        reversed=count(Referral.status == REVERSED),
        rejected=count(Referral.status == REJECTED),
        points_granted=int(points),
        coupon_granted_cents=int(coupon),
        top=top_rows[:top],
    )


@dataclass
class Candidate:
    customer: Customer
    paid_orders: int
    sociable: int  # testimonials + thanks/praise messages + referrals made


def referral_candidates(
    session: Session, now: dt.datetime, *, limit: int = 5, min_orders: int = 2, exclude: tuple[int, ...] = ()
) -> list[Candidate]:
    """The seed's referral candidates: customers who bought at least ``min_orders`` times in the last
    12 months and are sociable (praise, testimonials, referrals), most sociable first.

    Opted-out customers and those with an open complaint are left out: they are not to be asked.
    """
    year_ago = now - dt.timedelta(days=365)
    paid = (
        select(Order.customer_id, func.count().label("n"))
        .where(Order.paid_at >= year_ago, Order.status != OrderStatus.CANCELLED)
        .group_by(Order.customer_id)
        .subquery()
    )
    praise = (
        select(InboundMessage.customer_id, func.count().label("n"))
        .where(InboundMessage.intent.in_(("thanks_praise", "product_good")))
        .group_by(InboundMessage.customer_id)
        .subquery()
    )
    stories = (
        select(Testimonial.customer_id, func.count().label("n")).group_by(Testimonial.customer_id).subquery()
    )
    made = (
        select(Referral.referrer_id.label("customer_id"), func.count().label("n"))
        .group_by(Referral.referrer_id)
        .subquery()
    )
    open_complaints = select(Complaint.customer_id).where(Complaint.status == "open")
    sociable = func.coalesce(praise.c.n, 0) + func.coalesce(stories.c.n, 0) + func.coalesce(made.c.n, 0)
    stmt = (
        select(Customer, paid.c.n, sociable)
        .join(paid, paid.c.customer_id == Customer.id)
        .outerjoin(praise, praise.c.customer_id == Customer.id)
        .outerjoin(stories, stories.c.customer_id == Customer.id)
        .outerjoin(made, made.c.customer_id == Customer.id)
        .where(paid.c.n >= min_orders, Customer.opted_out.is_(False), Customer.id.not_in(open_complaints))
        .order_by(sociable.desc(), paid.c.n.desc(), Customer.id)
        .limit(limit)
    )
    if exclude:
        stmt = stmt.where(Customer.id.not_in(exclude))
    return [Candidate(c, int(n), int(soc)) for c, n, soc in session.execute(stmt)]
