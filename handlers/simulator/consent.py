"""Subscription-notice consent in the simulator: the JS-SDK page (``/subscribe/<token>``) cannot
work outside WeChat, so the bot's consent link shows as a button in the phone frame, and tapping it
plays the platform's ``subscribe_msg_popup_event`` (accept, every configured template) through the
real ``/wechat``. When ``HUITOU_DELIVERY_SUBSCRIBE_TEMPLATES`` is unset the simulator configures a
demo template for the repurchase reminder, so the whole path (link, consent, notice) can be tried.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape

from bot import texts

DEMO_TEMPLATE_ID = "sim_tpl_repurchase"
# Fields fall back to texts.SUBSCRIBE_DEFAULT_FIELDS.
DEMO_SUBSCRIBE_TEMPLATES: dict[str, dict[str, Any]] = {"repurchase": {"template_id": DEMO_TEMPLATE_ID}}
# The consent link the bot writes (bot/subscribe_links.py), absolute or, without PUBLIC_URL, relative.
_CONSENT_LINK = re.compile(r"(?:https?://[^\s<>&]+)?/subscribe/([A-Za-z0-9_.\-]+)")


def default_templates(config: dict[str, Any]) -> None:
    """Configure the demo template when no subscription template is configured."""
    if not config.get("DELIVERY_SUBSCRIBE_TEMPLATES"):
        config["DELIVERY_SUBSCRIBE_TEMPLATES"] = dict(DEMO_SUBSCRIBE_TEMPLATES)


def popup_accept_entries(template_ids: list[str]) -> list[dict[str, str]]:
    """The popup event's ``<List>`` entries: the customer accepted every template."""
    return [{"TemplateId": t, "SubscribeStatusString": "accept", "PopupScene": "0"} for t in template_ids]


def with_consent_buttons(html: Markup) -> Markup:
    """Turn the consent link in already-escaped chat ``html`` into the simulator's button."""
    button = f'<button type="button" class="sim-subscribe">{escape(texts.SIM_SUBSCRIBE_BUTTON)}</button>'
    return Markup(_CONSENT_LINK.sub(lambda _m: button, str(html)))
