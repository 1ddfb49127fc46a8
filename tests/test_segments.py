"""Expected next purchase, stages, A/B/C/D classes and RFM: the pure rules as tables, then the
stored fields after real orders (incremental) and after the daily recompute sweep."""

from __future__ import annotations

import datetime as dt

import pytest

from scheduler import retention
from storage import segments
from storage.models import Customer, CustomerStage, Referral
from tests.retention_helpers import CONFIG, UTC, add_customer, add_products, place_order, run

D = dt.datetime
DAY = dt.timedelta(days=1)
T0 = D(2026, 1, 5, 2, 0)


def facts(
    *days: float, supply: int | None = None, shipped_after: float | None = None
) -> list[segments.OrderFacts]:
    orders = []
    for day in days:
        created = T0 + dt.timedelta(days=day)
        shipped = created + dt.timedelta(days=shipped_after) if shipped_after is not None else None
        orders.append(segments.OrderFacts(created, shipped, supply, 0))
    return orders


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ((), None),
        ((0,), None),
        ((0, 30), 30.0),
        ((0, 30, 50), 25.0),
        ((0, 10, 40, 100), 30.0),
        ((40, 0, 10), 20.0),  # order of input does not matter
    ],
)
def test_median_interval(days, expected):
    assert segments.median_interval_days([T0 + dt.timedelta(days=d) for d in days]) == expected


@pytest.mark.parametrize(
    ("orders", "expected"),
    [
        ([], None),
        (facts(0), None),  # one order without usage days: nothing to predict from
        (facts(0, supply=60), T0 + 60 * DAY),  # first order: its supply, from ordering...
        (facts(0, supply=60, shipped_after=2), T0 + 62 * DAY),  # ...or from shipping
        (facts(0, 40, supply=60), T0 + 80 * DAY),  # from the 2nd order: own median interval
        (facts(0, 20, 60, supply=90), T0 + 90 * DAY),  # median(20, 40) = 30 after day 60
    ],
)
def test_expected_next_purchase(orders, expected):
    assert segments.expected_next_purchase(orders) == expected


NOW = T0 + 400 * DAY


@pytest.mark.parametrize(
    ("count", "days_ago", "cycle", "kw", "expected"),
    [
        (0, None, None, {}, CustomerStage.PROSPECT),
        (1, 10, None, {}, CustomerStage.NEW),
        (2, 10, 30, {}, CustomerStage.RETURNING),
        (3, 10, 30, {}, CustomerStage.LOYAL),
        (2, 10, 30, {"referred": True}, CustomerStage.FAN),
        (1, 10, None, {"referred": True}, CustomerStage.FAN),  # a referee has paid: a fan (issue 7)
        (0, None, None, {"referred": True}, CustomerStage.FAN),
        (2, 100, 30, {"referred": True}, CustomerStage.SLEEPING),  # not buying outranks having referred
        (
            1,
            10,
            None,
            {"current": CustomerStage.DISTRIBUTOR},
            CustomerStage.DISTRIBUTOR,
        ),  # the seller's decision stays
        (1, 59, None, {}, CustomerStage.NEW),
        (1, 60, None, {}, CustomerStage.SLEEPING),  # two months without an order
        (3, 80, 60, {}, CustomerStage.LOYAL),  # 1.5 × 60-day cycle = 90 days
        (3, 90, 60, {}, CustomerStage.SLEEPING),
        (1, 180, None, {}, CustomerStage.LOST),
        (3, 179, 60, {}, CustomerStage.SLEEPING),
        (3, 200, 70, {}, CustomerStage.SLEEPING),  # 3 × 70 = 210 days before lost
        (3, 210, 70, {}, CustomerStage.LOST),
        (1, 10, None, {"tags": "代理,上海"}, CustomerStage.DISTRIBUTOR),
    ],
)
def test_stage(count, days_ago, cycle, kw, expected):
    last = NOW - dt.timedelta(days=days_ago) if days_ago is not None else None
    assert segments.stage_for(count, last, cycle, NOW, **kw) == expected


def test_classes_by_spend_top_20_percent_are_a():
    spend = {i: (11 - i) * 1000 for i in range(1, 11)} | {11: 0, 12: 0}
    classes = segments.classes_by_spend(spend)
    assert [classes[i] for i in range(1, 13)] == ["A", "A", "B", "B", "B", "C", "C", "C", "C", "C", "D", "D"]


def test_classes_ties_share_the_better_class():
    classes = segments.classes_by_spend(
        {1: 500, 2: 500, 3: 500, 4: 100, 5: 100, 6: 90, 7: 80, 8: 70, 9: 60, 10: 50}
    )
    assert [classes[i] for i in range(1, 11)] == ["A", "A", "A", "B", "B", "C", "C", "C", "C", "C"]


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 5, 5, "champions"),
        (4, 4, 1, "champions"),
        (1, 5, 5, "cant_lose"),
        (1, 5, 2, "at_risk"),
        (2, 3, 3, "at_risk"),
        (3, 3, 3, "loyal"),
        (5, 1, 1, "new"),
        (4, 2, 2, "potential_loyalists"),
        (3, 1, 5, "potential_loyalists"),
        (2, 2, 2, "hibernating"),
        (1, 1, 1, "lost"),
        (1, 2, 5, "lost"),
    ],
)
def test_rfm_segment(r, f, m, segment):
    assert segments.rfm_segment(r, f, m) == segment


def test_rfm_fixed_cut_offs_for_a_small_pool():
    scores = segments.rfm_scores({1: (10, 6, 150_000), 2: (100, 1, 5_000), 3: (45, 2, 30_000)})
    assert (scores[1].r, scores[1].f, scores[1].m, scores[1].segment) == (5, 5, 5, "champions")
    assert (scores[2].r, scores[2].f, scores[2].m, scores[2].segment) == (2, 1, 1, "hibernating")
    assert (scores[3].r, scores[3].f, scores[3].m) == (4, 2, 3)


def test_rfm_quintiles_for_a_pool_of_fifty_or_more():
    buyers = {i: (float(i), 1 + i // 10, 1000 * i) for i in range(100)}
    scores = segments.rfm_scores(buyers)
    assert [scores[i].r for i in (0, 19, 20, 99)] == [5, 5, 4, 1]  # recent → high
    assert [scores[i].m for i in (0, 19, 20, 99)] == [1, 1, 2, 5]
    assert {scores[i].f for i in range(100)} == {1, 2, 3, 4, 5}


# --- stored on the customer ----------------------------------------------------------------------


@pytest.fixture
def shop(db):
    add_products(db)
    return db


def customer(db, customer_id: int) -> Customer:
    with db.read_session() as s:
        return s.get(Customer, customer_id)


def test_orders_update_stage_and_expected_next_purchase_at_once(shop):
    cid = add_customer(shop, "o_s1")
    assert customer(shop, cid).stage == CustomerStage.PROSPECT
    place_order(shop, cid, {"补水面膜": 2}, T0, ship_after=2 * DAY)
    c = customer(shop, cid)
    assert c.stage == CustomerStage.NEW and c.last_order_at == T0
    assert c.expected_next_purchase_at == T0 + 62 * DAY  # 60 days of supply from shipping
    assert c.median_interval_days is None
    place_order(shop, cid, {"补水面膜": 1}, T0 + 50 * DAY)
    c = customer(shop, cid)
    assert c.stage == CustomerStage.RETURNING and c.median_interval_days == 50
    assert c.expected_next_purchase_at == T0 + 100 * DAY
    third = place_order(shop, cid, {"补水面膜": 1}, T0 + 80 * DAY)
    c = customer(shop, cid)
    assert c.stage == CustomerStage.LOYAL and c.median_interval_days == 40  # median(50, 30)
    from storage import orders as order_store

    with shop.session() as s:
        order_store.transition(s, s.get(order_store.Order, third), "cancel", actor="test", now=T0 + 81 * DAY)
    assert customer(shop, cid).stage == CustomerStage.RETURNING


def test_daily_recompute_moves_stages_with_time_and_sets_class_and_rfm(shop):
    whale = add_customer(shop, "o_s2")
    regular = add_customer(shop, "o_s3")
    once = add_customer(shop, "o_s4")
    fan = add_customer(shop, "o_s5")
    prospect = add_customer(shop, "o_s6")
    friend = add_customer(shop, "o_s7")
    for n in range(4):
        place_order(shop, whale, {"玻尿酸精华液": 3}, T0 + n * 20 * DAY)
    place_order(shop, regular, {"补水面膜": 1}, T0)
    place_order(shop, regular, {"补水面膜": 1}, T0 + 30 * DAY)
    place_order(shop, once, {"补水面膜": 1}, T0)
    place_order(shop, fan, {"补水面膜": 1}, T0 + 10 * DAY)
    place_order(shop, fan, {"补水面膜": 1}, T0 + 40 * DAY)
    with shop.session() as s:
        s.add(Referral(referrer_id=fan, referee_id=friend, source="typed", status="rewarded"))

    now = (T0 + 70 * DAY).replace(tzinfo=UTC)
    run(shop, retention.sweep_segments, now)
    stages = {cid: customer(shop, cid).stage for cid in (whale, regular, once, fan, prospect)}
    assert stages == {
        whale: "loyal",
        regular: "returning",
        once: "sleeping",
        fan: "fan",
        prospect: "prospect",
    }
    c = customer(shop, whale)
    assert (
        c.customer_class == "A" and (c.rfm_r, c.rfm_f, c.rfm_m) == (5, 4, 5) and c.rfm_segment == "champions"
    )
    assert customer(shop, once).customer_class == "C" and customer(shop, prospect).customer_class == "D"
    assert customer(shop, once).rfm_segment == "potential_loyalists"  # R 3 (70 days), F 1
    assert customer(shop, prospect).rfm_segment is None

    # Once a day: a second tick the same (Shanghai) day does not recompute.
    with shop.session() as s:
        s.get(Customer, regular).stage = "new"
    run(shop, retention.sweep_segments, now + dt.timedelta(hours=5))
    assert customer(shop, regular).stage == "new"
    # The next day it waits for the quiet hour: 03:59 in Shanghai is too early, 04:00 runs.
    next_day_4am = dt.datetime(2026, 3, 17, 4, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert (now + DAY).date() == next_day_4am.date()
    run(shop, retention.sweep_segments, next_day_4am - dt.timedelta(minutes=1))
    assert customer(shop, regular).stage == "new"
    run(shop, retention.sweep_segments, next_day_4am)
    assert customer(shop, regular).stage == "returning"
    # Time alone moves the regular customer (30-day rhythm → asleep after 60 days) to sleeping.
    run(shop, retention.sweep_segments, (T0 + 95 * DAY).replace(tzinfo=UTC))
    assert customer(shop, regular).stage == "sleeping"


def test_recompute_keeps_the_sleeping_clock_used_by_winback(shop):
    """An imported pool (orders written without the hook) still gets win-back after a recompute."""
    cid = add_customer(shop, "o_s8")
    place_order(shop, cid, {"定制礼盒": 1}, T0)
    from storage.models import RetentionClock

    with shop.session() as s:
        for clock in s.query(RetentionClock).all():
            s.delete(clock)
    run(shop, retention.sweep_segments, (T0 + DAY).replace(tzinfo=UTC), CONFIG)
    assert run(shop, retention.sweep_winback, (T0 + 60 * DAY).replace(tzinfo=UTC)) == 1


def test_daily_sweep_backfills_supply_clocks_of_orders_written_without_the_hook(shop):
    from storage.models import RetentionClock

    cid = add_customer(shop, "o_s9")
    older = place_order(shop, cid, {"补水面膜": 2}, T0, ship_after=DAY)
    newer = place_order(shop, cid, {"补水面膜": 1}, T0 + 20 * DAY, ship_after=DAY)
    other = place_order(shop, cid, {"玻尿酸精华液": 1}, T0 + 5 * DAY, ship_after=DAY)
    with shop.session() as s:
        s.query(RetentionClock).delete()
    run(shop, retention.sweep_segments, (T0 + 22 * DAY).replace(tzinfo=UTC))
    with shop.read_session() as s:
        clocks = {(c.kind, c.order_id): c for c in s.query(RetentionClock).all()}
    assert clocks[("supply_end", older)].superseded_by_order_id == newer
    assert clocks[("supply_end", newer)].superseded_at is None
    assert clocks[("supply_end", other)].superseded_at is None
    assert clocks[("supply_end", newer)].at == T0 + 21 * DAY + 30 * DAY
    assert run(shop, retention.sweep_repurchase, (T0 + 48 * DAY).replace(tzinfo=UTC)) == 1
    # Running again creates nothing twice.
    run(shop, retention.sweep_segments, (T0 + 23 * DAY).replace(tzinfo=UTC))
    with shop.read_session() as s:
        assert s.query(RetentionClock).filter(RetentionClock.kind != "sleeping").count() == 6


def test_daily_sweep_backfills_orders_added_without_the_hook_since_its_last_run(shop):
    """After the first run the backfill looks only at orders added since (ids above its marker)."""
    from storage.models import Order, OrderItem, RetentionClock

    cid = add_customer(shop, "o_s10")
    place_order(shop, cid, {"补水面膜": 1}, T0, ship_after=DAY)
    run(shop, retention.sweep_segments, (T0 + 2 * DAY).replace(tzinfo=UTC))
    with shop.session() as s:  # an import: written straight to the tables, no order hook
        order = Order(
            customer_id=cid,
            status="received",
            amount_cents=100,
            source="import",
            created_at=T0 + 3 * DAY,
            shipped_at=T0 + 4 * DAY,
            updated_at=T0 + 3 * DAY,
        )
        order.items.append(OrderItem(product_name="补水面膜", quantity=2, unit_price_cents=50, usage_days=30))
        s.add(order)
        s.flush()
        imported = order.id
    run(shop, retention.sweep_segments, (T0 + 5 * DAY).replace(tzinfo=UTC))
    with shop.read_session() as s:
        ends = {c.order_id: c.at for c in s.query(RetentionClock).filter(RetentionClock.kind == "supply_end")}
        assert ends[imported] == T0 + 4 * DAY + 60 * DAY
        assert len(ends) == 2
        # The recompute saw the imported order too: two orders, 3 days apart.
        assert s.get(Customer, cid).median_interval_days == 3
