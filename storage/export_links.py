"""Export download links: signed, short-lived, single-use, each bound to the seller it was made for.

A token is signed with ``SECRET_KEY`` (so any worker or process sharing the key accepts it) and
names the seller and a random nonce. It is valid ``EXPORT_LINK_MAX_AGE_SECONDS`` (10 minutes by
default) and only once: redeeming it records the nonce in ``kv_store`` in the same transaction, and
a second redemption finds it there. The link carries the token in the URL *fragment*
(``…/downloads/export#<token>``), which browsers never send to a server, so no access log (werkzeug,
gunicorn, nginx) ever records it; the download page posts it in the request body.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete
from sqlalchemy.orm import Session

from storage.models import KeyValue, utcnow
from storage.upsert import insert_ignore

SALT = "huitou-export-link"
DEFAULT_MAX_AGE_SECONDS = 600
USED_KEY_PREFIX = "export_link:used:"
# Server clocks of two workers may differ a little; a token "from the future" beyond this is forged.
CLOCK_SKEW = dt.timedelta(seconds=60)


class ExportLinkError(Exception):
    """The link is forged, expired, used or not for this seller (message in Chinese, for the page)."""


@dataclass(frozen=True)
class ExportGrant:
    seller: str
    nonce: str
    issued_at: dt.datetime  # naive UTC
    expires_at: dt.datetime


def _serializer(config: Mapping[str, Any]) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(config["SECRET_KEY"]), salt=SALT)


def max_age_seconds(config: Mapping[str, Any]) -> int:
    return int(config.get("EXPORT_LINK_MAX_AGE_SECONDS") or DEFAULT_MAX_AGE_SECONDS)


def make_export_token(config: Mapping[str, Any], seller_openid: str) -> str:
    """A token naming the seller; its random nonce makes every link distinct and single-use."""
    return _serializer(config).dumps({"seller": seller_openid, "nonce": secrets.token_urlsafe(12)})


def make_export_url(config: Mapping[str, Any], seller_openid: str, base_url: str | None = None) -> str:
    """The link for the seller: ``HUITOU_PUBLIC_URL`` when set, else ``base_url`` (the address the
    request came in on), with the token in the fragment."""
    base = str(config.get("PUBLIC_URL") or base_url or "http://127.0.0.1:5000").rstrip("/")
    return f"{base}/downloads/export#{make_export_token(config, seller_openid)}"


def read_export_token(config: Mapping[str, Any], token: str, now: dt.datetime | None = None) -> ExportGrant:
    """Check signature, age and seller (still listed in SELLER_OPENIDS); does not use the token up."""
    now = now or utcnow()
    try:
        data, signed_at = _serializer(config).loads(token, return_timestamp=True)
    except BadSignature as exc:
        raise ExportLinkError("下载链接无效。") from exc
    issued = signed_at.astimezone(dt.UTC).replace(tzinfo=None)
    expires = issued + dt.timedelta(seconds=max_age_seconds(config))
    if now >= expires:
        raise ExportLinkError("下载链接已过期，请在对话里重新发送“导出”获取新链接。")
    if issued - now > CLOCK_SKEW or not isinstance(data, dict) or not data.get("nonce"):
        raise ExportLinkError("下载链接无效。")
    seller = data.get("seller")
    if not seller or seller not in (config.get("SELLER_OPENIDS") or ()):
        raise ExportLinkError("这个下载链接不属于当前店主账号。")
    return ExportGrant(str(seller), str(data["nonce"]), issued, expires)


def verify_export_token(config: Mapping[str, Any], token: str, now: dt.datetime | None = None) -> str:
    """The seller openid the token was made for (see :func:`read_export_token`), or ExportLinkError."""
    return read_export_token(config, token, now).seller


def redeem_export_token(
    session: Session, config: Mapping[str, Any], token: str, now: dt.datetime | None = None
) -> str:
    """Use the token up (inside the caller's transaction) and return its seller; a used one is refused.

    The nonce is inserted under a unique key: of two redemptions racing, one inserts, the other
    finds the row (PostgreSQL makes it wait for the first to commit) and is refused.
    """
    now = now or utcnow()
    grant = read_export_token(config, token, now)
    session.execute(
        delete(KeyValue).where(KeyValue.key.startswith(USED_KEY_PREFIX), KeyValue.expires_at < now)
    )
    # Kept a day past the token's own expiry, so a longer EXPORT_LINK_MAX_AGE_SECONDS set later
    # cannot revive a used link.
    keep_until = grant.expires_at + dt.timedelta(days=1)
    if not insert_ignore(
        session,
        KeyValue.__table__,
        {
            "key": USED_KEY_PREFIX + grant.nonce,
            "value": grant.seller,
            "expires_at": keep_until,
            "updated_at": now,
        },
        ["key"],
    ):
        raise ExportLinkError(
            "这个下载链接已经用过了（每个链接只能下载一次），请在对话里重新发送“导出”获取新链接。"
        )
    return grant.seller
