"""Who the shop's WeCom members are and what the WeCom settings say: the leaf every WeCom module
shares (the conversation's ``bot/wecom_events.py``, the channel ``bot/delivery/wecom_channel.py``,
its client and the delivery rules), so none of them needs another's imports.

A member who runs the shop (``HUITOU_SELLER_WECOM_USERIDS``) is a seller identity ``wecom:<userid>``:
seller notices get one outbox row per member, sent through the app (``message/send``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from config import parse_list
from storage.models import OutboxMessage
from storage.outbox import enqueue

MEMBER_OPENID_PREFIX = "wecom:"
WELCOME_KIND = "wecom_welcome"
WELCOME_WAITING = "wecom_welcome"  # outbox status until send_welcome claims the row
WELCOME_VALID = dt.timedelta(seconds=20)


@dataclass(frozen=True)
class WecomSettings:
    """The WeCom part of the configuration (``DeliverySettings.wecom``)."""

    enabled: bool
    app_enabled: bool
    members: tuple[str, ...]
    confirm_days: int
    limit: int | None  # None: the month's number of days
    period: str  # month, week, day

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WecomSettings:
        raw_limit = str(config.get("WECOM_CUSTOMER_LIMIT") or "").strip()
        period = str(config.get("WECOM_CUSTOMER_LIMIT_PERIOD") or "month").strip().lower()
        return cls(
            enabled=is_configured(config),
            app_enabled=is_configured(config) and agent_id(config) is not None,
            members=tuple(seller_userids(config)),
            confirm_days=max(1, int(config.get("WECOM_TASK_CONFIRM_DAYS", 3))),
            limit=int(raw_limit) if raw_limit else None,
            period=period if period in ("month", "week", "day") else "month",
        )


def seller_userids(config: Mapping[str, Any]) -> list[str]:
    """The members who run the shop (``HUITOU_SELLER_WECOM_USERIDS``)."""
    return parse_list(config.get("SELLER_WECOM_USERIDS"))


def member_seller_openids(config: Mapping[str, Any]) -> list[str]:
    """The seller identities of the listed members, once WeCom is configured (added to SELLER_OPENIDS,
    so seller notices and the digest get one outbox row per member, sent through the app)."""
    if not (config.get("WECOM_CORP_ID") and config.get("WECOM_SECRET")):
        return []
    return [member_openid(u) for u in seller_userids(config)]


def userid_of(openid: str | None) -> str | None:
    """The member behind a ``wecom:<userid>`` seller identity (None for Official Account openids)."""
    if openid and openid.startswith(MEMBER_OPENID_PREFIX):
        return openid.removeprefix(MEMBER_OPENID_PREFIX)
    return None


def member_openid(userid: str) -> str:
    """The pool identity of a member chatting with the app (never an Official Account openid)."""
    return f"{MEMBER_OPENID_PREFIX}{userid}"[:64]


def notify_members(
    session: Session,
    key: str,
    text: str,
    userids: Sequence[str],
    now: dt.datetime,
    payload: dict[str, Any] | None = None,
) -> int:
    """A seller notice straight to members through the app (outbox rows, sent by wecom_channel)."""
    created = 0
    for userid in userids:
        openid = member_openid(userid)
        created += enqueue(
            session,
            dedupe_key=f"seller:{key}:{openid}",
            kind="seller_notice",
            text=text,
            openid=openid,
            transactional=True,
            priority=30,
            now=now,
            payload=payload,
        )
    return created


def expire_welcomes(session: Session, now: dt.datetime) -> int:
    """Welcomes never claimed (the process died before sending): the code is dead after 20 s."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == WELCOME_WAITING, OutboxMessage.created_at <= now - WELCOME_VALID)
        .values(status="skipped", skip_reason="welcome_code_expired", updated_at=now)
    )
    return int(result.rowcount or 0)


def is_configured(config: Mapping[str, Any]) -> bool:
    """The WeCom API can be called (corp id and the self-built app's secret are set)."""
    return bool(config.get("WECOM_CORP_ID")) and bool(config.get("WECOM_SECRET"))


def agent_id(config: Mapping[str, Any]) -> int | None:
    try:
        return int(str(config.get("WECOM_AGENT_ID") or "").strip())
    except ValueError:
        return None
