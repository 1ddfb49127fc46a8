"""Drain the outbox: claim due rows, deliver each through its channels, record the outcome.

Claim → send → mark, each its own step:

1. **Claim** (one short transaction): due ``pending`` rows are locked (``FOR UPDATE SKIP LOCKED``
   on PostgreSQL, SQLite's single write lock otherwise) and planned. Rows to skip, postpone or
   draft are resolved right there; rows to send become ``claimed``. Another drainer never sees
   them as due, so several drainers can run at once without double sends.
2. **Send**: each claimed row becomes ``sending`` (a one-row update) just before its first API
   call, then goes through the planned channels in order (service message, template, seller
   draft), outside any transaction, paced by the per-second rate limit.
3. **Mark** (one short transaction per row): ``sent`` only after the API accepted the message
   (its msgid kept in ``api_msgid``), or the next state from the error.

A row still ``sending`` after ``DELIVERY_SENDING_TIMEOUT_SECONDS`` belongs to a drainer that died
during the call: whether WeChat accepted it is unknown, so it is **never resent**; it becomes
``failed`` with ``last_error`` starting ``interrupted`` for a person to check. (If that drainer
was only slow and later learns the API accepted the message, it still records ``sent``.) A row
still ``claimed`` then was never tried (a drainer killed by SIGKILL runs no clean-up): it goes
back to ``pending`` and is sent by the next drain.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from bot.delivery import rules, seller_draft, service_message, template_message, wecom_channel
from bot.delivery.errors import (
    ChannelClosed,
    OutcomeUnknown,
    RateLimited,
    RejectedError,
    TransientError,
    Unreachable,
)
from bot.delivery.rules import Counts, DeliverySettings, Plan, Recipient
from bot.delivery.transport import Transport, make_transport
from storage import kv
from storage.db import Database
from storage.models import Complaint, Customer, OutboxMessage, utcnow

log = logging.getLogger(__name__)

PAUSE_KEY = "delivery:paused_until"
INTERRUPTED = "interrupted while sending (outcome unknown); not resent to avoid a double send"
FINAL_STATUSES = ("sent", "drafted", "skipped", "failed", "cancelled")


@dataclass
class DrainSummary:
    """What one drain did, per kind and outcome (``sent``, ``drafted``, ``skipped:<reason>``,
    ``failed``, ``retry``, ``postponed``, ``paused``, ``interrupted``)."""

    outcomes: Counter = field(default_factory=Counter)
    paused_until: dt.datetime | None = None

    def add(self, kind: str, outcome: str) -> None:
        self.outcomes[(kind, outcome)] += 1

    def total(self, outcome: str) -> int:
        return sum(n for (_, o), n in self.outcomes.items() if o == outcome)

    def to_dict(self) -> dict[str, Any]:
        per_kind: dict[str, dict[str, int]] = {}
        for (kind, outcome), n in sorted(self.outcomes.items()):
            per_kind.setdefault(kind, {})[outcome] = n
        return {"per_kind": per_kind,
                "paused_until": self.paused_until.isoformat() if self.paused_until else None}


@dataclass
class _Job:
    """A claimed row on its way out (plain values: no ORM object crosses transactions)."""

    id: int
    kind: str
    text: str
    transactional: bool
    payload: dict[str, Any]
    channels: tuple[str, ...]
    openid: str | None
    customer_id: int | None
    recipient_customer_id: int | None
    name: str | None


@dataclass
class _Outcome:
    status: str  # sent, drafted, skipped, failed, pending (retry), paused
    channel: str | None = None
    msgid: str | None = None
    error: str | None = None
    skip_reason: str | None = None
    unreachable: str | None = None
    api_calls: int = 0


class RateLimiter:
    """At most ``per_second`` sends per second from this drainer (0 or less: no limit)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if self._next > now:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


# --- planning ------------------------------------------------------------------------------

def _due_rows(session: Session, now: dt.datetime, limit: int | None, lock: bool) -> list[OutboxMessage]:
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.priority, OutboxMessage.next_attempt_at, OutboxMessage.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    if lock:
        stmt = stmt.with_for_update(skip_locked=True, of=OutboxMessage)
    return list(session.scalars(stmt))


def _recipient_customer(session: Session, row: OutboxMessage) -> Customer | None:
    if row.customer_id is not None:
        return session.get(Customer, row.customer_id)
    if row.openid:
        return session.scalar(select(Customer).where(Customer.openid == row.openid))
    return None


def _counts(session: Session, customer: Customer | None, now: dt.datetime, settings: DeliverySettings) -> Counts:
    if customer is None:
        return Counts()
    addressed = [OutboxMessage.customer_id == customer.id]
    if customer.openid:
        addressed.append(OutboxMessage.openid == customer.openid)
    service = 0
    if customer.last_inbound_at is not None:
        service = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(
                or_(*addressed), OutboxMessage.channel == rules.SERVICE,
                OutboxMessage.status.in_(("sent", "sending", "claimed")),
                func.coalesce(OutboxMessage.sent_at, OutboxMessage.updated_at) >= customer.last_inbound_at)) or 0
    since = now - dt.timedelta(days=settings.marketing_cap_days)
    marketing = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.customer_id == customer.id, OutboxMessage.transactional.is_(False),
            OutboxMessage.status.in_(("sent", "sending", "claimed", "drafted", *wecom_channel.IN_FLIGHT)),
            func.coalesce(OutboxMessage.sent_at, OutboxMessage.updated_at) >= since)) or 0
    return Counts(service_in_window=int(service), marketing_recent=int(marketing))


def _recipient(session: Session, row: OutboxMessage, customer: Customer | None) -> Recipient:
    is_customer = row.customer_id is not None
    if customer is None:
        return Recipient(openid=row.openid, is_customer=is_customer)
    open_complaint = False
    if is_customer and not row.transactional:
        open_complaint = session.scalar(select(Complaint.id).where(
            Complaint.customer_id == customer.id, Complaint.status == "open").limit(1)) is not None
    return Recipient(
        openid=row.openid or customer.openid, is_customer=is_customer, opted_out=bool(customer.opted_out),
        subscribed=customer.subscribed is not False, unreachable=bool(customer.unreachable),
        last_inbound_at=customer.last_inbound_at, open_complaint=open_complaint,
    )


class _Planner:
    """Plans rows of one claim, counting what earlier rows of the same claim will use up."""

    def __init__(self, session: Session, now: dt.datetime, settings: DeliverySettings):
        self.session, self.now, self.settings = session, now, settings
        self._counts: dict[int, Counts] = {}

    def plan(self, row: OutboxMessage) -> tuple[Plan, Customer | None]:
        customer = _recipient_customer(self.session, row)
        counts = Counts()
        if customer is not None:
            if customer.id not in self._counts:
                self._counts[customer.id] = _counts(self.session, customer, self.now, self.settings)
            counts = self._counts[customer.id]
        plan = rules.plan_delivery(kind=row.kind, transactional=bool(row.transactional),
                                   recipient=_recipient(self.session, row, customer), counts=counts, now=self.now,
                                   settings=self.settings)
        plan = wecom_channel.route(self.session, row, customer, plan, self.now, self.settings)  # WeCom channels
        if plan.action == "send":
            if plan.channels[0] == rules.SERVICE:
                counts.service_in_window += 1
            if not row.transactional and row.customer_id is not None:
                counts.marketing_recent += 1
        return plan, customer


def describe_plan(plan: Plan) -> str:
    """Short label of a plan for dry runs: ``service``, ``draft``, ``skipped:capped``, ``postponed`` …"""
    if plan.action == "skip":
        return f"skipped:{plan.reason}"
    if plan.action == "postpone":
        return "postponed"
    return plan.channels[0]


def preview_due(session: Session, config: Mapping[str, Any], now: dt.datetime) -> list[dict[str, Any]]:
    """What a drain at ``now`` would do with every due row, without changing anything (dry run)."""
    settings = DeliverySettings.from_config(config)
    planner = _Planner(session, now, settings)
    preview = []
    for row in _due_rows(session, now, None, lock=False):
        plan, _customer = planner.plan(row)
        preview.append({"id": row.id, "kind": row.kind, "dedupe_key": row.dedupe_key,
                        "action": describe_plan(plan), "channels": list(plan.channels),
                        "not_before": plan.not_before.isoformat() if plan.not_before else None})
    return preview


# --- the three steps --------------------------------------------------------------------------

def _claim(database: Database, now: dt.datetime, settings: DeliverySettings,
           summary: DrainSummary) -> tuple[list[_Job], int]:
    """Lock and plan one batch of due rows; returns the rows to send and how many rows were handled."""
    jobs: list[_Job] = []
    with database.session() as session:
        planner = _Planner(session, now, settings)
        rows = _due_rows(session, now, settings.batch_size, lock=True)
        for row in rows:
            plan, customer = planner.plan(row)
            _touch(row, now)
            if plan.action == "skip":
                row.status, row.skip_reason = "skipped", plan.reason
                summary.add(row.kind, f"skipped:{plan.reason}")
            elif plan.action == "postpone":
                row.next_attempt_at = plan.not_before
                summary.add(row.kind, "postponed")
            elif plan.channels[0] in wecom_channel.CHANNELS:  # sent after the drain (wecom_channel.run)
                row.status, row.channel = wecom_channel.QUEUED, plan.channels[0]
                summary.add(row.kind, plan.channels[0])
            elif plan.channels[0] == rules.DRAFT:
                row.status, row.channel = "drafted", rules.DRAFT
                summary.add(row.kind, "drafted")
            else:
                row.status, row.channel = "claimed", plan.channels[0]
                jobs.append(_Job(
                    id=row.id, kind=row.kind, text=row.text, transactional=bool(row.transactional),
                    payload=dict(row.payload or {}), channels=plan.channels,
                    openid=row.openid or (customer.openid if customer else None), customer_id=row.customer_id,
                    recipient_customer_id=customer.id if customer else None,
                    name=customer.display_name if customer else None))
    return jobs, len(rows)


def _send(job: _Job, transport: Transport, limiter: RateLimiter, settings: DeliverySettings) -> _Outcome:
    """Try the planned channels in order until one accepts the message or an error decides."""
    last_error: str | None = None
    rejected = False  # an error other than "window closed / quota spent" happened
    calls = 0
    for channel in job.channels:
        if channel == seller_draft.NAME:
            return _Outcome("drafted", channel=channel, error=last_error, api_calls=calls)
        limiter.wait()
        calls += 1
        try:
            if channel == service_message.NAME:
                msgid = service_message.send(transport, job.openid, job.text)
            else:
                msgid = template_message.send(transport, job.openid, settings.templates[job.kind], kind=job.kind,
                                              text=job.text, values={"name": job.name or "", **job.payload})
            return _Outcome("sent", channel=channel, msgid=msgid, error=last_error, api_calls=calls)
        except ChannelClosed as exc:
            last_error = f"{channel}: {exc}"
        except RejectedError as exc:
            last_error, rejected = f"{channel}: {exc}", True
        except Unreachable as exc:
            error = f"{channel}: {exc}"
            if job.customer_id is not None and job.transactional:
                # The seller can still tell the customer by hand.
                return _Outcome("drafted", channel=rules.DRAFT, error=error, unreachable=str(exc), api_calls=calls)
            return _Outcome("skipped", channel=channel, error=error, skip_reason=rules.UNREACHABLE,
                            unreachable=str(exc), api_calls=calls)
        except RateLimited as exc:
            return _Outcome("paused", channel=channel, error=f"{channel}: {exc}", api_calls=calls)
        except OutcomeUnknown as exc:  # sent, unanswered: WeChat may have it; never sent twice
            return _Outcome("failed", channel=channel, error=f"{channel}: {exc}", api_calls=calls)
        except TransientError as exc:
            return _Outcome("pending", channel=channel, error=f"{channel}: {exc}", api_calls=calls)
    # Only seller notices get here (customer rows always end with the draft channel).
    if rejected:
        return _Outcome("failed", error=last_error, api_calls=calls)
    return _Outcome("skipped", error=last_error, skip_reason=rules.OUT_OF_WINDOW, api_calls=calls)


def _touch(row: OutboxMessage, now: dt.datetime) -> None:
    # Set explicitly: an unchanged value would let the column's onupdate=utcnow (wall clock) win.
    row.updated_at = now
    flag_modified(row, "updated_at")


def _already_unreachable(job: _Job) -> _Outcome:
    """A row for a customer the API refused earlier in this drain: no second call."""
    if job.customer_id is not None and job.transactional:
        return _Outcome("drafted", channel=rules.DRAFT, error="customer unreachable")
    return _Outcome("skipped", skip_reason=rules.UNREACHABLE, error="customer unreachable")


def _mark(database: Database, job: _Job, outcome: _Outcome, now: dt.datetime, settings: DeliverySettings,
          pause_until: dt.datetime | None) -> str:
    """Record ``outcome`` for the claimed row; returns the summary label."""
    with database.session() as session:
        row = session.get(OutboxMessage, job.id, with_for_update=True, populate_existing=True)
        _touch(row, now)
        row.attempts = (row.attempts or 0) + (1 if outcome.api_calls else 0)
        if outcome.error:
            row.last_error = outcome.error[:2000]
        if outcome.unreachable and job.recipient_customer_id is not None:
            customer = session.get(Customer, job.recipient_customer_id)
            customer.unreachable = True
            customer.unreachable_reason = outcome.unreachable[:255]
        label = outcome.status
        if outcome.status == "sent":
            row.status, row.channel, row.sent_at, row.api_msgid = "sent", outcome.channel, now, outcome.msgid
        elif outcome.status == "drafted":
            row.status, row.channel = "drafted", rules.DRAFT
        elif outcome.status == "skipped":
            row.status, row.skip_reason = "skipped", outcome.skip_reason
            label = f"skipped:{outcome.skip_reason}"
        elif outcome.status == "paused":
            # The whole sender waits; this row was not really tried.
            row.status, row.next_attempt_at = "pending", pause_until
            row.attempts -= 1 if outcome.api_calls else 0
        elif outcome.status == "pending":
            if row.attempts >= settings.max_attempts:
                row.status = "failed"
                label = "failed"
            else:
                row.status, row.next_attempt_at = "pending", now + rules.retry_delay(row.attempts, settings)
                label = "retry"
        else:
            row.status = "failed"
        return label


def _release(database: Database, jobs: Iterable[_Job], until: dt.datetime, now: dt.datetime) -> None:
    ids = [job.id for job in jobs]
    if not ids:
        return
    with database.session() as session:
        session.execute(update(OutboxMessage)
                        .where(OutboxMessage.id.in_(ids), OutboxMessage.status.in_(("claimed", "sending")))
                        .values(status="pending", next_attempt_at=until, updated_at=now))


def resolve_interrupted(session: Session, now: dt.datetime, settings: DeliverySettings) -> int:
    """Rows left ``sending`` by a drainer that died: ``failed`` (interrupted), never resent.

    Rows it left ``claimed`` were never tried: they simply become ``pending`` again.
    """
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "claimed", OutboxMessage.updated_at <= now - settings.sending_timeout)
        .values(status="pending", updated_at=now)
    )
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.updated_at <= now - settings.sending_timeout)
        .values(status="failed", last_error=INTERRUPTED, updated_at=now)
    )
    return int(result.rowcount or 0)


def paused_until(session: Session, now: dt.datetime) -> dt.datetime | None:
    value = kv.get_value(session, PAUSE_KEY, now)
    return dt.datetime.fromisoformat(value) if value else None


def drain_outbox(database: Database, config: Mapping[str, Any], now: dt.datetime | None = None, *,
                 transport: Transport | None = None, max_messages: int | None = None,
                 limiter: RateLimiter | None = None) -> DrainSummary:
    """Deliver every row due at ``now`` (naive UTC; default: the live clock). See the module docstring."""
    # A drain "as of" a given moment (ticks in the past or future) uses it throughout; a live drain
    # reads the clock for every batch, so rows claimed late in a long drain never look stale.
    fixed_now = _naive_utc(now) if now is not None else None
    now = fixed_now or utcnow()
    settings = DeliverySettings.from_config(config)
    summary = DrainSummary()
    with database.session() as session:
        interrupted = resolve_interrupted(session, now, settings)
        if interrupted:
            summary.outcomes[("*", "interrupted")] += interrupted
        summary.paused_until = paused_until(session, now)
    if summary.paused_until is not None:
        return summary
    transport = transport or make_transport(config, database)
    limiter = limiter or RateLimiter(settings.rate_per_second)
    handled = 0
    unreachable: set[int] = set()  # customers found unreachable during this drain
    while max_messages is None or handled < max_messages:
        now = fixed_now or utcnow()
        jobs, claimed = _claim(database, now, settings, summary)
        if not claimed:
            break
        for index, job in enumerate(jobs):
            try:
                pause = _deliver_one(database, job, transport, limiter, settings, now, summary, unreachable)
            except BaseException:
                # This row's outcome is unknown (it stays "sending"); the rows not tried yet go back.
                _release_quietly(database, jobs[index + 1:], now, now)
                raise
            handled += 1
            if pause is not None:
                log.warning("WeChat rate limit (45009): delivery paused until %s", pause.isoformat())
                _release(database, jobs[index + 1:], pause, now)
                summary.paused_until = pause
                return summary
    return summary


def _deliver_one(database: Database, job: _Job, transport: Transport, limiter: RateLimiter,
                 settings: DeliverySettings, now: dt.datetime, summary: DrainSummary,
                 unreachable: set[int]) -> dt.datetime | None:
    """Send one claimed row and record the outcome; returns the pause end after a 45009."""
    if job.recipient_customer_id in unreachable:
        outcome = _already_unreachable(job)
    else:
        _start_sending(database, job, now)
        outcome = _send(job, transport, limiter, settings)
    if outcome.unreachable and job.recipient_customer_id is not None:
        unreachable.add(job.recipient_customer_id)
    pause = None
    if outcome.status == "paused":
        pause = now + settings.rate_limit_pause
        with database.session() as session:
            kv.set_value(session, PAUSE_KEY, pause.isoformat(), now, pause)
    summary.add(job.kind, _mark(database, job, outcome, now, settings, pause))
    return pause


def _start_sending(database: Database, job: _Job, now: dt.datetime) -> None:
    """``claimed`` -> ``sending`` right before the first API call: from here on the outcome may be
    unknown if this process dies; until here the row can safely go back to ``pending``."""
    with database.session() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == job.id, OutboxMessage.status == "claimed")
                        .values(status="sending", updated_at=now))


def _release_quietly(database: Database, jobs: list[_Job], until: dt.datetime, now: dt.datetime) -> None:
    try:
        _release(database, jobs, until, now)
    except Exception:  # noqa: BLE001 - the original error matters more; stale rows time out anyway
        log.exception("could not release %d claimed rows", len(jobs))


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
