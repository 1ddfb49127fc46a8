"""The customer side of the conversation: orders, inquiries, parcels, opt-out, complaints.

``handle_customer_text`` runs inside the webhook's transaction. It detects the intent
(``bot.intents``), updates the pool and answers with a text from ``bot.texts``. An order that
lacks pieces (product, name, phone, address) keeps a ``ConversationState`` so the next messages
complete the same pending order; after it is complete the state stays a while for corrections.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import conversation_state, dialogue, product_answers, referrals, subscribe_links, texts
from bot.intents import Intent, IntentResult, detect_intent
from bot.order_parser import NOT_NAMES, SURNAMES, CatalogueEntry, ParsedOrder, choose_candidate
from config import parse_list
from storage import sweep_watermarks
from storage.contact import AddressParts, mask_phone
from storage.inquiries import link_inquiries_to_order, record_inquiry
from storage.models import (
    Complaint,
    ConversationState,
    Customer,
    FieldConflict,
    InboundMessage,
    Order,
    OrderStatus,
    OutboxMessage,
    Product,
)
from storage.orders import ItemSpec, OrderError, create_order, format_yuan, record_event, transition
from storage.outbox import enqueue

STATE_ORDER = "order"  # an order (or draft) waiting for missing pieces
STATE_REVIEW = "order_review"  # a complete order the customer may still correct
RECENT_ORDERS_SHOWN = 5

CANCEL = re.compile(r"^\W*(?:取消订单|取消|不要了|算了|不买了|先不要了?|撤单)\W*$")
YES = re.compile(r"^\W*(?:更新|用新的?|是的?|对的?|好的?|确认|可以|嗯+|ok|换成新的)\W*$", re.I)
NO = re.compile(r"^\W*(?:不用|不要|不更新|用原来的|用旧的|不是|不了|保持原来的?)\W*$")
BARE_NAME = re.compile(r"^[\u4e00-\u9fa5·]{2,4}$")
STREET_DETAIL = re.compile(r"\d+\s*(?:号|栋|幢|室|楼|单元)|路|街|巷|弄|村|小区|大厦")
HOW_TO_ORDER = re.compile(r"怎么(?:买|下单|购买)|如何(?:下单|购买)")
# Without a conversation in progress, only an explicit request names the customer's last order.
CANCEL_ORDER = re.compile(r"^\W*(?:取消订单|撤单|退单|订单不要了)\W*$")
CHANGE_ORDER = re.compile(r"改成|改为|改到|换成|换到|改一下|改下|写错|填错|更正|重新寄")
REQUEST_ORDER_DAYS = 30  # how old the last order may be for such a request to name it


@dataclass
class Turn:
    """Everything a handler needs about the message being answered."""

    session: Session
    customer: Customer
    text: str
    config: Mapping[str, Any]
    now: dt.datetime
    catalogue: list[CatalogueEntry]
    result: IntentResult

    order: Order | None = None  # the order of the conversation state, when there is one

    @property
    def parsed(self) -> ParsedOrder:
        return self.result.parsed


def handle_customer_text(
    session: Session,
    customer: Customer,
    text: str,
    inbound: InboundMessage,
    config: Mapping[str, Any],
    now: dt.datetime,
    understanding: Understanding | None = None,
) -> str | None:
    """Answer a customer's text message.

    Runs in the webhook's transaction without a savepoint of its own: if it raises, the webhook
    rolls the whole message back and stores it again with a safe answer (``handlers/wechat.py``).
    ``understanding`` (from :func:`understand`, before the transaction) is used when the
    catalogue read in the transaction is the one it was made against; otherwise it is redone.
    """
    text = text or ""
    rows, catalogue = _read_catalogue(session)
    if understanding is not None and understanding.rows == rows and understanding.text == text:
        result = understanding.result  # understood before the transaction, on the same catalogue
    else:  # no snapshot yet, or the catalogue changed since: understand it again, on what is stored
        result = detect_intent(text[:2000], catalogue)
    turn = Turn(session, customer, text, config, now, catalogue, result)
    reply = _handle(turn)
    inbound.intent = turn.result.intent  # set last: written together with the stored response
    return reply


def _handle(turn: Turn) -> str | None:
    session, customer, now = turn.session, turn.customer, turn.now
    state, _expired = conversation_state.load(session, customer.id, now)
    # The state's order, held for the whole turn: the session keeps loaded rows only while they are
    # referenced, and every step below looks this order up again.
    turn.order = _state_order(session, state)
    turn.result = result = dialogue.resolve(session, customer.id, turn.result, state, turn.catalogue)
    if result.context.get("friend"):
        return _start_friend_order(turn, state)
    if state is not None and state.kind != dialogue.STATE_TOPIC:
        reply = _continue(turn, state)
        if reply is not None:
            return reply
    else:
        reply = _request_on_last_order(turn)
        if reply is not None:
            return reply
    reply = referrals.take_testimonial(session, customer, turn.text, result.normalized, result.intent, now)
    if reply is not None:
        return reply
    if result.context.get("friend_later"):
        return _friend_will_come(turn)
    reply = HANDLERS[result.intent](turn)
    if result.intent != Intent.ORDER:
        dialogue.remember_topic(session, customer.id, result.parsed, turn.config, now)
    return reply


def _state_order(session: Session, state: ConversationState | None) -> Order | None:
    data = (state.data or {}) if state is not None else {}
    if state is None or state.kind not in dialogue.ORDER_STATES or not data.get("order_id"):
        return None
    return session.get(Order, data["order_id"])


# Built once: every message reads the catalogue.
_CATALOGUE = (
    select(Product.id, Product.name, Product.aliases, Product.price_cents, Product.usage_days)
    .where(Product.active.is_(True))
    .order_by(Product.id)
)
_catalogue_cache: dict[tuple[tuple[Any, ...], ...], list[CatalogueEntry]] = {}


# The catalogue rows this process read last, with their entries: what a message is understood
# against before its transaction reads the catalogue again (:func:`understand`).
_last_catalogue: tuple[tuple[tuple[Any, ...], ...], list[CatalogueEntry]] | None = None


def load_catalogue(session: Session) -> list[CatalogueEntry]:
    """The active products as parser entries.

    Read on every message (plain columns, no ORM objects); the entries, with their normalised
    terms, are reused while the rows are unchanged, so a seller's edit is seen by the next message.
    """
    return _read_catalogue(session)[1]


def _read_catalogue(session: Session) -> tuple[tuple[tuple[Any, ...], ...], list[CatalogueEntry]]:
    global _last_catalogue
    rows = tuple(tuple(row) for row in session.execute(_CATALOGUE))
    entries = _catalogue_cache.get(rows)
    if entries is None:
        if len(_catalogue_cache) >= 8:
            _catalogue_cache.clear()
        entries = _catalogue_cache[rows] = [CatalogueEntry.from_row(*row) for row in rows]
    _last_catalogue = (rows, entries)
    return rows, list(entries)


@dataclass(frozen=True)
class Understanding:
    """What a text says, worked out before the message's transaction: a pure function of the text
    and the catalogue rows it was read against (intent, order lines, phone, name, address)."""

    text: str
    rows: tuple[tuple[Any, ...], ...]
    result: IntentResult


def understand(text: str) -> Understanding | None:
    """Understand ``text`` against the catalogue this process read last (None before the first
    read): the costly, pure part of a reply, done outside the write lock. The transaction reads
    the catalogue again and redoes it if the rows changed (:func:`handle_customer_text`)."""
    snapshot = _last_catalogue
    if snapshot is None:
        return None
    rows, entries = snapshot
    text = text or ""
    return Understanding(text, rows, detect_intent(text[:2000], list(entries)))


# --- Orders ----------------------------------------------------------------------------------


def _continue(turn: Turn, state: ConversationState) -> str | None:
    """Use the message to complete/correct the order in ``state``; None lets the intent decide."""
    data = dict(state.data or {})
    norm = turn.result.normalized
    order = turn.session.get(Order, data["order_id"]) if data.get("order_id") else None
    if order is not None and order.status != OrderStatus.PENDING:
        return _continue_after_payment(turn, state, data, order)

    if CANCEL.match(norm):
        conversation_state.clear(turn.session, turn.customer.id)
        if order is not None:
            try:
                transition(turn.session, order, "cancel", actor="customer", now=turn.now)
            except OrderError:
                return None
            return texts.ORDER_CANCELLED.format(order_id=order.id)
        return texts.ORDER_NOTHING_TO_CANCEL

    if data.get("conflicts") and (YES.match(norm) or NO.match(norm)):
        reply = _resolve_conflicts(turn, data, accept=bool(YES.match(norm)))
        data["conflicts"] = []
        if state.kind == STATE_ORDER:
            return reply + "\n" + _progress(turn, data, ParsedOrder())
        conversation_state.save(turn.session, turn.customer.id, state.kind, data, turn.config, turn.now)
        return reply

    parsed = turn.parsed
    if data.get("choice"):
        candidates = [e for e in turn.catalogue if e.product_id in data["choice"]["ids"]]
        pick = choose_candidate(turn.text, candidates)
        if pick is not None:
            data["items"] = [*data.get("items", []), [pick.product_id, data["choice"].get("quantity", 1)]]
            data["choice"] = None
            return _progress(turn, data, _contact_only(parsed))

    change = turn.result.context.get("quantity")
    if change:
        reply = _change_quantity(turn, state, data, order, change)
        if reply is not None:
            return reply
    if turn.result.intent not in (Intent.ORDER, Intent.OTHER):
        return None
    if state.kind == STATE_REVIEW and order is not None and YES.match(norm):
        return texts.ORDER_ACKNOWLEDGED.format(order_id=order.id)
    if state.kind == STATE_REVIEW:
        if parsed.items or parsed.ambiguous:
            return None  # a new order: the order handler starts it
        if not parsed.has_contact:
            return None
        return _progress(turn, data, parsed, correction=True)

    missing = _missing(turn, data, order)
    if (
        not parsed.name
        and "name" in missing
        and BARE_NAME.match(norm)
        and turn.result.intent == Intent.OTHER
        and not parsed.quantities
        and norm[0] in SURNAMES
        and not any(norm.startswith(w) for w in NOT_NAMES)
    ):
        parsed = _with(parsed, name=norm)
    if not parsed.address and "address" in missing and STREET_DETAIL.search(norm):
        parsed = _with_detail(turn, data, order, parsed, norm)
    if parsed.items or parsed.ambiguous or parsed.unknown_product or parsed.has_contact:
        return _progress(turn, data, parsed)
    if turn.result.intent == Intent.OTHER or state.kind == STATE_ORDER:
        return _progress(turn, data, parsed)  # nothing new: ask again for what is missing
    return None


def _continue_after_payment(
    turn: Turn, state: ConversationState, data: dict[str, Any], order: Order
) -> str | None:
    """The order in ``state`` was paid, shipped or cancelled since: the customer no longer edits it.

    A cancellation or a new address/phone becomes a request to the seller (:func:`_forward_request`);
    anything else ends the order's conversation and is answered by its intent.
    """
    norm = turn.result.normalized
    if CANCEL.match(norm):
        conversation_state.clear(turn.session, turn.customer.id)
        return _forward_request(turn, order, "cancel")
    if data.get("conflicts") and (YES.match(norm) or NO.match(norm)):
        reply = _resolve_conflicts(
            turn, data, accept=bool(YES.match(norm))
        )  # the customer's record, not the order
        data["conflicts"] = []
        conversation_state.save(turn.session, turn.customer.id, state.kind, data, turn.config, turn.now)
        return reply
    parsed = turn.parsed
    if (
        turn.result.intent in (Intent.ORDER, Intent.OTHER)
        and parsed.has_contact
        and not (parsed.items or parsed.ambiguous)
    ):
        return _forward_request(turn, order, "change")
    if state.kind == STATE_REVIEW and YES.match(norm):
        return texts.ORDER_ACKNOWLEDGED.format(order_id=order.id)
    conversation_state.clear(turn.session, turn.customer.id)
    return None


def _request_on_last_order(turn: Turn) -> str | None:
    """No order in conversation: "取消订单" or "地址改成…" about the last order once it was paid.

    A pending order keeps today's rules (it is corrected within its conversation); None lets the
    intent decide.
    """
    norm, parsed = turn.result.normalized, turn.parsed
    if CANCEL_ORDER.match(norm):
        what = "cancel"
    elif (
        CHANGE_ORDER.search(norm)
        and parsed.has_contact
        and not (parsed.items or parsed.ambiguous)
        and turn.result.intent in (Intent.ORDER, Intent.OTHER)
    ):
        what = "change"
    else:
        return None
    order = turn.session.scalar(
        select(Order)
        .where(
            Order.customer_id == turn.customer.id,
            Order.created_at >= turn.now - dt.timedelta(days=REQUEST_ORDER_DAYS),
        )
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(1)
    )
    if order is None or order.status == OrderStatus.PENDING:
        return None
    return _forward_request(turn, order, what)


def _forward_request(turn: Turn, order: Order, what: str) -> str:
    """Record the customer's ``what`` ("change" or "cancel") request on a paid, shipped or received
    order (an order event), forward it to the sellers, and tell the customer what happens next.
    The order itself is left as it is."""
    if order.status == OrderStatus.CANCELLED:
        return texts.ORDER_ALREADY_CANCELLED.format(order_id=order.id)
    from storage.orders import STATUS_LABELS

    event = record_event(turn.session, order, f"{what}_request", "customer", turn.now, detail=turn.text[:500])
    turn.session.flush()
    text = texts.SELLER_ORDER_REQUEST[what].format(
        order_id=order.id,
        customer=turn.customer.display_name,
        status=STATUS_LABELS.get(order.status, order.status),
        text=turn.text[:300],
    )
    notify_sellers(
        turn,
        f"order-request:{event.id}",
        text,
        {"order_id": order.id, "customer_id": turn.customer.id, "request": what},
    )
    if order.status == OrderStatus.PAID:
        return texts.ORDER_REQUEST_PAID[what].format(order_id=order.id)
    if order.status == OrderStatus.SHIPPED:
        tracking = (
            texts.ORDER_REQUEST_TRACKING.format(courier=order.courier or "", tracking_no=order.tracking_no)
            if order.tracking_no
            else ""
        )
        return texts.ORDER_REQUEST_SHIPPED[what].format(order_id=order.id, tracking=tracking)
    return texts.ORDER_REQUEST_RECEIVED[what].format(order_id=order.id)


def _change_quantity(
    turn: Turn, state: ConversationState, data: dict[str, Any], order: Order | None, change: Mapping[str, Any]
) -> str | None:
    """ "改成三盒吧" / "两盒" / "再加一盒": the quantity of the order's last product (or of the
    product still to be chosen)."""
    value, add = int(change["value"]), bool(change.get("add"))
    if order is None:
        if not data.get("choice"):
            return None
        choice = dict(data["choice"])
        choice["quantity"] = int(choice.get("quantity") or 1) + value if add else value
        data["choice"] = choice
        return _progress(turn, data, ParsedOrder())
    if order.status != OrderStatus.PENDING or not order.items:
        return None
    item = order.items[-1]
    item.quantity = item.quantity + value if add else value
    order.amount_cents = sum(i.quantity * i.unit_price_cents for i in order.items)
    turn.session.flush()
    return _progress(turn, data, ParsedOrder(), correction=state.kind == STATE_REVIEW)


def _start_friend_order(turn: Turn, state: ConversationState | None) -> str:
    """An order for a friend: always a new order, with the friend's contact only (never the
    customer's stored details, never written to the customer's record). The customer's own
    pending order keeps waiting for its details."""
    own = dict(state.data or {}) if state is not None and state.kind == STATE_ORDER else None
    reply = _progress(turn, {"friend": True}, turn.parsed)
    if not own or not own.get("order_id"):
        return reply
    own_order = turn.session.get(Order, own["order_id"])
    now_state = conversation_state.current(turn.session, turn.customer.id)
    if (
        own_order is None
        or own_order.status != OrderStatus.PENDING
        or now_state is None
        or now_state.kind != STATE_REVIEW
    ):
        return reply
    missing = _missing(turn, own, own_order)
    if not missing:
        return reply
    own["friend"] = False
    conversation_state.save(turn.session, turn.customer.id, STATE_ORDER, own, turn.config, turn.now)
    labels = texts.ORDER_MISSING_JOINER.join(texts.ORDER_MISSING_LABELS[m] for m in missing)
    return (
        reply
        + "\n"
        + texts.ORDER_OWN_STILL_NEEDS.format(
            order_id=own_order.id, items=_items_text(own_order), missing=labels
        )
    )


def _friend_will_come(turn: Turn) -> str:
    """ "我闺蜜也想要，她会加你": no order; the customer's code, so the friend's first order counts."""
    if turn.customer.opted_out:
        return texts.FRIEND_WILL_COME
    from storage import referrals as referral_store

    return texts.FRIEND_WILL_COME_CODE.format(code=referral_store.ensure_code(turn.session, turn.customer))


def _handle_order(turn: Turn) -> str:
    return _progress(turn, {}, turn.parsed)


def _progress(turn: Turn, data: dict[str, Any], parsed: ParsedOrder, *, correction: bool = False) -> str:
    """Fold ``parsed`` into the draft/order in ``data``, create the order once it has a product,
    save the state, and say what was understood and what is still missing."""
    session, customer, now = turn.session, turn.customer, turn.now
    order = session.get(Order, data["order_id"]) if data.get("order_id") else None
    contact = dict(data.get("contact") or {})
    new_conflicts: list[dict[str, Any]] = []

    # A friend's contact, or the previous order's, says nothing new about the customer.
    remember = not data.get("friend") and not turn.result.context.get("reuse_contact")
    for field, value in _contact_pieces(parsed).items():
        if (
            field == "address"
            and not _address_complete(value)
            and _address_complete(contact.get("address") or {})
        ):
            continue  # a vaguer address never replaces a complete one
        contact[field] = value
        conflict = _remember(turn, field, value) if remember else None
        if conflict is not None:
            new_conflicts.append(conflict)

    items = [list(i) for i in data.get("items", [])]
    items += [[i.product.product_id, i.quantity] for i in parsed.items]
    if parsed.ambiguous:
        amb = parsed.ambiguous[0]
        data["choice"] = {
            "word": amb.word,
            "ids": [c.product_id for c in amb.candidates],
            "quantity": amb.quantity,
        }
    data["unknown"] = parsed.unknown_product if not parsed.items and parsed.unknown_product else None

    was_complete = order is not None and not _missing(turn, data, order)
    created = False
    if order is None and items:
        order = _create_order(turn, items, contact, from_profile=not data.get("friend"))
        created = True
        data["order_id"], items, contact = order.id, [], {}
    elif order is not None:
        if items:
            _add_items(turn, order, items)
            items = []
        _apply_contact(order, contact)
        contact = {}
    data["items"], data["contact"] = items, contact
    data["conflicts"] = [*data.get("conflicts", []), *new_conflicts]

    missing = _missing(turn, data, order)
    if created:
        _notify_new_order(turn, order, missing)

    reply = _order_reply(turn, data, order, missing, updated=was_complete or correction)
    kind = STATE_ORDER if (missing or data.get("choice") or order is None) else STATE_REVIEW
    conversation_state.save(session, customer.id, kind, data, turn.config, now)
    if new_conflicts:
        reply += "\n" + "\n".join(_conflict_question(c) for c in new_conflicts)
    return reply


def contact_or_order(contact: dict[str, Any], order: Order | None) -> dict[str, Any]:
    if order is None:
        return contact
    return {
        "province": order.province,
        "city": order.city,
        "district": order.district,
        "detail": order.address_detail,
    }


def _address_complete(fields: Mapping[str, Any]) -> bool:
    return AddressParts(
        fields.get("province"), fields.get("city"), fields.get("district"), fields.get("detail")
    ).is_complete


def _contact_pieces(parsed: ParsedOrder) -> dict[str, Any]:
    pieces: dict[str, Any] = {}
    if parsed.name:
        pieces["name"] = parsed.name
    if parsed.phone:
        pieces["phone"] = parsed.phone
    if parsed.address is not None:
        a = parsed.address
        pieces["address"] = {
            "province": a.province,
            "city": a.city,
            "district": a.district,
            "detail": a.detail,
        }
    return pieces


def _contact_only(parsed: ParsedOrder) -> ParsedOrder:
    return ParsedOrder(phone=parsed.phone, name=parsed.name, address=parsed.address)


def _with(parsed: ParsedOrder, **changes) -> ParsedOrder:
    fields = {
        k: getattr(parsed, k)
        for k in ("items", "ambiguous", "unknown_product", "quantities", "phone", "name", "address")
    }
    fields.update(changes)
    return ParsedOrder(**fields)


def _with_detail(turn: Turn, data, order: Order | None, parsed: ParsedOrder, norm: str) -> ParsedOrder:
    """A street-level answer ("科技园路1号") completes a region already known for this order."""
    known = contact_or_order((data.get("contact") or {}).get("address") or {}, order)
    if not (known.get("province") or known.get("city")):
        return parsed
    return _with(
        parsed, address=AddressParts(known.get("province"), known.get("city"), known.get("district"), norm)
    )


def _create_order(
    turn: Turn, items: list[list[int]], contact: dict[str, Any], *, from_profile: bool = True
) -> Order:
    customer = turn.customer
    specs = []
    for product_id, quantity in items:
        product = _product(turn, product_id)
        if product is not None:
            specs.append(ItemSpec(product=product, quantity=int(quantity)))
    address = contact.get("address") or {}
    fields = {
        "recipient_name": contact.get("name"),
        "phone": contact.get("phone"),
        "province": address.get("province"),
        "city": address.get("city"),
        "district": address.get("district"),
        "address_detail": address.get("detail"),
    }
    use_profile, from_profile = from_profile, False
    # A returning customer who just says "再来两盒" gets their stored details (and is told so).
    if use_profile and not fields["recipient_name"] and customer.name:
        fields["recipient_name"], from_profile = customer.name, True
    if use_profile and not fields["phone"] and customer.phone:
        fields["phone"], from_profile = customer.phone, True
    if (
        use_profile
        and not _address_complete(
            {
                "province": fields["province"],
                "city": fields["city"],
                "district": fields["district"],
                "detail": fields["address_detail"],
            }
        )
        and customer.address_detail
        and customer.province
    ):
        fields.update(
            province=customer.province,
            city=customer.city,
            district=customer.district,
            address_detail=customer.address_detail,
        )
        from_profile = True
    order = create_order(
        turn.session,
        customer,
        specs,
        actor="customer",
        now=turn.now,
        source="chat",
        note=texts.ORDER_NOTE_FROM_PROFILE if from_profile else None,
        **fields,
    )
    link_inquiries_to_order(
        turn.session, order, turn.now, int(turn.config.get("INQUIRY_CONVERSION_DAYS", 30) or 30)
    )
    if customer.last_order_at is None or customer.last_order_at < turn.now:
        customer.last_order_at = turn.now
    return order


def _product(turn: Turn, product_id: int) -> CatalogueEntry | Product | None:
    """The product for an order line: the catalogue read for this message, else the row (a product
    taken off sale since the customer chose it is still sold to them)."""
    entry = next((e for e in turn.catalogue if e.product_id == product_id), None)
    return entry if entry is not None else turn.session.get(Product, product_id)


def _add_items(turn: Turn, order: Order, items: list[list[int]]) -> None:
    from storage.models import OrderItem

    for product_id, quantity in items:
        product = _product(turn, product_id)
        if product is None:
            continue
        existing = next((i for i in order.items if i.product_id == product_id), None)
        if existing is not None:
            existing.quantity += int(quantity)
        else:
            order.items.append(
                OrderItem(
                    product_id=product.id,
                    product_name=product.name,
                    quantity=int(quantity),
                    unit_price_cents=product.price_cents,
                    usage_days=product.usage_days,
                )
            )
    order.amount_cents = sum(i.quantity * i.unit_price_cents for i in order.items)
    turn.session.flush()


def _apply_contact(order: Order, contact: dict[str, Any]) -> None:
    if contact.get("name"):
        order.recipient_name = contact["name"]
    if contact.get("phone"):
        order.phone = contact["phone"]
    address = contact.get("address")
    if address:
        current = contact_or_order({}, order)
        if _address_complete(address) or not _address_complete(current):
            order.province, order.city = address.get("province"), address.get("city")
            order.district, order.address_detail = address.get("district"), address.get("detail")


def _missing(turn: Turn, data: dict[str, Any], order: Order | None) -> list[str]:
    if order is None:
        return ["product"]
    missing = []
    if not order.recipient_name:
        missing.append("name")
    if not order.phone:
        missing.append("phone")
    if not _address_complete(contact_or_order({}, order)):
        missing.append("address")
    return missing


def _items_text(order: Order) -> str:
    return "、".join(f"{i.product_name}×{i.quantity}" for i in order.items)


def _catalogue_text(turn: Turn) -> str:
    return (
        "\n".join(f"· {e.name} {format_yuan(e.price_cents)}" for e in turn.catalogue)
        or "（店主还没上架商品）"
    )


def _order_reply(
    turn: Turn, data: dict[str, Any], order: Order | None, missing: list[str], *, updated: bool
) -> str:
    if data.get("choice"):
        choice = data["choice"]
        options = [e for e in turn.catalogue if e.product_id in choice["ids"]]
        lines = "\n".join(f"{n}. {e.name} {format_yuan(e.price_cents)}" for n, e in enumerate(options, 1))
        return texts.ORDER_CHOOSE_PRODUCT.format(word=choice.get("word") or "这个", options=lines)
    if order is None:
        if data.get("unknown"):
            return texts.ORDER_UNKNOWN_PRODUCT.format(word=data["unknown"], catalogue=_catalogue_text(turn))
        return texts.ORDER_DRAFT_NEEDS_PRODUCT.format(catalogue=_catalogue_text(turn))
    if missing:
        labels = texts.ORDER_MISSING_JOINER.join(texts.ORDER_MISSING_LABELS[m] for m in missing)
        return texts.ORDER_NEEDS_MORE.format(
            order_id=order.id, items=_items_text(order), total=format_yuan(order.amount_cents), missing=labels
        )
    values = {
        "order_id": order.id,
        "items": _items_text(order),
        "total": format_yuan(order.amount_cents),
        "name": order.recipient_name,
        "phone": mask_phone(order.phone),
        "address": order.address,
        "minutes": conversation_state.timeout_minutes(turn.config),
    }
    if updated:
        return texts.ORDER_UPDATED.format(**values)
    reply = texts.ORDER_CONFIRMED.format(**values)
    reply = reply + texts.ORDER_FROM_PROFILE_NOTE if order.note == texts.ORDER_NOTE_FROM_PROFILE else reply
    reply = subscribe_links.with_offer(reply, turn.config, turn.customer.id)  # 订阅通知 consent link
    ask = referrals.invitation(turn.session, turn.customer, referrals.MOMENT_ORDER, turn.config, turn.now)
    return f"{reply}\n{ask}" if ask else reply


# --- The customer's record: fill when empty, never silently overwrite --------------------------


def _stored_value(customer: Customer, field: str) -> Any:
    if field == "address":
        if not (customer.province or customer.city or customer.district or customer.address_detail):
            return None
        return {
            "province": customer.province,
            "city": customer.city,
            "district": customer.district,
            "detail": customer.address_detail,
        }
    return getattr(customer, field)


def _as_text(field: str, value: Any) -> str:
    if field == "address":
        return "".join(
            v
            for v in (value.get("province"), value.get("city"), value.get("district"), value.get("detail"))
            if v
        )
    return str(value)


def _set_value(customer: Customer, field: str, value: Any) -> None:
    if field == "address":
        customer.province, customer.city = value.get("province"), value.get("city")
        customer.district, customer.address_detail = value.get("district"), value.get("detail")
    else:
        setattr(customer, field, value)


def _remember(turn: Turn, field: str, value: Any) -> dict[str, Any] | None:
    """Store a contact piece on the customer when empty; a different stored value → FieldConflict."""
    customer = turn.customer
    stored = _stored_value(customer, field)
    if field == "address" and not _address_complete(value):
        return None  # an incomplete address is kept on the order only
    if stored is None or stored == "":
        _set_value(customer, field, value)
        return None
    old, new = _as_text(field, stored), _as_text(field, value)
    if field == "address" and stored and not _address_complete(stored):
        _set_value(customer, field, value)  # a complete address replaces a partial one
        return None
    if old == new:
        return None
    existing = turn.session.scalar(
        select(FieldConflict).where(
            FieldConflict.customer_id == customer.id,
            FieldConflict.field == field,
            FieldConflict.proposed_value == new,
            FieldConflict.resolved_at.is_(None),
        )
    )
    if existing is None:
        existing = FieldConflict(
            customer_id=customer.id,
            field=field,
            stored_value=old,
            proposed_value=new,
            source="chat",
            created_at=turn.now,
        )
        turn.session.add(existing)
        turn.session.flush()
    return {"id": existing.id, "field": field, "value": value, "old": old}


def _conflict_question(conflict: dict[str, Any]) -> str:
    field = conflict["field"]
    show = mask_phone if field == "phone" else (lambda v: v)
    return texts.CONTACT_CONFLICT.format(
        label=texts.CONTACT_CONFLICT_LABELS[field],
        new=show(_as_text(field, conflict["value"])),
        old=show(conflict["old"]),
    )


def _resolve_conflicts(turn: Turn, data: dict[str, Any], *, accept: bool) -> str:
    for conflict in data.get("conflicts", []):
        row = turn.session.get(FieldConflict, conflict["id"])
        if row is None or row.resolved_at is not None:
            continue
        if accept:
            _set_value(turn.customer, conflict["field"], conflict["value"])
        row.resolved_at = turn.now
    return texts.CONTACT_UPDATED if accept else texts.CONTACT_KEPT


# --- Seller notices --------------------------------------------------------------------------


def notify_sellers(turn: Turn, key: str, text: str, payload: dict[str, Any]) -> int:
    """Queue ``text`` for every seller openid once (dedupe key ``seller:<key>:<openid>``)."""
    sent = 0
    for openid in parse_list(turn.config.get("SELLER_OPENIDS")):
        sent += enqueue(
            turn.session,
            dedupe_key=f"seller:{key}:{openid}",
            kind="seller_notice",
            text=text,
            openid=openid,
            transactional=True,
            now=turn.now,
            payload=payload,
        )
    return sent


def _notify_new_order(turn: Turn, order: Order, missing: list[str]) -> None:
    labels = texts.ORDER_MISSING_JOINER.join(
        texts.ORDER_MISSING_LABELS[m] for m in missing if m in texts.ORDER_MISSING_LABELS
    )
    text = texts.SELLER_NEW_ORDER.format(
        order_id=order.id,
        customer=turn.customer.display_name,
        items=_items_text(order),
        total=format_yuan(order.amount_cents),
        name=order.recipient_name or "",
        phone=order.phone or "",
        address=order.address,
        missing=texts.SELLER_NEW_ORDER_MISSING.format(missing=labels) if labels else "",
    )
    notify_sellers(
        turn, f"new-order:{order.id}", text, {"order_id": order.id, "customer_id": turn.customer.id}
    )


# --- Other intents ---------------------------------------------------------------------------


def _inquiry_product(turn: Turn) -> CatalogueEntry | None:
    parsed = turn.parsed
    if parsed.items:
        return parsed.items[0].product
    return None


def _handle_inquiry(turn: Turn) -> str:
    topic = turn.result.topic or "other"
    product = _inquiry_product(turn)
    answer = handover = None
    row = turn.session.get(Product, product.product_id) if product is not None else None
    facts = (
        product_answers.answer(row, turn.result.normalized) if row is not None and topic != "price" else None
    )
    if topic == "price":
        answer = (
            texts.INQUIRY_PRICE.format(product=product.name, price=format_yuan(product.price_cents))
            if product
            else texts.INQUIRY_PRICE_LIST.format(catalogue=_catalogue_text(turn))
            if turn.catalogue
            else None
        )
    elif facts is not None:
        answer, handover = (facts.text, None) if facts.complete else (None, facts.text)
    elif topic == "usage" and product is not None and product.usage_days:
        answer = texts.INQUIRY_USAGE.format(product=product.name, days=product.usage_days)
    elif HOW_TO_ORDER.search(turn.result.normalized):
        answer = texts.INQUIRY_HOW_TO_ORDER
    inquiry = record_inquiry(
        turn.session,
        turn.customer.id,
        turn.text,
        topic=topic,
        product_id=product.product_id if product else None,
        now=turn.now,
        answer=answer,
    )
    if answer is not None:
        return answer
    notify_sellers(
        turn,
        f"inquiry:{inquiry.id}",
        texts.SELLER_INQUIRY.format(
            inquiry_id=inquiry.id,
            customer=turn.customer.display_name,
            product=f"【{product.name}】" if product else "",
            text=turn.text[:300],
        ),
        {"inquiry_id": inquiry.id, "customer_id": turn.customer.id},
    )
    if handover is not None:
        return handover
    if product is not None:
        return texts.PRODUCT_QUESTION_HANDOVER.format(
            product=product.name, price=format_yuan(product.price_cents)
        )
    return texts.INQUIRY_FORWARDED


def _handle_my_orders(turn: Turn) -> str:
    from storage.orders import STATUS_LABELS

    orders = turn.session.scalars(
        select(Order)
        .where(Order.customer_id == turn.customer.id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(RECENT_ORDERS_SHOWN)
    ).all()
    if not orders:
        return texts.MY_ORDERS_NONE
    lines = [texts.MY_ORDERS_HEADER]
    for order in orders:
        line = texts.MY_ORDERS_LINE.format(
            order_id=order.id,
            items=_items_text(order),
            total=format_yuan(order.amount_cents),
            status=STATUS_LABELS.get(order.status, order.status),
        )
        if order.tracking_no:
            line += texts.MY_ORDERS_TRACKING.format(
                courier=order.courier or "", tracking_no=order.tracking_no
            )
        lines.append(line)
    return "\n".join(lines)


def _handle_opt_out(turn: Turn) -> str:
    customer = turn.customer
    customer.opted_out = True
    customer.opted_out_at = turn.now
    # Marketing already queued for this customer stops now, and what was drafted for the seller to
    # send by hand leaves their 待发 list (transactional notices still go out).
    turn.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.customer_id == customer.id,
            OutboxMessage.status.in_(("pending", "drafted")),
            OutboxMessage.transactional.is_(False),
        )
        .values(status="skipped", skip_reason="opted_out", updated_at=turn.now)
    )
    return texts.OPTED_OUT


def _handle_opt_in(turn: Turn) -> str:
    customer = turn.customer
    if not customer.opted_out:
        return texts.OPT_IN_ALREADY
    customer.opted_out = False
    customer.opted_out_at = None
    # Messages that fell due while opted out and are still within catch-up go out again.
    sweep_watermarks.invalidate(turn.session, turn.now)
    return texts.OPTED_IN


def _handle_complaint(turn: Turn) -> str:
    last_order = turn.session.scalar(
        select(Order)
        .where(Order.customer_id == turn.customer.id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(1)
    )
    complaint = Complaint(
        customer_id=turn.customer.id,
        order_id=last_order.id if last_order else None,
        text=turn.text,
        created_at=turn.now,
    )
    turn.session.add(complaint)
    turn.session.flush()
    notify_sellers(
        turn,
        f"complaint:{complaint.id}",
        texts.SELLER_COMPLAINT.format(
            customer=turn.customer.display_name,
            complaint_id=complaint.id,
            text=turn.text[:300],
            order=texts.SELLER_COMPLAINT_ORDER.format(order_id=last_order.id) if last_order else "",
        ),
        {"complaint_id": complaint.id, "customer_id": turn.customer.id},
    )
    return texts.COMPLAINT_RECEIVED


def _handle_referral_code(turn: Turn) -> str:
    """Hand the code to ``bot.referrals.apply_typed_code`` when that module exists."""
    code = turn.result.code
    try:
        referrals = importlib.import_module("bot.referrals")
    except ModuleNotFoundError as exc:
        if exc.name != "bot.referrals":
            raise
        referrals = None
    if referrals is not None:
        apply = getattr(referrals, "apply_typed_code", None)
        if apply is not None:
            reply = apply(turn.session, turn.customer, code, turn.config, turn.now)
            if reply:
                return reply
    return texts.REFERRAL_CODE_RECEIVED.format(code=code)


def _handle_product_good(turn: Turn) -> str:
    return referrals.product_good_reply(turn.session, turn.customer, turn.text, turn.config, turn.now)


HANDLERS: dict[str, Callable[[Turn], str | None]] = {
    Intent.ORDER: _handle_order,
    Intent.INQUIRY: _handle_inquiry,
    Intent.MY_ORDERS: _handle_my_orders,
    Intent.OPT_OUT: _handle_opt_out,
    Intent.OPT_IN: _handle_opt_in,
    Intent.COMPLAINT: _handle_complaint,
    Intent.REFERRAL_CODE: _handle_referral_code,
    Intent.PRODUCT_GOOD: _handle_product_good,
    Intent.THANKS_PRAISE: lambda turn: referrals.thanks_reply(
        turn.session, turn.customer, turn.config, turn.now
    ),
    Intent.MY_REWARDS: lambda turn: referrals.account_reply(
        turn.session, turn.customer, turn.config, turn.now
    ),
    Intent.GREETING: lambda turn: texts.GREETING_REPLY,
    Intent.OTHER: lambda turn: texts.DEFAULT_REPLY,
}
