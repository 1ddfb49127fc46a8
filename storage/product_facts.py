"""The seller's facts about a product (``product.facts``), set by the 资料 command or the import."""

from __future__ import annotations

import re

from storage.models import Product

# Fact kinds, in the order they are shown, and the words the seller may use for each.
KINDS: dict[str, tuple[str, ...]] = {
    "stock": ("库存", "货", "现货", "有货"),
    "how_to": ("用法", "怎么用", "使用方法", "使用", "用量"),
    "effect": ("功效", "作用", "效果", "用途"),
    "suits": ("适合", "适用", "适合人群", "肤质"),
    "origin": ("产地", "来源", "正品", "品牌"),
    "shelf_life": ("保质期", "有效期", "保存"),
}
MAX_FACT_CHARS = 200
_WORDS = {word: kind for kind, words in KINDS.items() for word in words}
CLEAR = re.compile(r"^(?:删除|删掉|清空|无|-)$")


def kind_of(word: str) -> str | None:
    """The fact kind a seller's word names ("用法" → how_to), or None."""
    return _WORDS.get(word.strip())


def facts_of(product: Product) -> dict[str, str]:
    return {k: v for k, v in (product.facts or {}).items() if k in KINDS and v}


def set_fact(product: Product, kind: str, text: str | None) -> None:
    """Store (or, with an empty text, remove) one fact; a new dict so the JSON change is seen."""
    facts = facts_of(product)
    text = (text or "").strip()[:MAX_FACT_CHARS]
    if text:
        facts[kind] = text
    else:
        facts.pop(kind, None)
    product.facts = facts or None


# --- The import's product facts sheet ----------------------------------------------------------

FACTS_SHEET = "商品资料"
PRODUCT_HEADERS = ("商品", "商品名称", "名称", "产品")


def read_facts_sheet(path) -> list[tuple[int, str, dict[str, str]]]:
    """``(row number, product name, {kind: text})`` from a workbook's 商品资料 sheet, if any.

    Columns: 商品 (name or alias) and any of the fact words (库存, 用法, 功效, 适合, 产地, 保质期 …).
    The caller has already checked the file is a sound, bounded workbook.
    """
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        if FACTS_SHEET not in workbook.sheetnames:
            return []
        rows = workbook[FACTS_SHEET].iter_rows(values_only=True)
        header = [str(c or "").strip() for c in next(rows, ())]
        name_col = next((i for i, h in enumerate(header) if h in PRODUCT_HEADERS), None)
        kinds = {i: kind_of(h) for i, h in enumerate(header) if kind_of(h)}
        if name_col is None or not kinds:
            return []
        found = []
        for number, row in enumerate(rows, 2):
            name = str(row[name_col] or "").strip() if name_col < len(row) else ""
            if not name:
                continue
            facts = {
                kinds[i]: str(row[i]).strip()
                for i in kinds
                if i < len(row) and row[i] is not None and str(row[i]).strip()
            }
            found.append((number, name, facts))
        return found
    finally:
        workbook.close()


def import_facts(session, path) -> tuple[int, list[tuple[int, str]]]:
    """Store the 商品资料 sheet's facts on the products it names; ``(products updated, unknown rows)``."""
    from sqlalchemy import select

    rows = read_facts_sheet(path)
    if not rows:
        return 0, []
    products = list(session.scalars(select(Product)))
    by_word = {p.name: p for p in products}
    for p in products:
        for alias in p.alias_list:
            by_word.setdefault(alias, p)
    updated, unknown = 0, []
    for number, name, facts in rows:
        product = by_word.get(name)
        if product is None:
            unknown.append((number, name))
            continue
        for kind, text in facts.items():
            set_fact(product, kind, text)
        updated += 1
    session.flush()
    return updated, unknown
