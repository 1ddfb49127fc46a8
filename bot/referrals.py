"""The referral program in the conversation: codes typed or scanned, the three moments, the ledger.

The three moments to ask (DOMAIN.md): (1) the order confirmation, (2) a thanks/praise message,
(3) "the product is good" — which also asks for a short testimonial. One ask per customer per
moment kind per ``REFERRAL_ASK_INTERVAL_DAYS`` (``kv_store`` ``referral:asked:<moment>:<customer>``;
so the order confirmation's mention of the code never uses up the praise moment), at most one
in a message (``customer.last_referral_ask_at`` is the latest ask), never to a customer who
opted out or has an open complaint. Rules and rewards live in ``storage.referrals``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import texts
from config import parse_list
from storage import referrals as store
from storage.clock import shop_zone, to_local
from storage.models import Complaint, Customer, KeyValue, Testimonial
from storage.orders import format_yuan
from storage.outbox import enqueue
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

MOMENT_ORDER = "order"
MOMENT_THANKS = "thanks"
MOMENT_PRODUCT_GOOD = "product_good"
# moment -> (config key of the seller's own text, default text)
MOMENT_TEXTS = {
    MOMENT_ORDER: ("REFERRAL_ASK_ORDER_TEXT", texts.REFERRAL_ASK_ORDER),
    MOMENT_THANKS: ("REFERRAL_ASK_THANKS_TEXT", texts.REFERRAL_ASK_THANKS),
    MOMENT_PRODUCT_GOOD: ("REFERRAL_ASK_PRODUCT_GOOD_TEXT", texts.REFERRAL_ASK_PRODUCT_GOOD),
}
SCENE_PREFIX = "ref_"
QR_CACHE_KEY = "referral:qr:{code}"
TESTIMONIAL_KEY = "referral:testimonial:{customer_id}"
ASKED_KEY = "referral:asked:{moment}:{customer_id}"  # when this moment last invited this customer
# A testimonial has some substance: at least this many letters/characters, and is not a question.
TESTIMONIAL_MIN_CHARS = 6
_QUESTION = re.compile(r"[?？]|吗|怎么|多少|请问")
_WORD_CHARS = re.compile(r"[\u4e00-\u9fa5A-Za-z0-9]")


def _int(config: Mapping[str, Any], key: str, default: int) -> int:
    try:
        return int(config.get(key, default))
    except (TypeError, ValueError):
        return default


# --- Offer wording -----------------------------------------------------------------------------


def reward_text(points: int, coupon_cents: int) -> str:
    parts = []
    if points:
        parts.append(texts.REFERRAL_REWARD_POINTS.format(points=points))
    if coupon_cents:
        parts.append(texts.REFERRAL_REWARD_COUPON.format(amount=format_yuan(coupon_cents)))
    return texts.REFERRAL_REWARD_JOINER.join(parts) or texts.REFERRAL_REWARD_NONE


def offer_text(config: Mapping[str, Any]) -> str:
    rewards = store.Rewards.from_config(config)
    return texts.REFERRAL_OFFER.format(
        referrer_reward=reward_text(rewards.referrer_points, rewards.referrer_coupon_cents),
        referee_reward=reward_text(rewards.referee_points, rewards.referee_coupon_cents),
    )


def referee_reward_text(config: Mapping[str, Any]) -> str:
    rewards = store.Rewards.from_config(config)
    return reward_text(rewards.referee_points, rewards.referee_coupon_cents)


# --- The three moments -------------------------------------------------------------------------


def has_open_complaint(session: Session, customer_id: int) -> bool:
    return bool(
        session.scalar(
            select(func.count())
            .select_from(Complaint)
            .where(Complaint.customer_id == customer_id, Complaint.status == "open")
        )
    )


def _asked_at(session: Session, customer: Customer, moment: str) -> dt.datetime | None:
    row = session.get(KeyValue, ASKED_KEY.format(moment=moment, customer_id=customer.id))
    try:
        return dt.datetime.fromisoformat(row.value) if row is not None and row.value else None
    except ValueError:
        return None


def may_ask(
    session: Session,
    customer: Customer,
    config: Mapping[str, Any],
    now: dt.datetime,
    moment: str = MOMENT_THANKS,
) -> bool:
    """Whether ``moment`` may invite now: not the seller's own account (HUITOU_SELLER_OPENIDS), not
    opted out, no open complaint, no invitation already in this message, and this moment kind did not
    invite in the last REFERRAL_ASK_INTERVAL_DAYS."""
    if customer.openid and customer.openid in parse_list(config.get("SELLER_OPENIDS")):
        return False
    if customer.opted_out or has_open_complaint(session, customer.id):
        return False
    if customer.last_referral_ask_at == now:
        return False  # never two invitations in one message
    interval = dt.timedelta(days=_int(config, "REFERRAL_ASK_INTERVAL_DAYS", 14))
    asked = _asked_at(session, customer, moment)
    return asked is None or now - asked >= interval


def invitation(
    session: Session, customer: Customer, moment: str, config: Mapping[str, Any], now: dt.datetime
) -> str | None:
    """The moment's invitation with the customer's code, or None when asking is not allowed now.

    Returning a text counts as asking: ``last_referral_ask_at`` is set.
    """
    if not may_ask(session, customer, config, now, moment):
        return None
    key, default = MOMENT_TEXTS[moment]
    values = {
        "code": store.ensure_code(session, customer),
        "offer": offer_text(config),
        "qr": _qr_line(session, customer),
    }
    template = str(config.get(key) or "").strip() or default
    try:
        text = template.format(**values)
    except (KeyError, IndexError, ValueError):  # a seller's template with a typo must not break the chat
        log.warning("config %s is not a valid template; using the default", key)
        text = default.format(**values)
    customer.last_referral_ask_at = now
    session.merge(
        KeyValue(
            key=ASKED_KEY.format(moment=moment, customer_id=customer.id),
            value=now.isoformat(),
            expires_at=None,
            updated_at=now,
        )
    )
    return text.strip()


def thanks_reply(session: Session, customer: Customer, config: Mapping[str, Any], now: dt.datetime) -> str:
    """Moment (2): a warm answer, plus the invitation when allowed."""
    ask = invitation(session, customer, MOMENT_THANKS, config, now)
    return f"{texts.REFERRAL_THANKS_WARM}\n{ask}" if ask else texts.THANKS_REPLY


def product_good_reply(
    session: Session, customer: Customer, text: str, config: Mapping[str, Any], now: dt.datetime
) -> str:
    """Moment (3): keep the praise as a testimonial, thank, ask for a short testimonial and invite.

    The customer's next message replaces the stored praise when it looks like a testimonial.
    """
    testimonial = Testimonial(customer_id=customer.id, text=text, created_at=now)
    session.add(testimonial)
    session.flush()
    ask = invitation(session, customer, MOMENT_PRODUCT_GOOD, config, now)
    if ask is None:
        return texts.PRODUCT_GOOD_REPLY
    hours = _int(config, "REFERRAL_TESTIMONIAL_WAIT_HOURS", 24)
    session.merge(
        KeyValue(
            key=TESTIMONIAL_KEY.format(customer_id=customer.id),
            value=str(testimonial.id),
            expires_at=now + dt.timedelta(hours=hours),
            updated_at=now,
        )
    )
    return f"{texts.PRODUCT_GOOD_REPLY}\n{ask}"


def looks_like_testimonial(normalized: str) -> bool:
    return len(_WORD_CHARS.findall(normalized)) >= TESTIMONIAL_MIN_CHARS and not _QUESTION.search(normalized)


def take_testimonial(
    session: Session, customer: Customer, text: str, normalized: str, intent: str, now: dt.datetime
) -> str | None:
    """The message right after a testimonial request: stored when it looks like one (reply text),
    otherwise None and the request lapses (it is for the next message only)."""
    if customer.last_referral_ask_at is None:
        return None  # never invited, so no testimonial was ever requested (it comes with an invitation)
    row = session.get(KeyValue, TESTIMONIAL_KEY.format(customer_id=customer.id))
    if row is None:
        return None
    session.delete(row)
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if intent not in ("product_good", "thanks_praise", "other") or not looks_like_testimonial(normalized):
        return None
    testimonial = session.get(Testimonial, int(row.value)) if (row.value or "").isdigit() else None
    if testimonial is None or testimonial.customer_id != customer.id:
        testimonial = Testimonial(customer_id=customer.id, created_at=now)
        session.add(testimonial)
    testimonial.text = text
    testimonial.created_at = now
    return texts.TESTIMONIAL_THANKS


# --- Codes typed or scanned --------------------------------------------------------------------


def apply_typed_code(
    session: Session, customer: Customer, code: str | None, config: Mapping[str, Any], now: dt.datetime
) -> str:
    """A customer typed a referral code ("推荐码 AB23CD" or just "AB23CD")."""
    shown = (code or "").strip().upper()
    result = store.attribute(session, customer, code, "typed", now)
    if result.outcome == store.ATTRIBUTED:
        return texts.REFERRAL_APPLIED.format(code=shown, referee_reward=referee_reward_text(config))
    if result.outcome == store.ATTRIBUTED_HELD:
        notify_sellers_of_hold(session, result.referral, config, now)
        return texts.REFERRAL_APPLIED_HELD.format(code=shown)
    if result.outcome == store.SELF:
        return texts.REFERRAL_SELF
    if result.outcome == store.SAME_REFERRER:
        return texts.REFERRAL_SAME
    if result.outcome == store.ALREADY:
        return texts.REFERRAL_ALREADY
    if result.outcome == store.CYCLE:
        return texts.REFERRAL_CYCLE
    if result.outcome == store.NOT_NEW:
        return texts.REFERRAL_NOT_NEW.format(code=store.ensure_code(session, customer))
    return texts.REFERRAL_UNKNOWN_CODE.format(code=shown)


def on_scene(
    session: Session, customer: Customer, scene: str | None, config: Mapping[str, Any], now: dt.datetime
) -> str | None:
    """A follow or scan through a parametric QR code; ``ref_<code>`` attributes the follower."""
    scene = str(scene or "")
    if not scene.startswith(SCENE_PREFIX):
        return None
    result = store.attribute(session, customer, scene.removeprefix(SCENE_PREFIX), "qr", now)
    if result.outcome == store.ATTRIBUTED:
        return texts.REFERRAL_SCENE_WELCOME.format(referee_reward=referee_reward_text(config))
    if result.outcome == store.ATTRIBUTED_HELD:
        notify_sellers_of_hold(session, result.referral, config, now)
    if result.outcome == store.SELF:
        return texts.REFERRAL_SCENE_SELF
    return None  # a returning customer scanning a friend's code just gets the welcome


def notify_sellers_of_hold(
    session: Session, referral: store.Referral, config: Mapping[str, Any], now: dt.datetime
) -> None:
    """Queue a review request for every seller, once per held referral."""
    referrer, referee = (
        session.get(Customer, referral.referrer_id),
        session.get(Customer, referral.referee_id),
    )
    text = texts.SELLER_REFERRAL_HELD.format(
        referral_id=referral.id,
        referrer=referrer.display_name,
        referee=referee.display_name,
        reason=texts.REFERRAL_HOLD_REASONS.get(referral.reason or "", referral.reason or ""),
    )
    for openid in parse_list(config.get("SELLER_OPENIDS")):
        enqueue(
            session,
            dedupe_key=f"seller:referral-held:{referral.id}:{openid}",
            kind="seller_notice",
            text=text,
            openid=openid,
            transactional=True,
            now=now,
            payload={"referral_id": referral.id},
        )


def seller_figures_line(session: Session, now: dt.datetime) -> str:
    """One line of referral figures for the seller's 统计."""
    totals = store.figures(session, now, top=0)
    return texts.SELLER_REFERRALS_FIGURES_LINE.format(
        made=totals.made,
        converted=totals.converted,
        points=totals.points_granted,
        coupon=format_yuan(totals.coupon_granted_cents),
    )


# --- The customer's own code and ledger --------------------------------------------------------


def account_reply(
    session: Session, customer: Customer, config: Mapping[str, Any], now: dt.datetime, recent: int = 5
) -> str:
    """ "我的积分" / "我的推荐码": code, QR link, balances and the latest entries."""
    code = store.ensure_code(session, customer)
    book = store.ledger(session, customer.id)
    url = cached_qr_url(session, code)
    from bot.delivery.transport import has_credentials

    no_qr = texts.REFERRAL_ACCOUNT_QR_PENDING if has_credentials(config) else texts.REFERRAL_ACCOUNT_NO_QR
    reply = texts.REFERRAL_ACCOUNT.format(
        code=code,
        qr=texts.REFERRAL_QR_LINE.format(url=url) if url else no_qr,
        points=book.points_balance,
        earned=book.points_earned,
        spent=book.points_spent,
        coupon=format_yuan(book.coupon_balance_cents),
        offer=offer_text(config),
    )
    if book.entries:
        lines = [texts.REFERRAL_ACCOUNT_RECENT] + [ledger_line(e, config) for e in book.entries[:recent]]
        reply += "\n" + "\n".join(lines)
    return reply


def ledger_line(entry: store.RewardEntry, config: Mapping[str, Any]) -> str:
    local = to_local(entry.created_at, shop_zone(config))
    change = []
    if entry.points:
        change.append(f"{entry.points:+d}积分")
    if entry.coupon_cents:
        sign = "+" if entry.coupon_cents > 0 else "-"
        change.append(f"{sign}{format_yuan(abs(entry.coupon_cents))}券")
    return texts.REFERRAL_LEDGER_LINE.format(
        date=f"{local.month}/{local.day}",
        reason=texts.REFERRAL_LEDGER_REASONS.get(entry.reason, entry.reason),
        change=" ".join(change),
    )


# --- The parametric QR code --------------------------------------------------------------------
# Tickets are created by ``create_missing_qr_codes`` (``huitou referral qr``), never inside the
# webhook: an API call (and a token refresh, which writes) does not belong in the 5-second,
# single-transaction answer. The chat shows the cached ticket once there is one.


def _qr_line(session: Session, customer: Customer) -> str:
    url = cached_qr_url(session, customer.referral_code) if customer.referral_code else None
    return texts.REFERRAL_QR_LINE.format(url=url) if url else ""


def cached_qr_url(session: Session, code: str) -> str | None:
    """The image URL of the code's permanent QR code, when it was created."""
    row = session.get(KeyValue, QR_CACHE_KEY.format(code=code))
    if row is None or not row.value:
        return None
    return json.loads(row.value).get("image_url")


@dataclass
class QRRun:
    created: int = 0
    failed: int = 0
    reason: str | None = None  # why nothing was attempted (no credentials)


def create_missing_qr_codes(
    database: Any, config: Mapping[str, Any], now: dt.datetime, *, limit: int = 100, client: Any = None
) -> QRRun:
    """Create the permanent QR code (``QR_LIMIT_STR_SCENE``, scene ``ref_<code>``) of every customer
    with a code and no cached ticket, at most ``limit``; idempotent (the cache decides).

    Runs outside any transaction: the list is read, each API call made, each ticket stored in its
    own short write. Without WeChat credentials nothing is attempted (``reason`` says so).
    """
    from bot.delivery.transport import has_credentials, make_client

    if client is None:
        if not has_credentials(config):
            return QRRun(reason="no_credentials")
        client = make_client(config, database)
    with database.read_session() as session:
        done = set(
            session.scalars(select(KeyValue.key).where(KeyValue.key.like(QR_CACHE_KEY.format(code="%"))))
        )
        all_codes = session.scalars(
            select(Customer.referral_code).where(Customer.referral_code.is_not(None)).order_by(Customer.id)
        )
        codes = [c for c in all_codes if QR_CACHE_KEY.format(code=c) not in done][:limit]
    run = QRRun()
    for code in codes:
        ticket = _create_ticket(client, code)
        if ticket is None:
            run.failed += 1
            continue
        with database.session() as session:
            run.created += insert_ignore(
                session,
                KeyValue.__table__,
                {
                    "key": QR_CACHE_KEY.format(code=code),
                    "value": json.dumps(ticket),
                    "expires_at": None,
                    "updated_at": now,
                },
                ["key"],
            )
    return run


def _create_ticket(client: Any, code: str) -> dict[str, Any] | None:
    from wechatpy.client.api.qrcode import WeChatQRCode

    from bot.delivery.errors import DeliveryError

    body = {
        "action_name": "QR_LIMIT_STR_SCENE",
        "action_info": {"scene": {"scene_str": f"{SCENE_PREFIX}{code}"}},
    }
    try:
        result = client.call(lambda: client.qrcode.create(body))
    except DeliveryError as exc:
        log.warning("referral QR code not created: %s (errcode %s)", type(exc).__name__, exc.errcode)
        return None
    ticket = result.get("ticket")
    if not ticket:
        return None
    return {"ticket": ticket, "url": result.get("url"), "image_url": WeChatQRCode.get_url(ticket)}
