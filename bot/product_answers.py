"""Answers to product questions ("防晒霜还有货吗", "精华敏感肌能用吗", "怎么用比较好", "是正品吗")
from the facts the seller gave the product, and nothing else: a question the facts do not
answer gets the product's name and price and an honest hand-over to the seller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot import texts
from storage.models import Product
from storage.orders import format_yuan
from storage.product_facts import facts_of

# Which fact a question asks for (normalised text), in this order.
QUESTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("stock", re.compile(r"有货|没货|现货|库存|还有吗|缺货|断货|补货|卖完|还卖吗|有没有(?!效|用)")),
    ("shelf_life", re.compile(r"保质期|有效期|能放多久|放多久|过期吗|开封后")),
    (
        "how_to",
        re.compile(
            r"怎么用|怎样用|如何用|用法|使用方法|怎么使用|一天几次|一天(?:涂|用|敷|擦)几次|几天(?:用|敷|涂)一次|"
            r"每天都?(?:能|可以)?用|先用.*还是|怎么敷|怎么涂|用量|早上用|晚上用|早晚"
        ),
    ),
    (
        "suits",
        re.compile(
            r"适合|适用|敏感肌|孕妇|哺乳|油皮|干皮|混油|混干|痘痘肌|痘肌|男生|男士|小孩|儿童|宝宝|学生|"
            r"(?:能|可以)用吗|能不能用|会不会过敏|过敏吗|刺激吗"
        ),
    ),
    ("origin", re.compile(r"正品|真的假的|是真的吗|假货吗|产地|哪里产|哪产的|哪国|进口|国产|什么牌子|品牌")),
    (
        "effect",
        re.compile(
            r"效果(?:怎么样|如何|好吗|好不好)|功效|作用|有用吗|管用吗|有效吗|好用吗|好不好用|能美白|美白吗|祛痘|淡斑|保湿吗|补水吗"
        ),
    ),
)


@dataclass
class ProductAnswer:
    text: str
    complete: bool  # every fact asked for was known (else the seller must answer the rest)


def asked_kinds(normalized: str) -> list[str]:
    return [kind for kind, pattern in QUESTIONS if pattern.search(normalized)]


def answer(product: Product, normalized: str) -> ProductAnswer | None:
    """The answer to a question about ``product``; None when it asks for no known kind of fact."""
    kinds = asked_kinds(normalized)
    if not kinds:
        return None
    facts = facts_of(product)
    known = [k for k in kinds if k in facts]
    lines = [texts.PRODUCT_FACT_LINE.format(label=texts.PRODUCT_FACT_LABELS[k], fact=facts[k]) for k in known]
    if known and len(known) == len(kinds):
        return ProductAnswer(
            texts.PRODUCT_FACT_ANSWER.format(product=product.name, facts="\n".join(lines)), True
        )
    handover = texts.PRODUCT_QUESTION_HANDOVER.format(
        product=product.name, price=format_yuan(product.price_cents)
    )
    if "how_to" in kinds and "how_to" not in known and product.usage_days:
        handover = (
            texts.PRODUCT_USAGE_DAYS_HANDOVER.format(product=product.name, days=product.usage_days) + handover
        )
    if lines:
        return ProductAnswer(
            texts.PRODUCT_FACT_ANSWER.format(product=product.name, facts="\n".join(lines))
            + "\n"
            + texts.PRODUCT_QUESTION_REST,
            False,
        )
    return ProductAnswer(handover, False)
