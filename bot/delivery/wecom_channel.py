"""The WeCom channels of delivery: seller notices through the app, marketing through mass-send tasks.

The drain plans every row as usual (``bot.delivery.rules``); :func:`route` then hands over

* seller notices addressed to a member (``wecom:<userid>``, see ``bot.wecom_events``) to the app
  (``message/send``: no window, always allowed) — channel ``wecom_app``;
* marketing rows whose only channel left is the seller draft, for customers linked on WeCom and
  within the platform's per-customer limit, to a mass-send task — channel ``wecom``.

Handed-over rows wait as ``wecom_queued``. After each drain, :func:`run` (a job in
``scheduler.registry.AFTER_DRAIN``) sends the app notices, batches the queued marketing rows into
as few tasks as possible (``externalcontact/add_msg_template``: one per member and text; the
customer's name is replaced so that many customers share one text), tells each member how many
tasks wait for a tap, and polls open tasks (``get_groupmsg_task``, ``get_groupmsg_send_result``):
status 1 → ``sent``; 2 (not a friend) → the contact is gone and the row goes back to the drain
for its next channel; 3 (already received one) → postponed a day; a task not confirmed within
``WECOM_TASK_CONFIRM_DAYS`` is withdrawn and its rows become seller drafts. Nothing is dropped
without a reason.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import texts
from bot.delivery import rules
from bot.delivery.errors import DeliveryError, OutcomeUnknown, TransientError
from bot.delivery.wecom_client import is_configured, make_client
from bot.delivery.wecom_members import WecomSettings, expire_welcomes, notify_members
from storage import wecom as store
from storage.db import Database
from storage.models import Customer, OutboxMessage, WecomContact, WecomTask, WecomTaskRecipient

log = logging.getLogger(__name__)

WECOM_TASK = "wecom"
WECOM_APP = "wecom_app"
CHANNELS = (WECOM_TASK, WECOM_APP)
QUEUED = store.QUEUED
IN_FLIGHT = (store.QUEUED, store.IN_TASK)  # count towards the marketing cap like "claimed"
MEMBER_PREFIX = "wecom:"


def period_start(now: dt.datetime, settings: WecomSettings, timezone: Any) -> tuple[dt.datetime, int]:
    """The naive-UTC start of the limit's current period (seller's time) and the limit in it."""
    local = now.replace(tzinfo=dt.UTC).astimezone(timezone)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if settings.period == "day":
        start, default = day, 1
    elif settings.period == "week":
        start, default = day - dt.timedelta(days=day.weekday()), 7
    else:
        start, default = day.replace(day=1), calendar.monthrange(day.year, day.month)[1]
    limit = settings.limit if settings.limit is not None else default
    return start.astimezone(dt.UTC).replace(tzinfo=None), limit


def _member(openid: str | None) -> str | None:
    return openid.removeprefix(MEMBER_PREFIX) if openid and openid.startswith(MEMBER_PREFIX) else None


def route(
    session: Session,
    row: OutboxMessage,
    customer: Customer | None,
    plan: rules.Plan,
    now: dt.datetime,
    settings: rules.DeliverySettings,
) -> rules.Plan:
    """The drain's plan, with the WeCom channels put in where they apply (see the module docstring)."""
    w: WecomSettings | None = getattr(settings, "wecom", None)
    if w is None or not w.enabled:
        return plan
    if row.customer_id is None:
        member = _member(row.openid)
        if member is not None:
            return (
                rules.Plan("send", channels=(WECOM_APP,))
                if w.app_enabled
                else rules.Plan("skip", reason="wecom_app_not_configured")
            )
        if plan.action == "wait" and w.app_enabled and w.members:
            # The same notice goes to the members through the app, which stays first: the Official
            # Account copy does not also wait for the seller's next message there.
            return rules.Plan("skip", reason=rules.OUT_OF_WINDOW)
        return plan
    if (
        plan.action != "send"
        or row.transactional
        or customer is None
        or plan.channels[0] != rules.DRAFT
        or (row.payload or {}).get("wecom_skip")
    ):
        return plan
    if store.active_contact(session, customer.id) is None:
        return plan
    since, limit = period_start(now, w, settings.timezone)
    if store.mass_messages_since(session, customer.id, since) >= limit:
        return plan  # the platform would refuse: the row goes on to the draft
    return rules.Plan("send", channels=(WECOM_TASK, rules.DRAFT))


# --- after the drain ---------------------------------------------------------------------------


def shareable_text(row: OutboxMessage, customer: Customer | None) -> str:
    """The row's text with the customer's name replaced, so that many customers can share one task."""
    text = row.text
    for name in (customer.name, customer.nickname) if customer is not None else ():
        if name and name in text:
            return text.replace(name, texts.WECOM_NAME_PLACEHOLDER, 1)
    return text


def run(
    database: Database, config: Mapping[str, Any], now: dt.datetime, client: Any = None
) -> dict[str, int]:
    """One pass over WeCom's side of delivery; returns counts for the tick summary."""

    summary: dict[str, int] = defaultdict(int)
    with database.session() as session:
        summary["welcomes_expired"] = expire_welcomes(session, now)
    if not is_configured(config):
        return dict(summary)
    settings = WecomSettings.from_config(config)
    client = client or make_client(config, database)
    _create_tasks(database, client, settings, now, summary)
    _poll_tasks(database, client, settings, now, summary)
    _send_app_notices(database, client, config, now, summary)
    return dict(summary)


def _send_app_notices(
    database: Database, client: Any, config: Mapping[str, Any], now: dt.datetime, summary: dict[str, int]
) -> None:
    max_attempts = max(1, int(config.get("DELIVERY_MAX_ATTEMPTS", 5)))
    with database.session() as session:
        rows = [(r.id, r.status, r.openid, r.text) for r in store.app_notices_due(session, now)]
    for row_id, status, openid, text in rows:
        with database.session() as session:
            claimed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.status == status)
                .values(status="sending", channel=WECOM_APP, updated_at=now)
            ).rowcount
        if not claimed:
            continue
        status, error, msgid = "sent", None, None
        try:
            msgid = client.send_app_text([_member(openid)], text)
        except OutcomeUnknown as exc:
            status, error = "failed", f"{WECOM_APP}: {exc}"
        except TransientError as exc:
            status, error = "retry", f"{WECOM_APP}: {exc}"
        except DeliveryError as exc:
            status, error = "failed", f"{WECOM_APP}: {exc}"
        with database.session() as session:
            row = session.get(OutboxMessage, row_id, with_for_update=True, populate_existing=True)
            row.attempts, row.updated_at = (row.attempts or 0) + 1, now
            if error:
                row.last_error = error[:2000]
            if status == "sent":
                row.status, row.sent_at, row.api_msgid = "sent", now, msgid
            elif status == "retry" and row.attempts < max_attempts:
                row.status, row.next_attempt_at = QUEUED, now + dt.timedelta(minutes=5 * row.attempts)
            else:
                row.status = "failed"
        summary[f"app_{'sent' if status == 'sent' else status}"] += 1


def _create_tasks(
    database: Database, client: Any, settings: WecomSettings, now: dt.datetime, summary: dict[str, int]
) -> None:

    groups: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    with database.session() as session:
        for row in store.queued_rows(session, WECOM_TASK, limit=10_000):
            customer = session.get(Customer, row.customer_id)
            contact = store.active_contact(session, row.customer_id) if customer is not None else None
            if contact is None:  # gone since the drain planned it: back to the drain, WeCom left out
                _back_to_drain(row, now, "wecom contact gone before the task")
                continue
            groups[(contact.userid, shareable_text(row, customer))].append(
                (row.id, row.customer_id, contact.external_userid)
            )
    per_member: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (sender, text), grouped in groups.items():
        with database.session() as session:
            # Claimed with the task in one transaction: a row is carried by one task only.
            claimed = set(
                session.scalars(
                    select(OutboxMessage.id)
                    .where(
                        OutboxMessage.id.in_([oid for oid, _, _ in grouped]), OutboxMessage.status == QUEUED
                    )
                    .with_for_update(skip_locked=True)
                )
            )
            members = [m for m in grouped if m[0] in claimed]
            if not members:
                continue
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(claimed))
                .values(status=store.IN_TASK, updated_at=now)
            )
            task = WecomTask(sender=sender, text=text, status="open", created_at=now)
            session.add(task)
            session.flush()
            task_id = task.id
            session.add_all(
                WecomTaskRecipient(task_id=task_id, outbox_id=oid, customer_id=cid, external_userid=ext)
                for oid, cid, ext in members
            )
        try:
            result = client.add_msg_template(sender, sorted({ext for _, _, ext in members}), text)
        except (TransientError, DeliveryError) as exc:
            unknown = isinstance(exc, OutcomeUnknown)
            with database.session() as session:
                task = session.get(WecomTask, task_id)
                task.status, task.finished_at = "failed", now
                for oid, _, _ in members:
                    row = session.get(OutboxMessage, oid)
                    row.last_error = f"{WECOM_TASK}: {exc}"[:2000]
                    if unknown:  # WeCom may hold the task: never offered twice
                        row.status = "failed"
                    elif isinstance(exc, TransientError):
                        row.status = QUEUED  # the next pass tries again
                    else:
                        _back_to_drain(row, now, f"{WECOM_TASK}: {exc}", skip_wecom=True)
            summary["tasks_failed"] += 1
            continue
        failed = set(result.get("fail_list") or [])
        with database.session() as session:
            session.get(WecomTask, task_id).msgid = str(result.get("msgid") or "") or None
            for recipient in store.task_recipients(session, task_id):
                if recipient.external_userid in failed:
                    _not_a_friend(session, recipient, sender, now)
        summary["tasks_created"] += 1
        counts = per_member[sender]
        counts[0] += 1
        counts[1] += len(members) - sum(1 for _, _, ext in members if ext in failed)
    if per_member:
        with database.session() as session:
            for sender, (tasks, customers) in per_member.items():
                notify_members(
                    session,
                    f"wecom-tasks:{now.isoformat(timespec='seconds')}",
                    texts.SELLER_WECOM_TASKS_WAITING.format(
                        tasks=tasks, customers=customers, days=settings.confirm_days
                    ),
                    [sender],
                    now,
                )


def _back_to_drain(row: OutboxMessage, now: dt.datetime, reason: str, *, skip_wecom: bool = False) -> None:
    row.status, row.channel, row.next_attempt_at, row.updated_at = "pending", None, now, now
    row.last_error = reason[:2000]
    if skip_wecom:
        row.payload = {**(row.payload or {}), "wecom_skip": True}


def _not_a_friend(session: Session, recipient: WecomTaskRecipient, sender: str, now: dt.datetime) -> None:
    recipient.status = "not_friend"
    contact: WecomContact | None = store.get_contact(session, recipient.external_userid, sender)
    if contact is not None:
        store.mark_gone(session, contact, "not_friend", now)
    _back_to_drain(
        session.get(OutboxMessage, recipient.outbox_id), now, "wecom: not a friend of the member (2)"
    )


def _poll_tasks(
    database: Database, client: Any, settings: WecomSettings, now: dt.datetime, summary: dict[str, int]
) -> None:
    with database.read_session() as session:
        tasks = [(t.id, t.msgid, t.sender, t.created_at, t.confirmed_at) for t in store.open_tasks(session)]
    deadline = now - dt.timedelta(days=settings.confirm_days)
    for task_id, msgid, sender, created_at, confirmed_at in tasks:
        if not msgid:
            continue
        try:
            confirmed = confirmed_at is not None or _member_sent(client.get_groupmsg_task(msgid), sender)
            results = _results(client, msgid, sender) if confirmed else {}
        except DeliveryError as exc:
            log.warning("polling WeCom task %s failed: %s", task_id, exc)
            summary["polls_failed"] += 1
            continue
        with database.session() as session:
            task = session.get(WecomTask, task_id, with_for_update=True, populate_existing=True)
            task.checked_at = now
            if not confirmed:
                if created_at <= deadline:
                    _expire(session, client, task, now, settings)
                    summary["tasks_expired"] += 1
                continue
            task.confirmed_at = task.confirmed_at or now
            waiting = 0
            for recipient in store.task_recipients(session, task_id):
                if recipient.status != "waiting":
                    continue
                status = results.get(recipient.external_userid, 0)
                row = session.get(OutboxMessage, recipient.outbox_id)
                if status == 1:
                    recipient.status = "sent"
                    row.status, row.channel, row.sent_at, row.api_msgid, row.updated_at = (
                        "sent",
                        WECOM_TASK,
                        now,
                        msgid,
                        now,
                    )
                    row.attempts = (row.attempts or 0) + 1
                    summary["sent"] += 1
                elif status == 2:
                    _not_a_friend(session, recipient, sender, now)
                    summary["not_friend"] += 1
                elif status == 3:
                    recipient.status = "limited"
                    _back_to_drain(row, now, "wecom: the customer already received a mass message (3)")
                    row.next_attempt_at = now + dt.timedelta(days=1)
                    summary["postponed"] += 1
                else:
                    waiting += 1
            if not waiting:
                task.status, task.finished_at = "done", now


def _member_sent(answer: Mapping[str, Any], sender: str) -> bool:
    return any(
        t.get("userid") == sender and int(t.get("status") or 0) == 2 for t in answer.get("task_list") or []
    )


def _results(client: Any, msgid: str, sender: str) -> dict[str, int]:
    results: dict[str, int] = {}
    cursor = None
    for _ in range(100):  # bounded: 1000 a page
        answer = client.get_groupmsg_send_result(msgid, sender, cursor)
        for item in answer.get("send_list") or []:
            results[str(item.get("external_userid"))] = int(item.get("status") or 0)
        cursor = answer.get("next_cursor")
        if not cursor:
            break
    return results


def _expire(
    session: Session, client: Any, task: WecomTask, now: dt.datetime, settings: WecomSettings
) -> None:
    """Not confirmed in time: withdraw the task (so a late tap cannot double the draft) and draft its rows."""
    try:
        client.cancel_groupmsg_send(task.msgid)
    except DeliveryError as exc:
        log.warning("cancelling WeCom task %s failed: %s", task.id, exc)
    task.status, task.finished_at = "expired", now
    for recipient in store.task_recipients(session, task.id):
        if recipient.status != "waiting":
            continue
        recipient.status = "expired"
        row = session.get(OutboxMessage, recipient.outbox_id)
        row.status, row.channel, row.updated_at = "drafted", rules.DRAFT, now
        row.last_error = f"wecom: task not confirmed within {settings.confirm_days} days"
