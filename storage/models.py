"""The customer pool: SQLAlchemy 2.0 models.

Money is stored as integer cents (``*_cents``) so that sums are exact on every backend.
Timestamps are naive UTC datetimes (``utcnow()``); conversion to the seller's timezone happens
only at the edges (message texts, quiet hours, exports).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.clock import utcnow  # noqa: F401  (re-exported: the one clock, storage/clock.py)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON}


class CustomerStage:
    """Journey stages (DOMAIN.md). Stored as these English keys; texts map them to Chinese."""

    PROSPECT = "prospect"
    NEW = "new"
    RETURNING = "returning"
    LOYAL = "loyal"
    FAN = "fan"
    DISTRIBUTOR = "distributor"
    SLEEPING = "sleeping"
    LOST = "lost"


class OrderStatus:
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    RECEIVED = "received"
    CANCELLED = "cancelled"

    ACTIVE = (PENDING, PAID, SHIPPED, RECEIVED)


class Customer(Base):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Imported customers may have no openid until they message the account.
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    nickname: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(100), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    province: Mapped[str | None] = mapped_column(String(50))
    city: Mapped[str | None] = mapped_column(String(50))
    district: Mapped[str | None] = mapped_column(String(50))
    address_detail: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[str | None] = mapped_column(String(255))
    # Birthday: month/day in the solar or lunar calendar; the year is optional.
    birthday_year: Mapped[int | None] = mapped_column(Integer)
    birthday_month: Mapped[int | None] = mapped_column(Integer)
    birthday_day: Mapped[int | None] = mapped_column(Integer)
    birthday_is_lunar: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(String(50))

    stage: Mapped[str] = mapped_column(String(20), default=CustomerStage.PROSPECT, index=True)
    customer_class: Mapped[str | None] = mapped_column(String(1), index=True)
    rfm_r: Mapped[int | None] = mapped_column(Integer)
    rfm_f: Mapped[int | None] = mapped_column(Integer)
    rfm_m: Mapped[int | None] = mapped_column(Integer)
    rfm_segment: Mapped[str | None] = mapped_column(String(30))
    median_interval_days: Mapped[float | None]
    expected_next_purchase_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    last_order_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    # When stage, class or RFM next change by the passage of time alone (storage/segment_moments.py);
    # NULL: the customer's inputs changed (or were never computed), recompute at the next daily run.
    segment_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)

    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    subscribed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    subscribe_scene: Mapped[str | None] = mapped_column(String(64))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable_reason: Mapped[str | None] = mapped_column(String(255))
    last_inbound_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)

    referral_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    last_referral_ask_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    orders: Mapped[list[Order]] = relationship(back_populates="customer", order_by="Order.id")
    notes: Mapped[list[CustomerNote]] = relationship(back_populates="customer", order_by="CustomerNote.id")

    @property
    def display_name(self) -> str:
        return self.name or self.nickname or f"客户#{self.id}"

    @property
    def address(self) -> str:
        return "".join(p for p in (self.province, self.city, self.district, self.address_detail) if p)


def _segment_input_changed(target: Customer, value, oldvalue, initiator) -> None:
    """A tag can make a distributor (代理), and a stage written outside the recompute (the seller's
    代理, a repair) is one it must check: the next daily segments recompute looks at the customer."""
    if value != oldvalue:
        target.segment_due_at = None


event.listen(Customer.tags, "set", _segment_input_changed)
event.listen(Customer.stage, "set", _segment_input_changed)


class CustomerNote(Base):
    """亲情牌: things the customer mentioned, to ask about later."""

    __tablename__ = "customer_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="notes")


class FieldConflict(Base):
    """A value that differed from the stored one: kept, not overwritten, until someone decides."""

    __tablename__ = "field_conflict"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(50))
    stored_value: Mapped[str | None] = mapped_column(Text)
    proposed_value: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(50))  # chat, import, seller
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Product(Base):
    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    aliases: Mapped[str | None] = mapped_column(String(500))  # comma-separated
    price_cents: Mapped[int] = mapped_column(Integer)
    usage_days: Mapped[int | None] = mapped_column(Integer)
    # The seller's facts for answering questions: {"stock"|"effect"|"suits"|"origin"|"shelf_life"|"how_to": text}
    facts: Mapped[dict[str, str] | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    @property
    def alias_list(self) -> list[str]:
        return split_aliases(self.aliases)


def split_aliases(aliases: str | None) -> list[str]:
    """The ``product.aliases`` column (comma-separated) as a list of trimmed, non-empty names."""
    return [a.strip() for a in (aliases or "").split(",") if a.strip()]


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_customer_created", "customer_id", "created_at"),
        Index("ix_orders_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.PENDING)
    amount_cents: Mapped[int] = mapped_column(Integer, default=0)
    recipient_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    province: Mapped[str | None] = mapped_column(String(50))
    city: Mapped[str | None] = mapped_column(String(50))
    district: Mapped[str | None] = mapped_column(String(50))
    address_detail: Mapped[str | None] = mapped_column(String(255))
    courier: Mapped[str | None] = mapped_column(String(50))
    tracking_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    referral_code_used: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(20), default="chat")  # chat, seller, import
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    shipped_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    received_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderEvent.id"
    )

    @property
    def address(self) -> str:
        return "".join(p for p in (self.province, self.city, self.district, self.address_detail) if p)


class OrderItem(Base):
    __tablename__ = "order_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"), index=True)
    product_name: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price_cents: Mapped[int] = mapped_column(Integer, default=0)
    # Snapshot of the product's usage period at order time: supply = quantity × usage_days.
    usage_days: Mapped[int | None] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="items")


class OrderEvent(Base):
    """Order history: every state change with who made it and when."""

    __tablename__ = "order_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(64))  # openid, "customer", "system", "cli"
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="events")


class Inquiry(Base):
    __tablename__ = "inquiry"
    __table_args__ = (Index("ix_inquiry_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(20))  # price, stock, effect, usage, other
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, answered, closed
    answer: Mapped[str | None] = mapped_column(Text)
    converted_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Complaint(Base):
    """After-sales trouble: forwarded to the seller; blocks marketing until closed."""

    __tablename__ = "complaint"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class InboundMessage(Base):
    """Every message the platform delivered, once. ``msg_key`` is the dedupe key."""

    __tablename__ = "inbound_message"
    __table_args__ = (Index("ix_inbound_customer_received", "customer_id", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    msg_key: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    openid: Mapped[str] = mapped_column(String(64))
    msg_type: Mapped[str] = mapped_column(String(20))
    event: Mapped[str | None] = mapped_column(String(40))
    content: Mapped[str | None] = mapped_column(Text)
    platform_created_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    intent: Mapped[str | None] = mapped_column(String(30))
    # The exact response body of the first delivery, returned verbatim to platform retries.
    response_body: Mapped[str | None] = mapped_column(Text)


class ConversationState(Base):
    """A small per-customer memory across messages (e.g. an order waiting for its address)."""

    __tablename__ = "conversation_state"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class OutboxMessage(Base):
    """A proactive message. ``dedupe_key`` makes enqueueing idempotent."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
        Index("ix_outbox_customer_status", "customer_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    # Recipient openid (customers have one via customer_id; seller notices name the seller).
    openid: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40), index=True)
    transactional: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    channel: Mapped[str | None] = mapped_column(String(20))  # service, template, draft, sandbox
    # pending, sending, sent, drafted, skipped, failed, cancelled.
    # A seller draft is status "drafted" with channel "draft" until the seller marks it done (-> sent).
    status: Mapped[str] = mapped_column(String(20), default="pending")
    skip_reason: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    api_msgid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # The drain that owns a ``claimed``/``sending`` row, and when it took (or last renewed) it, by the
    # database's clock (never a caller's ``now``): see bot/delivery/drain.py.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class KeyValue(Base):
    """Small shared state: the WeChat access token (wechatpy session storage), locks, markers."""

    __tablename__ = "kv_store"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Referral(Base):
    __tablename__ = "referral"

    id: Mapped[int] = mapped_column(primary_key=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    referee_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), unique=True)
    source: Mapped[str] = mapped_column(String(20))  # qr, typed, seller
    # pending, held, rewarded, reversed, rejected
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(String(255))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    rewarded_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class RewardEntry(Base):
    """Reward ledger: points and coupon amounts earned (+) and spent or reversed (-)."""

    __tablename__ = "reward_ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    coupon_cents: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(255))
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referral.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Testimonial(Base):
    __tablename__ = "testimonial"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


__all__ = [
    "Base",
    "Complaint",
    "ConversationState",
    "Customer",
    "CustomerNote",
    "CustomerStage",
    "FieldConflict",
    "InboundMessage",
    "Inquiry",
    "KeyValue",
    "Order",
    "OrderEvent",
    "OrderItem",
    "OrderStatus",
    "OutboxMessage",
    "Product",
    "Referral",
    "RewardEntry",
    "Testimonial",
    "utcnow",
]


# --- retention ---
class SegmentWindow(Base):
    """A buyer's last 12 months, as of their last recompute: the facts their RFM scores and class are
    ranked by (customers without an order in the window have no row). Indexed by each fact, so the
    daily run finds the quintile and class cut-offs with a few index probes."""

    __tablename__ = "segment_window"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    last_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    orders: Mapped[int] = mapped_column(Integer, index=True)
    cents: Mapped[int] = mapped_column(BigInteger, index=True)


class RetentionClock(Base):
    """When something in a customer's cycle happens, as an indexed timestamp the sweeps range over.

    ``supply_mid`` / ``supply_end``: an order's supply (quantity × usage days from shipping) is half
    used / runs out; ``superseded_at`` is set when a newer order of the same product replaced it.
    ``sleeping``: the customer becomes sleeping at their current rhythm (one row per customer,
    ``order_id`` = the last order, moved by every order change).
    """

    __tablename__ = "retention_clock"
    __table_args__ = (Index("ix_retention_clock_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)  # e.g. supply_end:order:42, sleeping:customer:7
    kind: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    superseded_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    superseded_by_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))


# Birthday greetings look customers up by (month, day), never by scanning the pool.
Index("ix_customer_birthday", Customer.birthday_month, Customer.birthday_day)

__all__ += ["RetentionClock"]


# --- WeCom (企业微信) customer contact (storage/wecom.py, bot/wecom_events.py, bot/delivery/wecom_channel.py) ---
class WecomContact(Base):
    """A personal-WeChat customer who added a WeCom member (one row per member and external contact)."""

    __tablename__ = "wecom_contact"
    __table_args__ = (Index("ix_wecom_contact_external_user", "external_userid", "userid", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    external_userid: Mapped[str] = mapped_column(String(64))
    userid: Mapped[str] = mapped_column(String(64))  # the member the customer added
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str | None] = mapped_column(String(30))
    linked_by: Mapped[str] = mapped_column(String(20))  # state, unionid, phone, known, new
    status: Mapped[str] = mapped_column(String(10), default="active", index=True)  # active, gone
    gone_reason: Mapped[str | None] = mapped_column(String(40))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class WecomTask(Base):
    """One mass-send task (``externalcontact/add_msg_template``): one member, one text, many customers."""

    __tablename__ = "wecom_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    msgid: Mapped[str | None] = mapped_column(String(64), unique=True)
    sender: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    # open (waiting for the member's tap or its results), done, expired (fell back to drafts), failed
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class WecomTaskRecipient(Base):
    """An outbox row carried by a WeCom task, and what became of it."""

    __tablename__ = "wecom_task_recipient"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("wecom_task.id", ondelete="CASCADE"), index=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    external_userid: Mapped[str] = mapped_column(String(64))
    # waiting, sent, not_friend, limited, expired
    status: Mapped[str] = mapped_column(String(12), default="waiting")


__all__ += ["WecomContact", "WecomTask", "WecomTaskRecipient"]


# --- subscription notices (订阅通知): storage/consents.py, bot/subscribe_events.py ---
class SubscribeConsent(Base):
    """One "allow" a customer tapped for a subscription-notice template: good for one notice.

    ``status``: ``open`` (unused), ``reserved`` (a send is using it right now), ``used`` (the API
    accepted the notice; ``confirmed_at`` when ``subscribe_msg_sent_event`` confirmed it), ``dropped``
    (refused by the platform (43101) or switched off by the customer), ``rejected`` (the customer
    tapped cancel in the popup: kept as history, grants nothing).
    """

    __tablename__ = "subscribe_consent"
    __table_args__ = (Index("ix_subscribe_consent_holder", "customer_id", "template_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    template_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(20), default="open")
    popup_scene: Mapped[str | None] = mapped_column(String(10))
    accepted_at: Mapped[dt.datetime] = mapped_column(DateTime)
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    msgid: Mapped[str | None] = mapped_column(String(64))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


__all__ += ["SubscribeConsent"]
