"""Normalising contact data (phones, addresses): shared by the chat parser and the Excel importer."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

# A mainland mobile number as written in chat: +86 / 0086 prefix, spaces or dashes between groups.
_MOBILE_CANDIDATE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s\-]?)?1[3-9]\d(?:[\s\-]?\d){8}(?!\d)")


def to_halfwidth(text: str) -> str:
    """Fullwidth digits, letters and punctuation to their ASCII forms (NFKC), e.g. '１３８' → '138'."""
    return unicodedata.normalize("NFKC", text)


def normalize_phone(raw: str | int | None) -> str | None:
    """A valid mainland mobile number as 11 digits, or None. Accepts +86, spaces, dashes, fullwidth."""
    if raw is None:
        return None
    text = to_halfwidth(str(raw)).strip()
    if not text:
        return None
    if re.fullmatch(r"\d{11}\.0", text):  # a number that went through a spreadsheet float
        text = text[:-2]
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in (phonenumbers.PhoneNumberType.MOBILE,
                                                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return None
    national = str(number.national_number)
    return national if len(national) == 11 else None


def find_phone(text: str) -> tuple[str | None, str]:
    """Find the first mainland mobile number in free text; returns (number, text without it)."""
    halfwidth = to_halfwidth(text)
    for match in _MOBILE_CANDIDATE.finditer(halfwidth):
        phone = normalize_phone(match.group())
        if phone:
            return phone, (halfwidth[: match.start()] + " " + halfwidth[match.end():]).strip()
    return None, halfwidth


def mask_phone(phone: str | None) -> str:
    """138****8000: what logs and replies show instead of a full number."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


@dataclass(frozen=True)
class AddressParts:
    province: str | None
    city: str | None
    district: str | None
    detail: str | None

    @property
    def full(self) -> str:
        return "".join(p for p in (self.province, self.city, self.district, self.detail) if p)

    @property
    def is_complete(self) -> bool:
        """Enough to ship: a province, a city or district, and a street-level detail."""
        return bool(self.province and (self.city or self.district) and self.detail)


def split_address(text: str | None) -> AddressParts | None:
    """Split a Chinese postal address into province / city / district / detail with cpca.

    Returns None when no region is recognised at all. Municipalities (北京, 上海 …) come back
    with the city equal to the province rather than cpca's "市辖区".
    """
    if not text or not text.strip():
        return None
    import cpca  # imported lazily: it loads its region tables on first use

    cleaned = to_halfwidth(text).strip()
    # cpca.transform wraps each result in a pandas DataFrame, which costs ~0.7 ms a call (more than
    # the matching itself) on every customer message; the per-address function it maps is 30x
    # cheaper. It is private, hence the fallback (cpca is pinned to 0.5.x).
    one_address = getattr(cpca, "_get_one_addr", None)
    row = one_address(cleaned, False, {}) if one_address else cpca.transform([cleaned]).iloc[0]
    province, city, district, detail = (row.get("省"), row.get("市"), row.get("区"), row.get("地址"))

    def clean(value):
        return None if value is None or value != value or not str(value).strip() else str(value).strip()

    province, city, district, detail = map(clean, (province, city, district, detail))
    if not province and not city and not district:
        return None
    if city == "市辖区" or city == "县":
        city = province
    return AddressParts(province, city, district, detail)
