"""What the simulator must not give away: who may drive it, and full phones and addresses.

The simulator has no login, so it answers only requests addressed to the serving address: a
``Host`` of a loopback name (or one in ``HUITOU_SIMULATOR_HOSTS``, the ``serve --host``, the host of
``HUITOU_PUBLIC_URL``) and, when the browser sends one, an ``Origin`` on such a host. A DNS-rebinding
page (``evil.example`` resolved to 127.0.0.1) sends its own name in both and gets 403.

Everything it shows passes :class:`Masker`: mobile numbers become ``138****8000`` and the detailed
part of every address stored for a customer or an order becomes ``****`` (province, city and
district stay readable).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Customer, Order

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})
_MOBILE = re.compile(r"(?<![0-9])(1[3-9][0-9])[ -]?([0-9]{4})[ -]?([0-9]{4})(?![0-9])")
# The bot's clickable links (``<a href="https://…">label</a>``), once the text is HTML-escaped.
_ESCAPED_LINK = re.compile(r"&lt;a href=&#34;(https?://[^&\s]+(?:&amp;[^&\s]+)*)&#34;&gt;(.*?)&lt;/a&gt;")
MIN_DETAIL_LENGTH = 4  # shorter "details" (e.g. 1号) would mask ordinary words
MAX_DETAILS = 5000


def hostname(netloc: str) -> str:
    """``127.0.0.1:5000`` → ``127.0.0.1``; ``[::1]:5000`` → ``::1``; lower-cased."""
    netloc = netloc.strip().lower().rsplit("@", 1)[-1]
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0]
    return netloc.split(":", 1)[0] if netloc.count(":") <= 1 else netloc


def allowed_hosts(config: Mapping[str, Any]) -> set[str]:
    names = set(LOOPBACK_NAMES) | {hostname(h) for h in config.get("SIMULATOR_HOSTS") or ()}
    if config.get("PUBLIC_URL"):
        names.add(hostname(urlsplit(str(config["PUBLIC_URL"])).netloc))
    return names


def is_allowed_host(name: str, allowed: set[str]) -> bool:
    return name in allowed or re.fullmatch(r"127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", name) is not None


def request_is_local(host: str, origin: str | None, config: Mapping[str, Any]) -> bool:
    """True when ``Host`` (and ``Origin``, if sent) name the serving address."""
    allowed = allowed_hosts(config)
    if not is_allowed_host(hostname(host), allowed):
        return False
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and is_allowed_host(hostname(parts.netloc), allowed)


class Masker:
    """Masks mobile numbers and the stored address details in the texts the simulator shows."""

    def __init__(self, details: Iterable[str | None]):
        self.details = sorted(
            {d.strip() for d in details if d and len(d.strip()) >= MIN_DETAIL_LENGTH}, key=len, reverse=True
        )

    @classmethod
    def from_database(cls, session: Session) -> Masker:
        details = list(
            session.scalars(
                select(Customer.address_detail)
                .where(Customer.address_detail.is_not(None))
                .order_by(Customer.id.desc())
                .limit(MAX_DETAILS)
            )
        )
        details += session.scalars(
            select(Order.address_detail)
            .where(Order.address_detail.is_not(None))
            .order_by(Order.id.desc())
            .limit(MAX_DETAILS)
        )
        return cls(details)

    def __call__(self, text: str | None) -> str | None:
        if not text:
            return text
        text = _MOBILE.sub(lambda m: f"{m[1]}****{m[3]}", text)
        for detail in self.details:
            if detail in text:
                text = text.replace(detail, "****")
        return text

    def rows(self, rows: Iterable[Any], *fields: str) -> list[Any]:
        """Copies of frozen dataclass ``rows`` with ``fields`` masked."""
        return [dataclasses.replace(row, **{f: self(getattr(row, f)) for f in fields}) for row in rows]


def with_links(text: str | None) -> Markup:
    """HTML-escape ``text``, then turn the bot's own ``<a href="http…">`` links back into links."""
    escaped = str(escape(text or ""))
    return Markup(
        _ESCAPED_LINK.sub(
            lambda m: f'<a href="{m[1]}" target="_blank" rel="noopener noreferrer">{m[2]}</a>', escaped
        )
    )
