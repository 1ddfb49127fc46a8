"""Retention sweeps: product-cycle messages, inquiry follow-ups, greetings, win-back, segments.

Each sweep asks ``storage.retention_queries`` for what is due in its window and enqueues one
outbox row per message (``storage.outbox.enqueue``, marketing: ``transactional=False``) under a
stable dedupe key. Delivery applies channels, quiet hours, caps and opt-out.

Timing windows: a message due at ``T`` is enqueued by the first tick at or after ``T`` as long
as ``now - T < RETENTION_CATCHUP_DAYS`` (after downtime, the missed ones go out once; older ones
are history and are never sent). Greetings are due ``RETENTION_GREETING_LEAD_DAYS`` before the
day and are caught up until the day itself, never after it.

Each due sweep keeps a watermark (``storage.sweep_watermarks``): the tick time up to which it
enqueued everything. The next tick reads only what fell due since; the catch-up window still bounds
the look-back, and the writes that move a due time behind a watermark invalidate it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import texts
from config import parse_list
from scheduler import calendar
from scheduler.sweep import Sweep
from storage import outbox, segment_moments
from storage import retention_queries as q
from storage import sweep_watermarks as wm
from storage.clock import naive_utc, shop_zone, to_local
from storage.models import KeyValue, Order
from storage.retention_clock import SHORT_SUPPLY_DAYS, backfill_supply_clocks

# --- settings -----------------------------------------------------------------------------------

DEFAULT_TEXTS: dict[str, str] = {
    "experience": texts.RETENTION_EXPERIENCE,
    "care": texts.RETENTION_CARE,
    "repurchase": texts.RETENTION_REPURCHASE,
    "lapse": texts.RETENTION_LAPSE,
    "followup": texts.RETENTION_INQUIRY_FOLLOWUP,
    "birthday": texts.BIRTHDAY_GREETING,
    "birthday_offer": texts.BIRTHDAY_OFFER,
    "festival_offer": texts.FESTIVAL_OFFER,
    "offer": texts.RETENTION_OFFER,
    **{f"winback_{n}": text for n, text in enumerate(texts.WINBACK_STEPS, start=1)},
    **{f"festival:{slug}": text for slug, text in texts.FESTIVAL_GREETINGS.items()},
}


# The placeholders a text may use (not every text gets every one: see README).
PLACEHOLDER_SAMPLES = {"name": "张三", "products": "补水面膜", "product": "补水面膜", "offer": "立减20元"}


@dataclass(frozen=True)
class RetentionSettings:
    """The seller-adjustable timings and texts (see README "Retention sweeps")."""

    timezone: ZoneInfo
    experience_days: float = 2
    repurchase_lead_days: float = 3
    lapse_days: float = 7
    followup_hours: float = 24
    greeting_lead_days: int = 2
    catchup_days: float = 7
    winback_step_days: tuple[float, ...] = (0, 7, 21)
    festivals: tuple[str, ...] = tuple(f.slug for f in calendar.FESTIVALS)
    texts: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TEXTS))
    offer_classes: tuple[str, ...] = ("A",)
    segments_hour: int = 4
    # The seller's own accounts (HUITOU_SELLER_OPENIDS): never marketing recipients.
    seller_openids: tuple[str, ...] = ()

    @property
    def catchup(self) -> dt.timedelta:
        return dt.timedelta(days=self.catchup_days)


def load_texts(value: Any) -> dict[str, str]:
    """Text overrides: a mapping, a JSON object string, or a path to a JSON file (UTF-8)."""
    if not value:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    raw = str(value).strip()
    if not raw.startswith(("{", "[")):
        raw = Path(raw).read_text(encoding="utf-8")
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("RETENTION_TEXTS must be a JSON object of text name → text")
    unknown = set(data) - set(DEFAULT_TEXTS)
    if unknown:
        raise ValueError(f"RETENTION_TEXTS: unknown text names {sorted(unknown)}")
    for name, text in data.items():
        try:
            str(text).format(**PLACEHOLDER_SAMPLES)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"RETENTION_TEXTS[{name!r}]: unknown placeholder {exc}; use "
                f"{', '.join('{' + p + '}' for p in PLACEHOLDER_SAMPLES)}"
            ) from exc
    return {str(k): str(v) for k, v in data.items()}


def settings_from(config: Mapping[str, Any]) -> RetentionSettings:
    """Read the ``RETENTION_*`` settings (env ``HUITOU_RETENTION_*``) with their defaults."""

    def number(name: str, default: float) -> float:
        value = config.get(name)
        return default if value in (None, "") else float(value)

    festivals = config.get("RETENTION_FESTIVALS")
    if festivals in (None, "all"):
        enabled = RetentionSettings.festivals
    elif festivals == "none":
        enabled = ()
    else:
        enabled = tuple(parse_list(festivals))
    unknown = set(enabled) - set(calendar.FESTIVALS_BY_SLUG)
    if unknown:
        raise ValueError(f"RETENTION_FESTIVALS: unknown festivals {sorted(unknown)}")
    steps = config.get("RETENTION_WINBACK_STEP_DAYS")
    return RetentionSettings(
        timezone=shop_zone(config),
        experience_days=number("RETENTION_EXPERIENCE_DAYS", 2),
        repurchase_lead_days=number("RETENTION_REPURCHASE_LEAD_DAYS", 3),
        lapse_days=number("RETENTION_LAPSE_DAYS", 7),
        followup_hours=number("RETENTION_FOLLOWUP_HOURS", 24),
        greeting_lead_days=int(number("RETENTION_GREETING_LEAD_DAYS", 2)),
        catchup_days=number("RETENTION_CATCHUP_DAYS", 7),
        winback_step_days=tuple(float(x) for x in parse_list(steps)) if steps else (0, 7, 21),
        festivals=enabled,
        texts={**DEFAULT_TEXTS, **load_texts(config.get("RETENTION_TEXTS"))},
        offer_classes=tuple(parse_list(config.get("RETENTION_OFFER_CLASSES") or "A")),
        segments_hour=int(number("RETENTION_SEGMENTS_HOUR", 4)),
        seller_openids=tuple(parse_list(config.get("SELLER_OPENIDS"))),
    )


# --- helpers ------------------------------------------------------------------------------------


def _name(due: q.Due) -> str:
    return due.name or due.nickname or texts.RETENTION_DEFAULT_NAME


def _render(settings: RetentionSettings, text_name: str, **values: Any) -> str:
    return settings.texts[text_name].format(offer=settings.texts["offer"], **values)


def _products(names: list[str] | None) -> str:
    return "、".join(names or []) or "宝贝"


class Batch:
    """Messages collected by a sweep, written in chunks by ``storage.outbox.enqueue_many``.

    A row is exactly what ``storage.outbox.enqueue`` writes (``outbox_row``, the same insert-or-ignore
    on ``dedupe_key``); a sweep that found 10,000 festival greetings compiles one statement, not 10,000.
    """

    CHUNK = outbox.ENQUEUE_CHUNK

    def __init__(self, session: Session, now: dt.datetime):
        self.session, self.now, self.rows, self.created = session, now, [], 0

    def add(
        self, due: q.Due, *, key: str, kind: str, text: str, payload: dict[str, Any] | None = None
    ) -> None:
        self.rows.append(
            outbox.outbox_row(
                dedupe_key=key,
                customer_id=due.customer_id,
                openid=due.openid,
                kind=kind,
                transactional=False,
                priority=50,
                text=text,
                payload={"customer_class": due.customer_class, **(payload or {})},
                now=self.now,
            )
        )
        if len(self.rows) >= self.CHUNK:
            self.flush()

    def flush(self) -> int:
        self.created += outbox.enqueue_many(self.session, self.rows)
        self.rows = []
        return self.created


def _local_today(now: dt.datetime, settings: RetentionSettings) -> dt.date:
    aware = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    return aware.astimezone(settings.timezone).date()


def _fingerprint(settings: RetentionSettings) -> str:
    """The settings that place the sweeps' windows and pick their recipients."""
    return wm.fingerprint(
        settings.timezone,
        settings.experience_days,
        settings.repurchase_lead_days,
        settings.lapse_days,
        settings.followup_hours,
        settings.greeting_lead_days,
        settings.catchup_days,
        settings.winback_step_days,
        settings.festivals,
        sorted(settings.seller_openids),
    )


def _mark(session: Session, name: str, settings: RetentionSettings) -> wm.Watermark:
    return wm.read(session, name, _fingerprint(settings))


# --- product cycle --------------------------------------------------------------------------------


def _cycle_sweep(
    session: Session, kind: str, rows: list[q.Due], now: dt.datetime, settings: RetentionSettings
) -> int:
    products = q.order_products(session, [r.subject_id for r in rows])
    batch = Batch(session, now)
    for due in rows:
        names = _products(products.get(due.subject_id))
        text = _render(settings, kind, name=_name(due), products=names)
        batch.add(
            due,
            key=f"{kind}:order:{due.subject_id}",
            kind=kind,
            text=text,
            payload={"order_id": due.subject_id, "products": names},
        )  # products: subscription-notice fields
    return batch.flush()


def sweep_experience(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """Experience: ``RETENTION_EXPERIENCE_DAYS`` after shipping, how to use the product."""
    s, now = settings_from(config), naive_utc(now)
    mark = _mark(session, "retention.experience", s)
    after = dt.timedelta(days=s.experience_days)
    rows = q.shipped_orders_due(
        session,
        shipped_from=mark.start(now, s.catchup) - after,
        shipped_to=now - after,
        key_prefix="experience:order:",
        exclude_openids=s.seller_openids,
    )
    created = _cycle_sweep(session, "experience", rows, now, s)
    wm.advance(session, mark, now)
    return created


def sweep_care(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """Care: at mid-supply, how is it going."""
    s, now = settings_from(config), naive_utc(now)
    mark = _mark(session, "retention.care", s)
    rows = q.supply_clocks_due(
        session,
        "supply_mid",
        at_from=mark.start(now, s.catchup),
        at_to=now,
        key_prefix="care:order:",
        exclude_openids=s.seller_openids,
    )
    created = _cycle_sweep(session, "care", rows, now, s)
    wm.advance(session, mark, now)
    return created


def sweep_repurchase(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """Repurchase: ``RETENTION_REPURCHASE_LEAD_DAYS`` before the supply runs out."""
    s, now = settings_from(config), naive_utc(now)
    mark = _mark(session, "retention.repurchase", s)
    if s.repurchase_lead_days > SHORT_SUPPLY_DAYS:  # a longer supply may start due: read it all
        mark = wm.Watermark(mark.name, mark.fingerprint, mark.epoch)
    lead = dt.timedelta(days=s.repurchase_lead_days)
    rows = q.supply_clocks_due(
        session,
        "supply_end",
        at_from=mark.start(now, s.catchup) + lead,
        at_to=now + lead,
        key_prefix="repurchase:order:",
        exclude_openids=s.seller_openids,
    )
    created = _cycle_sweep(session, "repurchase", rows, now, s)
    wm.advance(session, mark, now)
    return created


def sweep_lapse(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """Lapse: ``RETENTION_LAPSE_DAYS`` after run-out with no newer order of the product."""
    s, now = settings_from(config), naive_utc(now)
    mark = _mark(session, "retention.lapse", s)
    after = dt.timedelta(days=s.lapse_days)
    rows = q.supply_clocks_due(
        session,
        "supply_end",
        at_from=mark.start(now, s.catchup) - after,
        at_to=now - after,
        key_prefix="lapse:order:",
        exclude_openids=s.seller_openids,
    )
    created = _cycle_sweep(session, "lapse", rows, now, s)
    wm.advance(session, mark, now)
    return created


# --- inquiries ------------------------------------------------------------------------------------


def sweep_inquiry_followup(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """Follow-up: an inquiry with no order after ``RETENTION_FOLLOWUP_HOURS``, once."""
    s, now = settings_from(config), naive_utc(now)
    mark = _mark(session, "retention.inquiry_followup", s)
    after = dt.timedelta(hours=s.followup_hours)
    rows = q.inquiries_due(
        session,
        made_from=mark.start(now, s.catchup) - after,
        made_to=now - after,
        key_prefix="followup:inquiry:",
        exclude_openids=s.seller_openids,
    )
    names = q.product_names(session, [r.product_id for r in rows])
    batch = Batch(session, now)
    for due in rows:
        product = names.get(due.product_id) or texts.RETENTION_INQUIRY_PRODUCT_FALLBACK
        text = _render(s, "followup", name=_name(due), product=product)
        batch.add(
            due,
            key=f"followup:inquiry:{due.subject_id}",
            kind="followup",
            text=text,
            payload={"inquiry_id": due.subject_id},
        )
    created = batch.flush()
    wm.advance(session, mark, now)
    return created


# --- greetings ------------------------------------------------------------------------------------


def _with_offer(settings: RetentionSettings, text: str, offer_text: str, due: q.Due) -> str:
    if due.customer_class in settings.offer_classes:
        return text + _render(settings, offer_text)
    return text


def sweep_festivals(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """Festival greetings ``RETENTION_GREETING_LEAD_DAYS`` ahead (seller's timezone), class A with the offer."""
    s, now_utc = settings_from(config), naive_utc(now)
    mark = _mark(session, "retention.festivals", s)
    # The occasions whose whole pool was probed by an earlier tick under this watermark: for
    # them only the customers added since are new (anything else that could make a customer
    # due again, an opt-in or an import, invalidates the watermark).
    probed = set(mark.extra.get("occasions", ())) if mark.valid and mark.at <= now_utc else set()
    added_after = mark.at - wm.OVERLAP if probed else None
    start, end = calendar.greeting_window(_local_today(now, s), s.greeting_lead_days)
    batch = Batch(session, now_utc)
    occasions = []
    for slug in s.festivals:
        for occasion in calendar.festival_occasions(calendar.FESTIVALS_BY_SLUG[slug], start, end):
            prefix = f"festival:{occasion.key_year}-{slug}:customer:"
            occasions.append(prefix)
            for due in q.customers_for_greeting(
                session,
                key_prefix=prefix,
                exclude_openids=s.seller_openids,
                created_after=added_after if prefix in probed else None,
            ):
                text = _with_offer(s, _render(s, f"festival:{slug}", name=_name(due)), "festival_offer", due)
                batch.add(
                    due,
                    key=f"{prefix}{due.customer_id}",
                    kind="festival",
                    text=text,
                    payload={"festival": slug, "date": occasion.date.isoformat()},
                )
    created = batch.flush()
    wm.advance(session, mark, now_utc, {"occasions": occasions})
    return created


def sweep_birthdays(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """Birthday greetings (solar or lunar) ``RETENTION_GREETING_LEAD_DAYS`` ahead, class A with the offer."""
    s, now_utc = settings_from(config), naive_utc(now)
    start, end = calendar.greeting_window(_local_today(now, s), s.greeting_lead_days)
    occasions = {}  # (lunar?, month, day) → (key year, date), for every day of the window
    for day in calendar.date_range(start, end):
        for match in calendar.birthdays_on(day):
            for birthday_day in match.days:
                occasions.setdefault((match.is_lunar, match.month, birthday_day), (match.key_year, day))
    matches: dict[tuple[bool, int, int], list[int]] = {}  # (lunar?, month, key year) → days
    for (lunar, month, day), (key_year, _) in occasions.items():
        matches.setdefault((lunar, month, key_year), []).append(day)
    rows = q.birthdays_due(
        session,
        [
            (lunar, month, days, f"birthday:{key_year}:customer:")
            for (lunar, month, key_year), days in matches.items()
        ],
        exclude_openids=s.seller_openids,
    )
    keyed = []
    for due, lunar, month, day in rows:
        key_year, date = occasions[(lunar, month, day)]
        keyed.append((f"birthday:{key_year}:customer:{due.customer_id}", due, date, lunar))
    known = q.existing_keys(session, [key for key, *_ in keyed])
    batch = Batch(session, now_utc)
    for key, due, date, lunar in keyed:
        if key not in known:
            text = _with_offer(s, _render(s, "birthday", name=_name(due)), "birthday_offer", due)
            batch.add(
                due, key=key, kind="birthday", text=text, payload={"date": date.isoformat(), "lunar": lunar}
            )
    return batch.flush()


# --- win-back -------------------------------------------------------------------------------------


def winback_key(due: q.Due, step: int, settings: RetentionSettings) -> str:
    """``winback:<local date of the last order>:customer:<id>:step:<n>`` — a new order starts a new cycle."""
    start = to_local(due.last_order_at, settings.timezone).date()
    return f"winback:{start.isoformat()}:customer:{due.customer_id}:step:{step}"


def sweep_winback(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """Win-back for sleeping customers: three steps, stopped by any order or reply."""
    s, now = settings_from(config), naive_utc(now)
    mark = _mark(session, "retention.winback", s)
    # Replies since the last tick (all pending win-backs when the watermark does not hold).
    replied_after = mark.at - wm.OVERLAP if mark.valid and mark.at <= now else None
    q.cancel_stopped_winbacks(session, now, replied_after=replied_after)
    offsets = [dt.timedelta(days=days) for days in s.winback_step_days]
    if not offsets:
        return 0
    start = mark.start(now, s.catchup)
    # One query per step over the sleeping clocks that reached that step since ``start``.
    due_steps = [
        (due, step)
        for step, offset in enumerate(offsets, start=1)
        for due in q.sleeping_due(
            session, at_from=start - offset, at_to=now - offset, exclude_openids=s.seller_openids
        )
    ]
    keys = {(due.customer_id, step): winback_key(due, step, s) for due, step in due_steps}
    previous = [winback_key(due, step - 1, s) for due, step in due_steps if step > 1]
    known = q.existing_keys(session, [*keys.values(), *previous])
    sending = []
    for due, step in sorted(due_steps, key=lambda item: item[1]):
        key = keys[(due.customer_id, step)]
        # A step follows only a step that was not withdrawn (a reply or an order stops the sequence).
        if key in known or (
            step > 1 and known.get(winback_key(due, step - 1, s), "cancelled") == "cancelled"
        ):
            continue
        sending.append((due, step, key))
        known[key] = "pending"
    # The products of the messages going out only (not of every sleeper still in the window).
    products = q.last_order_products(session, {due.customer_id for due, _, _ in sending})
    batch = Batch(session, now)
    for due, step, key in sending:
        text = _render(
            s, f"winback_{step}", name=_name(due), products=_products(products.get(due.customer_id))
        )
        batch.add(due, key=key, kind="winback", text=text, payload={"step": step})
    created = batch.flush()
    wm.advance(session, mark, now)
    return created


# --- segments -------------------------------------------------------------------------------------

SEGMENTS_MARKER = "retention:segments:day"
# The highest order id the supply backfill has looked at: it looks only at newer orders.
BACKFILL_MARKER = "retention:backfill:order_id"
# How far back the daily sweep looks for shipped orders without supply clocks.
BACKFILL_DAYS = 400


def sweep_segments(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> int:
    """Recompute stage, class and RFM for the pool once per local day, from ``RETENTION_SEGMENTS_HOUR``.

    The recompute is incremental (``segment_moments.recompute_due``): only the customers whose
    inputs changed or whose stored moment has come (sleeping, lost, an order leaving the 12-month
    window), and those a shift of the pool's RFM or class cut-offs moves; idle days are caught up
    since every moment passed is due. Then the supply clocks of orders
    written without the order hook (imports, data from before retention) are backfilled: every
    order on the first run, afterwards only orders added since (their ids are above the marker;
    orders created or shipped through Huitou get their clocks from the hook). Enqueues nothing.
    """
    s = settings_from(config)
    local = (now if now.tzinfo else now.replace(tzinfo=dt.UTC)).astimezone(s.timezone)
    today = local.date().isoformat()
    marker = session.get(KeyValue, SEGMENTS_MARKER)
    if marker is not None and (marker.value == today or local.hour < s.segments_hour):
        return 0  # done today, or not yet the quiet hour (the first run ever goes at once)
    naive_now = naive_utc(now)
    segment_moments.recompute_due(session, naive_now)
    checked = session.get(KeyValue, BACKFILL_MARKER)
    newest = session.scalar(select(func.max(Order.id))) or 0
    backfill_supply_clocks(
        session,
        shipped_since=naive_now - dt.timedelta(days=BACKFILL_DAYS),
        after_order_id=int(checked.value) if checked is not None and checked.value else None,
    )
    for key, value, row in ((SEGMENTS_MARKER, today, marker), (BACKFILL_MARKER, str(newest), checked)):
        if row is None:
            session.add(KeyValue(key=key, value=value, updated_at=naive_now))
        else:
            row.value, row.updated_at = value, naive_now
    return 0


RETENTION_SWEEPS: tuple[Sweep, ...] = (
    Sweep(
        "retention.segments",
        sweep_segments,
        marketing=False,
        description="recompute stage, A/B/C/D class and RFM once a day",
    ),
    Sweep("retention.experience", sweep_experience, description="2 days after shipping: how to use"),
    Sweep("retention.care", sweep_care, description="mid-supply: how is it going"),
    Sweep("retention.repurchase", sweep_repurchase, description="3 days before the supply runs out"),
    Sweep("retention.lapse", sweep_lapse, description="7 days after run-out without a newer order"),
    Sweep(
        "retention.inquiry_followup",
        sweep_inquiry_followup,
        description="24 h after an inquiry without order",
    ),
    Sweep("retention.festivals", sweep_festivals, description="festival greetings two days ahead"),
    Sweep("retention.birthdays", sweep_birthdays, description="birthday greetings two days ahead"),
    Sweep("retention.winback", sweep_winback, description="three-step win-back for sleeping customers"),
)
