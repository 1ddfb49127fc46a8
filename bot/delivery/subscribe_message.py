"""Channel: subscription notice (订阅通知, ``POST /cgi-bin/message/subscribe/bizsend``).

For the kinds mapped in ``DELIVERY_SUBSCRIBE_TEMPLATES`` (JSON, shaped like
``DELIVERY_TEMPLATES``)::

    {"repurchase": {"template_id": "TPL_REMIND", "fields": {"thing1": "{products}",
                    "thing2": "快用完啦"}, "page": "https://shop.example/reorder"}}

and a customer holding an unused consent (``storage.consents``). One consent is reserved for the
send and spent once the API accepted the notice; 43101 (the customer refuses the template) drops
it (and every other unused one of that template) and the row falls through to the next channel
instead of marking the customer unreachable. The link goes in ``page``.

Field values are fitted to the platform's rules for their type, read from the key (``thing2`` →
``thing``): ``thing`` ≤ 20 characters, ``phrase`` ≤ 5 Chinese characters, ``name`` ≤ 10 Chinese or
20 Latin characters, ``character_string``/``number``/``letter`` ≤ 32 of their kind, ``symbol`` ≤ 5,
``phone_number`` ≤ 17, ``car_number`` ≤ 8, ``amount`` one currency sign and the number; no line
breaks or control characters anywhere, never empty. A long value is cut at a character boundary
(never inside an emoji sequence) and ends with "…" where the type allows symbols.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import string
import unicodedata
from collections.abc import Mapping
from typing import Any

from bot import texts
from bot.delivery.errors import ChannelClosed, DeliveryError, OutcomeUnknown, Unreachable
from storage import consents
from storage.db import Database

NAME = "subscribe"
REFUSED = 43101  # the customer refuses the template (or never accepted it)

_TYPE = re.compile(r"^([a-z_]+?)_?\d*$")
_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_TRAILING = " 、，,；;：:"  # a cut value ends in "…", not in a dangling separator
_GLUE = {"\u200d", "\ufe0f", "\ufe0e"}  # zero-width joiner, variation selectors: belong to their neighbours


def templates_from_config(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``DELIVERY_SUBSCRIBE_TEMPLATES`` as ``{kind: spec}`` (entries without a template id are ignored)."""
    value = config.get("DELIVERY_SUBSCRIBE_TEMPLATES") or {}
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return {
        kind: dict(spec)
        for kind, spec in value.items()
        if isinstance(spec, Mapping) and str(spec.get("template_id") or "").strip()
    }


def template_ids(config: Mapping[str, Any]) -> list[str]:
    """The distinct template ids configured, in order (what the consent page asks for)."""
    ids: list[str] = []
    for spec in templates_from_config(config).values():
        template_id = str(spec["template_id"]).strip()
        if template_id not in ids:
            ids.append(template_id)
    return ids


# --- field values ----------------------------------------------------------------------------


def field_type(key: str) -> str:
    match = _TYPE.match(key.strip().lower())
    return match.group(1) if match else key


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _cut(value: str, limit: int) -> str:
    """At most ``limit`` characters, never splitting a character from its combining marks or joiners."""
    if len(value) <= limit:
        return value
    end = limit
    while end > 0 and (
        value[end] in _GLUE
        or unicodedata.combining(value[end])
        or value[end - 1] in _GLUE
        or "\U0001f3fb" <= value[end] <= "\U0001f3ff"
    ):  # skin-tone modifiers too
        end -= 1
    return value[:end]


def _clean(value: Any) -> str:
    text = "" if value is None else str(value)
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    return _SPACES.sub(" ", text).strip()


def fit_value(key: str, value: Any) -> str:
    """``value`` made acceptable for template field ``key`` (see the module docstring)."""
    kind = field_type(key)
    text = _clean(value)
    if kind == "thing":
        text = text if len(text) <= 20 else _cut(text, 19).rstrip(_TRAILING) + "…"
    elif kind == "phrase":
        text = "".join(ch for ch in text if _is_cjk(ch))[:5]
    elif kind == "name":
        text = _cut(text, 20 if text.isascii() else 10).strip()
    elif kind == "character_string":
        text = "".join(ch for ch in text if ch.isascii() and ch.isprintable() and ch != " ")[:32]
    elif kind == "number":
        match = _NUMBER.search(text.replace(",", ""))
        text = match.group(0)[:32] if match else ""
    elif kind == "letter":
        text = "".join(ch for ch in text if ch.isascii() and ch.isalpha())[:32]
    elif kind == "symbol":
        text = "".join(ch for ch in text if not ch.isalnum() and not ch.isspace() and not _is_cjk(ch))[:5]
    elif kind == "phone_number":
        text = "".join(ch for ch in text if ch.isdigit() or ch in "+-")[:17]
    elif kind == "car_number":
        text = text.replace(" ", "")[:8]
    elif kind == "amount":
        match = _NUMBER.search(text.replace(",", ""))
        if match:
            text = f"¥{match.group(0)}"
    if not text:
        return (
            texts.SUBSCRIBE_EMPTY_VALUE
            if kind in ("thing", "phrase", "name")
            else "-"
            if kind in ("character_string", "symbol", "phone_number")
            else "0"
            if kind in ("number", "amount")
            else text
        )
    return text


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render_fields(spec: Mapping[str, Any], kind: str, values: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The notice's ``data``: ``{field: {"value": ...}}``, every value fitted to its type."""
    fields = spec.get("fields") or texts.SUBSCRIBE_DEFAULT_FIELDS.get(kind, {"thing1": "{text}"})
    safe = _Blank({k: "" if v is None else v for k, v in values.items()})
    formatter = string.Formatter()
    return {
        key: {"value": fit_value(key, formatter.vformat(str(pattern), (), safe))}
        for key, pattern in fields.items()
    }


# --- sending -------------------------------------------------------------------------------------


def send(
    database: Database,
    transport: Any,
    *,
    outbox_id: int,
    customer_id: int,
    openid: str,
    kind: str,
    spec: Mapping[str, Any],
    text: str,
    values: Mapping[str, Any],
    now: dt.datetime,
) -> str | None:
    """Send the ``kind`` notice on one of the customer's unused consents (each step a short transaction,
    the API call outside any). ``ChannelClosed`` when no consent is left or the customer refused it."""
    template_id = str(spec["template_id"]).strip()
    with database.session() as session:
        consent_id = consents.reserve(session, customer_id, template_id, outbox_id, now)
    if consent_id is None:
        raise ChannelClosed("no unused subscription consent for this template")
    data = render_fields(spec, kind, {**values, "text": text})
    try:
        msgid = transport.send_subscribe(openid, template_id, data, spec.get("page") or None)
    except Unreachable as exc:
        if exc.errcode == REFUSED:
            with database.session() as session:
                consents.drop_refused(session, consent_id, str(exc), now)
            raise ChannelClosed(f"{exc} (consent dropped)", exc.errcode) from None
        _give_back(database, consent_id, str(exc), now)
        raise
    except OutcomeUnknown as exc:  # it may have arrived: the consent is taken as spent, never used twice
        with database.session() as session:
            consents.mark_used(session, consent_id, now)
        raise exc
    except DeliveryError as exc:
        _give_back(database, consent_id, str(exc), now)
        raise
    except Exception as exc:
        _give_back(database, consent_id, type(exc).__name__, now)
        raise
    with database.session() as session:
        consents.mark_used(session, consent_id, now, msgid)
    return msgid


def _give_back(database: Database, consent_id: int, error: str, now: dt.datetime) -> None:
    with database.session() as session:
        consents.give_back(session, consent_id, error, now)
