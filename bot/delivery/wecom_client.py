"""The WeCom (企业微信) API client: wechatpy's enterprise ``WeChatClient`` with our base URL, token and retries.

Like :mod:`bot.delivery.client` for the Official Account: wechatpy's enterprise client hard-codes
``https://qyapi.weixin.qq.com/cgi-bin/gettoken`` and its ``auto_retry`` has no bound, so this
subclass takes ``WECOM_API_BASE_URL`` from the configuration, shares the token through the
database (``kv_store``, prefix ``wecom``) under a lock, and retries a refused token exactly once.
It also adds the customer-contact calls wechatpy 1.8 lacks (``get_groupmsg_task``,
``get_groupmsg_send_result``, ``cancel_groupmsg_send``). Failures come out as
:mod:`bot.delivery.errors` classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import requests
from wechatpy.enterprise import WeChatClient

from bot.delivery.client import SharedTokenClient, token_from_answer
from bot.delivery.errors import TransientError, error_for_code
from bot.delivery.token_store import DatabaseSessionStorage
from bot.delivery.wecom_members import agent_id, is_configured  # noqa: F401  (re-exported)
from bot.delivery.wecom_sandbox import SandboxWeComClient, is_sandbox
from storage.db import Database

T = TypeVar("T")

DEFAULT_API_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/"


class HuitouWeComClient(SharedTokenClient, WeChatClient):
    """The WeCom client used by the callback, the CLI and the WeCom channels (``auto_retry`` off)."""

    def __init__(
        self,
        corp_id: str,
        secret: str,
        agent_id: int | None,
        *,
        session: Any,
        api_base_url: str,
        timeout: float | None = 10,
    ):
        super().__init__(corp_id, secret, session=session, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self.agent_id = agent_id

    # --- tokens ---------------------------------------------------------------------------

    def request_token(self, force_refresh: bool = False) -> tuple[str, int]:
        """``GET gettoken`` at the configured host (no caching): ``(access_token, expires_in)``."""
        try:
            res = self._http.get(
                f"{self.API_BASE_URL}gettoken",
                timeout=self.timeout,
                params={"corpid": self.corp_id, "corpsecret": self.secret},
            )
        except requests.RequestException as exc:
            raise TransientError(f"network error fetching the WeCom token: {type(exc).__name__}") from None
        return token_from_answer(res, "WeCom token")

    # --- the calls Huitou uses --------------------------------------------------------------

    def send_app_text(self, userids: Sequence[str], text: str) -> str | None:
        """``message/send``: a text from the self-built app to members (no window, always allowed)."""
        result = self.call(lambda: self.message.send_text(self.agent_id, list(userids), text))
        invalid = [u for u in str(result.get("invaliduser") or "").split("|") if u]
        if invalid and len(invalid) >= len(userids):
            raise error_for_code(81013, "no listed member can receive the app message")
        msgid = result.get("msgid")
        return None if msgid is None else str(msgid)

    def add_contact_way(self, userid: str, state: str | None) -> dict[str, Any]:
        """``externalcontact/add_contact_way``: a one-member 「联系我」 QR; returns config_id and qr_code."""
        return self.call(
            lambda: self.external_contact.add_contact_way(1, 2, skip_verify=True, state=state, user=[userid])
        )

    def get_external_contact(self, external_userid: str) -> dict[str, Any]:
        """``externalcontact/get``: the contact and the members who added them (``follow_user``)."""
        return self.call(lambda: self.external_contact.get(external_userid))

    def send_welcome_msg(self, welcome_code: str, text: str) -> None:
        """``externalcontact/send_welcome_msg`` (the code is valid 20 seconds and once)."""
        self.call(
            lambda: self.external_contact.send_welcome_msg(
                {"welcome_code": welcome_code, "text": {"content": text}}
            )
        )

    def add_msg_template(self, sender: str, external_userids: Sequence[str], text: str) -> dict[str, Any]:
        """``externalcontact/add_msg_template``: a mass-send task the member confirms with one tap."""
        return self.call(
            lambda: self.external_contact.add_msg_template(
                {
                    "chat_type": "single",
                    "external_userid": list(external_userids),
                    "sender": sender,
                    "text": {"content": text},
                }
            )
        )

    def get_groupmsg_task(self, msgid: str, cursor: str | None = None) -> dict[str, Any]:
        """``externalcontact/get_groupmsg_task``: per member, whether the task was sent (status 2)."""
        data: dict[str, Any] = {"msgid": msgid, "limit": 1000}
        if cursor:
            data["cursor"] = cursor
        return self.call(lambda: self.post("externalcontact/get_groupmsg_task", data=data))

    def get_groupmsg_send_result(self, msgid: str, userid: str, cursor: str | None = None) -> dict[str, Any]:
        """``externalcontact/get_groupmsg_send_result``: per customer, status 0/1/2/3."""
        data: dict[str, Any] = {"msgid": msgid, "userid": userid, "limit": 1000}
        if cursor:
            data["cursor"] = cursor
        return self.call(lambda: self.post("externalcontact/get_groupmsg_send_result", data=data))

    def cancel_groupmsg_send(self, msgid: str) -> None:
        """``externalcontact/cancel_groupmsg_send``: withdraw a task the member has not sent."""
        self.call(lambda: self.post("externalcontact/cancel_groupmsg_send", data={"msgid": msgid}))


def make_client(
    config: Mapping[str, Any], database: Database, *, timeout: float | None = None
) -> HuitouWeComClient | SandboxWeComClient:
    """A WeCom client sharing its token through the database (the simulator's in-process one with its corp id)."""
    if is_sandbox(config):
        return SandboxWeComClient(database)
    return HuitouWeComClient(
        str(config["WECOM_CORP_ID"]),
        str(config["WECOM_SECRET"]),
        agent_id(config),
        session=DatabaseSessionStorage(database, prefix="wecom"),
        api_base_url=str(config.get("WECOM_API_BASE_URL") or DEFAULT_API_BASE_URL),
        timeout=timeout if timeout is not None else float(config.get("DELIVERY_HTTP_TIMEOUT_SECONDS", 10)),
    )
