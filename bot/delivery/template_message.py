"""Channel: template message (模板消息), for service notices only (shipping, payment reminder).

Template ids and the field mapping come from ``DELIVERY_TEMPLATES`` (JSON), for example::

    {"ship": {"template_id": "TPL_SHIP", "fields": {"first": "{name}您好，您的订单已发货",
              "keyword1": "{order_id}", "keyword2": "{courier}", "keyword3": "{tracking_no}"}}}

Field values are ``str.format`` templates over the row's payload plus ``text``; unknown names
format as empty. Without ``fields`` the defaults in ``bot.texts.TEMPLATE_DEFAULT_FIELDS`` apply.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from bot import texts
from bot.delivery.transport import Transport

NAME = "template"


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render_fields(spec: Mapping[str, Any], kind: str, values: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The template ``data`` for WeChat: ``{field: {"value": ...}}``."""
    fields = spec.get("fields") or texts.TEMPLATE_DEFAULT_FIELDS.get(kind, {"first": "{text}"})
    formatter = string.Formatter()
    safe = _Blank({k: "" if v is None else v for k, v in values.items()})
    return {name: {"value": formatter.vformat(str(pattern), (), safe)} for name, pattern in fields.items()}


def send(
    transport: Transport,
    openid: str,
    spec: Mapping[str, Any],
    *,
    kind: str,
    text: str,
    values: Mapping[str, Any],
) -> str | None:
    """Send a ``kind`` notice with the configured template; ``values`` (payload, name) fill its fields."""
    data = render_fields(spec, kind, {**values, "text": text})
    return transport.send_template(openid, str(spec["template_id"]), data, spec.get("url"))
