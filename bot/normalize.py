"""Normalising a customer's text before anything reads it: halfwidth, Simplified Chinese, common
typos fixed, emoji dropped, whitespace collapsed. Shared by intent detection and order parsing."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from storage.contact import to_halfwidth

# Frequent misspellings (after Traditional → Simplified), whole-substring replacements.
TYPO_FIXES: dict[str, str] = {
    "多少前": "多少钱",
    "多少q": "多少钱",
    "几多钱": "多少钱",
    "多钱": "多少钱",
    "几钱": "多少钱",
    "电活": "电话",
    "点话": "电话",
    "地扯": "地址",
    "地趾": "地址",
    "快第": "快递",
    "快地": "快递",
    "退定": "退订",
    "在么": "在吗",
    "在嘛": "在吗",
    "在不": "在吗",
    "谢拉": "谢啦",
    "写写": "谢谢",
    "怎摸": "怎么",
    "肿么": "怎么",
    "咋用": "怎么用",
    "咋卖": "怎么卖",
    "神马": "什么",
    "木有": "没有",
    "有货么": "有货吗",
    "卖完了吗": "没货了吗",
    "物留": "物流",
    "到哪里了": "到哪了",
    "单好": "单号",
    "好用滴": "好用",
    "好评价": "好评",
    "回够": "回购",
    "发活": "发货",
}
_TYPO_RE = re.compile("|".join(sorted(map(re.escape, TYPO_FIXES), key=len, reverse=True)))
# WeChat's own emoticons arrive as "[微笑]" or "/:rose"; real emoji are symbol characters.
_WECHAT_EMOTICON = re.compile(r"\[[\u4e00-\u9fa5A-Za-z]{1,4}\]|/:[A-Za-z@)(<>!?*&$^~-]{1,8}")
_DROP_CATEGORIES = {"So", "Sk", "Cf", "Cs", "Co", "Mn", "Cc"}


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def normalize(text: str | None) -> str:
    """Halfwidth, Simplified Chinese, typos fixed, emoji dropped, whitespace collapsed."""
    if not text:
        return ""
    text = to_halfwidth(str(text))
    text = _t2s().convert(text)
    text = _WECHAT_EMOTICON.sub(" ", text)
    text = "".join(
        " " if unicodedata.category(ch) in _DROP_CATEGORIES and ch not in "\n" else ch for ch in text
    )
    text = _TYPO_RE.sub(lambda m: TYPO_FIXES[m.group()], text)
    return re.sub(r"[ \t\u3000]+", " ", text).strip()
