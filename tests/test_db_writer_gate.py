"""The SQLite writer gate: writers queue on a file lock before ``BEGIN IMMEDIATE``."""

from __future__ import annotations

import threading

from storage.db import Database, WriterGate


def test_a_second_writer_waits_for_the_first_and_then_gets_in(tmp_path):
    gate = WriterGate(str(tmp_path / "pool.db"), timeout=10)
    inside, release, order = threading.Event(), threading.Event(), []

    def first():
        with gate.hold():
            order.append("first in")
            inside.set()
            release.wait(10)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    second_done = threading.Event()

    def second():
        with gate.hold():
            order.append("second in")
        second_done.set()

    other = threading.Thread(target=second)
    other.start()
    assert not second_done.wait(0.05)  # still queued behind the first writer
    release.set()
    assert second_done.wait(10)
    thread.join()
    other.join()
    assert order == ["first in", "first out", "second in"]


def test_the_gate_is_given_up_after_the_timeout_so_sqlite_decides(tmp_path):
    holder = WriterGate(str(tmp_path / "pool.db"), timeout=10)
    waiter = WriterGate(str(tmp_path / "pool.db"), timeout=0.02)
    entered = threading.Event()

    def wait_then_enter():
        with waiter.hold():
            entered.set()

    with holder.hold():
        thread = threading.Thread(target=wait_then_enter)
        thread.start()
        assert entered.wait(10)  # not stuck behind a gate that is never released
        thread.join()


def test_nested_write_sessions_in_one_thread_do_not_wait_for_themselves(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'pool.db'}", sqlite_busy_timeout=5)
    try:
        with db.session() as outer:
            outer.connection().exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with db.session(), db._gate.hold():
            pass  # re-entering the gate in the same thread returns at once
        assert (tmp_path / "pool.db.writer-lock").exists()
    finally:
        db.dispose()


def test_without_a_usable_gate_file_writers_still_write(tmp_path, caplog):
    gate = WriterGate(str(tmp_path / "missing-folder" / "pool.db"), timeout=1)
    with caplog.at_level("WARNING"), gate.hold():
        pass  # no exception: SQLite's own lock is enough
    assert "writer gate" in caplog.text
