"""Faults at the webhook: several gunicorn workers racing on one message, the database going away.

The racing test runs the real thing (gunicorn workers in a subprocess, over HTTP). The outage
tests hold SQLite's write lock past the busy timeout, or cut PostgreSQL off behind a TCP gate:
the platform still gets an answer (a reply asking to resend), nothing is stored or acknowledged as
stored, and the same message delivered again after recovery is processed exactly once.
"""

from __future__ import annotations

import secrets
import socket
import sqlite3
import threading
import time

import pytest
import requests
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from app import create_app
from bot import texts
from storage.db import Database, get_db, is_sqlite
from storage.models import Customer, InboundMessage, Order, OutboxMessage, Product
from tests.clock import wall_clock_seconds
from tests.live_server import PRODUCTION_OPTIONS, GunicornServer, TcpGate
from tests.wechat_platform import TOKEN, WeChatPlatform, sign

ORDER_TEXT = "要两盒面膜 张三 13800138000 广东省深圳市南山区科技园路1号"


def counts(url: str, *models) -> tuple[int, ...]:
    database = Database(url)
    try:
        with database.read_session() as s:
            return tuple(s.scalar(select(func.count()).select_from(m)) for m in models)
    finally:
        database.dispose()


def add_mask_product(url: str) -> None:
    database = Database(url)
    try:
        with database.session() as s:
            s.add(Product(name="补水面膜", aliases="面膜", price_cents=9900, usage_days=30))
    finally:
        database.dispose()


@pytest.mark.slow
def test_same_message_racing_in_several_gunicorn_workers_makes_one_order(database_url):
    add_mask_product(database_url)
    with GunicornServer(database_url, workers=3) as server:
        xml = WeChatPlatform.text_xml("o_racer", ORDER_TEXT, msg_id=7_000_000_001)
        barrier = threading.Barrier(8)
        replies: list = []

        def deliver():
            platform = WeChatPlatform(server.client(), mode="safe")
            barrier.wait()
            replies.append(platform.post_xml(xml))

        threads = [threading.Thread(target=deliver) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

        assert [r.status for r in replies] == [200] * 8
        assert len({r.text for r in replies}) == 1
        assert "#1" in replies[0].text and texts.SYSTEM_BUSY not in replies[0].text
        # A retry minutes later still gets the same answer, and still one order.
        again = WeChatPlatform(server.client(), mode="safe").post_xml(xml)
        assert again.text == replies[0].text
    assert counts(database_url, InboundMessage, Customer, Order) == (1, 1, 1)


def _assert_outage_answer(reply) -> None:
    assert reply.status == 200
    assert reply.text == texts.SYSTEM_BUSY


def test_sqlite_locked_past_busy_timeout_asks_to_resend_then_processes_once(app_config, database_url):
    if not is_sqlite(database_url):
        pytest.skip("SQLite's write lock")
    app_config["SQLITE_BUSY_TIMEOUT_SECONDS"] = 0.2
    app = create_app(app_config)
    platform = WeChatPlatform(app.test_client(), mode="safe")
    xml = platform.text_xml("o_locked_out", ORDER_TEXT, msg_id=7_000_000_002)

    blocker = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holding the lock (a long import, a stuck job)
    try:
        _assert_outage_answer(platform.post_xml(xml))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert counts(database_url, InboundMessage, Customer) == (0, 0)

    first = platform.post_xml(xml)  # the customer resends / the platform retries
    assert first.status == 200 and first.text and first.text != texts.SYSTEM_BUSY
    assert platform.post_xml(xml).body == first.body
    assert counts(database_url, InboundMessage, Customer) == (1, 1)
    get_db(app).dispose()


def test_postgresql_gone_for_a_moment_asks_to_resend_then_processes_once(app_config, database_url):
    if is_sqlite(database_url):
        pytest.skip("PostgreSQL connection loss")
    url = make_url(database_url)
    gate = TcpGate(url.host or "127.0.0.1", url.port or 5432)
    gate.open()
    app_config["DATABASE_URL"] = url.set(host="127.0.0.1", port=gate.port).render_as_string(
        hide_password=False
    )
    app = create_app(app_config)
    platform = WeChatPlatform(app.test_client(), mode="safe")
    try:
        before = platform.post_text("o_outage", "你好")  # a pooled connection now exists
        assert before.text and before.text != texts.SYSTEM_BUSY

        gate.shut()  # the server goes away: pooled connection cut, new ones refused
        xml = platform.text_xml("o_outage", ORDER_TEXT, msg_id=7_000_000_003)
        _assert_outage_answer(platform.post_xml(xml))
        _assert_outage_answer(platform.post_xml(xml))

        gate.open()  # back on the same address
        first = platform.post_xml(xml)
        assert first.status == 200 and first.text and first.text != texts.SYSTEM_BUSY
        assert platform.post_xml(xml).body == first.body
    finally:
        get_db(app).dispose()
        gate.shut()
    assert counts(database_url, InboundMessage, Customer) == (2, 1)
    database = Database(database_url)
    with database.read_session() as s:
        keys = s.scalars(select(InboundMessage.msg_key)).all()
    database.dispose()
    assert "msg:7000000003" in keys


CONTACT_TEXT = "张三 13800138000 广东省深圳市南山区科技园路1号"


@pytest.mark.slow
def test_one_customers_two_messages_racing_in_gunicorn_workers_complete_the_order(database_url):
    """An order text and the name/phone/address, sent together by one customer (known customers, and
    a new follower whose customer row does not exist yet), land in different workers at once.
    Either one is processed first and the other after it sees its effects, so the order always ends
    complete. SQLite's write lock already serialises the two; PostgreSQL needs the customer's lock."""
    if is_sqlite(database_url):
        pytest.skip("SQLite serialises every write transaction")
    add_mask_product(database_url)
    rounds, customers_per_round = 6, 4
    with GunicornServer(database_url, workers=4) as server:
        for round_no in range(rounds):
            openids = [f"o_pair_{round_no}_{i}" for i in range(customers_per_round)]
            for openid in openids[1:]:  # known customers; the first of each round writes for the first time
                assert WeChatPlatform(server.client(), mode="safe").post_text(openid, "你好").status == 200
            barrier = threading.Barrier(2 * customers_per_round)
            statuses: list[int] = []

            def send(openid: str, words: str, barrier: threading.Barrier, statuses: list[int]) -> None:
                platform = WeChatPlatform(server.client(), mode="safe")
                xml = platform.text_xml(openid, words)
                barrier.wait()
                statuses.append(platform.post_xml(xml).status)

            threads = [
                threading.Thread(target=send, args=(openid, words, barrier, statuses))
                for openid in openids
                for words in (ORDER_TEXT.split(" ")[0], CONTACT_TEXT)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert statuses == [200] * len(threads)

    database = Database(database_url)
    try:
        with database.read_session() as s:
            rows = s.execute(
                select(Customer.openid, Order.recipient_name, Order.phone, Order.address_detail)
                .join(Order, Order.customer_id == Customer.id)
                .order_by(Customer.openid)
            ).all()
    finally:
        database.dispose()
    assert len(rows) == rounds * customers_per_round  # one order per customer
    incomplete = [row.openid for row in rows if not (row.recipient_name and row.phone and row.address_detail)]
    assert incomplete == []


def _post_as_the_platform(server: GunicornServer, xml: str) -> int | None:
    """POST like the platform: it waits 5 s for the answer, then drops the connection (None)."""
    platform = WeChatPlatform(None, mode="safe")
    # signed on the clock the server checks (the machine's real one, whatever time-machine says)
    body, params = platform.envelope(xml, str(int(wall_clock_seconds())), secrets.token_hex(4))
    try:
        return requests.post(
            server.base_url + "/wechat",
            params=params,
            data=body,
            headers={"Content-Type": "text/xml"},
            timeout=5,
        ).status_code
    except requests.Timeout:
        return None


@pytest.mark.slow
def test_messages_queued_behind_a_stuck_worker_get_their_reply_by_the_outbox(database_url):
    """The database is held 7 s (a long import, a stuck transaction); one sync worker. The first
    message waits in the worker, the second in gunicorn's queue; the platform gives up on both after
    5 s. When the lock goes, both are stored, and neither reply may be lost in a dead connection:
    the second one's worker was quick, but the platform had sent it 7 s before (its timestamp); the
    first one's passive reply (on PostgreSQL it was worked out before the wait) was written too late."""
    openids = ("o_stuck_first", "o_stuck_second")
    if is_sqlite(database_url):
        blocker = sqlite3.connect(make_url(database_url).database, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        release = lambda: (blocker.execute("ROLLBACK"), blocker.close())  # noqa: E731
    else:
        database = Database(database_url)
        connection = database.engine.connect()
        transaction = connection.begin()
        connection.execute(text("LOCK TABLE inbound_message IN EXCLUSIVE MODE"))  # every insert waits
        release = lambda: (transaction.rollback(), connection.close(), database.dispose())  # noqa: E731
    statuses: list = []
    try:
        with GunicornServer(database_url, workers=1) as server:
            threads = []
            for openid in openids:
                xml = WeChatPlatform.text_xml(openid, "你好")
                threads.append(
                    threading.Thread(target=lambda x=xml: statuses.append(_post_as_the_platform(server, x)))
                )
                threads[-1].start()
                time.sleep(
                    0.3
                )  # the first reaches the worker before the second is sent (ordering, not timing)
            for t in threads:
                t.join(30)
            assert statuses == [None, None]  # the platform gave up on both
            time.sleep(2)  # the lock is held 7 s in all: past the platform's wait and its budget
            release()
            release = None
            deadline = time.monotonic() + 20
            while counts(database_url, InboundMessage)[0] < 2 and time.monotonic() < deadline:
                time.sleep(0.2)  # waiting for the server to finish, not simulating time
    finally:
        if release is not None:
            release()
    database = Database(database_url)
    try:
        with database.read_session() as s:
            stored = s.scalars(select(Customer.openid).join(InboundMessage)).all()
            replies = {row.dedupe_key: row.status for row in s.scalars(select(OutboxMessage))}
            keys = s.scalars(select(InboundMessage.msg_key)).all()
    finally:
        database.dispose()
    assert sorted(stored) == sorted(openids)
    assert replies == {f"reply:{key}": "pending" for key in keys}  # the drain sends both


@pytest.mark.slow
def test_slow_clients_do_not_starve_the_production_workers(database_url):
    """Four clients that send their headers and then trickle (here: stop sending) the body hold
    a sync worker each; under the production command's threaded workers a normal message is still
    answered well within the platform's 5 s."""
    with GunicornServer(database_url, workers=2, options=PRODUCTION_OPTIONS) as server:
        slow = []
        for i in range(4):
            timestamp, nonce = str(int(time.time())), f"slow{i}"
            query = f"timestamp={timestamp}&nonce={nonce}&signature={sign(TOKEN, timestamp, nonce)}"
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(
                f"POST /wechat?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
                "Content-Length: 4000\r\n\r\n<xml>".encode()
            )
            slow.append(sock)
        try:
            started = time.monotonic()
            reply = WeChatPlatform(server.client(), mode="safe").post_text("o_after_slow", "你好")
            took = time.monotonic() - started
        finally:
            for sock in slow:
                sock.close()
    assert reply.status == 200 and reply.text
    assert took < 4
