"""Channel: customer-service message (客服消息), free text inside the 48-hour window."""

from __future__ import annotations

from bot.delivery.transport import Transport

NAME = "service"


def send(transport: Transport, openid: str, text: str) -> str | None:
    """Send ``text``; the window and quota were checked by the plan, the API has the last word."""
    return transport.send_text(openid, text)
