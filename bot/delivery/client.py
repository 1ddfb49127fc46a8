"""A small WeChat API client: wechatpy's ``WeChatClient`` with our base URL, token and retries.

wechatpy's ``fetch_access_token`` always calls the real host's ``/cgi-bin/token`` and its
``auto_retry`` refetches the token without a bound. This subclass takes ``API_BASE_URL`` from the
configuration, prefers ``POST /cgi-bin/stable_token`` (``force_refresh`` only after a refusal),
shares the token through :class:`~bot.delivery.token_store.DatabaseSessionStorage`, and retries
a refused token exactly once. Failures come out as :mod:`bot.delivery.errors` classes; messages
never contain the token (request URLs carry it, so they are not quoted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot.delivery.errors import (
    DeliveryError,
    OutcomeUnknown,
    RejectedError,
    TokenError,
    TransientError,
    error_for_code,
)
from bot.delivery.token_store import DatabaseSessionStorage

T = TypeVar("T")


def token_from_answer(res: requests.Response, what: str) -> tuple[str, int]:
    """``(access_token, expires_in)`` from a token endpoint's answer, or the delivery error it means."""
    if res.status_code >= 500:
        raise TransientError(f"HTTP {res.status_code} fetching the {what}")
    try:
        result = res.json()
    except ValueError:
        raise TransientError(f"unreadable {what} answer (HTTP {res.status_code})") from None
    errcode = int(result.get("errcode") or 0)
    if errcode or "access_token" not in result:
        raise error_for_code(errcode or None, f"{what} refused: {result.get('errmsg', '')}")
    return result["access_token"], int(result.get("expires_in", 7200))


class SharedTokenClient:
    """What Huitou's API clients share (mixed in before wechatpy's client class): one token for all
    processes (refreshed under the shared lock of ``DatabaseSessionStorage``), a bounded retry on
    a refused token, and API errors translated to the delivery errors. A client defines
    ``request_token(force_refresh) -> (token, expires_in)``."""

    def _refresh(self, stale: str | None) -> str:
        if isinstance(self.session, DatabaseSessionStorage):
            return self.session.refresh(self.access_token_key, stale, self.request_token)
        token, expires_in = self.request_token(stale is not None)
        self.session.set(self.access_token_key, token, expires_in)
        return token

    def fetch_access_token(self) -> dict[str, Any]:
        """wechatpy's hook: replace the current token (under the shared lock)."""
        token = self._refresh(self.session.get(self.access_token_key))
        return {"access_token": token}

    @property
    def access_token(self) -> str:
        return self.session.get(self.access_token_key) or self._refresh(None)

    def call(self, func: Callable[[], T]) -> T:
        """Run one API call; on a refused token refresh it once and try again, then give up."""
        for attempt in range(2):
            token = self.access_token
            try:
                return self._translate(func)
            except TokenError:
                if attempt == 1:
                    raise
                self._refresh(token)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _translate(func: Callable[[], T]) -> T:
        try:
            result = func()
        except requests.ReadTimeout:
            # Sent, but unanswered: WeChat may well have accepted it. Retrying could send it twice.
            raise OutcomeUnknown("no answer within the timeout (WeChat may have delivered it)") from None
        except requests.RequestException as exc:
            raise TransientError(f"network error: {type(exc).__name__}") from None
        except WeChatClientException as exc:
            if exc.errcode is None:
                status = getattr(exc.response, "status_code", None)
                if status is None or status >= 500:
                    raise TransientError(f"HTTP {status}") from None
                raise RejectedError(f"HTTP {status}") from None
            raise error_for_code(int(exc.errcode), str(exc.errmsg)) from None
        if not isinstance(result, dict):
            raise TransientError("unreadable API answer")
        return result


class HuitouWeChatClient(SharedTokenClient, WeChatClient):
    """The API client used by the delivery channels (``auto_retry`` is always off)."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        session: Any,
        api_base_url: str,
        timeout: float | None = 10,
        token_endpoint: str = "stable",
    ):
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self.token_endpoint = token_endpoint

    # --- tokens ---------------------------------------------------------------------------

    def request_token(self, force_refresh: bool = False) -> tuple[str, int]:
        """Ask the API for a token (no caching): ``(access_token, expires_in)``."""
        try:
            if self.token_endpoint == "classic":
                res = self._http.get(
                    f"{self.API_BASE_URL}token",
                    timeout=self.timeout,
                    params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
                )
            else:
                res = self._http.post(
                    f"{self.API_BASE_URL}stable_token",
                    timeout=self.timeout,
                    json={
                        "grant_type": "client_credential",
                        "appid": self.appid,
                        "secret": self.secret,
                        "force_refresh": bool(force_refresh),
                    },
                )
        except requests.RequestException as exc:
            raise TransientError(f"network error fetching the access token: {type(exc).__name__}") from None
        return token_from_answer(res, "access token")

    def send_text(self, openid: str, text: str) -> str | None:
        """Customer-service text message; returns the msgid when the API gives one."""
        result = self.call(lambda: self.message.send_text(openid, text))
        return _msgid(result)

    def send_template(
        self, openid: str, template_id: str, data: dict[str, Any], url: str | None = None
    ) -> str | None:
        """Template message; returns the API's msgid."""
        result = self.call(lambda: self.message.send_template(openid, template_id, data, url=url))
        return _msgid(result)

    def send_subscribe(
        self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None
    ) -> str | None:
        """Subscription notice (``message/subscribe/bizsend``); the link goes in ``page``."""
        result = self.call(lambda: self.message.send_subscribe_message(openid, template_id, data, page=page))
        return _msgid(result)


def _msgid(result: dict[str, Any]) -> str | None:
    msgid = result.get("msgid")
    return None if msgid is None else str(msgid)


__all__ = ["DeliveryError", "HuitouWeChatClient"]
