"""What a message means given the conversation before it, the way a shop assistant hears it.

``resolve`` runs before the intent is acted on and rewrites the turn's ``IntentResult`` from the
customer's ``ConversationState``:

- the *topic*: the product(s) the customer last asked about ("眼霜怎么卖" → the price →
  "那来一支" is an order for 眼霜; "怎么用比较好" is a question about it);
- a *quantity change* to the pending order ("改成三盒吧", "还是要三盒吧", a bare "两盒", "再加一盒");
- *the previous order's contact* ("还是寄上次那个地址");
- an order *for a friend* ("帮我闺蜜也订一盒，寄给 李娜 …"): a second order, never merged into
  the customer's own one, and never written to the customer's own record.

Pure rules over the parse plus two small reads (the pending order, the previous order).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import conversation_state
from bot.intents import DEFERRED, FRIEND_LATER, LAST_ADDRESS, PAST_PURCHASE, Intent, IntentResult
from bot.order_parser import Ambiguity, CatalogueEntry, ParsedItem, ParsedOrder, choose_candidate
from storage.contact import AddressParts
from storage.models import ConversationState, Order, OrderStatus

STATE_TOPIC = "topic"  # no order yet: the products the customer is talking about
ORDER_STATES = ("order", "order_review")

# "那来一支", "好的，来两盒", "就要这个": taking the product just talked about.
TAKE_VERB = re.compile(r"来|要|拍|买|订|拿|下单|就这个|就它")
TAKE_IT = re.compile(
    r"^(?:那|那就|就|好的?|行|嗯+|可以|ok)?[,，。!！ ]*(?:那|那就|就|我|我就)?(?:先)?"
    r"(?:要|来|拍|买|订|拿|下单)(?:了|吧|这个|这款|它|一份)?[吧了啊呀哦～~!！。]*$",
    re.I,
)
# "再加一盒", "多来一盒": more of the same; otherwise a quantity alone replaces the last item's.
ADD_MORE = re.compile(r"再加|多加|加[一两二三四五\d]|再来|再要|还要|多来|多要")
CHANGE_WORDS = re.compile(r"改成|改为|换成|还是|算了|就要|要|那就|那|来")
QUANTITY_ONLY = re.compile(
    r"^[\W\d一两二三四五六七八九十俩仨盒瓶支套片个袋罐件份箱包只管条组和合吧啊呀哦嗯就要来改成为还是算了那好的]*$"
)
# An order for someone else: a relation named next to an order verb, with their own contact.
FRIEND = re.compile(
    r"(?:帮|给|替|寄给|发给)(?:我)?(?:的)?(?:闺蜜|朋友|好友|同事|同学|妈妈?|老妈|爸爸?|老爸|婆婆|公公|老公|老婆|"
    r"姐姐?|妹妹?|哥哥?|弟弟?|表姐|表妹|嫂子|家人|亲戚|女儿|儿子|阿姨)"
    r"|(?:闺蜜|朋友|好友|同事|同学|我妈|我姐|我妹|婆婆)(?:也|还)?(?:要|想要|订|买|来|拍)"
)


def resolve(
    session: Session,
    customer_id: int,
    result: IntentResult,
    state: ConversationState | None,
    catalogue: Sequence[CatalogueEntry],
) -> IntentResult:
    """``result`` read in the light of ``state`` (a new result; ``result.context`` says what was used)."""
    norm = result.normalized
    parsed: ParsedOrder = result.parsed
    kind = state.kind if state is not None else None
    data = dict(state.data or {}) if state is not None else {}
    order = session.get(Order, data["order_id"]) if kind in ORDER_STATES and data.get("order_id") else None
    context: dict[str, Any] = {}
    intent = result.intent

    if FRIEND_LATER.search(norm):
        context["friend_later"] = True
        if intent == Intent.ORDER:
            intent = Intent.OTHER
        return replace(result, intent=intent, context=context)

    mentions_product = bool(parsed.items or parsed.ambiguous)
    deferred = bool(DEFERRED.search(norm))
    question = Intent.INQUIRY in result.matched

    if LAST_ADDRESS.search(norm):
        previous = previous_order(session, customer_id, exclude=order.id if order is not None else None)
        if previous is not None:
            parsed = _with(
                parsed,
                name=parsed.name or previous.recipient_name,
                phone=parsed.phone or previous.phone,
                address=parsed.address
                if parsed.address and parsed.address.is_complete
                else AddressParts(
                    previous.province, previous.city, previous.district, previous.address_detail
                ),
            )
            context["reuse_contact"] = previous.id

    if FRIEND.search(norm) and (parsed.name or parsed.phone) and not deferred:
        context["friend"] = True
        if not mentions_product:
            base = _topic_entries(data, order, catalogue)
            if len(base) == 1:
                quantity = parsed.quantities[0].value if parsed.quantities else 1
                parsed = _with(
                    parsed,
                    items=[ParsedItem(base[0], quantity, bool(parsed.quantities))],
                    unknown_product=None,
                )
        return replace(result, intent=Intent.ORDER, parsed=parsed, context=context)

    pending = order is not None and order.status == OrderStatus.PENDING
    if (
        kind in ORDER_STATES
        and not mentions_product
        and not parsed.unknown_product
        and not deferred
        and len(parsed.quantities) == 1
        and not question
        and not parsed.has_contact
    ):
        q = parsed.quantities[0]
        short = bool(QUANTITY_ONLY.match(norm)) or bool(
            (CHANGE_WORDS.search(norm) or ADD_MORE.search(norm)) and len(norm) <= 12
        )
        if short and (pending or (order is None and data.get("choice"))):
            context["quantity"] = {"value": q.value, "add": bool(ADD_MORE.search(norm))}
            return replace(result, intent=Intent.ORDER, parsed=parsed, context=context)

    topic = _topic_entries(data, order, catalogue) if kind == STATE_TOPIC or kind in ORDER_STATES else []
    if (
        kind == STATE_TOPIC
        and not mentions_product
        and topic
        and not deferred
        and not question
        and not PAST_PURCHASE.search(norm)
        and intent in (Intent.ORDER, Intent.OTHER, Intent.GREETING)
    ):
        takes = (
            (parsed.quantities and TAKE_VERB.search(norm))
            or TAKE_IT.match(norm)
            or (parsed.quantities and QUANTITY_ONLY.match(norm))
        )
        if takes:
            quantity = parsed.quantities[0].value if parsed.quantities else 1
            parsed = _with(
                parsed, unknown_product=None, **_topic_pick(result.normalized, topic, data, quantity)
            )
            context["topic"] = [e.product_id for e in topic]
            return replace(result, intent=Intent.ORDER, parsed=parsed, context=context)

    if intent == Intent.INQUIRY and not mentions_product and len(topic) == 1:
        parsed = _with(parsed, items=[ParsedItem(topic[0], 1, False)])
        context["topic"] = [topic[0].product_id]
    return replace(result, intent=intent, parsed=parsed, context=context)


def _topic_entries(
    data: Mapping[str, Any], order: Order | None, catalogue: Sequence[CatalogueEntry]
) -> list[CatalogueEntry]:
    """The products being talked about: the topic saved, else the pending order's last product."""
    ids = list((data.get("topic") or {}).get("ids") or [])
    if not ids and order is not None and order.items:
        ids = [order.items[-1].product_id]
    by_id = {e.product_id: e for e in catalogue}
    return [by_id[i] for i in ids if i in by_id]


def _topic_pick(
    text: str, topic: list[CatalogueEntry], data: Mapping[str, Any], quantity: int
) -> dict[str, Any]:
    if len(topic) == 1:
        return {"items": [ParsedItem(topic[0], quantity, True)], "ambiguous": []}
    pick = choose_candidate(text, topic)
    if pick is not None:
        return {"items": [ParsedItem(pick, quantity, True)], "ambiguous": []}
    word = (data.get("topic") or {}).get("word") or topic[0].name
    return {"items": [], "ambiguous": [Ambiguity(word, tuple(topic), quantity)]}


def _with(parsed: ParsedOrder, **changes) -> ParsedOrder:
    return replace(parsed, **changes)


def previous_order(session: Session, customer_id: int, exclude: int | None = None) -> Order | None:
    """The customer's latest order (not cancelled) with a complete address, other than ``exclude``."""
    query = (
        select(Order)
        .where(
            Order.customer_id == customer_id,
            Order.status != OrderStatus.CANCELLED,
            Order.address_detail.is_not(None),
            Order.phone.is_not(None),
        )
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(1)
    )
    if exclude is not None:
        query = query.where(Order.id != exclude)
    return session.scalar(query)


def remember_topic(
    session: Session, customer_id: int, parsed: ParsedOrder, config: Mapping[str, Any], now: dt.datetime
) -> None:
    """After a message about products that started no order: keep them as the topic (a new
    ``topic`` state), unless an order is in progress (its own state is kept untouched)."""
    state = conversation_state.current(session, customer_id)
    if state is not None and state.kind != STATE_TOPIC:
        return
    if parsed.items:
        topic = {"ids": [i.product.product_id for i in parsed.items], "word": None}
    elif parsed.ambiguous:
        topic = {
            "ids": [c.product_id for c in parsed.ambiguous[0].candidates],
            "word": parsed.ambiguous[0].word,
        }
    else:
        return
    conversation_state.save(session, customer_id, STATE_TOPIC, {"topic": topic}, config, now)
