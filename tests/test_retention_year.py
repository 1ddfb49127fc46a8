"""A simulated year (2027) of a small shop: scheduler ticks (``run_tick``, what ``huitou scheduler
tick --at`` runs) at 10:00 every day and at 22:00 on some, orders, an inquiry, a reply.

Every retention message the year should produce is listed by hand below; the sweeps must
enqueue exactly those keys (each once), nothing for the opted-out customer or the one with an
open complaint, a repeated tick adds nothing, and delivery hands nothing over at night.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine

from scheduler import retention
from scheduler.tick import run_tick
from storage.models import Complaint
from tests.retention_helpers import add_customer, add_products, outbox, place_order, ship_order

UTC = dt.UTC
RETENTION_KINDS = {"experience", "care", "repurchase", "lapse", "followup", "festival", "birthday", "winback"}
# Festivals whose greeting (two days ahead) falls between the first and the last tick of 2027.
FESTIVALS_2027 = [
    "spring-festival",
    "lantern",
    "womens-day",
    "520",
    "dragon-boat",
    "618",
    "qixi",
    "mid-autumn",
    "national-day",
    "double-11",
]
START = dt.datetime(2027, 1, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
END = dt.datetime(2027, 12, 25, 2, 0, tzinfo=UTC)


def at(month: int, day: int, hour: int = 2) -> dt.datetime:
    return dt.datetime(2027, month, day, hour, 0, tzinfo=UTC)


def retention_rows(summary) -> int:
    return sum(n for name, n in summary.sweeps.items() if name.startswith("retention."))


@pytest.fixture
def year(app, db, platform):
    """Run the year; return the customer ids, order ids and the rows the second tick added."""
    add_products(db)
    ids = {
        "wang": add_customer(db, "o_y1", "王芳", birthday_month=8, birthday_day=8),
        "li": add_customer(db, "o_y2", "李娜", birthday_month=8, birthday_day=15, birthday_is_lunar=True),
        "zhang": add_customer(db, "o_y3", "张伟", opted_out=True, birthday_month=3, birthday_day=3),
        "chen": add_customer(db, "o_y4", "陈静", birthday_month=4, birthday_day=4),
        "zhao": add_customer(db, "o_y5", "赵敏"),
    }
    with db.session() as s:
        s.add(Complaint(customer_id=ids["chen"], text="过敏了", status="open"))
    orders: dict[str, int] = {}

    def order(name, customer, items, when, ship_days=1):
        orders[name] = place_order(db, ids[customer], items, when)
        events.append(
            (
                when + dt.timedelta(days=ship_days),
                lambda: ship_order(db, orders[name], when + dt.timedelta(days=ship_days)),
            )
        )

    def say(openid, text, when):
        def send():
            with time_machine.travel(when, tick=False):
                platform.say(openid, text)

        events.append((when, send))

    events: list = []
    events.append((at(1, 4), lambda: order("A", "wang", {"补水面膜": 1}, at(1, 4))))
    events.append((at(2, 6), lambda: order("B", "wang", {"补水面膜": 1}, at(2, 6))))  # before A's lapse
    events.append((at(1, 20), lambda: order("Z", "zhang", {"补水面膜": 1}, at(1, 20))))
    events.append((at(1, 21), lambda: order("C", "chen", {"补水面膜": 1}, at(1, 21))))
    say("o_y2", "精华多少钱", at(3, 1, 3))
    events.append((at(6, 1), lambda: order("E", "zhao", {"定制礼盒": 1}, at(6, 1))))
    say("o_y5", "最近在忙，过阵子再说", at(8, 10))

    extra = 0
    moment = START
    while moment <= END:
        while True:  # events up to this tick, in time order (shipping events are added on the way)
            due = sorted((e for e in events if e[0] <= moment), key=lambda e: e[0])
            if not due:
                break
            for event in due:
                events.remove(event)
            due[0][1]()
            for event in due[1:]:
                events.append(event)
        # 10:00 in Shanghai every day; also 22:00 (quiet hours) on the first three days of a month.
        for hour in (0, 12) if moment.day <= 3 else (0,):
            summary = run_tick(app, at=moment + dt.timedelta(hours=hour))
            assert summary.ok, summary.errors
            if moment.day == 15:
                extra += retention_rows(run_tick(app, at=moment + dt.timedelta(hours=hour)))  # nothing new
        moment += dt.timedelta(days=1)
    return ids, orders, extra


def test_a_year_sends_each_expected_message_once(db, year):
    ids, orders, extra = year
    wang, li, zhao = ids["wang"], ids["li"], ids["zhao"]
    expected = {
        # 王芳: 面膜 × 1 (30 days) shipped 01-05; again 02-06 (after run-out, before the lapse message)
        f"experience:order:{orders['A']}",
        f"care:order:{orders['A']}",
        f"repurchase:order:{orders['A']}",
        f"experience:order:{orders['B']}",
        f"care:order:{orders['B']}",
        f"repurchase:order:{orders['B']}",
        f"lapse:order:{orders['B']}",
        # ... then nothing more: sleeping 60 days after 02-06, three win-back steps
        *(f"winback:2027-02-06:customer:{wang}:step:{n}" for n in (1, 2, 3)),
        f"birthday:2027:customer:{wang}",
        # 李娜 asked on 03-01 and never ordered; lunar birthday 八月十五 = 2027-09-15
        "followup:inquiry:1",
        f"birthday:2027:customer:{li}",
        # 赵敏: a gift box (no usage period) on 06-01; asleep 07-31; replied on 08-10 → no 3rd step
        f"experience:order:{orders['E']}",
        *(f"winback:2027-06-01:customer:{zhao}:step:{n}" for n in (1, 2)),
        # festivals for everyone reachable (张伟 opted out, 陈静 has an open complaint)
        *(f"festival:2027-{slug}:customer:{cid}" for slug in FESTIVALS_2027 for cid in (wang, li, zhao)),
    }
    rows = [row for row in outbox(db) if row.kind in RETENTION_KINDS]
    got = [row.dedupe_key for row in rows]
    assert len(got) == len(set(got))
    assert set(got) == expected
    assert extra == 0
    assert {row.customer_id for row in rows} == {wang, li, zhao}
    by_key = {row.dedupe_key: row for row in rows}
    # The older order's queued lapse never existed: the new order came first.
    assert f"lapse:order:{orders['A']}" not in by_key
    # When each was enqueued (Shanghai dates): the timing rules, checked on the real rows.
    local = {key: (row.created_at + dt.timedelta(hours=8)).date().isoformat() for key, row in by_key.items()}
    assert local[f"repurchase:order:{orders['A']}"] == "2027-02-01"  # 3 days before 02-04
    assert local[f"lapse:order:{orders['B']}"] == "2027-03-16"  # 7 days after 03-09
    assert local[f"festival:2027-mid-autumn:customer:{wang}"] == "2027-09-13"
    assert local[f"birthday:2027:customer:{li}"] == "2027-09-13"
    assert local[f"winback:2027-02-06:customer:{wang}:step:3"] == "2027-04-28"
    assert all(row.transactional is False for row in rows)
    # Delivery: every row ended somewhere, and nothing was handed over in the quiet hours.
    assert {row.status for row in rows} <= {"sent", "drafted", "skipped", "cancelled"}
    delivered = [row for row in rows if row.status in ("sent", "drafted")]
    assert len(delivered) >= len(rows) // 2
    assert all(9 <= (row.updated_at + dt.timedelta(hours=8)).hour < 21 for row in delivered)
    # 22:00 finds some messages due (the inquiry follow-up came due at 11:00 but the 10:00 tick was
    # earlier): they wait for the morning.
    follow_up = by_key["followup:inquiry:1"]
    assert (follow_up.created_at + dt.timedelta(hours=8)).hour == 22
    assert (follow_up.updated_at + dt.timedelta(hours=8)).hour == 10


def test_cli_tick_runs_the_retention_sweeps(runner, db):
    add_products(db)
    customer = add_customer(db, "o_cli", "周婷")
    result = runner.invoke(args=["scheduler", "tick", "--at", "2027-09-13T10:00", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["sweeps"]["retention.festivals"] == 1
    assert set(summary["sweeps"]) >= {sweep.name for sweep in retention.RETENTION_SWEEPS}
    [row] = outbox(db, "festival")
    assert row.dedupe_key == f"festival:2027-mid-autumn:customer:{customer}" and "中秋快乐" in row.text
