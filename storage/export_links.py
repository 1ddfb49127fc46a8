"""Signed, expiring export links, each bound to the seller it was made for."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "huitou-export-link"
DEFAULT_MAX_AGE_SECONDS = 24 * 3600


class ExportLinkError(Exception):
    """The link is forged, expired or not for this seller (message in Chinese, for the page)."""


def _serializer(config: Mapping[str, Any]) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(config["SECRET_KEY"]), salt=SALT)


def make_export_token(config: Mapping[str, Any], seller_openid: str) -> str:
    """A token naming the seller; a random nonce makes every link distinct."""
    return _serializer(config).dumps({"seller": seller_openid, "nonce": secrets.token_hex(4)})


def make_export_url(config: Mapping[str, Any], seller_openid: str) -> str:
    base = str(config.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")
    return f"{base}/downloads/export/{make_export_token(config, seller_openid)}"


def verify_export_token(config: Mapping[str, Any], token: str, now: dt.datetime | None = None) -> str:
    """Return the seller openid the token was made for, or raise ExportLinkError.

    The seller must still be listed in SELLER_OPENIDS: removing a seller revokes their links.
    """
    max_age = int(config.get("EXPORT_LINK_MAX_AGE_SECONDS") or DEFAULT_MAX_AGE_SECONDS)
    try:
        data = _serializer(config).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise ExportLinkError("下载链接已过期，请在对话里重新发送“导出”获取新链接。") from exc
    except BadSignature as exc:
        raise ExportLinkError("下载链接无效。") from exc
    seller = data.get("seller") if isinstance(data, dict) else None
    if not seller or seller not in (config.get("SELLER_OPENIDS") or ()):
        raise ExportLinkError("这个下载链接不属于当前店主账号。")
    return seller
