"""Faults at the outbound side: a scheduler process SIGKILLed in the middle of a drain, an API
that hangs past the client's timeout, and a mixed bag of failures over many messages.

What must hold whatever happens: every outbox row ends sent, drafted, skipped or failed with a
reason; a message the API accepted is never sent again; a message the API never received is not
lost. The fake API's request log (``tests/fake_wechat_api.py``) is the witness.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select, text, update

from bot.delivery.transport import make_client
from scheduler.tick import run_tick
from storage.customers import get_or_create_by_openid
from storage.db import Database
from storage.models import Customer, OutboxMessage
from storage.outbox import enqueue
from tests.clock import wall_clock_utc
from tests.conftest import FAKE_APP_SECRET
from tests.delivery_helpers import TEMPLATES, add_customer, outbox, ship_new_order
from tests.fake_wechat_api import FakeWeChatAPI
from tests.live_server import ROOT, stop_process_group
from tests.wechat_platform import AES_KEY, APP_ID, TOKEN

SEND = "message/custom/send"


class HoldingFakeAPI(FakeWeChatAPI):
    """The fake API, but the ``hold_at``-th request on ``path`` (a send by default) waits
    (unanswered) until ``release()``."""

    def __init__(self, *args, hold_at: int, path: str = SEND, **kwargs):
        super().__init__(*args, **kwargs)
        self.hold_at = hold_at
        self.path = path
        self.held = threading.Event()
        self._release = threading.Event()
        self._sends = 0
        self._count_lock = threading.Lock()

    def release(self) -> None:
        self._release.set()

    def _handle(self, handler, body):
        if handler.path.split("?")[0].endswith(self.path):
            with self._count_lock:
                self._sends += 1
                mine = self._sends
            if mine == self.hold_at:
                self.held.set()
                self._release.wait(60)
                with contextlib.suppress(OSError):  # the sender may be dead by now
                    super()._handle(handler, body)
                return
        super()._handle(handler, body)


class SlowFakeAPI(FakeWeChatAPI):
    """The fake API, able to accept a send but answer it late (after the client gave up)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._late: list[float] = []
        self._local = threading.local()
        self.late_answered = threading.Event()

    def answer_late(self, seconds: float) -> None:
        """The next send is accepted (whatever failures are programmed), but answered after ``seconds``."""
        self._late.append(seconds)

    def _handle(self, handler, body):
        if self._late and handler.path.split("?")[0].endswith(SEND):
            delay = self._late.pop(0)
            threading.Event().wait(delay)  # the platform being slow, in the server's own thread
            self._local.accept = True
            try:
                with contextlib.suppress(OSError):  # the client has hung up by now
                    super()._handle(handler, body)
            finally:
                self._local.accept = False
                self.late_answered.set()
            return
        super()._handle(handler, body)

    def _answer(self, path, params, body):
        if getattr(self._local, "accept", False):  # bypass the programmed failures for this one
            failures, every_other = self._failures.pop(path, None), self._every_other.pop(path, None)
            try:
                return super()._answer(path, params, body)
            finally:
                if failures is not None:
                    self._failures[path] = failures
                if every_other is not None:
                    self._every_other[path] = every_other
        return super()._answer(path, params, body)


def _process_env(database_url: str, api: FakeWeChatAPI, settings: dict) -> dict:
    return dict(
        os.environ,
        HUITOU_DATABASE_URL=database_url,
        HUITOU_AUTO_MIGRATE="false",
        HUITOU_SECRET_KEY="test-secret",
        WECHAT_TOKEN=TOKEN,
        WECHAT_ENCODING_AES_KEY=AES_KEY,
        WECHAT_APP_ID=APP_ID,
        WECHAT_APP_SECRET=FAKE_APP_SECRET,
        WECHAT_API_BASE_URL=api.base_url,
        HUITOU_DELIVERY_TEMPLATES=TEMPLATES,
        HUITOU_DELIVERY_RATE_PER_SECOND="0",
        PYTHONPATH=str(ROOT),
        **{f"HUITOU_{k}": str(v) for k, v in settings.items()},
    )


def scheduler_process(database_url: str, api: FakeWeChatAPI, **settings) -> subprocess.Popen:
    """``huitou scheduler`` (the foreground APScheduler loop) as its own process."""
    return subprocess.Popen(
        [sys.executable, "-c", "import app; app.main()", "scheduler"],
        env=_process_env(database_url, api, settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def tick_process(database_url: str, api: FakeWeChatAPI, at: dt.datetime, **settings) -> subprocess.Popen:
    """``huitou scheduler tick --at <at> --json`` (``at`` naive UTC) as its own process."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import app; app.main()",
            "scheduler",
            "tick",
            "--json",
            "--at",
            at.replace(tzinfo=dt.UTC).isoformat(),
        ],
        env=_process_env(database_url, api, settings),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def finished_tick(process: subprocess.Popen) -> dict:
    """Wait for a ``tick_process`` and return its drain summary (``per_kind``)."""
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    return json.loads(out)["drain"]["per_kind"]


def wait_until(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the scheduler")
        time.sleep(0.05)  # polling another process, not simulating time


@pytest.mark.slow
def test_scheduler_killed_mid_drain_then_restarted_loses_nothing_and_sends_nothing_twice(db, database_url):
    now = wall_clock_utc()  # the schedulers are subprocesses on the machine's real clock
    customers = {
        f"o_killed_{n:02d}": add_customer(
            db, f"o_killed_{n:02d}", now - dt.timedelta(days=30), last_inbound_at=now - dt.timedelta(hours=1)
        )
        for n in range(12)
    }
    for customer_id in customers.values():
        ship_new_order(db, customer_id, now)
    api = HoldingFakeAPI(appid=APP_ID, secret=FAKE_APP_SECRET, hold_at=5).start()
    # Short lease and sending timeout so the restarted scheduler takes over within seconds.
    settings = {
        "SCHEDULER_INTERVAL_SECONDS": "1",
        "SCHEDULER_LEASE_SECONDS": "1",
        "DELIVERY_SENDING_TIMEOUT_SECONDS": "1",
    }
    try:
        first = scheduler_process(database_url, api, **settings)
        try:
            wait_until(lambda: api.held.is_set() or first.poll() is not None)
            assert api.held.is_set(), first.stderr.read().decode()
            os.killpg(first.pid, signal.SIGKILL)  # mid-call: the 5th message is on the wire
            first.wait(30)
        finally:
            stop_process_group(first)
        api.release()  # the platform accepts the 5th message, but its sender is dead

        second = scheduler_process(database_url, api, **settings)
        try:
            wait_until(
                lambda: all(r.status not in ("pending", "claimed", "sending") for r in outbox(db, "ship"))
            )
        finally:
            stop_process_group(second)
    finally:
        api.stop()

    rows = outbox(db, "ship")
    accepted = Counter(call.body["touser"] for call in api.accepted())
    seen = {call.body["touser"] for call in api.calls(SEND)}
    assert len(rows) == 12
    assert all(n == 1 for n in accepted.values()), accepted  # nothing the API accepted went twice
    for row in rows:
        openid = next(o for o, cid in customers.items() if cid == row.customer_id)
        if openid in seen:
            # The API saw it: sent, or (the call the kill interrupted) failed with the reason.
            assert row.status == "sent" or (
                row.status == "failed" and row.last_error.startswith("interrupted")
            ), (openid, row.status, row.last_error)
        else:
            pytest.fail(f"{openid}: the API never received it, yet it ended {row.status} ({row.last_error})")
    assert sum(r.status == "sent" for r in rows) >= 11


NOW = dt.datetime(2026, 11, 23, 4, 0)  # naive UTC: noon in Shanghai


def _claimed_and_held(
    db, database_url, prefix: str
) -> tuple[dict[str, int], HoldingFakeAPI, subprocess.Popen]:
    """Four shipping notices; drainer A (a ``tick`` process) has claimed all of them and hangs in
    the API call of the first one (the fake API holds it until ``release()``)."""
    customers = {
        f"{prefix}_{n}": add_customer(
            db, f"{prefix}_{n}", NOW - dt.timedelta(days=30), last_inbound_at=NOW - dt.timedelta(hours=1)
        )
        for n in range(4)
    }
    for customer_id in customers.values():
        ship_new_order(db, customer_id, NOW)
    api = HoldingFakeAPI(appid=APP_ID, secret=FAKE_APP_SECRET, hold_at=1).start()
    first = tick_process(database_url, api, NOW, DELIVERY_HTTP_TIMEOUT_SECONDS=90)
    try:
        wait_until(lambda: api.held.is_set() or first.poll() is not None)
        assert api.held.is_set(), first.stderr.read().decode()
        assert sorted(r.status for r in outbox(db, "ship")) == ["claimed"] * 3 + ["sending"]
    except BaseException:
        stop_process_group(first)
        api.stop()
        raise
    return customers, api, first


@pytest.mark.slow
def test_a_tick_run_ahead_of_time_leaves_another_drainers_claims_alone(db, database_url):
    customers, api, first = _claimed_and_held(db, database_url, "o_ahead")
    try:
        # Ten minutes ahead (past DELIVERY_SENDING_TIMEOUT_SECONDS by its own clock): A is alive and
        # its claims are minutes old by the database's clock, so this drain must not touch them.
        ahead = finished_tick(tick_process(database_url, api, NOW + dt.timedelta(minutes=10)))
        assert "ship" not in ahead and "*" not in ahead, ahead
        api.release()
        mine = finished_tick(first)
    finally:
        stop_process_group(first)
        api.stop()

    assert mine["ship"] == {"sent": 4}
    accepted = Counter(call.body["touser"] for call in api.accepted())
    assert accepted == {openid: 1 for openid in customers}  # each message accepted exactly once
    assert {r.status for r in outbox(db, "ship")} == {"sent"}


@pytest.mark.slow
def test_a_drainer_that_lost_its_claims_neither_sends_nor_overwrites_them(db, database_url):
    customers, api, first = _claimed_and_held(db, database_url, "o_lost")
    try:
        with db.session() as s:  # A's claims went stale (as if A had hung for longer than the lease)
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "claimed")
                .values(claimed_at=dt.datetime(2000, 1, 1))
            )
        other = finished_tick(tick_process(database_url, api, NOW))
        assert other["ship"] == {"sent": 3}  # B took the three stale claims over and sent them
        api.release()
        mine = finished_tick(first)
    finally:
        stop_process_group(first)
        api.stop()

    assert mine["ship"] == {"sent": 1, "lost_claim": 3}  # A sent only the one it was sending
    accepted = Counter(call.body["touser"] for call in api.accepted())
    assert accepted == {openid: 1 for openid in customers}
    rows = outbox(db, "ship")
    assert {r.status for r in rows} == {"sent"}
    assert len({r.claim_token for r in rows}) == 2  # A's row and B's three, each marked by its owner


@pytest.fixture
def flaky_api():
    api = SlowFakeAPI(appid=APP_ID, secret=FAKE_APP_SECRET).start()
    yield api
    api.stop()


def test_whatever_the_api_does_every_message_ends_settled_and_none_goes_twice(app, db, flaky_api):
    app.config.update(
        {
            "WECHAT_APP_SECRET": FAKE_APP_SECRET,
            "WECHAT_API_BASE_URL": flaky_api.base_url,
            "DELIVERY_RATE_PER_SECOND": 0,
            "DELIVERY_TEMPLATES": TEMPLATES,
            "DELIVERY_HTTP_TIMEOUT_SECONDS": 0.3,
        }
    )
    openids = {}
    for n in range(16):
        window = dt.timedelta(hours=1 if n < 10 else 60)  # ten inside the 48 h window, six outside
        openids[
            add_customer(db, f"o_flaky_{n:02d}", NOW - dt.timedelta(days=30), last_inbound_at=NOW - window)
        ] = f"o_flaky_{n:02d}"
    for customer_id in openids:
        ship_new_order(db, customer_id, NOW)
    with db.session() as s:  # marketing too: a service message inside the window, a draft outside
        for customer_id in list(openids)[8:12]:
            enqueue(
                s,
                dedupe_key=f"repurchase:customer:{customer_id}",
                kind="repurchase",
                text="面膜快用完了吧？",
                customer_id=customer_id,
                now=NOW,
            )

    flaky_api.fail_every_other(SEND)  # system busy (-1) half the time
    flaky_api.fail(SEND, http=502)
    flaky_api.fail(SEND, http=503)
    flaky_api.fail(SEND, 45015)  # window closed after all: the template channel instead
    flaky_api.fail(SEND, 45009)  # rate limited: the whole sender pauses
    flaky_api.fail("message/template/send", 45009)
    flaky_api.answer_late(1.0)  # accepted, but after the client's 0.3 s timeout
    at = NOW
    for step in range(40):
        if step == 2:
            flaky_api.expire_tokens()  # 40001 on the next call: refreshed once, retried
        run_tick(app, at=at)
        if not any(r.status in ("pending", "sending") for r in outbox(db)):
            break
        at += dt.timedelta(minutes=5)

    assert flaky_api.late_answered.wait(30)  # the late acceptance is in the log before we judge
    rows = outbox(db)
    for row in rows:
        # A seller notice for a seller who never wrote waits for their first message (bot/seller/waiting.py).
        settled = ("sent", "drafted", "skipped", "failed") + (("waiting",) if row.customer_id is None else ())
        assert row.status in settled, (row.dedupe_key, row.status)
        if row.status == "skipped":
            assert row.skip_reason, row.dedupe_key
        if row.status == "failed":
            assert row.last_error, row.dedupe_key

    def message_of(call) -> tuple[str, str]:
        content = call.body.get("text", {}).get("content", "")
        return call.body["touser"], "repurchase" if content == "面膜快用完了吧？" else "ship"

    accepted = Counter(
        message_of(call) for call in flaky_api.accepted() if call.body["touser"] in openids.values()
    )
    assert all(n == 1 for n in accepted.values()), accepted  # nothing went twice
    rows = [r for r in rows if r.kind in ("ship", "repurchase")]
    assert len(rows) == 20
    for row in rows:
        got = accepted[(openids[row.customer_id], row.kind)]
        if row.status == "sent":
            assert got == 1, row.dedupe_key
        elif row.status != "failed":  # a failure may be "outcome unknown"; nothing else reached WeChat
            assert got == 0, (row.dedupe_key, row.status)
    late = next(r for r in rows if openids[r.customer_id] == "o_flaky_00" and r.kind == "ship")
    assert late.status == "failed" and "timeout" in late.last_error  # accepted late: not resent, not "sent"
    assert sum(r.status == "sent" for r in rows) >= 14


# --- the access-token refresh holds no write lock -----------------------------------------------------


@pytest.fixture
def token_held_api():
    """The fake API, holding the first access-token request unanswered until ``release()``."""
    api = HoldingFakeAPI(appid=APP_ID, secret=FAKE_APP_SECRET, hold_at=1, path="stable_token").start()
    yield api
    api.release()
    api.stop()


def _sending_in_thread(client, openid: str, results: list) -> threading.Thread:
    def send():
        try:
            results.append(client.send_text(openid, "你好"))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            results.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _token_config(app, api) -> dict:
    app.config.update(
        {
            "WECHAT_APP_SECRET": FAKE_APP_SECRET,
            "WECHAT_API_BASE_URL": api.base_url,
            "DELIVERY_HTTP_TIMEOUT_SECONDS": 60,
        }
    )
    return app.config


def test_a_token_refresh_hung_in_the_api_blocks_no_writer(app, database_url, token_held_api):
    refresher = Database(database_url)
    results: list = []
    thread = _sending_in_thread(make_client(_token_config(app, token_held_api), refresher), "o_a", results)
    try:
        assert token_held_api.held.wait(30)
        # A webhook worker writes meanwhile; with a short busy timeout it would fail with
        # "database is locked" if the refresh held SQLite's write lock during the HTTP call.
        writer = Database(database_url, sqlite_busy_timeout=0.5)
        try:
            with writer.session() as s:
                customer, _ = get_or_create_by_openid(s, "o_writer", NOW)
                customer.name = "李四"
            if not writer.is_sqlite:  # no transaction is left open across the HTTP call either
                with writer.engine.connect() as conn:
                    assert (
                        conn.scalar(
                            text(
                                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                "AND state LIKE 'idle in transaction%'"
                            )
                        )
                        == 0
                    )
        finally:
            writer.dispose()
        assert not results  # the refresh is still waiting for the API
    finally:
        token_held_api.release()
        thread.join(60)
        refresher.dispose()
    assert results == [None]  # sent (custom messages have no msgid)
    assert len(token_held_api.token_calls) == 1 and len(token_held_api.accepted()) == 1
    with Database(database_url).read_session() as s:
        assert s.scalar(select(Customer.name).where(Customer.openid == "o_writer")) == "李四"


def test_a_refresh_waiting_for_another_processes_refresh_fetches_no_second_token(
    app, database_url, token_held_api
):
    config = _token_config(app, token_held_api)
    first, second = Database(database_url), Database(database_url)
    results_a: list = []
    results_b: list = []
    thread_a = _sending_in_thread(make_client(config, first), "o_a", results_a)
    try:
        assert token_held_api.held.wait(30)
        thread_b = _sending_in_thread(make_client(config, second), "o_b", results_b)
        if not first.is_sqlite:  # B is queued on the refresh lock, not in a transaction
            with first.engine.connect() as conn:
                wait_until(
                    lambda: (
                        conn.scalar(
                            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                        )
                        == 1
                    )
                )
        assert not token_held_api.token_calls  # (A's is logged once answered) B asked for none of its own
    finally:
        token_held_api.release()
        thread_a.join(60)
    thread_b.join(60)
    first.dispose()
    second.dispose()
    assert results_a == results_b == [None]
    assert len(token_held_api.token_calls) == 1  # one token for all processes
    assert len({c.params["access_token"] for c in token_held_api.accepted()}) == 1
    assert len(token_held_api.accepted()) == 2
