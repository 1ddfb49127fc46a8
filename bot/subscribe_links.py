"""The consent link (``/subscribe/<signed token>``) offered with the order confirmation and the
shipping notice, when ``HUITOU_DELIVERY_SUBSCRIBE_TEMPLATES`` is configured.

The token is the customer id signed with the app's ``SECRET_KEY`` (itsdangerous, as Flask uses):
it needs no expiry (a consent is the customer's own tap in WeChat, the page only shows the
button), but it cannot be forged to show another customer's page. Code that has no
configuration at hand (``bot.notices``) finds it in the database's ``Session.info``, installed by
:func:`install` at start-up like the order hooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from bot import texts
from bot.delivery.subscribe_message import templates_from_config

SALT = "huitou-subscribe-page"
INFO_KEY = "huitou_subscribe_links"


def make_token(secret: str, customer_id: int) -> str:
    return URLSafeSerializer(secret, salt=SALT).dumps(int(customer_id))


def read_token(secret: str, token: str) -> int | None:
    """The customer id in ``token``, or None when it is not one we signed."""
    try:
        value = URLSafeSerializer(secret, salt=SALT).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def page_url(config: Mapping[str, Any], customer_id: int) -> str:
    base = str(config.get("PUBLIC_URL") or "").rstrip("/")
    return f"{base}/subscribe/{make_token(str(config['SECRET_KEY']), customer_id)}"


def with_offer(text: str, config: Mapping[str, Any] | None, customer_id: int | None) -> str:
    """``text`` plus the consent link line, when subscription templates are configured."""
    if not config or customer_id is None or not templates_from_config(config):
        return text
    return f"{text}\n{texts.SUBSCRIBE_OFFER.format(url=page_url(config, customer_id))}"


def with_offer_in(session: Session, text: str, customer_id: int | None) -> str:
    """:func:`with_offer` with the configuration installed on the session's database."""
    return with_offer(text, session.info.get(INFO_KEY), customer_id)


def install(database: Any, config: Mapping[str, Any]) -> None:
    """Let sessions of ``database`` build consent links (``with_offer_in``) with ``config``."""
    database.session_info[INFO_KEY] = config
