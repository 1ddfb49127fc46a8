"""Catalogue: 商品 (add, update, list, show), 下架 (retire), 上架 (bring back)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select

from bot import texts
from bot.seller.common import PAGE_SIZE, paged, parse_ref
from bot.seller.registry import SellerContext, seller_command
from storage.models import Product
from storage.orders import format_yuan

ALIASES = re.compile(r"\s*别名\s*[:：]?\s*(?P<aliases>.*)$")
PRICE = re.compile(r"[¥￥]?\s*(?P<value>-?\d+(?:\.\d+)?)\s*(?:元|块)?")
DAYS = re.compile(r"(?P<value>-?\d+)\s*(?:天|日)?")
MAX_PRICE_CENTS = 100_000_000  # ¥1,000,000: beyond is a typo
MAX_USAGE_DAYS = 3650
MAX_NAME = 100


def parse_price_cents(word: str) -> int | None:
    """'99' / '99.5' / '¥99' / '99元' → cents; None when it is not a price (negative stays negative)."""
    match = PRICE.fullmatch(word)
    if not match:
        return None
    try:
        value = Decimal(match.group("value"))
    except InvalidOperation:
        return None
    cents = value * 100
    return int(cents) if cents == cents.to_integral_value() else None


def split_aliases(text: str) -> list[str]:
    return [a.strip() for a in re.split(r"[,，、/;；\s]+", text) if a.strip()]


def product_line(product: Product) -> str:
    parts = [f"#{product.id} {product.name} {format_yuan(product.price_cents)}"]
    if product.usage_days:
        parts.append(texts.SELLER_PRODUCT_DAYS.format(days=product.usage_days))
    if product.alias_list:
        parts.append(texts.SELLER_PRODUCT_ALIASES.format(aliases="、".join(product.alias_list)))
    if not product.active:
        parts.append(texts.SELLER_PRODUCT_RETIRED_MARK)
    return " · ".join(parts)


def find_product(ctx: SellerContext, word: str) -> Product | None:
    """A product by ``#3``, exact name, or alias."""
    product_id = parse_ref(word) if word.startswith(("#", "＃")) else None
    if product_id is not None:
        return ctx.session.get(Product, product_id)
    product = ctx.session.scalar(select(Product).where(Product.name == word))
    if product is not None:
        return product
    for candidate in ctx.session.scalars(select(Product).where(Product.aliases.is_not(None))):
        if word in candidate.alias_list:
            return candidate
    return None


@seller_command(
    "商品",
    aliases=("产品", "上新"),
    group=texts.SELLER_GROUP_CATALOGUE,
    paged=True,
    **texts.SELLER_HELP["商品"],
)
def product(ctx: SellerContext) -> str:
    if not ctx.args:
        return _list_products(ctx)
    match = ALIASES.search(ctx.args)
    aliases = split_aliases(match.group("aliases")) if match else None
    if match is not None and not aliases:
        raise ctx.fail(texts.SELLER_PRODUCT_NO_ALIASES)
    words = (ctx.args[: match.start()] if match else ctx.args).split()
    name = words[0]
    if len(words) == 1:
        existing = find_product(ctx, name)
        if existing is None:
            raise ctx.fail(texts.SELLER_PRODUCT_NEED_PRICE.format(name=name))
        return product_line(existing)
    if len(words) > 3:
        raise ctx.fail(texts.SELLER_PRODUCT_TOO_MANY)
    if len(name) > MAX_NAME or name.startswith("#") or parse_price_cents(name) is not None:
        raise ctx.fail(texts.SELLER_PRODUCT_BAD_NAME.format(name=name))
    price = parse_price_cents(words[1])
    if price is None:
        raise ctx.fail(texts.SELLER_PRODUCT_BAD_PRICE.format(word=words[1]))
    if price < 0:
        raise ctx.fail(texts.SELLER_PRODUCT_NEGATIVE_PRICE.format(word=words[1]))
    if price > MAX_PRICE_CENTS:
        raise ctx.fail(texts.SELLER_PRODUCT_BAD_PRICE.format(word=words[1]))
    days = None
    if len(words) == 3:
        days_match = DAYS.fullmatch(words[2])
        if not days_match:
            raise ctx.fail(texts.SELLER_PRODUCT_BAD_DAYS.format(word=words[2]))
        days = int(days_match.group("value"))
        if not 1 <= days <= MAX_USAGE_DAYS:
            raise ctx.fail(texts.SELLER_PRODUCT_BAD_DAYS.format(word=words[2]))
    if aliases is not None:
        for alias in aliases:
            owner = find_product(ctx, alias)
            if owner is not None and owner.name != name:
                raise ctx.fail(texts.SELLER_PRODUCT_ALIAS_TAKEN.format(alias=alias, other=owner.name))
        if sum(len(a) + 1 for a in aliases) > 500:
            raise ctx.fail(texts.SELLER_PRODUCT_ALIASES_TOO_LONG)

    existing = ctx.session.scalar(select(Product).where(Product.name == name))
    if existing is None:
        row = Product(
            name=name,
            price_cents=price,
            usage_days=days,
            aliases=",".join(aliases) if aliases else None,
            active=True,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        ctx.session.add(row)
        ctx.session.flush()
        return texts.SELLER_PRODUCT_ADDED.format(line=product_line(row))
    existing.price_cents = price
    if days is not None:
        existing.usage_days = days
    if aliases is not None:
        existing.aliases = ",".join(aliases)
    existing.active = True
    existing.updated_at = ctx.now
    ctx.session.flush()
    return texts.SELLER_PRODUCT_UPDATED.format(line=product_line(existing))


def _list_products(ctx: SellerContext) -> str:
    session = ctx.session
    total = session.scalar(select(func.count()).select_from(Product).where(Product.active.is_(True))) or 0
    rows = session.scalars(
        select(Product)
        .where(Product.active.is_(True))
        .order_by(Product.id)
        .offset(ctx.offset)
        .limit(PAGE_SIZE)
    ).all()
    retired = session.scalar(select(func.count()).select_from(Product).where(Product.active.is_(False))) or 0
    header = texts.SELLER_PRODUCTS_HEADER.format(total=total)
    if retired and ctx.offset == 0:
        header += texts.SELLER_PRODUCTS_RETIRED.format(count=retired)
    return paged(
        ctx,
        header=header,
        lines=[product_line(p) for p in rows],
        total=total,
        empty=texts.SELLER_PRODUCTS_EMPTY,
    )


def _named_product(ctx: SellerContext) -> Product:
    if not ctx.args:
        raise ctx.fail(texts.SELLER_PRODUCT_NEED_NAME)
    word = ctx.args.split()[0]
    found = find_product(ctx, word)
    if found is None:
        raise ctx.fail(texts.SELLER_PRODUCT_NOT_FOUND.format(name=word), show_usage=False)
    return found


@seller_command("下架", aliases=("停售",), group=texts.SELLER_GROUP_CATALOGUE, **texts.SELLER_HELP["下架"])
def retire(ctx: SellerContext) -> str:
    found = _named_product(ctx)
    if not found.active:
        return texts.SELLER_PRODUCT_ALREADY_RETIRED.format(name=found.name)
    found.active = False
    found.updated_at = ctx.now
    return texts.SELLER_PRODUCT_RETIRED.format(name=found.name)


@seller_command(
    "上架", aliases=("恢复商品",), group=texts.SELLER_GROUP_CATALOGUE, **texts.SELLER_HELP["上架"]
)
def restore(ctx: SellerContext) -> str:
    found = _named_product(ctx)
    if found.active:
        return texts.SELLER_PRODUCT_ALREADY_ACTIVE.format(name=found.name)
    found.active = True
    found.updated_at = ctx.now
    return texts.SELLER_PRODUCT_RESTORED.format(name=found.name)
