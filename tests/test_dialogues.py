"""A table of multi-turn customer chats, each played through the webhook on a fresh pool: the
orders in the database (items, recipient, phone, address parts), the intent of the last message
and what the last reply says must match the row.

Like ``tests/test_customer_messages.py``, xfail rows are known misses kept on purpose (strict).
``bench/understanding_accuracy.py`` prints the accuracy of both tables per category.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from storage.models import Customer, FieldConflict, InboundMessage, Order, OutboxMessage, Product
from tests.test_customer_messages import add_catalogue

# Extra products for the dialogues: one eye cream less ambiguous wording is kept from the table's
# catalogue (two eye creams), and a shampoo next to the face wash for the one-letter slips.
EXTRA_PRODUCTS = [("去屑洗发水", "洗发水", 5900, 45)]
WAIT = "⏳"  # a step "⏳3" lets three days pass before the next message
ADDR = "广东省深圳市南山区科技园路1号"
SZ = {"province": "广东省", "city": "深圳市", "district": "南山区", "detail": "科技园路1号"}
HZ = {"province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "文三路100号"}
CARD = "收货人: 王丽\n手机号码: 13912345678\n所在地区: 浙江省 杭州市 西湖区\n详细地址: 文三路2号"
WANG_LI = {
    "name": "王丽",
    "phone": "13912345678",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "文三路2号",
}
ZHANG = {"name": "张三", "phone": "13800138000", **SZ}
FIRST_ORDER = f"要两盒面膜 张三 13800138000 {ADDR}"


def add_dialogue_catalogue(db) -> None:
    add_catalogue(db)
    with db.session() as s:
        for name, aliases, price, days in EXTRA_PRODUCTS:
            s.add(Product(name=name, aliases=aliases, price_cents=price, usage_days=days))


@dataclass
class Dialogue:
    category: str
    messages: list[str]
    orders: list[dict[str, Any]] | None = None  # expected orders by id; keys: items, name, phone, …, status
    intent: str | None = None  # of the last message
    asks: str | None = None  # a substring of the last reply
    profile: dict[str, Any] | None = None  # expected customer fields
    xfail: str | None = None


def o(items: dict[str, int], **fields) -> dict[str, Any]:
    return {"items": items, **fields}


DIALOGUES: list[Dialogue] = [
    # --- The product comes from the question before -------------------------------------------
    Dialogue(
        "context", ["精华怎么卖", "那来一瓶"], [o({"玻尿酸精华液": 1})], intent="order", asks="收件人姓名"
    ),
    Dialogue("context", ["眼霜怎么卖", "那来一支"], [], asks="修护眼霜"),
    Dialogue("context", ["眼霜怎么卖", "那来一支", "修护的"], [o({"修护眼霜": 1})]),
    Dialogue("context", ["眼霜多少钱", "紧致的那个来一支"], [o({"紧致眼霜": 1})]),
    Dialogue(
        "context", ["面膜多少钱一盒", "好的，来两盒", "张三 13800138000", ADDR], [o({"补水面膜": 2}, **ZHANG)]
    ),
    Dialogue("context", ["防晒霜有货吗", "那给我拍一支"], [o({"防晒霜": 1})]),
    Dialogue("context", ["这个防晒霜怎么用", "好的那来两支"], [o({"防晒霜": 2})]),
    Dialogue("context", ["面膜效果怎么样", "那先来一盒试试"], [o({"补水面膜": 1})]),
    Dialogue(
        "context",
        ["洗面奶多少钱", f"好的 要两瓶 寄{ADDR} 张三 13800138000"],
        [o({"氨基酸洗面奶": 2}, **ZHANG)],
    ),
    Dialogue("context", ["面膜多少钱", "嗯嗯", "来两盒吧"], [o({"补水面膜": 2})]),
    Dialogue("context", ["你好", "面膜怎么卖", "那就要三盒"], [o({"补水面膜": 3})]),
    # --- Details over several messages, in any order --------------------------------------------
    Dialogue(
        "details",
        ["我要两盒面膜", "李四 13900139000", "浙江省杭州市西湖区文三路100号"],
        [o({"补水面膜": 2}, name="李四", phone="13900139000", **HZ)],
        asks="138" if False else "补水面膜×2",
    ),
    Dialogue(
        "details",
        ["浙江省杭州市西湖区文三路100号 王芳 13700137000", "要一瓶精华"],
        [o({"玻尿酸精华液": 1}, name="王芳", phone="13700137000", **HZ)],
    ),
    Dialogue(
        "details",
        ["收件人是王丽，电话13912345678", "要三盒面膜", "浙江省杭州市西湖区文三路2号"],
        [o({"补水面膜": 3}, **WANG_LI)],
    ),
    Dialogue(
        "details",
        ["要一盒面膜", "收件人是王丽", "13912345678", "浙江省杭州市西湖区文三路2号"],
        [o({"补水面膜": 1}, **WANG_LI)],
    ),
    Dialogue(
        "details",
        ["要一盒面膜", "名字叫李娜，手机13700137000", ADDR],
        [o({"补水面膜": 1}, name="李娜", phone="13700137000", **SZ)],
    ),
    Dialogue(
        "details",
        ["面膜两盒 李四", "电话13900139000", "地址浙江省杭州市西湖区文三路100号"],
        [o({"补水面膜": 2}, name="李四", phone="13900139000", **HZ)],
    ),
    Dialogue(
        "details",
        ["要一瓶精华，寄到浙江省杭州市西湖区", "文三路100号", "王芳", "13700137000"],
        [o({"玻尿酸精华液": 1}, name="王芳", phone="13700137000", **HZ)],
    ),
    Dialogue(
        "details",
        ["要两盒面膜", f"寄到公司：{ADDR}", "陈静 13500135000"],
        [o({"补水面膜": 2}, name="陈静", phone="13500135000", **SZ)],
    ),
    Dialogue(
        "details",
        ["我要面膜", "要两盒吧", "我叫赵敏 15900159000", "上海市浦东新区世纪大道100号"],
        [
            o(
                {"补水面膜": 2},
                name="赵敏",
                phone="15900159000",
                province="上海市",
                district="浦东新区",
                detail="世纪大道100号",
            )
        ],
    ),
    Dialogue(
        "details",
        ["要两盒面膜 张三 13800138000", "不对，名字是张珊", ADDR],
        [o({"补水面膜": 2}, name="张珊")],
    ),
    Dialogue(
        "details", ["要两盒面膜", "张三 13800138000"], [o({"补水面膜": 2}, name="张三")], asks="补水面膜×2"
    ),
    # --- WeChat's copied address card -----------------------------------------------------------
    Dialogue("address card", ["要两盒面膜", CARD], [o({"补水面膜": 2}, **WANG_LI)]),
    Dialogue(
        "address card",
        [
            "我要一瓶洗面奶",
            "收货人：陈晨\n手机号码：13511112222\n所在地区：江苏省 苏州市 姑苏区\n详细地址：人民路88号3栋201",
        ],
        [
            o(
                {"氨基酸洗面奶": 1},
                name="陈晨",
                phone="13511112222",
                province="江苏省",
                city="苏州市",
                district="姑苏区",
                detail="人民路88号3栋201",
            )
        ],
    ),
    Dialogue(
        "address card",
        ["来一支防晒", "收件人：刘强\n联系电话：18611112222\n收货地址：四川省成都市武侯区人民南路四段1号"],
        [
            o(
                {"防晒霜": 1},
                name="刘强",
                phone="18611112222",
                province="四川省",
                city="成都市",
                district="武侯区",
                detail="人民南路四段1号",
            )
        ],
    ),
    Dialogue("address card", ["你好", "我想买面膜", "要三盒", CARD], [o({"补水面膜": 3}, **WANG_LI)]),
    Dialogue("address card", [CARD, "要一瓶精华"], [o({"玻尿酸精华液": 1}, **WANG_LI)]),
    # --- "Same address as last time" ------------------------------------------------------------
    Dialogue(
        "last address",
        [FIRST_ORDER, f"{WAIT}5", "精华来一瓶，还是寄上次那个地址"],
        [o({"补水面膜": 2}, **ZHANG), o({"玻尿酸精华液": 1}, **ZHANG)],
    ),
    Dialogue(
        "last address",
        [
            FIRST_ORDER,
            f"{WAIT}3",
            "帮我寄一盒面膜给我妈 刘桂芳 13919191919 甘肃省兰州市城关区东岗西路1号",
            "不用",
            f"{WAIT}20",
            "再来一盒面膜",
            "还是寄上次那个地址",
        ],
        [
            o({"补水面膜": 2}, **ZHANG),
            o({"补水面膜": 1}, name="刘桂芳"),
            o({"补水面膜": 1}, name="刘桂芳", phone="13919191919", province="甘肃省", detail="东岗西路1号"),
        ],
    ),
    Dialogue(
        "last address",
        [FIRST_ORDER, f"{WAIT}10", "还是寄上次那个地址", "来两瓶洗面奶"],
        [o({"补水面膜": 2}, **ZHANG), o({"氨基酸洗面奶": 2}, **ZHANG)],
    ),
    # --- The quantity changes before the address ------------------------------------------------
    Dialogue(
        "quantity",
        ["要两盒面膜", "改成三盒吧", "王丽 13912345678", "浙江省杭州市西湖区文三路2号"],
        [o({"补水面膜": 3}, **WANG_LI)],
    ),
    Dialogue(
        "quantity", ["来一盒面膜", "还是要三盒吧", f"张三 13800138000 {ADDR}"], [o({"补水面膜": 3}, **ZHANG)]
    ),
    Dialogue("quantity", ["我要面膜", "两盒", "张三 13800138000", ADDR], [o({"补水面膜": 2}, **ZHANG)]),
    Dialogue("quantity", ["精华要一瓶", "算了还是两瓶吧"], [o({"玻尿酸精华液": 2})]),
    Dialogue("quantity", ["要两盒面膜", "再加一盒"], [o({"补水面膜": 3})]),
    Dialogue("quantity", ["我要面膜", "两和", "张三 13800138000"], [o({"补水面膜": 2}, name="张三")]),
    Dialogue("quantity", ["要两盒面膜", "改成一盒", CARD], [o({"补水面膜": 1}, **WANG_LI)]),
    # --- A second product in a later message ----------------------------------------------------
    Dialogue(
        "second product",
        ["要两盒面膜", "再加一瓶精华", f"张三 13800138000 {ADDR}"],
        [o({"补水面膜": 2, "玻尿酸精华液": 1}, **ZHANG)],
    ),
    Dialogue("second product", ["要一支防晒", "洗面奶也来一瓶"], [o({"防晒霜": 1, "氨基酸洗面奶": 1})]),
    Dialogue(
        "second product",
        ["要一盒面膜", "张三 13800138000", "还要一支防晒", ADDR],
        [o({"补水面膜": 1, "防晒霜": 1}, **ZHANG)],
    ),
    # --- An order for a friend is a second order ------------------------------------------------
    Dialogue(
        "friend",
        [
            "要两盒面膜",
            "帮我闺蜜也订一盒，寄给 李娜 13700137000 浙江省杭州市西湖区文三路100号",
            f"张三 13800138000 {ADDR}",
        ],
        [o({"补水面膜": 2}, **ZHANG), o({"补水面膜": 1}, name="李娜", phone="13700137000", **HZ)],
        profile={"name": "张三", "phone": "13800138000"},
    ),
    Dialogue(
        "friend",
        [FIRST_ORDER, "我闺蜜也要一盒，寄给李娜 13700137000 浙江省杭州市西湖区文三路100号"],
        [o({"补水面膜": 2}, **ZHANG), o({"补水面膜": 1}, name="李娜", phone="13700137000", **HZ)],
        profile={"name": "张三", "phone": "13800138000", "conflicts": 0},
    ),
    Dialogue(
        "friend",
        ["帮我朋友下一单：防晒两支，寄给 周敏 13600136000 福建省厦门市思明区湖滨南路10号"],
        [o({"防晒霜": 2}, name="周敏", phone="13600136000", province="福建省", detail="湖滨南路10号")],
        profile={"name": None, "phone": None},
    ),
    # --- Chit-chat or a question in the middle --------------------------------------------------
    Dialogue(
        "interruption",
        ["要两盒面膜", "你们发什么快递", "张三 13800138000", ADDR],
        [o({"补水面膜": 2}, **ZHANG)],
    ),
    Dialogue(
        "interruption", ["要两盒面膜", "哈哈好的", f"张三 13800138000 {ADDR}"], [o({"补水面膜": 2}, **ZHANG)]
    ),
    Dialogue(
        "interruption",
        ["要一瓶精华", "精华敏感肌能用吗", "王芳 13700137000 浙江省杭州市西湖区文三路100号"],
        [o({"玻尿酸精华液": 1}, name="王芳", phone="13700137000", **HZ)],
    ),
    Dialogue(
        "interruption",
        ["要两盒面膜", "面膜是正品吗", "李四 13900139000", "浙江省杭州市西湖区文三路100号"],
        [o({"补水面膜": 2}, name="李四", phone="13900139000", **HZ)],
    ),
    Dialogue("interruption", ["要两盒面膜", "谢谢"], [o({"补水面膜": 2})], intent="thanks_praise"),
    Dialogue(
        "interruption",
        ["要两盒面膜", "在吗", "张三 13800138000"],
        [o({"补水面膜": 2}, name="张三")],
        asks="地址",
    ),
    # --- Never an order -------------------------------------------------------------------------
    Dialogue("no order", ["过两天再买"], []),
    Dialogue("no order", ["面膜多少钱", "过两天再买"], []),
    Dialogue("no order", ["我闺蜜也想要，她会加你"], []),
    Dialogue("no order", ["面膜用着不错", "我闺蜜也想要，她会加你"], []),
    Dialogue("no order", ["精华怎么卖", "有点贵，我考虑一下"], []),
    Dialogue("no order", ["面膜多少钱", "先不要了，下次再说"], []),
    Dialogue("no order", ["我闺蜜也想要，她会加你", "谢谢"], [], intent="thanks_praise"),
    Dialogue("no order", ["防晒霜有货吗", "好的我知道了"], []),
    # --- Cancel ---------------------------------------------------------------------------------
    Dialogue("cancel", ["要两盒面膜", "取消"], [o({"补水面膜": 2}, status="cancelled")]),
    # --- One-letter slips -----------------------------------------------------------------------
    Dialogue("slips", ["洗法水来一瓶", f"张三 13800138000 {ADDR}"], [o({"去屑洗发水": 1}, **ZHANG)]),
    Dialogue("slips", ["面膜要两和", "张三 13800138000"], [o({"补水面膜": 2}, name="张三")]),
    Dialogue("slips", ["防哂霜怎么卖", "来一支"], [o({"防晒霜": 1})]),
    # --- Held-out: written after the rules above and played once, never tuned for -----------------
    Dialogue(
        "held-out",
        ["在吗", "洗面奶还有吗", "有的话给我来两瓶", "寄到上海市徐汇区漕溪北路88号 孙倩 13611112222"],
        [
            o(
                {"氨基酸洗面奶": 2},
                name="孙倩",
                phone="13611112222",
                province="上海市",
                district="徐汇区",
                detail="漕溪北路88号",
            )
        ],
    ),
    Dialogue(
        "held-out",
        ["要三瓶精华", "不好意思，要两瓶就行", f"张三 13800138000 {ADDR}"],
        [o({"玻尿酸精华液": 2}, **ZHANG)],
    ),
    Dialogue(
        "held-out",
        [
            "防晒多少钱",
            "行，拍一个",
            "收件人：周洁",
            "电话 13588889999",
            "地址：浙江省杭州市西湖区文三路100号",
        ],
        [o({"防晒霜": 1}, name="周洁", phone="13588889999", **HZ)],
    ),
    Dialogue(
        "held-out",
        [
            "要一盒面膜",
            "我闺蜜也要两盒，寄给她：刘芳 13722223333 浙江省杭州市西湖区文三路100号",
            "我的寄广东省深圳市南山区科技园路1号 张三 13800138000",
        ],
        [o({"补水面膜": 1}, **ZHANG), o({"补水面膜": 2}, name="刘芳", phone="13722223333", **HZ)],
    ),
    Dialogue(
        "held-out",
        ["面膜好用吗", "那我先买一盒试试", "王丽 13912345678 浙江省杭州市西湖区文三路2号"],
        [o({"补水面膜": 1}, **WANG_LI)],
    ),
    Dialogue(
        "held-out",
        ["要两盒面膜", "等下，我问问我老公要不要", "他说要三盒", f"张三 13800138000 {ADDR}"],
        [o({"补水面膜": 3}, **ZHANG)],
    ),
    Dialogue("held-out", ["精华液怎么卖", "有点贵", "算了还是来一瓶吧"], [o({"玻尿酸精华液": 1})]),
    Dialogue(
        "held-out",
        [FIRST_ORDER, f"{WAIT}30", "面膜用完了，再来两盒，地址没变"],
        [o({"补水面膜": 2}, **ZHANG), o({"补水面膜": 2}, **ZHANG)],
    ),
]


def _params():
    for i, d in enumerate(DIALOGUES):
        marks = [pytest.mark.xfail(strict=True, reason=d.xfail)] if d.xfail else []
        yield pytest.param(d, id=f"{i:02d}-{d.category.replace(' ', '_')}", marks=marks)


def play(platform, openid: str, messages: list[str]) -> list[tuple[str, str | None]]:
    """Send the messages a minute apart (``⏳N`` lets N days pass), at a fixed start moment;
    the transcript as (message, reply) pairs."""
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    transcript = []
    with time_machine.travel(start, tick=False) as traveller:
        for message in messages:
            if message.startswith(WAIT):
                traveller.shift(dt.timedelta(days=int(message[len(WAIT) :])))
                continue
            traveller.shift(dt.timedelta(minutes=1))
            transcript.append((message, platform.say(openid, message)))
    return transcript


ORDER_FIELDS = {
    "name": "recipient_name",
    "phone": "phone",
    "province": "province",
    "city": "city",
    "district": "district",
    "status": "status",
}


def outcome(db, openid: str, dialogue: Dialogue, reply: str | None) -> tuple[dict, dict]:
    """``(got, want)`` for the end state of a played dialogue."""
    got: dict[str, Any] = {}
    want: dict[str, Any] = {}
    with db.read_session() as s:
        customer = s.scalar(select(Customer).where(Customer.openid == openid))
        orders = s.scalars(
            select(Order)
            .where(Order.customer_id == customer.id)
            .order_by(Order.id)
            .options(selectinload(Order.items))
        ).all()
        if dialogue.orders is not None:
            got["orders"] = []
            for order, expected in zip(orders, dialogue.orders, strict=False):
                row: dict[str, Any] = {"items": {i.product_name: i.quantity for i in order.items}}
                for key in expected:
                    if key in ORDER_FIELDS:
                        row[key] = getattr(order, ORDER_FIELDS[key])
                    elif key == "detail":
                        row[key] = (
                            expected[key]
                            if expected[key] in (order.address_detail or "")
                            else order.address_detail
                        )
                got["orders"].append(row)
            got["orders"] += [
                {"items": {i.product_name: i.quantity for i in x.items}}
                for x in orders[len(dialogue.orders) :]
            ]
            want["orders"] = dialogue.orders
        if dialogue.intent:
            last = s.scalars(
                select(InboundMessage)
                .where(InboundMessage.customer_id == customer.id)
                .order_by(InboundMessage.id.desc())
                .limit(1)
            ).first()
            got["intent"], want["intent"] = last.intent, dialogue.intent
        if dialogue.asks:
            got["asks"], want["asks"] = dialogue.asks in (reply or ""), True
        if dialogue.profile:
            for key, value in dialogue.profile.items():
                if key == "conflicts":
                    got[key] = len(
                        s.scalars(select(FieldConflict).where(FieldConflict.customer_id == customer.id)).all()
                    )
                else:
                    got[key] = getattr(customer, key)
                want[key] = value
    return got, want


def test_table_has_enough_dialogues():
    assert len(DIALOGUES) >= 40


@pytest.mark.parametrize("dialogue", list(_params()))
def test_dialogue(platform, db, dialogue: Dialogue):
    add_dialogue_catalogue(db)
    transcript = play(platform, "o_dialogue", dialogue.messages)
    assert all(reply for _message, reply in transcript), "every message gets an answer"
    got, want = outcome(db, "o_dialogue", dialogue, transcript[-1][1])
    assert got == want, "\n".join(f"> {m}\n< {r}" for m, r in transcript)


def seller_notices(db) -> list[OutboxMessage]:
    with db.read_session() as s:
        return s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "seller_notice")).all()
