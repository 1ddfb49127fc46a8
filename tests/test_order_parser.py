"""Pure parsing and intent functions, table-tested without the webhook; plus odd inputs."""

from __future__ import annotations

import random

import pytest

from bot.intents import detect_intent, normalize, referral_code
from bot.order_parser import CatalogueEntry, chinese_number, choose_candidate, parse_order

CAT = [
    CatalogueEntry(1, "补水面膜", ("面膜", "补水膜"), 9900, 30),
    CatalogueEntry(2, "玻尿酸精华液", ("精华", "精华液"), 19900, 60),
    CatalogueEntry(3, "防晒霜", ("防晒", "防晒乳"), 8800, 90),
    CatalogueEntry(4, "修护眼霜", (), 15800, 45),
    CatalogueEntry(5, "紧致眼霜", (), 16800, 45),
    CatalogueEntry(6, "氨基酸洗面奶", ("洗面奶", "洁面乳", "洁面"), 6900, 60),
]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("12", 12),
        ("一", 1),
        ("两", 2),
        ("俩", 2),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十五", 25),
        ("一百", 100),
        ("一百零五", 105),
        ("叁", 3),
        ("x", None),
    ],
)
def test_chinese_number(text, value):
    assert chinese_number(text) == value


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("两盒面膜", {1: 2}),
        ("3瓶精华", {2: 3}),
        ("面膜x2", {1: 2}),
        ("面膜 X 4", {1: 4}),
        ("面膜×3", {1: 3}),
        ("十盒面膜", {1: 10}),
        ("一套精华", {2: 1}),
        ("面膜２盒", {1: 2}),
        ("面膜", {1: 1}),
        ("两盒面膜一瓶精华", {1: 2, 2: 1}),
        ("面膜两盒，精华一瓶", {1: 2, 2: 1}),
        ("面膜两盒精华三瓶防晒一支", {1: 2, 2: 3, 3: 1}),
        ("2x面膜", {1: 2}),
        ("兩盒面膜", {1: 2}),
        ("玻尿酸精化液一瓶", {2: 1}),
        ("防晒霜十二支", {3: 12}),
        ("面膜1盒 面膜1盒", {1: 2}),
        ("洁面乳两支", {6: 2}),
        ("用3个月的面膜", {1: 1}),
    ],
)
def test_items_and_quantities(text, items):
    parsed = parse_order(text, CAT)
    assert {i.product.product_id: i.quantity for i in parsed.items} == items


def test_ambiguous_product_word_lists_the_candidates():
    parsed = parse_order("来两支眼霜", CAT)
    assert parsed.items == []
    [amb] = parsed.ambiguous
    assert (
        amb.word == "眼霜"
        and [c.name for c in amb.candidates] == ["修护眼霜", "紧致眼霜"]
        and amb.quantity == 2
    )


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 13800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("００８６１３８００１３８０００", "13800138000"),
        ("电话:１３８００１３８０００", "13800138000"),
        ("12345678901", None),
        ("订单号 202611230001", None),
    ],
)
def test_phones(text, phone):
    assert parse_order(text, CAT).phone == phone


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("收件人：李四 13800138000", "李四"),
        ("姓名王小明 电话13800138000", "王小明"),
        ("我叫赵敏，13800138000", "赵敏"),
        ("罗琳收 13800138000", "罗琳"),
        ("张三 13800138000 广东省深圳市南山区科技园路1号", "张三"),
        ("要两盒面膜", None),
        ("马上发货 13800138000", None),
    ],
)
def test_recipient_names(text, name):
    assert parse_order(text, CAT).name == name


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("广东省深圳市南山区科技园路1号", ("广东省", "深圳市", "南山区", "科技园路1号")),
        ("寄到北京朝阳区建国路88号 张三", ("北京市", "北京市", "朝阳区", "建国路88号")),
        ("四川成都武侯区人民南路四段1号，两盒面膜", ("四川省", "成都市", "武侯区", "人民南路四段1号")),
        ("新疆乌鲁木齐市天山区解放南路1号", ("新疆维吾尔自治区", "乌鲁木齐市", "天山区", "解放南路1号")),
        ("广东省 深圳市 南山区 科技园路1号", ("广东省", "深圳市", "南山区", "科技园路1号")),
        ("寄到杭州", ("浙江省", "杭州市", None, None)),
        ("要两盒面膜", None),
    ],
)
def test_addresses(text, parts):
    address = parse_order(text, CAT).address
    assert (address and (address.province, address.city, address.district, address.detail)) == parts


@pytest.mark.parametrize(
    ("answer", "picked"),
    [
        ("1", "修护眼霜"),
        ("2", "紧致眼霜"),
        ("第二个", "紧致眼霜"),
        ("紧致的", "紧致眼霜"),
        ("修护", "修护眼霜"),
        ("要紧致眼霜", "紧致眼霜"),
        ("3", None),
        ("随便", None),
    ],
)
def test_choose_candidate(answer, picked):
    choice = choose_candidate(answer, CAT[3:5])
    assert (choice.name if choice else None) == picked


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("我要兩盒面膜", "我要两盒面膜"),
        ("１３８", "138"),
        ("多少前", "多少钱"),
        ("面膜😊😊", "面膜"),
        ("在么[微笑]", "在吗"),
        ("  哈   哈 ", "哈 哈"),
    ],
)
def test_normalize(text, normalized):
    assert normalize(text) == normalized


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("推荐码 ab12cd", "AB12CD"),
        ("邀请码：XY99", "XY99"),
        ("QW12ER", "QW12ER"),
        ("你好", None),
    ],
)
def test_referral_code(text, code):
    assert referral_code(text) == code


ODD_INPUTS = [
    "",
    " ",
    "\n\n\n",
    "😀" * 200,
    "?" * 500,
    "<>&\"'",
    "]]>",
    "%s %d {0} {name}",
    "１２３４５６７８９０１２",
    "推荐码",
    "零零零零",
    "十百千万亿",
    "99999999999999999999盒面膜",
    "面膜x999",
    "面膜x0",
    "-1盒面膜",
    "0盒面膜",
    "مرحبا",
    "Привет",
    "🀄️",
    "\u200b\u200d\ufeff",
    "面" * 3000,
    "a" * 16,
    "1" * 11,
    "+86",
    "收件人",
    "地址：",
    "广东省",
    "x2",
    "要" * 50,
    "td td td",
    "\\x00",
    "​",
    "ㄅㄆㄇ",
    "𠀀𠀁",
    "一" * 30 + "盒面膜",
]


@pytest.mark.parametrize("text", ODD_INPUTS)
def test_odd_inputs_never_raise_in_pure_functions(text):
    result = detect_intent(text, CAT)
    assert result.intent
    for item in result.parsed.items:
        assert 0 < item.quantity <= 999


def test_random_strings_never_raise():
    rng = random.Random(20261123)
    alphabet = (
        "要两盒面膜精华眼霜收件人张三地址广东省深圳市南山区路号1234567890xX+-，。！？ 😊兩電話退订TD推荐码"
    )
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        assert detect_intent(text, CAT).intent
