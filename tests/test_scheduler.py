"""The scheduler: transactional sweeps, ``run_tick``, ``huitou scheduler tick``, one leader."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine

from app import create_app
from scheduler import registry
from scheduler.leader import Leadership
from scheduler.runner import JOB_ID, build_scheduler, leader_tick
from scheduler.tick import run_tick
from storage.db import Database, get_db
from storage.models import Order
from storage.orders import transition
from tests.clock import wall_clock_utc
from tests.conftest import SELLER_OPENID
from tests.delivery_helpers import add_customer, one, outbox, place_order, ship_new_order

NOW = dt.datetime(2026, 11, 23, 4, 0)  # naive UTC = 12:00 in Shanghai


def customer(db, openid="o_customer_001", inbound=NOW - dt.timedelta(hours=1)) -> int:
    return add_customer(db, openid, NOW - dt.timedelta(days=30), last_inbound_at=inbound)


# --- payment reminders ---------------------------------------------------------------------------


def test_an_unpaid_order_gets_one_reminder_after_the_delay(app, db):
    order_id = place_order(db, customer(db), NOW)

    assert run_tick(app, at=NOW + dt.timedelta(hours=11, minutes=59)).sweeps["payment_reminders"] == 0
    assert run_tick(app, at=NOW + dt.timedelta(hours=12)).sweeps["payment_reminders"] == 1
    assert run_tick(app, at=NOW + dt.timedelta(hours=13)).sweeps["payment_reminders"] == 0

    row = one(db, "payment_reminder")
    assert row.dedupe_key == f"payment-reminder:order:{order_id}"
    assert row.transactional and row.status == "sent" and row.channel == "service"
    assert f"#{order_id}" in row.text and "¥198" in row.text and "面膜×2" in row.text


def test_the_reminder_delay_is_configurable(app, db):
    app.config["PAYMENT_REMINDER_DELAY_HOURS"] = "2"
    place_order(db, customer(db), NOW)
    assert run_tick(app, at=NOW + dt.timedelta(hours=2)).sweeps["payment_reminders"] == 1


def test_paid_cancelled_and_ancient_orders_get_no_reminder(app, db):
    customer_id = customer(db)
    paid, cancelled = place_order(db, customer_id, NOW), place_order(db, customer_id, NOW)
    place_order(db, customer_id, NOW - dt.timedelta(days=30))
    with db.session() as s:
        transition(s, s.get(Order, paid), "pay", actor="test", now=NOW)
        transition(s, s.get(Order, cancelled), "cancel", actor="test", now=NOW)
    assert run_tick(app, at=NOW + dt.timedelta(hours=12)).sweeps["payment_reminders"] == 0
    assert not outbox(db, "payment_reminder")


def test_paying_withdraws_a_reminder_not_yet_sent(app, db):
    order_id = place_order(db, customer(db, inbound=None), NOW)
    app.config["DELIVERY_QUIET_HOURS"] = "off"
    with db.session() as s:  # the reminder is queued but not delivered yet (dry-run-free: just the sweep)
        registry_sweep = next(s_ for s_ in registry.SWEEPS if s_.name == "payment_reminders")
        registry_sweep.run(s, (NOW + dt.timedelta(hours=12)).replace(tzinfo=dt.UTC), app.config)
    with db.session() as s:
        transition(
            s, s.get(Order, order_id), "pay", actor="test", now=NOW + dt.timedelta(hours=12, minutes=1)
        )
    run_tick(app, at=NOW + dt.timedelta(hours=12, minutes=2))
    row = one(db, "payment_reminder")
    assert (row.status, row.skip_reason) == ("cancelled", "order_pay")


def test_shipping_notices_catch_up_after_downtime_and_stay_single(app, db):
    order_id = ship_new_order(db, customer(db), NOW)
    with db.session() as s:  # as if the notice had never been queued (e.g. an import marked it shipped)
        s.delete(s.get(registry_row_type(), one(db, "ship").id))
    summary = run_tick(app, at=NOW + dt.timedelta(days=1))
    assert summary.sweeps["shipping_notices"] == 1
    run_tick(app, at=NOW + dt.timedelta(days=1, minutes=5))
    row = one(db, "ship")
    assert row.dedupe_key == f"ship:order:{order_id}" and row.status == "sent"


def registry_row_type():
    from storage.models import OutboxMessage

    return OutboxMessage


# --- run_tick ------------------------------------------------------------------------------------


def _broken_sweep(session, now, config):
    raise RuntimeError("boom")


def test_a_failing_sweep_is_reported_and_the_others_still_run(app, db, monkeypatch):
    monkeypatch.setattr(registry, "SWEEPS", [registry.Sweep("broken", _broken_sweep), *registry.SWEEPS])
    monkeypatch.setattr("scheduler.tick.SWEEPS", registry.SWEEPS)
    ship_new_order(db, customer(db), NOW)
    summary = run_tick(app, at=NOW)
    assert summary.errors == {"broken": "RuntimeError: boom"}
    assert summary.sweeps["payment_reminders"] == 0
    assert one(db, "ship").status == "sent"


def test_run_tick_runs_for_an_app_built_from_a_config_mapping(app_config, db):
    # The scheduler is given an app (it never builds one: scheduler/ does not import app.py).
    ship_new_order(db, customer(db), NOW)
    other = create_app(app_config)
    try:
        summary = run_tick(other, at=NOW.replace(tzinfo=dt.UTC))
    finally:
        get_db(other).dispose()
    assert summary.at == NOW and summary.drain.total("sent") == 1


def test_a_dry_run_changes_nothing(app, db):
    place_order(db, customer(db), NOW)
    ship_new_order(db, customer(db, "o_customer_002", inbound=None), NOW)
    summary = run_tick(app, at=NOW + dt.timedelta(hours=12), dry_run=True)
    assert summary.sweeps["payment_reminders"] == 1
    assert summary.would_send() == {"payment_reminder": {"service": 1}, "ship": {"draft": 1}}
    assert [(r.kind, r.status) for r in outbox(db)] == [("ship", "pending")]


# --- command line --------------------------------------------------------------------------------


def test_cli_tick_dry_run_lists_what_would_go_out(runner, db):
    place_order(db, customer(db), NOW)
    result = runner.invoke(args=["scheduler", "tick", "--at", "2026-11-24T09:00", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Tick at 2026-11-24 09:00 (Asia/Shanghai) - dry run" in result.output
    assert "payment_reminders +1" in result.output
    assert "payment_reminder: service 1" in result.output  # the customer wrote 22 hours before
    assert not outbox(db)


def test_cli_tick_json_and_a_real_run(runner, db):
    ship_new_order(db, customer(db), NOW)
    result = runner.invoke(args=["scheduler", "tick", "--at", "2026-11-23T04:05:00+00:00", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["at"] == "2026-11-23T04:05:00" and data["dry_run"] is False
    assert data["drain"]["per_kind"] == {"ship": {"sent": 1}}
    assert one(db, "ship").api_msgid.startswith("sandbox:")


def test_cli_rejects_a_bad_moment(runner):
    result = runner.invoke(args=["scheduler", "tick", "--at", "tomorrow"])
    assert result.exit_code == 2 and "not an ISO date-time" in result.output


def test_cli_preview_shows_quiet_hours(runner, db):
    customer_id = customer(db, inbound=dt.datetime(2026, 11, 24, 14, 0))
    from storage.outbox import enqueue

    with db.session() as s:
        enqueue(
            s,
            dedupe_key="repurchase:order:1",
            kind="repurchase",
            text="该补货啦",
            customer_id=customer_id,
            now=NOW,
        )
    result = runner.invoke(args=["scheduler", "tick", "--at", "2026-11-24T22:30", "--dry-run"])
    assert "repurchase: postponed 1" in result.output
    result = runner.invoke(args=["scheduler", "tick", "--at", "2026-11-25T09:00", "--dry-run"])
    assert "repurchase: service 1" in result.output


# --- one leader ----------------------------------------------------------------------------------


def test_only_one_scheduler_leads(database_url):
    first_db, second_db = Database(database_url), Database(database_url)
    first, second = Leadership(first_db, lease_seconds=60), Leadership(second_db, lease_seconds=60)
    try:
        assert first.ensure(NOW)
        assert not second.ensure(NOW)
        assert first.ensure(NOW + dt.timedelta(seconds=30))  # renewal
        first.release()
        assert second.ensure(NOW + dt.timedelta(seconds=31))
        assert not first.ensure(NOW + dt.timedelta(seconds=32))
    finally:
        first.release()
        second.release()
        first_db.dispose()
        second_db.dispose()


def test_a_dead_leaders_lease_expires(database_url):
    first_db, second_db = Database(database_url), Database(database_url)
    first, second = Leadership(first_db, lease_seconds=60), Leadership(second_db, lease_seconds=60)
    try:
        assert first.ensure(NOW)
        if first.uses_advisory_lock:
            first._connection.invalidate()  # PostgreSQL: the lock dies with the leader's connection
            assert second.ensure(NOW)
        else:
            assert not second.ensure(NOW + dt.timedelta(seconds=59))
            assert second.ensure(NOW + dt.timedelta(seconds=61))
    finally:
        second.release()
        first_db.dispose()
        second_db.dispose()


def test_the_scheduled_job_ticks_only_while_leading(app, db):
    app.config["SCHEDULER_INTERVAL_SECONDS"] = 120
    scheduler, leadership = build_scheduler(app, background=True)
    job = scheduler.get_job(JOB_ID)
    assert job.func is leader_tick and job.trigger.interval == dt.timedelta(seconds=120)
    assert job.max_instances == 1 and job.coalesce

    # The job ticks on the live clock: put the live clock an hour after the customer's last message,
    # so the 48-hour window is open whatever today's date is.
    with time_machine.travel((NOW + dt.timedelta(hours=1)).replace(tzinfo=dt.UTC), tick=False):
        ship_new_order(db, customer(db), NOW)
        rival = Leadership(db, lease_seconds=60)
        assert rival.ensure()
        leader_tick(app, leadership)
        assert one(db, "ship").status == "pending"
        rival.release()
        leader_tick(app, leadership)
        assert one(db, "ship").status == "sent"
        leadership.release()


@pytest.mark.parametrize("name", ["shipping_notices", "payment_reminders", "draft_digest"])
def test_transactional_sweeps_are_registered(name):
    sweep = next(s for s in registry.SWEEPS if s.name == name)
    assert sweep.marketing is False and sweep.description


def test_the_seller_digest_goes_to_every_seller(app, db):
    app.config["SELLER_OPENIDS"] = [SELLER_OPENID, "o_seller_002"]
    ship_new_order(db, customer(db, inbound=None), NOW)
    run_tick(app, at=NOW)
    summary = run_tick(app, at=NOW + dt.timedelta(minutes=5))
    assert summary.sweeps["draft_digest"] == 2
    assert {r.openid for r in outbox(db, "draft_digest")} == {SELLER_OPENID, "o_seller_002"}


# --- the real command, two processes -----------------------------------------------------------------


@pytest.mark.slow
def test_two_scheduler_processes_elect_one_leader(database_url, db, tmp_path):
    import os
    import queue
    import subprocess
    import sys
    import threading
    from pathlib import Path

    # The subprocesses tick on the machine's real clock (time-machine does not reach them): the
    # customer wrote an hour before that clock, so the 48-hour window is open on any date.
    wall_now = wall_clock_utc()
    ship_new_order(db, customer(db, inbound=wall_now - dt.timedelta(hours=1)), wall_now)
    env = {
        **os.environ,
        "HUITOU_DATABASE_URL": database_url,
        "HUITOU_SCHEDULER_INTERVAL_SECONDS": "1",
        "HUITOU_AUTO_MIGRATE": "false",
        "HUITOU_SECRET_KEY": "test",
        "PYTHONUNBUFFERED": "1",
        "WECHAT_TOKEN": "test-token",
    }
    for name in ("WECHAT_APP_ID", "WECHAT_APP_SECRET"):
        env.pop(name, None)
    root = Path(__file__).resolve().parent.parent
    lines: queue.Queue = queue.Queue()
    procs = []
    for n in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-c", "import app; app.main()", "scheduler"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        threading.Thread(
            target=lambda p=proc, n=n: [lines.put((n, line)) for line in p.stderr], daemon=True
        ).start()
    seen: dict[int, set[str]] = {0: set(), 1: set()}
    try:
        while not (seen[0] and seen[1] and any("tick" in s for s in seen.values())):
            n, line = lines.get(timeout=60)
            if "tick: sweeps" in line:
                seen[n].add("tick")
            elif "another scheduler is the leader" in line:
                seen[n].add("wait")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    assert sorted(tuple(sorted(s)) for s in seen.values()) == [("tick",), ("wait",)]
    assert one(db, "ship").status == "sent"


# --- the leader lease on SQLite: short, renewed, released on SIGTERM -------------------------------


class SchedulerProcess:
    """``huitou scheduler`` in a subprocess; ``wait_for(text)`` reads its log until a line has ``text``."""

    def __init__(self, database_url: str, **settings: str):
        import os
        import queue
        import subprocess
        import sys
        import threading
        from pathlib import Path

        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("HUITOU_", "WECHAT_"))},
            "HUITOU_DATABASE_URL": database_url,
            "HUITOU_AUTO_MIGRATE": "false",
            "HUITOU_SECRET_KEY": "test",
            "WECHAT_TOKEN": "test-token",
            "PYTHONUNBUFFERED": "1",
            **{f"HUITOU_{k}": v for k, v in settings.items()},
        }
        root = Path(__file__).resolve().parent.parent
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import app; app.main()", "scheduler"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(
            target=lambda: [self.lines.put(line) for line in self.proc.stderr], daemon=True
        ).start()

    def wait_for(self, text: str, timeout: float = 60) -> list[str]:
        import queue
        import time

        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout} s; saw {seen[-5:]}") from None
            seen.append(line)
            if text in line:
                return seen

    def stop(self, signum=None) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signum or signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.mark.slow
def test_a_scheduler_stopped_with_sigterm_hands_over_at_once(database_url, db):
    import signal

    if db.engine.dialect.name != "sqlite":
        pytest.skip("the lease is SQLite's; PostgreSQL's advisory lock dies with the connection")
    # A long lease: if SIGTERM did not release it, the standby would wait ten minutes.
    first = SchedulerProcess(database_url, SCHEDULER_INTERVAL_SECONDS="1", SCHEDULER_LEASE_SECONDS="600")
    second = None
    try:
        first.wait_for("tick: sweeps")
        second = SchedulerProcess(database_url, SCHEDULER_INTERVAL_SECONDS="1", SCHEDULER_LEASE_SECONDS="600")
        second.wait_for("another scheduler is the leader")
        assert first.stop(signal.SIGTERM) == 0
        assert any("leadership released" in line for line in first.wait_for("leadership released", timeout=5))
        second.wait_for("tick: sweeps", timeout=10)  # its next tick, a second later
    finally:
        first.stop()
        if second is not None:
            second.stop()


@pytest.mark.slow
def test_the_leader_renews_its_short_lease_between_ticks(database_url, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the lease is SQLite's; PostgreSQL's advisory lock dies with the connection")
    # Ticks 30 s apart, a 1.5 s lease: only the renewing thread keeps the leader in place.
    leader = SchedulerProcess(database_url, SCHEDULER_INTERVAL_SECONDS="30", SCHEDULER_LEASE_SECONDS="1.5")
    standby = None
    try:
        leader.wait_for("tick: sweeps")
        standby = SchedulerProcess(
            database_url, SCHEDULER_INTERVAL_SECONDS="1", SCHEDULER_LEASE_SECONDS="1.5"
        )
        for _ in range(5):  # five standby ticks over more than three lease lengths: still waiting
            lines = standby.wait_for("another scheduler is the leader")
            assert not any("tick: sweeps" in line for line in lines)
    finally:
        leader.stop()
        if standby is not None:
            standby.stop()
