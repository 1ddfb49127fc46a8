"""The transport interface the channels send through, and how one is chosen.

With ``WECHAT_APP_ID`` and ``WECHAT_APP_SECRET`` configured, messages go to the WeChat API through
:class:`~bot.delivery.client.HuitouWeChatClient`; without them the
:class:`~bot.delivery.sandbox.SandboxTransport` records them instead, so the product runs end to
end on a laptop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from bot.delivery.client import HuitouWeChatClient
from bot.delivery.sandbox import SandboxTransport
from bot.delivery.token_store import DatabaseSessionStorage
from storage.db import Database


class Transport(Protocol):
    """Sends one message and returns the API's msgid (None when the API gives none)."""

    name: str

    def send_text(self, openid: str, text: str) -> str | None: ...

    def send_template(
        self, openid: str, template_id: str, data: dict[str, Any], url: str | None = None
    ) -> str | None: ...

    def send_subscribe(
        self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None
    ) -> str | None: ...


class WeChatTransport:
    """The real thing: the WeChat API via our wechatpy client."""

    name = "wechat"

    def __init__(self, client: Any):
        self.client = client

    def send_text(self, openid: str, text: str) -> str | None:
        return self.client.send_text(openid, text)

    def send_template(
        self, openid: str, template_id: str, data: dict[str, Any], url: str | None = None
    ) -> str | None:
        return self.client.send_template(openid, template_id, data, url)

    def send_subscribe(
        self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None
    ) -> str | None:
        return self.client.send_subscribe(openid, template_id, data, page)


def has_credentials(config: Mapping[str, Any]) -> bool:
    return bool(config.get("WECHAT_APP_ID")) and bool(config.get("WECHAT_APP_SECRET"))


def make_client(config: Mapping[str, Any], database: Database):
    """A WeChat API client sharing its token through the database."""

    return HuitouWeChatClient(
        str(config["WECHAT_APP_ID"]),
        str(config["WECHAT_APP_SECRET"]),
        session=DatabaseSessionStorage(database),
        api_base_url=str(config.get("WECHAT_API_BASE_URL") or "https://api.weixin.qq.com/cgi-bin/"),
        timeout=float(config.get("DELIVERY_HTTP_TIMEOUT_SECONDS", 10)),
        token_endpoint=str(config.get("DELIVERY_TOKEN_ENDPOINT") or "stable"),
    )


def make_transport(config: Mapping[str, Any], database: Database) -> Transport:
    """The WeChat API when credentials are configured, else the sandbox."""
    if has_credentials(config):
        return WeChatTransport(make_client(config, database))

    return SandboxTransport()
