"""Drain the outbox: claim due rows, deliver each through its channels, record the outcome.

Claim → send → mark, each its own step:

1. **Claim** (one short transaction): due ``pending`` rows are locked (``FOR UPDATE SKIP LOCKED``
   on PostgreSQL, SQLite's single write lock otherwise) and planned. Rows to skip, postpone or
   draft are resolved right there; rows to send become ``claimed`` with this drain's
   ``claim_token`` and ``claimed_at`` = the database's clock. Another drainer never sees them as
   due, so several drainers can run at once without double sends.
2. **Send**: each claimed row becomes ``sending`` (a one-row update, renewing ``claimed_at``) just
   before its first API call, then goes through the planned channels in order (service message,
   subscription notice, template, seller draft), outside any transaction, paced by the per-second
   rate limit. A seller notice no channel can carry becomes ``waiting`` (bot/seller/waiting.py).
3. **Mark** (one short transaction per row): ``sent`` only after the API accepted the message
   (its msgid kept in ``api_msgid``), or the next state from the error.

Every step after the claim (claimed → sending, mark, release) is an ``UPDATE … WHERE id = … AND
claim_token = <mine>`` whose row count is checked: a drainer whose claim was taken over sends
nothing and overwrites nothing (``lost_claim`` in its summary).

A row still ``sending`` ``DELIVERY_SENDING_TIMEOUT_SECONDS`` after its ``claimed_at`` belongs to a
drainer that died during the call: whether WeChat accepted it is unknown, so it is **never
resent**; it becomes ``failed`` with ``last_error`` starting ``interrupted`` for a person to check
(its token stays: if that drainer was only slow and later learns the API accepted the message, it
still records ``sent``). A row still ``claimed`` then was never tried (a drainer killed by SIGKILL
runs no clean-up): it goes back to ``pending`` and is sent by the next drain. Both ages are
measured by the database's clock (``CURRENT_TIMESTAMP``), never by a drain's ``now``: a
``huitou scheduler tick --at`` in the future leaves a live drainer's claims alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import DateTime, and_, case, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.sql.elements import ColumnElement

from bot.delivery import (
    rules,
    seller_draft,
    service_message,
    subscribe_message,
    template_message,
    wecom_channel,
)
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
from storage import consents, kv
from storage.clock import naive_utc
from storage.db import Database
from storage.models import Complaint, Customer, OutboxMessage, utcnow

log = logging.getLogger(__name__)

PAUSE_KEY = "delivery:paused_until"
INTERRUPTED = "interrupted while sending (outcome unknown); not resent to avoid a double send"
FINAL_STATUSES = ("sent", "drafted", "skipped", "failed", "cancelled")


@dataclass
class DrainSummary:
    """What one drain did, per kind and outcome (``sent``, ``drafted``, ``skipped:<reason>``,
    ``failed``, ``retry``, ``postponed``, ``paused``, ``interrupted``, ``waiting`` (a seller notice
    kept for the seller's next message), ``withdrawn`` (a draft that
    gave its marketing slot to a more valuable message), ``lost_claim`` (a row another drainer
    took over: not sent, not marked by this one))."""

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
        return {
            "per_kind": per_kind,
            "paused_until": self.paused_until.isoformat() if self.paused_until else None,
        }


@dataclass
class _Job:
    """A claimed row on its way out (plain values: no ORM object crosses transactions)."""

    id: int
    token: str  # the drain's claim token: every later update is conditional on it
    attempts: int
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
    status: str  # sent, drafted, skipped, failed, pending (retry), paused, waiting (a seller notice)
    channel: str | None = None
    msgid: str | None = None
    error: str | None = None
    skip_reason: str | None = None
    unreachable: str | None = None
    api_calls: int = 0


class RateLimiter:
    """At most ``per_second`` sends per second from this drainer (0 or less: no limit)."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
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


# --- the database's clock -------------------------------------------------------------------


def _db_now(session: Session) -> ColumnElement:
    """The database server's current time as naive UTC (claims are aged by it, never by ``now``)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%f", "now", type_=DateTime)
    return func.timezone("UTC", func.now(), type_=DateTime)


def _db_ago(session: Session, age: dt.timedelta) -> ColumnElement:
    """The database's current time minus ``age`` (naive UTC)."""
    if session.get_bind().dialect.name == "sqlite":
        modifier = f"-{age.total_seconds():.3f} seconds"
        return func.strftime("%Y-%m-%d %H:%M:%f", "now", modifier, type_=DateTime)
    return _db_now(session) - age


# --- planning ------------------------------------------------------------------------------


def _kind_rank() -> ColumnElement:
    return case(rules.MARKETING_RANK, value=OutboxMessage.kind, else_=rules.DEFAULT_MARKETING_RANK)


def _due_rows(session: Session, now: dt.datetime, limit: int | None, lock: bool) -> list[OutboxMessage]:
    # Most valuable first (priority, then the kind's rank: rules.marketing_value), so that within a
    # claim the message that matters most takes a customer's marketing slot.
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.priority, _kind_rank(), OutboxMessage.next_attempt_at, OutboxMessage.id)
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


def _counts(
    session: Session, customer: Customer | None, now: dt.datetime, settings: DeliverySettings
) -> Counts:
    if customer is None:
        return Counts()
    addressed = [OutboxMessage.customer_id == customer.id]
    if customer.openid:
        addressed.append(OutboxMessage.openid == customer.openid)
    service = 0
    if customer.last_inbound_at is not None:
        service = (
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    or_(*addressed),
                    OutboxMessage.channel == rules.SERVICE,
                    OutboxMessage.status.in_(("sent", "sending", "claimed")),
                    func.coalesce(OutboxMessage.sent_at, OutboxMessage.updated_at)
                    >= customer.last_inbound_at,
                )
            )
            or 0
        )
    marketing = (
        session.scalar(
            select(func.count()).select_from(OutboxMessage).where(*_holding_cap(customer.id, now, settings))
        )
        or 0
    )
    return Counts(service_in_window=int(service), marketing_recent=int(marketing))


def _holding_cap(customer_id: int, now: dt.datetime, settings: DeliverySettings) -> list[ColumnElement]:
    """Marketing rows of the customer that use up the cap at ``now``: sent, on their way or drafted
    within the last ``DELIVERY_MARKETING_CAP_DAYS``."""
    since = now - dt.timedelta(days=settings.marketing_cap_days)
    return [
        OutboxMessage.customer_id == customer_id,
        OutboxMessage.transactional.is_(False),
        OutboxMessage.status.in_(("sent", "sending", "claimed", "drafted", *wecom_channel.IN_FLIGHT)),
        func.coalesce(OutboxMessage.sent_at, OutboxMessage.updated_at) >= since,
    ]


def _outranks(row: OutboxMessage) -> ColumnElement:
    """Rows more valuable than ``row`` under the cap (``rules.marketing_value``)."""
    rank = rules.marketing_rank(row.kind)
    return or_(
        OutboxMessage.priority < row.priority,
        and_(OutboxMessage.priority == row.priority, _kind_rank() < rank),
    )


def _recipient(session: Session, row: OutboxMessage, customer: Customer | None) -> Recipient:
    is_customer = row.customer_id is not None
    if customer is None:
        return Recipient(openid=row.openid, is_customer=is_customer)
    open_complaint = False
    if is_customer and not row.transactional:
        open_complaint = (
            session.scalar(
                select(Complaint.id)
                .where(Complaint.customer_id == customer.id, Complaint.status == "open")
                .limit(1)
            )
            is not None
        )
    return Recipient(
        openid=row.openid or customer.openid,
        is_customer=is_customer,
        opted_out=bool(customer.opted_out),
        subscribed=customer.subscribed is not False,
        unreachable=bool(customer.unreachable),
        last_inbound_at=customer.last_inbound_at,
        open_complaint=open_complaint,
    )


class _Planner:
    """Plans rows of one claim, counting what earlier rows of the same claim will use up.

    The marketing cap goes to the most valuable message due in its window, not to whichever came
    first (``rules.marketing_value``): a row that would take the last slot while a more valuable
    one for the same customer is pending and due within ``DELIVERY_MARKETING_CAP_DAYS`` yields
    (``skipped``, ``capped``); a row capped by less valuable seller drafts the seller has not sent
    yet withdraws them (``skipped``, ``capped``, ``last_error`` "withdrawn …") and takes the slot.
    """

    def __init__(self, session: Session, now: dt.datetime, settings: DeliverySettings):
        self.session, self.now, self.settings = session, now, settings
        self._counts: dict[int, Counts] = {}
        self.withdrawn: list[str] = []  # kinds of the drafts withdrawn during this claim

    def _plan(self, row: OutboxMessage, customer: Customer | None, counts: Counts) -> Plan:
        recipient = _recipient(self.session, row, customer)
        spec = self.settings.subscribe_templates.get(row.kind)
        if spec is not None and customer is not None and row.customer_id is not None:  # subscription notices
            recipient = replace(
                recipient,
                subscribe_consent=consents.holds_open(
                    self.session, customer.id, str(spec["template_id"]).strip()
                ),
            )
        return rules.plan_delivery(
            kind=row.kind,
            transactional=bool(row.transactional),
            recipient=recipient,
            counts=counts,
            now=self.now,
            settings=self.settings,
        )

    def plan(self, row: OutboxMessage) -> tuple[Plan, Customer | None]:
        customer = _recipient_customer(self.session, row)
        counts = Counts()
        if customer is not None:
            if customer.id not in self._counts:
                self._counts[customer.id] = _counts(self.session, customer, self.now, self.settings)
            counts = self._counts[customer.id]
        plan = self._plan(row, customer, counts)
        if customer is not None and not row.transactional and row.customer_id is not None:
            if plan.action == "skip" and plan.reason == rules.CAPPED:
                # A freed slot would go to a more valuable pending row anyway: that one withdraws.
                if not self._more_valuable_due(row, customer) and self._withdraw_lesser_drafts(
                    row, customer, counts
                ):
                    plan = self._plan(row, customer, counts)
            elif plan.action == "send" and (
                counts.marketing_recent + self._more_valuable_due(row, customer)
                >= self.settings.marketing_cap
            ):
                plan = Plan("skip", reason=rules.CAPPED)  # yields the slot
        plan = wecom_channel.route(
            self.session, row, customer, plan, self.now, self.settings
        )  # WeCom channels
        if plan.action == "send":
            if plan.channels[0] == rules.SERVICE:
                counts.service_in_window += 1
            if not row.transactional and row.customer_id is not None:
                counts.marketing_recent += 1
        return plan, customer

    def _more_valuable_due(self, row: OutboxMessage, customer: Customer) -> int:
        """How many of the customer's pending marketing rows, due within the cap window, are more
        valuable than ``row`` (rows of this claim already planned are no longer pending)."""
        horizon = self.now + dt.timedelta(days=self.settings.marketing_cap_days)
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.customer_id == customer.id,
                    OutboxMessage.transactional.is_(False),
                    OutboxMessage.status == "pending",
                    OutboxMessage.id != row.id,
                    OutboxMessage.next_attempt_at <= horizon,
                    _outranks(row),
                )
            )
            or 0
        )

    def _withdraw_lesser_drafts(self, row: OutboxMessage, customer: Customer, counts: Counts) -> bool:
        """Withdraw enough of the customer's unsent, less valuable marketing drafts that hold the
        cap for ``row`` to take a slot; True when it now has one. Nothing sent is ever withdrawn."""
        need = counts.marketing_recent - self.settings.marketing_cap + 1
        if need <= 0:
            return False
        mine = rules.marketing_value(row.kind, row.priority)
        drafts = self.session.execute(
            select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.priority).where(
                *_holding_cap(customer.id, self.now, self.settings),
                OutboxMessage.status == "drafted",
                OutboxMessage.channel == rules.DRAFT,
                OutboxMessage.id != row.id,
            )
        ).all()
        lesser = sorted(
            (d for d in drafts if rules.marketing_value(d.kind, d.priority) > mine),
            key=lambda d: (rules.marketing_value(d.kind, d.priority), d.id),
            reverse=True,
        )
        if len(lesser) < need:
            return False  # withdrawing them would not free a slot: leave the seller's list alone
        victims = lesser[:need]
        result = self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([d.id for d in victims]), OutboxMessage.status == "drafted")
            .values(
                status="skipped",
                skip_reason=rules.CAPPED,
                updated_at=self.now,
                last_error=f"withdrawn: its marketing slot went to the more valuable {row.kind} #{row.id}",
            )
            .execution_options(synchronize_session=False)
        )
        withdrawn = int(result.rowcount or 0)
        counts.marketing_recent -= withdrawn
        self.withdrawn.extend(d.kind for d in victims[:withdrawn])
        return counts.marketing_recent < self.settings.marketing_cap


def describe_plan(plan: Plan) -> str:
    """Short label of a plan for dry runs: ``service``, ``draft``, ``skipped:capped``, ``postponed`` …"""
    if plan.action == "skip":
        return f"skipped:{plan.reason}"
    if plan.action == "postpone":
        return "postponed"
    if plan.action == "wait":
        return rules.WAITING
    return plan.channels[0]


def preview_due(session: Session, config: Mapping[str, Any], now: dt.datetime) -> list[dict[str, Any]]:
    """What a drain at ``now`` would do with every due row, without changing anything (dry run)."""
    settings = DeliverySettings.from_config(config)
    planner = _Planner(session, now, settings)
    preview = []
    for row in _due_rows(session, now, None, lock=False):
        plan, _customer = planner.plan(row)
        preview.append(
            {
                "id": row.id,
                "kind": row.kind,
                "dedupe_key": row.dedupe_key,
                "action": describe_plan(plan),
                "channels": list(plan.channels),
                "not_before": plan.not_before.isoformat() if plan.not_before else None,
            }
        )
    return preview


# --- the three steps --------------------------------------------------------------------------


def _claim(
    database: Database, token: str, now: dt.datetime, settings: DeliverySettings, summary: DrainSummary
) -> tuple[list[_Job], int]:
    """Lock and plan one batch of due rows; returns the rows to send and how many rows were handled."""
    jobs: list[_Job] = []
    with database.session() as session:
        planner = _Planner(session, now, settings)
        rows = _due_rows(session, now, settings.batch_size, lock=True)
        claimed_at = _db_now(session)
        for row in rows:
            plan, customer = planner.plan(row)
            _touch(row, now)
            if plan.action == "skip":
                row.status, row.skip_reason = "skipped", plan.reason
                summary.add(row.kind, f"skipped:{plan.reason}")
            elif plan.action == "postpone":
                row.next_attempt_at = plan.not_before
                summary.add(row.kind, "postponed")
            elif plan.action == "wait":  # a seller notice: goes with the seller's next message
                row.status = rules.WAITING
                summary.add(row.kind, rules.WAITING)
            elif plan.channels[0] in wecom_channel.CHANNELS:  # sent after the drain (wecom_channel.run)
                row.status, row.channel = wecom_channel.QUEUED, plan.channels[0]
                summary.add(row.kind, plan.channels[0])
            elif plan.channels[0] == rules.DRAFT:
                row.status, row.channel = "drafted", rules.DRAFT
                summary.add(row.kind, "drafted")
            else:
                row.status, row.channel = "claimed", plan.channels[0]
                row.claim_token, row.claimed_at = token, claimed_at
                jobs.append(
                    _Job(
                        id=row.id,
                        token=token,
                        attempts=int(row.attempts or 0),
                        kind=row.kind,
                        text=row.text,
                        transactional=bool(row.transactional),
                        payload=dict(row.payload or {}),
                        channels=plan.channels,
                        openid=row.openid or (customer.openid if customer else None),
                        customer_id=row.customer_id,
                        recipient_customer_id=customer.id if customer else None,
                        name=customer.display_name if customer else None,
                    )
                )
        for kind in planner.withdrawn:
            summary.add(kind, "withdrawn")
    return jobs, len(rows)


def _send(
    job: _Job,
    transport: Transport,
    limiter: RateLimiter,
    settings: DeliverySettings,
    database: Database | None = None,
    now: dt.datetime | None = None,
) -> _Outcome:
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
            elif channel == subscribe_message.NAME:
                msgid = subscribe_message.send(
                    database,
                    transport,
                    outbox_id=job.id,
                    customer_id=job.recipient_customer_id,
                    openid=job.openid,
                    kind=job.kind,
                    spec=settings.subscribe_templates[job.kind],
                    text=job.text,
                    values={"name": job.name or "", **job.payload},
                    now=now or utcnow(),
                )
            else:
                msgid = template_message.send(
                    transport,
                    job.openid,
                    settings.templates[job.kind],
                    kind=job.kind,
                    text=job.text,
                    values={"name": job.name or "", **job.payload},
                )
            return _Outcome("sent", channel=channel, msgid=msgid, error=last_error, api_calls=calls)
        except ChannelClosed as exc:
            last_error = f"{channel}: {exc}"
        except RejectedError as exc:
            last_error, rejected = f"{channel}: {exc}", True
        except Unreachable as exc:
            error = f"{channel}: {exc}"
            if job.customer_id is not None and job.transactional:
                # The seller can still tell the customer by hand.
                return _Outcome(
                    "drafted", channel=rules.DRAFT, error=error, unreachable=str(exc), api_calls=calls
                )
            return _Outcome(
                "skipped",
                channel=channel,
                error=error,
                skip_reason=rules.UNREACHABLE,
                unreachable=str(exc),
                api_calls=calls,
            )
        except RateLimited as exc:
            return _Outcome("paused", channel=channel, error=f"{channel}: {exc}", api_calls=calls)
        except OutcomeUnknown as exc:  # sent, unanswered: WeChat may have it; never sent twice
            return _Outcome("failed", channel=channel, error=f"{channel}: {exc}", api_calls=calls)
        except TransientError as exc:
            return _Outcome("pending", channel=channel, error=f"{channel}: {exc}", api_calls=calls)
    # Only seller notices get here (customer rows always end with the draft channel).
    if rejected:
        return _Outcome("failed", error=last_error, api_calls=calls)
    # The window closed after all: the notice waits for the seller's next message.
    return _Outcome(rules.WAITING, error=last_error, api_calls=calls)


def _touch(row: OutboxMessage, now: dt.datetime) -> None:
    # Set explicitly: an unchanged value would let the column's onupdate=utcnow (wall clock) win.
    row.updated_at = now
    flag_modified(row, "updated_at")


def _already_unreachable(job: _Job) -> _Outcome:
    """A row for a customer the API refused earlier in this drain: no second call."""
    if job.customer_id is not None and job.transactional:
        return _Outcome("drafted", channel=rules.DRAFT, error="customer unreachable")
    return _Outcome("skipped", skip_reason=rules.UNREACHABLE, error="customer unreachable")


def _owned(job: _Job) -> list[ColumnElement]:
    """The row is still ``job``'s: its drain's token, and not settled by anyone else meanwhile
    (a row another drain declared interrupted stays its owner's to correct)."""
    return [
        OutboxMessage.id == job.id,
        OutboxMessage.claim_token == job.token,
        or_(
            OutboxMessage.status.in_(("claimed", "sending")),
            and_(OutboxMessage.status == "failed", OutboxMessage.last_error == INTERRUPTED),
        ),
    ]


def _mark(
    database: Database,
    job: _Job,
    outcome: _Outcome,
    now: dt.datetime,
    settings: DeliverySettings,
    pause_until: dt.datetime | None,
) -> str:
    """Record ``outcome`` for the claimed row; returns the summary label (``lost_claim`` when the
    row is no longer this drain's: then nothing is written)."""
    attempts = job.attempts + (1 if outcome.api_calls else 0)
    values: dict[str, Any] = {"updated_at": now, "attempts": attempts}
    if outcome.error:
        values["last_error"] = outcome.error[:2000]
    released = {"claim_token": None, "claimed_at": None}
    label = outcome.status
    if outcome.status == "sent":
        values.update(status="sent", channel=outcome.channel, sent_at=now, api_msgid=outcome.msgid)
    elif outcome.status == "drafted":
        values.update(status="drafted", channel=rules.DRAFT)
    elif outcome.status == "skipped":
        values.update(status="skipped", skip_reason=outcome.skip_reason)
        label = f"skipped:{outcome.skip_reason}"
    elif outcome.status == rules.WAITING:
        values.update(status=rules.WAITING, **released)
    elif outcome.status == "paused":
        # The whole sender waits; this row was not really tried.
        values.update(status="pending", next_attempt_at=pause_until, attempts=job.attempts, **released)
    elif outcome.status == "pending":
        if attempts >= settings.max_attempts:
            values["status"] = "failed"
            label = "failed"
        else:
            values.update(
                status="pending", next_attempt_at=now + rules.retry_delay(attempts, settings), **released
            )
            label = "retry"
    else:
        values["status"] = "failed"
    with database.session() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(*_owned(job))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            log.warning(
                "outbox row %s was taken over by another drain; its outcome (%s) is not recorded",
                job.id,
                outcome.status,
            )
            return "lost_claim"
        if outcome.unreachable and job.recipient_customer_id is not None:
            customer = session.get(Customer, job.recipient_customer_id)
            customer.unreachable = True
            customer.unreachable_reason = outcome.unreachable[:255]
        return label


def _release(database: Database, jobs: Iterable[_Job], until: dt.datetime, now: dt.datetime) -> None:
    """Rows this drain claimed but did not try go back to ``pending`` (only while still its own)."""
    jobs = list(jobs)
    if not jobs:
        return
    with database.session() as session:
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_([job.id for job in jobs]),
                OutboxMessage.claim_token == jobs[0].token,
                OutboxMessage.status == "claimed",
            )
            .values(
                status="pending", next_attempt_at=until, updated_at=now, claim_token=None, claimed_at=None
            )
            .execution_options(synchronize_session=False)
        )


def resolve_interrupted(session: Session, now: dt.datetime, settings: DeliverySettings) -> int:
    """Rows left ``sending`` by a drainer that died: ``failed`` (interrupted), never resent.

    Rows it left ``claimed`` were never tried: they simply become ``pending`` again. "Left" means
    ``claimed_at`` is ``DELIVERY_SENDING_TIMEOUT_SECONDS`` old by the database's clock; ``now``
    (which a tick may set in the future) only stamps ``updated_at``.
    """
    cutoff = _db_ago(session, settings.sending_timeout)
    stale = or_(OutboxMessage.claimed_at.is_(None), OutboxMessage.claimed_at <= cutoff)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "claimed", stale)
        .values(status="pending", updated_at=now, claim_token=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", stale)
        .values(status="failed", last_error=INTERRUPTED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def paused_until(session: Session, now: dt.datetime) -> dt.datetime | None:
    value = kv.get_value(session, PAUSE_KEY, now)
    return dt.datetime.fromisoformat(value) if value else None


def drain_outbox(
    database: Database,
    config: Mapping[str, Any],
    now: dt.datetime | None = None,
    *,
    transport: Transport | None = None,
    max_messages: int | None = None,
    limiter: RateLimiter | None = None,
) -> DrainSummary:
    """Deliver every row due at ``now`` (naive UTC; default: the live clock). See the module docstring."""
    # A drain "as of" a given moment (ticks in the past or future) uses it throughout; a live drain
    # reads the clock for every batch, so rows claimed late in a long drain never look stale.
    fixed_now = naive_utc(now) if now is not None else None
    now = fixed_now or utcnow()
    settings = DeliverySettings.from_config(config)
    summary = DrainSummary()
    token = uuid.uuid4().hex  # this drain's claims
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
        jobs, claimed = _claim(database, token, now, settings, summary)
        if not claimed:
            break
        for index, job in enumerate(jobs):
            try:
                pause = _deliver_one(database, job, transport, limiter, settings, now, summary, unreachable)
            except BaseException:
                # This row's outcome is unknown (it stays "sending"); the rows not tried yet go back.
                _release_quietly(database, jobs[index + 1 :], now, now)
                raise
            handled += 1
            if pause is not None:
                log.warning("WeChat rate limit (45009): delivery paused until %s", pause.isoformat())
                _release(database, jobs[index + 1 :], pause, now)
                summary.paused_until = pause
                return summary
    return summary


def _deliver_one(
    database: Database,
    job: _Job,
    transport: Transport,
    limiter: RateLimiter,
    settings: DeliverySettings,
    now: dt.datetime,
    summary: DrainSummary,
    unreachable: set[int],
) -> dt.datetime | None:
    """Send one claimed row and record the outcome; returns the pause end after a 45009."""
    if job.recipient_customer_id in unreachable:
        outcome = _already_unreachable(job)
    elif not _start_sending(database, job, now):
        log.warning("outbox row %s was taken over by another drain: not sent by this one", job.id)
        summary.add(job.kind, "lost_claim")
        return None
    else:
        outcome = _send(job, transport, limiter, settings, database, now)
    if outcome.unreachable and job.recipient_customer_id is not None:
        unreachable.add(job.recipient_customer_id)
    pause = None
    if outcome.status == "paused":
        pause = now + settings.rate_limit_pause
        with database.session() as session:
            kv.set_value(session, PAUSE_KEY, pause.isoformat(), now, pause)
    summary.add(job.kind, _mark(database, job, outcome, now, settings, pause))
    return pause


def _start_sending(database: Database, job: _Job, now: dt.datetime) -> bool:
    """``claimed`` -> ``sending`` right before the first API call: from here on the outcome may be
    unknown if this process dies; until here the row can safely go back to ``pending``. False when
    the row is no longer this drain's (its claim went stale and another drain took it over)."""
    with database.session() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == job.id,
                OutboxMessage.claim_token == job.token,
                OutboxMessage.status == "claimed",
            )
            .values(status="sending", updated_at=now, claimed_at=_db_now(session))
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1


def _release_quietly(database: Database, jobs: list[_Job], until: dt.datetime, now: dt.datetime) -> None:
    try:
        _release(database, jobs, until, now)
    except Exception:  # noqa: BLE001 - the original error matters more; stale rows time out anyway
        log.exception("could not release %d claimed rows", len(jobs))
