"""A tick reads only what fell due since the last one (per-sweep watermarks), yet nothing is lost
or doubled: the first run and a restart after idle days catch up their window, a due time moved
behind the watermark (a cancelled order, an opt-in, an import) still goes out once, and a tick that
fails between enqueueing and storing its watermark leaves neither behind."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from openpyxl import Workbook
from sqlalchemy import select

from scheduler.tick import run_tick
from storage import sweep_watermarks
from storage.excel_import import import_file
from storage.models import Customer, Order, Product
from storage.orders import transition
from tests.retention_helpers import add_customer, add_products, keys, naive, place_order

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
DAY, HOUR, MINUTE = dt.timedelta(days=1), dt.timedelta(hours=1), dt.timedelta(minutes=1)


@pytest.fixture
def settings(app_config):
    app_config.update(TIMEZONE="Asia/Shanghai", RETENTION_FESTIVALS="none")
    return app_config


@pytest.fixture
def shop(settings, app, db):
    add_products(db)
    return db


def tick(app, at: dt.datetime):
    summary = run_tick(app, at=at)
    assert summary.ok, summary.errors
    return summary


def cancel(db, order_id: int, at: dt.datetime) -> None:
    with db.session() as s:
        transition(s, s.get(Order, order_id), "cancel", actor="test", now=naive(at))


def test_first_tick_catches_up_its_window_and_a_repeated_tick_adds_nothing(app, shop):
    recent = place_order(shop, add_customer(shop, "o_recent"), {"补水面膜": 2}, T0 - 7 * DAY, ship_after=DAY)
    place_order(shop, add_customer(shop, "o_ancient"), {"补水面膜": 2}, T0 - 12 * DAY, ship_after=DAY)
    # Experience is due 2 days after shipping: T0 - 4 days (caught up) and T0 - 9 days (history).
    assert tick(app, T0).sweeps["retention.experience"] == 1
    assert tick(app, T0 + MINUTE).sweeps["retention.experience"] == 0
    assert tick(app, T0 + HOUR).sweeps["retention.experience"] == 0
    assert keys(shop, "experience") == [f"experience:order:{recent}"]


def test_restart_after_idle_days_sends_what_fell_due_once_but_not_history(app, shop):
    order = place_order(shop, add_customer(shop, "o_idle"), {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    tick(app, T0)  # watermark at T0; experience due at T0 + 2 days, care at T0 + 30 days
    assert tick(app, T0 + 5 * DAY).sweeps["retention.experience"] == 1  # 3 days late: caught up
    assert tick(app, T0 + 5 * DAY + MINUTE).sweeps["retention.experience"] == 0
    # Idle again past the care message's catch-up window (7 days): it is history.
    assert tick(app, T0 + 40 * DAY).sweeps["retention.care"] == 0
    assert keys(shop, "experience") == [f"experience:order:{order}"]
    assert keys(shop, "care") == []


def test_a_cancelled_newer_order_brings_back_a_message_due_behind_the_watermark(app, shop):
    customer = add_customer(shop, "o_undo")
    first = place_order(
        shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0)
    )  # care at T0 + 30 days
    newer = place_order(shop, customer, {"补水面膜": 1}, T0 + 25 * DAY)  # supersedes the first order's cycle
    assert tick(app, T0 + 30 * DAY + HOUR).sweeps["retention.care"] == 0
    assert tick(app, T0 + 31 * DAY).sweeps["retention.care"] == 0
    cancel(shop, newer, T0 + 31 * DAY + HOUR)  # the first cycle is back: care was due a day ago
    assert tick(app, T0 + 31 * DAY + 2 * HOUR).sweeps["retention.care"] == 1
    assert tick(app, T0 + 31 * DAY + 3 * HOUR).sweeps["retention.care"] == 0
    assert keys(shop, "care") == [f"care:order:{first}"]


def test_a_supply_shorter_than_the_repurchase_lead_is_nudged_though_due_before_it_started(app, shop):
    with shop.session() as s:
        s.add(Product(name="鲜花", aliases="花", price_cents=3900, usage_days=2))
    customer = add_customer(shop, "o_short")
    order = place_order(shop, customer, {"鲜花": 1}, T0 - HOUR)
    tick(app, T0)  # the watermark passes T0
    with shop.session() as s:  # shipped at T0 + 1 h: runs out at T0 + 2 days, 3 days of lead → due T0 - 1 day
        transition(s, s.get(Order, order), "ship", actor="test", now=naive(T0 + HOUR))
    assert tick(app, T0 + HOUR + 5 * MINUTE).sweeps["retention.repurchase"] == 1
    assert tick(app, T0 + 2 * HOUR).sweeps["retention.repurchase"] == 0
    assert keys(shop, "repurchase") == [f"repurchase:order:{order}"]


def test_an_inquiry_whose_order_is_cancelled_is_followed_up_though_due_behind_the_watermark(
    app, shop, platform
):
    with time_machine.travel(T0, tick=False):
        platform.say("o_ask", "面膜多少钱")
    with shop.read_session() as s:
        customer = s.scalar(select(Customer.id).where(Customer.openid == "o_ask"))
    order = place_order(shop, customer, {"补水面膜": 1}, T0 + 3 * HOUR)
    assert tick(app, T0 + DAY).sweeps["retention.inquiry_followup"] == 0
    assert tick(app, T0 + 25 * HOUR).sweeps["retention.inquiry_followup"] == 0
    cancel(shop, order, T0 + 26 * HOUR)  # no order followed the inquiry after all; due at T0 + 24 h
    assert tick(app, T0 + 26 * HOUR + 5 * MINUTE).sweeps["retention.inquiry_followup"] == 1
    assert tick(app, T0 + 27 * HOUR).sweeps["retention.inquiry_followup"] == 0
    assert len(keys(shop, "followup")) == 1


def test_opting_back_in_brings_back_a_message_that_fell_due_while_opted_out(app, shop, platform):
    customer = add_customer(shop, "o_back", opted_out=True)
    order = place_order(
        shop, customer, {"补水面膜": 2}, T0, ship_after=dt.timedelta(0)
    )  # experience: T0 + 2 d
    assert tick(app, T0 + 2 * DAY + HOUR).sweeps["retention.experience"] == 0
    assert tick(app, T0 + 3 * DAY).sweeps["retention.experience"] == 0
    with time_machine.travel(T0 + 3 * DAY + HOUR, tick=False):
        platform.say("o_back", "订阅")
    assert tick(app, T0 + 3 * DAY + 2 * HOUR).sweeps["retention.experience"] == 1
    assert tick(app, T0 + 3 * DAY + 3 * HOUR).sweeps["retention.experience"] == 0
    assert keys(shop, "experience") == [f"experience:order:{order}"]


def test_a_tick_failing_before_its_watermark_is_stored_leaves_nothing_and_the_next_sends_once(
    app, shop, monkeypatch
):
    order = place_order(shop, add_customer(shop, "o_crash"), {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    tick(app, T0)

    def crash(*args, **kwargs):
        raise RuntimeError("killed before the watermark was stored")

    monkeypatch.setattr(sweep_watermarks, "advance", crash)
    failed = run_tick(app, at=T0 + 2 * DAY)
    assert "retention.experience" in failed.errors
    assert keys(shop, "experience") == []  # the enqueued row went with the failed transaction
    monkeypatch.undo()
    assert tick(app, T0 + 2 * DAY + MINUTE).sweeps["retention.experience"] == 1
    assert tick(app, T0 + 2 * DAY + 2 * MINUTE).sweeps["retention.experience"] == 0
    assert keys(shop, "experience") == [f"experience:order:{order}"]


# --- festivals --------------------------------------------------------------------------------------

MID_AUTUMN_EVE = dt.datetime(2026, 9, 23, 1, 0, tzinfo=UTC)  # 09:00 Shanghai, two days before 2026-09-25


@pytest.fixture
def festive(settings, app, db):
    settings["RETENTION_FESTIVALS"] = "mid-autumn"
    return db


def test_festival_greets_the_pool_once_then_only_customers_added_since(app, festive):
    first = add_customer(festive, "o_fest1", created_at=naive(MID_AUTUMN_EVE - 90 * DAY))
    assert tick(app, MID_AUTUMN_EVE).sweeps["retention.festivals"] == 1
    assert tick(app, MID_AUTUMN_EVE + HOUR).sweeps["retention.festivals"] == 0
    newcomer = add_customer(festive, "o_fest2", created_at=naive(MID_AUTUMN_EVE + 2 * HOUR))
    assert tick(app, MID_AUTUMN_EVE + 2 * HOUR + MINUTE).sweeps["retention.festivals"] == 1
    assert tick(app, MID_AUTUMN_EVE + 3 * HOUR).sweeps["retention.festivals"] == 0
    assert sorted(keys(festive, "festival")) == sorted(
        f"festival:2026-mid-autumn:customer:{cid}" for cid in (first, newcomer)
    )


def test_customers_imported_during_a_greeting_window_are_greeted(app, festive, tmp_path):
    add_customer(festive, "o_fest3", created_at=naive(MID_AUTUMN_EVE - 90 * DAY))
    assert tick(app, MID_AUTUMN_EVE).sweeps["retention.festivals"] == 1
    assert tick(app, MID_AUTUMN_EVE + 2 * HOUR).sweeps["retention.festivals"] == 0
    book = Workbook()
    book.active.append(["姓名", "手机号"])
    book.active.append(["李娜", "13800138001"])
    path = tmp_path / "客户.xlsx"
    book.save(path)
    # A long import: its rows are stamped with the moment it started, before the last tick.
    import_file(festive, path, now=naive(MID_AUTUMN_EVE + HOUR))
    assert tick(app, MID_AUTUMN_EVE + 2 * HOUR + MINUTE).sweeps["retention.festivals"] == 1
    assert len(keys(festive, "festival")) == 2


def test_shortening_a_timing_rereads_the_window_it_moved_behind_the_watermark(app, shop):
    app.config["RETENTION_EXPERIENCE_DAYS"] = "3"
    order = place_order(shop, add_customer(shop, "o_timing"), {"补水面膜": 2}, T0, ship_after=dt.timedelta(0))
    assert tick(app, T0 + 2 * DAY + 12 * HOUR).sweeps["retention.experience"] == 0  # due at T0 + 3 days
    app.config["RETENTION_EXPERIENCE_DAYS"] = "2"  # now due at T0 + 2 days: behind the last tick
    assert tick(app, T0 + 2 * DAY + 13 * HOUR).sweeps["retention.experience"] == 1
    assert keys(shop, "experience") == [f"experience:order:{order}"]
