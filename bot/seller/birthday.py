"""Reading a birthday as a seller types it: 1990-05-20, 5月20日, 5/20, 农历八月十五, 阴历腊月初八.

Pure functions. Chinese numerals (八月, 十五, 廿三, 初八, 正月, 冬月, 腊月) are read here, without
cn2an: the forms in dates are few and fixed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from lunar_python import LunarMonth

from bot import texts

LUNAR_WORDS = re.compile(r"^(?:农历|阴历|旧历)\s*")
SOLAR_WORDS = re.compile(r"^(?:公历|阳历|新历)\s*")
_DIGIT = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "〇": 0,
    "零": 0,
}
_MONTH_NAMES = {"正": 1, "冬": 11, "腊": 12}
_NUMERAL = "[0-9一二两三四五六七八九十〇零廿卅]"
ISO = re.compile(r"(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?")
MONTH_DAY = re.compile(
    rf"(?:(?P<y>\d{{4}})年)?(?P<m>{_NUMERAL}{{1,3}}|[正冬腊])月(?P<d>初?{_NUMERAL}{{1,3}})[日号]?"
)
SLASHED = re.compile(r"(?P<m>\d{1,2})[-/.](?P<d>\d{1,2})")


@dataclass(frozen=True)
class Birthday:
    month: int
    day: int
    is_lunar: bool
    year: int | None = None


def chinese_day_number(text: str) -> int | None:
    """'15' / '十五' / '初八' / '廿三' / '三十' / '卅' / '八' → the number, or None."""
    text = text.removeprefix("初")
    if text.isdigit():
        return int(text)
    if not text:
        return None
    if text[0] == "廿":
        rest = text[1:]
        if not rest:
            return 20
        return 20 + _DIGIT[rest] if rest in _DIGIT else None
    if text[0] == "卅":
        return 30 if len(text) == 1 else None
    if "十" in text:
        tens, _, ones = text.partition("十")
        ten_value = _DIGIT.get(tens) if tens else 1
        one_value = _DIGIT.get(ones) if ones else 0
        if ten_value is None or one_value is None:
            return None
        return ten_value * 10 + one_value
    if len(text) == 1 and text in _DIGIT:
        return _DIGIT[text]
    return None


def parse_birthday(text: str, today: dt.date | None = None) -> Birthday | None:
    """The birthday in ``text``, or None when it is not a valid date.

    A lunar day 30 without a year is accepted (the month is long in some years; greetings decide
    what to do in a 29-day year); with a year, lunar-python checks that month really had 30 days.
    A solar 2月29日 without a year is accepted (a leap-day birthday).
    """
    raw = text.strip().replace(" ", "")
    is_lunar = bool(LUNAR_WORDS.match(raw))
    raw = SOLAR_WORDS.sub("", LUNAR_WORDS.sub("", raw))
    year = month = day = None
    if match := ISO.fullmatch(raw):
        year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    elif match := MONTH_DAY.fullmatch(raw):
        year = int(match["y"]) if match["y"] else None
        month = _MONTH_NAMES.get(match["m"]) or chinese_day_number(match["m"])
        day = chinese_day_number(match["d"])
    elif match := SLASHED.fullmatch(raw):
        month, day = int(match["m"]), int(match["d"])
    if month is None or day is None or not 1 <= month <= 12:
        return None
    if year is not None and (year < 1900 or (today and year > today.year)):
        return None
    if is_lunar:
        if not 1 <= day <= 30:
            return None
        if year is not None and day > LunarMonth.fromYm(year, month).getDayCount():
            return None  # that year's month had 29 days
    else:
        try:
            dt.date(year or 2000, month, day)  # 2000 is a leap year: 2月29日 passes without a year
        except ValueError:
            return None
    return Birthday(month, day, is_lunar, year)


def lunar_day_label(day: int) -> str:
    """初一 … 初十, 十一 … 二十, 廿一 … 三十."""
    return texts.SELLER_LUNAR_DAY_LABELS[day]


def format_birthday(month: int | None, day: int | None, is_lunar: bool, year: int | None = None) -> str:
    """'农历八月十五' / '1990年5月20日' / '5月20日'; '' when unknown."""
    if not month or not day:
        return ""
    year_part = texts.SELLER_BIRTHDAY_YEAR.format(year=year) if year else ""
    if is_lunar:
        return texts.SELLER_BIRTHDAY_LUNAR.format(
            year=year_part, month=texts.SELLER_LUNAR_MONTH_LABELS[month], day=lunar_day_label(day)
        )
    return texts.SELLER_BIRTHDAY_SOLAR.format(year=year_part, month=month, day=day)
