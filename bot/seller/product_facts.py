"""资料: the seller's facts about a product, which the bot uses to answer customers' questions."""

from __future__ import annotations

from bot import texts
from bot.seller.catalogue import find_product
from bot.seller.registry import SellerContext, seller_command
from storage.product_facts import CLEAR, KINDS, MAX_FACT_CHARS, facts_of, kind_of, set_fact


def _kinds_list() -> str:
    return "、".join(texts.PRODUCT_FACT_LABELS[k].split("/")[0] for k in KINDS)


def facts_text(product) -> str:
    facts = facts_of(product)
    if not facts:
        return texts.SELLER_FACTS_NONE.format(name=product.name, kinds=_kinds_list())
    lines = [
        texts.PRODUCT_FACT_LINE.format(label=texts.PRODUCT_FACT_LABELS[k], fact=facts[k])
        for k in KINDS
        if k in facts
    ]
    return texts.SELLER_FACTS_HEADER.format(name=product.name) + "\n" + "\n".join(lines)


@seller_command(
    "资料", aliases=("商品资料",), group=texts.SELLER_GROUP_CATALOGUE, **texts.SELLER_HELP["资料"]
)
def product_facts(ctx: SellerContext) -> str:
    words = ctx.args.split(maxsplit=2)
    if not words:
        raise ctx.fail(texts.SELLER_PRODUCT_NEED_NAME)
    product = find_product(ctx, words[0])
    if product is None:
        raise ctx.fail(texts.SELLER_PRODUCT_NOT_FOUND.format(name=words[0]), show_usage=False)
    if len(words) == 1:
        return facts_text(product)
    kind = kind_of(words[1])
    if kind is None:
        raise ctx.fail(texts.SELLER_FACT_BAD_KIND.format(word=words[1], kinds=_kinds_list()))
    if len(words) == 2:
        raise ctx.fail(texts.SELLER_FACT_NEED_TEXT.format(label=texts.PRODUCT_FACT_LABELS[kind]))
    text = words[2].strip()
    if len(text) > MAX_FACT_CHARS:
        raise ctx.fail(texts.SELLER_FACT_TOO_LONG.format(limit=MAX_FACT_CHARS), show_usage=False)
    set_fact(product, kind, None if CLEAR.match(text) else text)
    ctx.session.flush()
    return facts_text(product)
