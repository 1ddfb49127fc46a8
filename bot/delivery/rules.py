"""Delivery rules as plain functions: channel choice, quiet hours, caps, backoff.

No database and no clock here: the drain gathers the facts (``Recipient``, counts, ``now``) and
asks :func:`plan_delivery` what to do with a row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bot.delivery.subscribe_message import templates_from_config
from bot.delivery.wecom_members import WecomSettings
from storage.clock import naive_utc, shop_zone, to_local

SERVICE = "service"
TEMPLATE = "template"
DRAFT = "draft"
SUBSCRIBE = (
    "subscribe"  # subscription notice on a consent the customer gave (bot/delivery/subscribe_message.py)
)

# Template messages are for service notices only: the platform rejects them for reminders or marketing.
TEMPLATE_KINDS = frozenset({"ship", "payment_reminder"})

# Reasons stored in ``outbox.skip_reason``.
OPTED_OUT = "opted_out"
UNSUBSCRIBED = "unsubscribed"
CAPPED = "capped"
UNREACHABLE = "unreachable"
OUT_OF_WINDOW = "out_of_window"
COMPLAINT_OPEN = "complaint_open"

# A seller notice no channel can carry now waits (status ``waiting``) for the seller's next message
# (bot/seller/waiting.py): never skipped.
WAITING = "waiting"


# What a marketing message is worth to the seller when the cap (DELIVERY_MARKETING_CAP per
# DELIVERY_MARKETING_CAP_DAYS) lets only some through: lower ranks win. A nudge tied to the
# customer's own supply running out is the one most likely to bring an order; then the follow-up
# of an unanswered inquiry; then usage tips; then win-back; greetings, which the whole pool gets at
# once and which come back every year, last.
MARKETING_RANK = {
    "repurchase": 10,  # supply runs out in a few days
    "lapse": 20,  # ran out a week ago, nothing reordered
    "followup": 30,  # asked about a product, ordered nothing
    "experience": 40,  # how to use what just arrived
    "care": 40,  # mid-supply tip
    "winback": 50,
    "birthday": 60,
    "festival": 70,
}
DEFAULT_MARKETING_RANK = 55  # any other marketing kind: after win-back, before greetings


def marketing_rank(kind: str) -> int:
    return MARKETING_RANK.get(kind, DEFAULT_MARKETING_RANK)


def marketing_value(kind: str, priority: int) -> tuple[int, int]:
    """Sort key of a marketing row under the cap, most valuable first: the enqueued ``priority``
    (lower first; the retention sweeps all use 50), then the kind's :data:`MARKETING_RANK`."""
    return int(priority), marketing_rank(kind)


@dataclass(frozen=True)
class DeliverySettings:
    """The delivery part of the configuration, parsed once per drain."""

    timezone: ZoneInfo
    quiet_start: dt.time | None
    quiet_end: dt.time | None
    marketing_cap: int
    marketing_cap_days: int
    service_window: dt.timedelta
    service_quota: int
    templates: dict[str, dict[str, Any]]
    rate_per_second: float
    batch_size: int
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    rate_limit_pause: dt.timedelta
    sending_timeout: dt.timedelta
    wecom: Any = None  # bot.delivery.wecom_channel.WecomSettings (WeCom channels), None when not configured
    # Subscription notices: {kind: {"template_id", "fields", "page"}} (DELIVERY_SUBSCRIBE_TEMPLATES).
    subscribe_templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DeliverySettings:
        start, end = parse_quiet_hours(config.get("DELIVERY_QUIET_HOURS"))
        templates = config.get("DELIVERY_TEMPLATES") or {}
        if isinstance(templates, str):
            templates = json.loads(templates or "{}")
        return cls(
            timezone=shop_zone(config),
            quiet_start=start,
            quiet_end=end,
            marketing_cap=int(config.get("DELIVERY_MARKETING_CAP", 1)),
            marketing_cap_days=int(config.get("DELIVERY_MARKETING_CAP_DAYS", 3)),
            service_window=dt.timedelta(hours=float(config.get("DELIVERY_SERVICE_WINDOW_HOURS", 48))),
            service_quota=int(config.get("DELIVERY_SERVICE_QUOTA", 5)),
            templates={
                kind: spec
                for kind, spec in templates.items()
                if kind in TEMPLATE_KINDS and spec and spec.get("template_id")
            },
            rate_per_second=float(config.get("DELIVERY_RATE_PER_SECOND", 20)),
            batch_size=max(1, int(config.get("DELIVERY_BATCH_SIZE", 50))),
            max_attempts=max(1, int(config.get("DELIVERY_MAX_ATTEMPTS", 5))),
            retry_base_seconds=float(config.get("DELIVERY_RETRY_BASE_SECONDS", 60)),
            retry_max_seconds=float(config.get("DELIVERY_RETRY_MAX_SECONDS", 3600)),
            rate_limit_pause=dt.timedelta(seconds=float(config.get("DELIVERY_RATE_LIMIT_PAUSE_SECONDS", 60))),
            sending_timeout=dt.timedelta(seconds=float(config.get("DELIVERY_SENDING_TIMEOUT_SECONDS", 600))),
            wecom=_wecom_settings(config),
            subscribe_templates=templates_from_config(config),
        )


def _wecom_settings(config: Mapping[str, Any]) -> Any:
    # --- WeCom (bot/delivery/wecom_channel.py): only when WECOM_CORP_ID and WECOM_SECRET are set ---
    settings = WecomSettings.from_config(config)
    return settings if settings.enabled else None


@dataclass(frozen=True)
class Recipient:
    """What delivery needs to know about whoever a row is addressed to."""

    openid: str | None
    is_customer: bool  # False: a seller/operator notice (no draft channel)
    opted_out: bool = False
    subscribed: bool = True
    unreachable: bool = False
    last_inbound_at: dt.datetime | None = None
    open_complaint: bool = False  # no marketing until the seller closes it
    subscribe_consent: bool = False  # holds an unused subscription consent for this row's kind's template


@dataclass(frozen=True)
class Plan:
    """``send`` through ``channels`` in order, ``skip`` with ``reason``, or ``postpone`` until ``not_before``."""

    action: str
    channels: tuple[str, ...] = ()
    reason: str | None = None
    not_before: dt.datetime | None = None


@dataclass
class Counts:
    """Messages already used up: service messages in the current window, recent marketing ones."""

    service_in_window: int = 0
    marketing_recent: int = 0


def parse_quiet_hours(value: Any) -> tuple[dt.time | None, dt.time | None]:
    """``"21:00-09:00"`` → (21:00, 09:00); empty or ``off`` → no quiet hours."""
    if value is None or str(value).strip().lower() in {"", "off", "none", "no"}:
        return None, None
    start, _, end = str(value).replace("–", "-").partition("-")
    return dt.time.fromisoformat(start.strip()), dt.time.fromisoformat(end.strip())


def quiet_until(now: dt.datetime, settings: DeliverySettings) -> dt.datetime | None:
    """When ``now`` (naive UTC) falls in the quiet hours: the naive-UTC moment they end; else None."""
    start, end = settings.quiet_start, settings.quiet_end
    if start is None or end is None or start == end:
        return None
    local = to_local(now, settings.timezone)
    t = local.time()
    if start < end:
        quiet = start <= t < end
        end_day = local.date()
    else:  # spans midnight, e.g. 21:00-09:00
        quiet = t >= start or t < end
        end_day = local.date() + dt.timedelta(days=1) if t >= start else local.date()
    if not quiet:
        return None
    end_local = dt.datetime.combine(end_day, end, tzinfo=settings.timezone)
    return naive_utc(end_local)


def service_window_open(last_inbound_at: dt.datetime | None, now: dt.datetime, window: dt.timedelta) -> bool:
    return last_inbound_at is not None and now - last_inbound_at < window


def retry_delay(attempts: int, settings: DeliverySettings) -> dt.timedelta:
    """Exponential backoff after the ``attempts``-th failed try: base, 2×base, 4×base … capped."""
    seconds = settings.retry_base_seconds * (2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=min(seconds, settings.retry_max_seconds))


def plan_delivery(
    *,
    kind: str,
    transactional: bool,
    recipient: Recipient,
    counts: Counts,
    now: dt.datetime,
    settings: DeliverySettings,
) -> Plan:
    """Decide what happens to a due row.

    Marketing rows (not ``transactional``) respect opt-out, subscription, reachability, an open
    complaint, quiet hours and the per-customer cap. Channels, in order: a customer-service message inside the
    window while the quota lasts; a subscription notice when the customer holds an unused consent
    for the kind's template; a template message for service-notice kinds with a configured
    template; a seller draft for customers. Seller notices have no draft: with no channel open
    they ``wait`` for the seller's next message.
    """
    if not transactional and recipient.is_customer:
        if recipient.opted_out:
            return Plan("skip", reason=OPTED_OUT)
        if not recipient.subscribed:
            return Plan("skip", reason=UNSUBSCRIBED)
        if recipient.unreachable:
            return Plan("skip", reason=UNREACHABLE)
        if recipient.open_complaint:
            return Plan("skip", reason=COMPLAINT_OPEN)
        until = quiet_until(now, settings)
        if until is not None:
            return Plan("postpone", not_before=until)
        if counts.marketing_recent >= settings.marketing_cap:
            return Plan("skip", reason=CAPPED)

    channels: list[str] = []
    can_reach = recipient.openid is not None and recipient.subscribed and not recipient.unreachable
    if (
        can_reach
        and service_window_open(recipient.last_inbound_at, now, settings.service_window)
        and counts.service_in_window < settings.service_quota
    ):
        channels.append(SERVICE)
    # (the WeCom mass-send task for customers linked on WeCom goes here, after the service message)
    if (
        can_reach
        and recipient.is_customer
        and recipient.subscribe_consent
        and kind in settings.subscribe_templates
    ):
        channels.append(SUBSCRIBE)
    if can_reach and kind in settings.templates:
        channels.append(TEMPLATE)
    if recipient.is_customer:
        channels.append(DRAFT)
    elif not channels:
        # Seller notices: the WeCom app (message/send, no window) stays first once configured; without
        # it a notice waits for the seller's next message instead of being skipped.
        return Plan("wait", reason=WAITING)
    if not channels:
        return Plan("skip", reason=UNREACHABLE if recipient.unreachable else OUT_OF_WINDOW)
    return Plan("send", channels=tuple(channels))
