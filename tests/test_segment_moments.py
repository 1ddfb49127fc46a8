"""The daily segments recompute (``storage.segment_moments``).

The full recompute gives exactly what the pure Python rules give, customer by customer, on
generated pools: ties in spend, order counts and last-order times, fewer and more than
``RFM_MIN_POOL`` buyers, cancelled orders, orders older than 12 months, distributor tags, rewarded
referrals, stale stored values and missing clocks. The incremental recompute, run after random
changes (orders through the order hook and without it, cancellations, tags, referrals, new
customers) and random clock advances (idle days included), stores what the full recompute stores:
stages, classes, RFM, clocks, the 12-month facts and every customer's next moment."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import time_machine
from sqlalchemy import select, text, update

from storage import orders, segment_moments, segments
from storage.models import (
    Customer,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    Referral,
    RetentionClock,
    SegmentWindow,
)

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


DERIVED = (
    "stage",
    "customer_class",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_segment",
    "median_interval_days",
    "expected_next_purchase_at",
    "last_order_at",
)


def stored(session) -> tuple[dict[int, dict], dict[int, dt.datetime]]:
    rows = session.execute(select(Customer.id, *(getattr(Customer, name) for name in DERIVED))).all()
    clocks = dict(
        session.execute(
            select(RetentionClock.customer_id, RetentionClock.at).where(RetentionClock.kind == "sleeping")
        ).all()
    )
    return {r.id: {name: getattr(r, name) for name in DERIVED} for r in rows}, clocks


def assert_same(actual: dict, expected: dict) -> None:
    for cid, values in expected.items():
        for name, value in values.items():
            got = actual[cid][name]
            assert not _differs(got, value), (cid, name, got, value)


def _differs(old, new) -> bool:
    if isinstance(old, float) and isinstance(new, float):
        return abs(old - new) > 1e-6
    if isinstance(old, dt.datetime) and isinstance(new, dt.datetime):
        return abs((old - new).total_seconds()) >= 1e-6
    return old != new


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
def test_full_recompute_equals_the_python_rules(db, customers, seed):
    rng = random.Random(seed)
    with db.session() as s:
        generate(s, rng, customers, NOW)
    for now in (NOW, NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=45, hours=3)):
        with db.session() as s:
            expected, expected_clocks = reference(s, now)
            result = segment_moments.recompute_all(s, now)
        with db.read_session() as s:
            actual, clocks = stored(s)
        assert_same(actual, expected)
        assert set(clocks) >= set(expected_clocks)
        for cid, at in expected_clocks.items():
            assert not _differs(clocks[cid], at), (cid, clocks[cid], at)
        assert result.customers == customers
        # Nothing left to change: a second run at the same moment writes nothing.
        with db.session() as s:
            again = segment_moments.recompute_all(s, now)
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
            segment_moments.recompute_all(s, now)
        with db.read_session() as s:
            assert s.get(Customer, 1).stage == stage, now


# --- incremental = full -----------------------------------------------------------------------------


def snapshot(session) -> tuple[dict, dict, dict]:
    """Everything the recompute stores: customer fields and moments, sleeping clocks, 12-month facts."""
    customers = {
        row.id: tuple(row[1:])
        for row in session.execute(
            select(Customer.id, *(getattr(Customer, name) for name in DERIVED), Customer.segment_due_at)
        )
    }
    clocks = dict(
        session.execute(
            select(RetentionClock.customer_id, RetentionClock.at).where(RetentionClock.kind == "sleeping")
        ).all()
    )
    windows = {
        row.customer_id: (row.last_at, row.orders, row.cents)
        for row in session.execute(
            select(
                SegmentWindow.customer_id, SegmentWindow.last_at, SegmentWindow.orders, SegmentWindow.cents
            )
        )
    }
    return customers, clocks, windows


def mutate(session, rng: random.Random, now: dt.datetime, next_id: list[int]) -> None:
    """A day's changes: orders through the order hook and written without it, cancellations, tags,
    a referral rewarded or reversed, a new customer."""
    ids = list(session.scalars(select(Customer.id)))
    product = session.scalar(select(Product))
    for _ in range(rng.randint(0, 6)):
        customer = session.get(Customer, rng.choice(ids))
        order = orders.create_order(
            session,
            customer,
            [orders.ItemSpec(product, rng.randint(1, 3), unit_price_cents=rng.choice((0, 5000, 30000)))],
            actor="seller",
            now=now - dt.timedelta(seconds=rng.randint(0, 3600)),
        )
        if rng.random() < 0.5:
            orders.transition(session, order, "ship", actor="seller", now=now)
    for _ in range(rng.randint(0, 3)):  # imported history: no hook, found by order id
        session.add(
            Order(
                customer_id=rng.choice(ids),
                status=OrderStatus.RECEIVED,
                amount_cents=rng.choice((5000, 60000)),
                created_at=now - dt.timedelta(days=rng.uniform(0, 400)),
                updated_at=now,
            )
        )
    pending = session.scalars(
        select(Order).where(Order.status.in_((OrderStatus.PENDING, OrderStatus.PAID)))
    ).all()
    for order in rng.sample(pending, min(len(pending), rng.randint(0, 2))):
        orders.transition(session, order, "cancel", actor="seller", now=now)
    for _ in range(rng.randint(0, 2)):
        session.get(Customer, rng.choice(ids)).tags = rng.choice(TAGS)
    referral = session.scalar(select(Referral).order_by(Referral.id).offset(rng.randint(0, 5)).limit(1))
    if referral is not None and rng.random() < 0.5:  # as storage.referrals does: then refresh the referrer
        referral.status = "reversed" if referral.status == "rewarded" else "rewarded"
        session.flush()
        segments.refresh_customer(session, session.get(Customer, referral.referrer_id), now)
    if rng.random() < 0.3:
        next_id[0] += 1
        session.add(Customer(id=next_id[0], openid=f"o_new_{next_id[0]}", stage="prospect", created_at=now))
    session.flush()


@pytest.mark.parametrize("customers, seed", [(40, 11), (120, 12), (300, 13)])
def test_incremental_recompute_stores_what_the_full_one_stores(db, customers, seed):
    """After random changes and clock advances (0 to 40 days: idle days between runs), an incremental
    run leaves exactly what a full recompute then finds: the full one writes nothing."""
    rng = random.Random(seed)
    with db.session() as s:
        generate(s, rng, customers, NOW)
        s.add(
            Product(name="面膜", price_cents=5000, usage_days=30, active=True, created_at=NOW, updated_at=NOW)
        )
        if s.get_bind().dialect.name == "postgresql":  # generate() chose the order ids
            s.execute(
                text("SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders))")
            )
    now = NOW
    next_id = [customers]
    touched = []
    for step in range(12):
        with db.session() as s:
            if step:
                mutate(s, rng, now, next_id)
        with db.session() as s:
            expected, _ = reference(s, now)
            result = segment_moments.recompute_due(s, now)
        touched.append(result.touched)
        with db.read_session() as s:
            after_incremental = snapshot(s)
            actual, _ = stored(s)
        assert_same(actual, expected)
        with db.session() as s:
            full = segment_moments.recompute_all(s, now)
        with db.read_session() as s:
            after_full = snapshot(s)
        assert (full.updated, full.clocks_written, full.changed_stage) == (0, 0, 0), step
        assert after_incremental == after_full, step
        due = [m for m in after_full[0].values() if m[-1] != segment_moments.NEVER]
        assert all(m[-1] > now for m in after_full[0].values())  # every moment lies ahead
        assert due  # and some customers have one
        now += dt.timedelta(days=rng.choice((0, 1, 1, 1, 2, 7, 40)), hours=rng.randint(0, 23))
    assert min(touched[1:]) < len(after_full[0])  # incremental runs touch part of the pool


def test_a_moment_on_a_day_without_a_run_is_caught_by_the_next_run(db):
    """A customer falls asleep on a day the daily recompute did not run: the next run (days later)
    finds their moment passed and moves them; the runs before it write nothing."""
    last = NOW - dt.timedelta(days=50)
    with db.session() as s:
        for cid in (1, 2):
            s.add(Customer(id=cid, openid=f"o_idle_{cid}", stage="prospect", created_at=last))
        s.flush()
        s.add(
            Order(
                id=1,
                customer_id=1,
                status=OrderStatus.RECEIVED,
                amount_cents=100,
                created_at=last,
                updated_at=last,
            )
        )
        recent = NOW - dt.timedelta(days=1)
        s.add(
            Order(
                id=2,
                customer_id=2,
                status=OrderStatus.RECEIVED,
                amount_cents=100,
                created_at=recent,
                updated_at=recent,
            )
        )
    with db.session() as s:
        first = segment_moments.recompute_due(s, NOW)
    assert first.touched == 2
    with db.read_session() as s:
        assert s.get(Customer, 1).stage == "new"
        moment = s.get(Customer, 1).segment_due_at
    assert moment == segments.sleeping_at(last, None)  # 60 days after the only order: day 10 from now
    # The runs of days 1..9 see nothing due; the recompute does not run on days 10..14; day 15 runs.
    for day in range(1, 10):
        with db.session() as s:
            quiet = segment_moments.recompute_due(s, NOW + dt.timedelta(days=day))
        assert (quiet.updated, quiet.changed_stage) == (0, 0), day
    with db.session() as s:
        late = segment_moments.recompute_due(s, NOW + dt.timedelta(days=15))
    assert (late.updated, late.changed_stage) == (1, 1)
    with db.read_session() as s:
        customer = s.get(Customer, 1)
        assert customer.stage == "sleeping"
        # next: recency passes 90 days (under 50 buyers RFM has fixed cut-offs), before lost at 180
        assert customer.segment_due_at == last + dt.timedelta(days=90, microseconds=1)
        assert customer.rfm_r == 3  # 65 days since the order
        assert s.get(Customer, 2).stage == "new"


def test_segments_recompute_command_runs_the_due_and_full_repairs(db, runner):
    """``huitou segments recompute`` recomputes the customers due; a stage edited in the database by
    hand (no input changed, so nothing is due) is repaired by ``--full``."""
    created = NOW - dt.timedelta(days=5)
    with db.session() as s:
        s.add(Customer(id=1, openid="o_cli_1", stage="prospect", created_at=created))
        s.flush()
        s.add(
            Order(
                id=1,
                customer_id=1,
                status=OrderStatus.PAID,
                amount_cents=9900,
                created_at=created,
                updated_at=created,
            )
        )
    with time_machine.travel(NOW.replace(tzinfo=dt.UTC), tick=False):
        first = runner.invoke(args=["segments", "recompute"])
        assert first.exit_code == 0, first.output
        assert "已重算 1 位客户（共 1 位）" in first.output
        with db.session() as s:
            s.execute(update(Customer.__table__).values(stage="loyal"))  # a hand edit: no listener sees it
        again = runner.invoke(args=["segments", "recompute"])
        assert "更新 0 位，阶段变化 0 位" in again.output
        with db.read_session() as s:
            assert s.get(Customer, 1).stage == "loyal"
        full = runner.invoke(args=["segments", "recompute", "--full"])
    assert full.exit_code == 0, full.output
    assert "已重算 1 位客户（共 1 位）：更新 1 位，阶段变化 1 位" in full.output
    with db.read_session() as s:
        customer = s.get(Customer, 1)
        assert (customer.stage, customer.customer_class, customer.rfm_segment) == ("new", "A", "new")
