"""WeCom (企业微信) callbacks on the conversation side: the seller console in the app, customers coming in.

Transport concerns (signatures, crypto, dedupe, rendering) live in ``handlers/wecom.py``; the
functions here run inside its transaction, except :func:`send_welcome`, which runs right after
that transaction commits (the ``WelcomeCode`` is valid for 20 seconds, far less than a tick).

A customer who adds a member (``change_external_contact`` / ``add_external_contact``) is linked
to the pool: by a state Huitou issued for that customer (:func:`customer_state`), by the unionid
of a contact already linked, by a phone number in the member's ``remark_mobiles``, else as a new
customer with source ``wecom``. A state ``ref_<CODE>`` attributes a referral exactly like the
Official Account's QR scene ``ref_<CODE>`` (``bot.referrals.on_scene``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import referrals, texts
from bot.delivery.wecom_members import (  # noqa: F401  (the members' identities live with delivery)
    MEMBER_OPENID_PREFIX,
    WELCOME_KIND,
    WELCOME_VALID,
    WELCOME_WAITING,
    expire_welcomes,
    member_openid,
    member_seller_openids,
    notify_members,
    seller_userids,
    userid_of,
)
from storage import wecom as store
from storage.customers import get_or_create_by_openid
from storage.db import Database
from storage.models import Customer, OutboxMessage, WecomContact
from storage.outbox import outbox_row
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

CUSTOMER_STATE_PREFIX = "c"
STATE_MAX = 30  # WeCom's limit for a contact way's state


# --- personal states ---------------------------------------------------------------------------


def customer_state(customer_id: int, secret: str) -> str:
    """The contact-way state that links whoever adds the member through it to this customer."""
    digest = hmac.new(str(secret).encode(), f"wecom-state:{customer_id}".encode(), hashlib.sha256).hexdigest()
    return f"{CUSTOMER_STATE_PREFIX}{customer_id}_{digest[:10]}"[:STATE_MAX]


def customer_id_from_state(state: str | None, secret: str) -> int | None:
    """The customer a state names, when Huitou issued it (the signature matches)."""
    state = state or ""
    head, _, _sig = state.partition("_")
    if not head.startswith(CUSTOMER_STATE_PREFIX) or not head[1:].isdigit():
        return None
    customer_id = int(head[1:])
    return customer_id if hmac.compare_digest(customer_state(customer_id, secret), state) else None


# --- the seller console in the app ---------------------------------------------------------------


def handle_member_text(
    session: Session, userid: str, text: str, config: Mapping[str, Any], now: dt.datetime
) -> str:
    """A member's text to the app: the same seller commands as on the Official Account."""
    if userid not in seller_userids(config):
        return texts.WECOM_NOT_A_SELLER
    from bot.seller_commands import handle_seller_text

    seller, created = get_or_create_by_openid(session, member_openid(userid), now)
    if created:
        seller.nickname, seller.source, seller.opted_out = (
            userid[:100],
            "wecom_member",
            True,
        )  # never marketed to
    return handle_seller_text(session, seller, text, config, now) or texts.SELLER_NOT_A_COMMAND


# --- customers coming in ---------------------------------------------------------------------------


@dataclass
class ContactEvent:
    """The fields of a ``change_external_contact`` event Huitou uses."""

    change_type: str
    userid: str
    external_userid: str
    state: str | None = None
    welcome_code: str | None = None
    create_time: str = ""

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ContactEvent:
        return cls(
            change_type=str(data.get("ChangeType") or "").lower(),
            userid=str(data.get("UserID") or ""),
            external_userid=str(data.get("ExternalUserID") or ""),
            state=data.get("State") or None,
            welcome_code=data.get("WelcomeCode") or None,
            create_time=str(data.get("CreateTime") or ""),
        )


ADD_TYPES = ("add_external_contact", "add_half_external_contact")
GONE_TYPES = {"del_external_contact": "deleted_by_member", "del_follow_user": "deleted_by_customer"}


def _follow(details: Mapping[str, Any] | None, userid: str) -> Mapping[str, Any]:
    for follow in (details or {}).get("follow_user") or []:
        if follow.get("userid") == userid:
            return follow
    return {}


def _link(
    session: Session,
    event: ContactEvent,
    details: Mapping[str, Any] | None,
    config: Mapping[str, Any],
    now: dt.datetime,
) -> tuple[Customer, str]:
    """The pool customer behind a new contact and how they were found."""
    known = store.contacts_of(session, event.external_userid)
    if known:
        return session.get(Customer, known[0].customer_id), "known"
    customer_id = customer_id_from_state(event.state, str(config.get("SECRET_KEY") or ""))
    if customer_id is not None and (customer := session.get(Customer, customer_id)) is not None:
        return customer, "state"
    external = (details or {}).get("external_contact") or {}
    unionid = external.get("unionid")
    if unionid and (customer := store.customer_by_unionid(session, unionid)) is not None:
        return customer, "unionid"
    phones = _follow(details, event.userid).get("remark_mobiles") or []
    if (customer := store.customer_by_phones(session, phones)) is not None:
        return customer, "phone"
    customer = Customer(
        nickname=(external.get("name") or None),
        source="wecom",
        created_at=now,
        updated_at=now,
        stage="prospect",
        subscribed=True,
        opted_out=False,
        unreachable=False,
        birthday_is_lunar=False,
    )
    session.add(customer)
    session.flush()
    return customer, "new"


def on_contact_added(
    session: Session,
    event: ContactEvent,
    details: Mapping[str, Any] | None,
    config: Mapping[str, Any],
    now: dt.datetime,
) -> int | None:
    """Link the contact, attribute a ``ref_`` state, queue the welcome; returns the welcome's outbox id."""
    customer, linked_by = _link(session, event, details, config, now)
    unionid = ((details or {}).get("external_contact") or {}).get("unionid")
    store.add_contact(
        session,
        external_userid=event.external_userid,
        userid=event.userid,
        customer_id=customer.id,
        linked_by=linked_by,
        state=(event.state or None) and event.state[:STATE_MAX],
        unionid=unionid,
        now=now,
    )
    extra = None
    if event.state and event.state.startswith("ref_"):
        extra = referrals.on_scene(
            session, customer, event.state, config, now
        )  # the Official Account's ref_ path
    if linked_by != "known":
        notify_members(
            session,
            f"wecom-contact:{event.external_userid}:{event.userid}:{event.create_time}",
            texts.SELLER_WECOM_NEW_CONTACT.format(
                customer=customer.display_name,
                customer_id=customer.id,
                how=texts.SELLER_WECOM_LINKED_BY[linked_by],
            ),
            [event.userid],
            now,
            payload={"customer_id": customer.id},
        )
    if not event.welcome_code:
        return None  # the admin set a welcome of their own in the console, or the customer came back
    text = texts.WECOM_WELCOME + (f"\n{extra}" if extra else "")
    row = outbox_row(
        dedupe_key=f"{WELCOME_KIND}:{event.external_userid}:{event.userid}:{event.create_time}",
        kind=WELCOME_KIND,
        text=text,
        customer_id=customer.id,
        transactional=True,
        priority=0,
        now=now,
        payload={"welcome_code": event.welcome_code, "userid": event.userid},
    )
    row.update(status=WELCOME_WAITING, channel="wecom_welcome")
    insert_ignore(session, OutboxMessage.__table__, row, ["dedupe_key"])
    return session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == row["dedupe_key"]))


def on_contact_gone(
    session: Session, event: ContactEvent, config: Mapping[str, Any], now: dt.datetime
) -> None:
    """``del_external_contact`` / ``del_follow_user``: the contact is gone; the member is told (删人提醒)."""
    contact: WecomContact | None = store.get_contact(session, event.external_userid, event.userid)
    if contact is None or not store.mark_gone(session, contact, GONE_TYPES[event.change_type], now):
        return
    customer = session.get(Customer, contact.customer_id)
    how = (
        texts.SELLER_WECOM_GONE_BY_CUSTOMER
        if event.change_type == "del_follow_user"
        else texts.SELLER_WECOM_GONE_BY_MEMBER
    )
    notify_members(
        session,
        f"wecom-gone:{contact.id}:{event.create_time}",
        texts.SELLER_WECOM_CONTACT_GONE.format(
            customer=customer.display_name, customer_id=customer.id, how=how
        ),
        [event.userid],
        now,
        payload={"customer_id": customer.id},
    )


def send_welcome(
    database: Database, config: Mapping[str, Any], outbox_id: int, now: dt.datetime, client: Any = None
) -> str:
    """Send a queued welcome now (once: the row is claimed first); returns the row's new status."""
    from bot.delivery.errors import DeliveryError
    from bot.delivery.wecom_client import make_client

    with database.session() as session:
        claimed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id, OutboxMessage.status == WELCOME_WAITING)
            .values(status="sending", updated_at=now)
        ).rowcount
        row = session.get(OutboxMessage, outbox_id)
        code, text = (row.payload or {}).get("welcome_code"), row.text
    if not claimed:
        return row.status
    error = None
    try:
        client = client or make_client(
            config, database, timeout=min(5.0, float(config.get("DELIVERY_HTTP_TIMEOUT_SECONDS", 10)))
        )
        client.send_welcome_msg(code, text)
    except DeliveryError as exc:
        error = f"wecom welcome: {exc}"
        log.warning("WeCom welcome %s not sent: %s", outbox_id, exc)
    with database.session() as session:
        row = session.get(OutboxMessage, outbox_id, with_for_update=True, populate_existing=True)
        row.attempts, row.updated_at = (row.attempts or 0) + 1, now
        if error is None:
            row.status, row.sent_at = "sent", now
        else:
            row.status, row.last_error = "failed", error[:2000]
        return row.status
