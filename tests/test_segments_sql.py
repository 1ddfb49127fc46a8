"""The set-based daily recompute (``segments.recompute_all``, one SQL statement) gives exactly what
the pure Python rules give, customer by customer, on generated pools: ties in spend, order counts
and last-order times, fewer and more than ``RFM_MIN_POOL`` buyers, cancelled orders, orders older
than 12 months, distributor tags, rewarded referrals, stale stored values and missing clocks."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import select

from storage import segments
from storage.models import Customer, Order, OrderItem, OrderStatus, Referral, RetentionClock

NOW = dt.datetime(2027, 3, 10, 6, 30, 15, 123456)
TAGS = (None, "", "老客", "代理", "一级分销,老客", "Distributor", "distributor")


def reference(session, now: dt.datetime) -> tuple[dict[int, dict], dict[int, dt.datetime]]:
    """The rules applied in Python to the whole pool (the recompute before it became set-based)."""
    since = now - dt.timedelta(days=segments.CLASS_WINDOW_DAYS)
    orders = session.execute(
        select(
            Order.customer_id, Order.id, Order.created_at, Order.shipped_at, Order.amount_cents, Order.status
        ).order_by(Order.customer_id, Order.created_at, Order.id)
    ).all()
    supply = {}
    for item in session.execute(select(OrderItem.order_id, OrderItem.quantity, OrderItem.usage_days)):
        if item.usage_days and item.usage_days > 0:
            days = item.quantity * item.usage_days
            supply[item.order_id] = min(supply.get(item.order_id, days), days)
    history, recent = {}, {}
    for o in orders:
        if o.status == OrderStatus.CANCELLED:
            continue
        history.setdefault(o.customer_id, []).append(
            segments.OrderFacts(o.created_at, o.shipped_at, supply.get(o.id) or None, o.amount_cents)
        )
        if since <= o.created_at <= now:
            last, count, total = recent.get(o.customer_id, (None, 0, 0))
            recent[o.customer_id] = (
                max(last or o.created_at, o.created_at),
                count + 1,
                total + o.amount_cents,
            )
    buyers = {
        cid: ((now - last).total_seconds() / 86400, count, total)
        for cid, (last, count, total) in recent.items()
    }
    rfm = segments.rfm_scores(buyers)
    referrers = set(session.scalars(select(Referral.referrer_id).where(Referral.status == "rewarded")))
    customers = session.execute(select(Customer.id, Customer.tags, Customer.stage)).all()
    classes = segments.classes_by_spend({c.id: buyers.get(c.id, (0, 0, 0))[2] for c in customers})
    expected, clocks = {}, {}
    for c in customers:
        facts = history.get(c.id, [])
        last = facts[-1].created_at if facts else None
        cycle = segments.cycle_days(facts)
        score = rfm.get(c.id)
        expected[c.id] = {
            "stage": segments.stage_for(
                len(facts), last, cycle, now, referred=c.id in referrers, tags=c.tags, current=c.stage
            ),
            "customer_class": classes[c.id],
            "rfm_r": score.r if score else None,
            "rfm_f": score.f if score else None,
            "rfm_m": score.m if score else None,
            "rfm_segment": score.segment if score else None,
            "median_interval_days": segments.median_interval_days([f.created_at for f in facts]),
            "expected_next_purchase_at": segments.expected_next_purchase(facts),
            "last_order_at": last,
        }
        if last is not None:
            clocks[c.id] = segments.sleeping_at(last, cycle)
    return expected, clocks


def stored(session) -> tuple[dict[int, dict], dict[int, dt.datetime]]:
    rows = session.execute(
        select(Customer.id, *(getattr(Customer, name) for name in segments._DERIVED))
    ).all()
    clocks = dict(
        session.execute(
            select(RetentionClock.customer_id, RetentionClock.at).where(RetentionClock.kind == "sleeping")
        ).all()
    )
    return {r.id: {name: getattr(r, name) for name in segments._DERIVED} for r in rows}, clocks


def assert_same(actual: dict, expected: dict) -> None:
    for cid, values in expected.items():
        for name, value in values.items():
            got = actual[cid][name]
            assert not segments._differs(got, value), (cid, name, got, value)


def generate(session, rng: random.Random, customers: int, now: dt.datetime) -> None:
    """A pool with many ties: amounts and dates drawn from short lists, some orders at the same instant."""
    amounts = (0, 5000, 10000, 30000, 60000, 120000)
    instants = [
        now - dt.timedelta(days=d, seconds=s, microseconds=u)
        for d, s, u in (
            (0, 0, 0),
            (1, 0, 0),
            (29, 3, 7),
            (30, 0, 0),
            (59, 0, 1),
            (89, 0, 0),
            (120, 0, 0),
            (179, 86399, 999999),
            (200, 0, 0),
            (364, 0, 0),
            (366, 0, 0),
            (500, 0, 0),
        )
    ]
    order_id = 0
    for cid in range(1, customers + 1):
        stage = rng.choice(("prospect", "new", "loyal", "distributor", "sleeping", "junk"))
        session.add(
            Customer(
                id=cid,
                openid=f"o_sql_{cid}",
                stage=stage,
                tags=rng.choice(TAGS),
                customer_class=rng.choice((None, "A", "D")),
                rfm_r=rng.choice((None, 3)),
                median_interval_days=rng.choice((None, 12.5)),
                expected_next_purchase_at=rng.choice((None, now)),
                created_at=now,
            )
        )
        session.flush()
        for _ in range(rng.choice((0, 1, 1, 2, 3, 4, 6, 7))):
            order_id += 1
            created = (
                rng.choice(instants) if rng.random() < 0.5 else now - dt.timedelta(days=rng.uniform(0, 420))
            )
            shipped = (
                created + dt.timedelta(days=1, microseconds=rng.randint(0, 999999))
                if rng.random() < 0.7
                else None
            )
            status = rng.choice(
                (
                    OrderStatus.RECEIVED,
                    OrderStatus.SHIPPED,
                    OrderStatus.PAID,
                    OrderStatus.PENDING,
                    OrderStatus.CANCELLED,
                )
            )
            session.add(
                Order(
                    id=order_id,
                    customer_id=cid,
                    status=status,
                    amount_cents=rng.choice(amounts),
                    created_at=created,
                    shipped_at=shipped,
                    updated_at=created,
                )
            )
            for _ in range(rng.choice((0, 1, 2))):
                session.add(
                    OrderItem(
                        order_id=order_id,
                        product_name="面膜",
                        quantity=rng.choice((0, 1, 2, 3)),
                        unit_price_cents=100,
                        usage_days=rng.choice((None, 0, 30, 45)),
                    )
                )
        if rng.random() < 0.3:
            session.add(
                RetentionClock(
                    key=f"sleeping:customer:{cid}",
                    kind="sleeping",
                    customer_id=cid,
                    at=now - dt.timedelta(days=rng.randint(0, 99)),
                )
            )
    session.flush()
    for referrer in rng.sample(range(1, customers + 1), max(1, customers // 10)):
        referee = referrer % customers + 1
        if not session.scalar(select(Referral.id).where(Referral.referee_id == referee)):
            session.add(
                Referral(
                    referrer_id=referrer,
                    referee_id=referee,
                    source="typed",
                    status=rng.choice(("rewarded", "pending", "reversed")),
                    created_at=now,
                )
            )
    session.flush()


@pytest.mark.parametrize("customers, seed", [(30, 1), (45, 2), (160, 3), (400, 4)])
def test_set_based_recompute_equals_the_python_rules(db, customers, seed):
    rng = random.Random(seed)
    with db.session() as s:
        generate(s, rng, customers, NOW)
    for now in (NOW, NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=45, hours=3)):
        with db.session() as s:
            expected, expected_clocks = reference(s, now)
            result = segments.recompute_all(s, now)
        with db.read_session() as s:
            actual, clocks = stored(s)
        assert_same(actual, expected)
        assert set(clocks) >= set(expected_clocks)
        for cid, at in expected_clocks.items():
            assert not segments._differs(clocks[cid], at), (cid, clocks[cid], at)
        assert result.customers == customers
        # Nothing left to change: a second run at the same moment writes nothing.
        with db.session() as s:
            again = segments.recompute_all(s, now)
        assert (again.updated, again.clocks_written, again.changed_stage) == (0, 0, 0)
    buyers = sum(1 for v in actual.values() if v["rfm_r"] is not None)
    assert (buyers >= segments.RFM_MIN_POOL) == (customers >= 100)  # both RFM paths are exercised


def test_stage_flips_exactly_at_the_sleeping_boundary(db):
    """At ``sleeping_at`` to the microsecond the customer is sleeping; a microsecond earlier, not."""
    first = NOW - dt.timedelta(days=100)
    with db.session() as s:
        s.add(Customer(id=1, openid="o_edge", stage="prospect", created_at=first))
        s.flush()
        for n, created in enumerate((first, first + dt.timedelta(days=10, microseconds=3)), start=1):
            s.add(
                Order(
                    id=n,
                    customer_id=1,
                    status=OrderStatus.RECEIVED,
                    amount_cents=100,
                    created_at=created,
                    updated_at=created,
                )
            )
    last = first + dt.timedelta(days=10, microseconds=3)
    cycle = dt.timedelta(days=10, microseconds=3).total_seconds() / 86400  # the median of one gap
    boundary = segments.sleeping_at(last, cycle)  # 60 days (1.5 × cycle is less)
    for now, stage in ((boundary - dt.timedelta(microseconds=1), "returning"), (boundary, "sleeping")):
        with db.session() as s:
            segments.recompute_all(s, now)
        with db.read_session() as s:
            assert s.get(Customer, 1).stage == stage, now


def test_sqlite_before_3_38_converts_times_with_strftime(db, monkeypatch):
    """SQLite without ``unixepoch()`` (before 3.38) gets the same microseconds from ``strftime('%s')``."""
    import types

    monkeypatch.setattr(segments, "sqlite3", types.SimpleNamespace(sqlite_version_info=(3, 37, 2)))
    assert "strftime" in segments._epoch_us("sqlite", "created_at")
    test_set_based_recompute_equals_the_python_rules(db, 160, 5)
