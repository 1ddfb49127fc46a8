"""Time full scheduler ticks and each sweep in them on a generated shop, next to a
`SELECT count(*) FROM orders` baseline measured in the same run.

Usage:
    python bench/bench_sweeps.py [CUSTOMERS] [ORDERS_PER_CUSTOMER] [DATABASE_URL]

Defaults: 10000 customers × 3 orders on a fresh SQLite file in a temporary directory. With a
PostgreSQL URL the schema is dropped and recreated: point it at a scratch database.

The shop: a year of orders (spread evenly, each shipped a day later, 1–3 units of a catalogue
product with usage days 30–90), one inquiry per ten customers over the last ten days, solar and
lunar birthdays, a few opted-out customers and open complaints. Orders are bulk-inserted (not
through the order hook); the daily segments sweep then computes stages and backfills the supply
clocks, as it does after an import.

Six ticks (``scheduler.tick.run_tick``, delivery paused so the drain sends nothing): the first
after the import (two days before Mid-Autumn: the festival greeting is due to the whole pool),
the same tick repeated, a tick ten days later at 04:00 Shanghai (the daily recompute runs, and ten
days of supply clocks fall due), the same repeated, the next day at 04:00 (an ordinary day's
recompute) and an hour later. A repeated tick has nothing due: its time is what the pool costs.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text  # noqa: E402

from app import create_app  # noqa: E402
from bot.delivery.drain import PAUSE_KEY  # noqa: E402
from scheduler import registry, retention, tick  # noqa: E402
from scheduler.registry import Sweep  # noqa: E402
from scheduler.tick import run_tick  # noqa: E402
from storage import kv, migrate, segment_moments  # noqa: E402
from storage.db import Database, get_db  # noqa: E402
from storage.models import Complaint, Customer, Inquiry, Order, OrderItem, OutboxMessage, Product  # noqa: E402

NOW = dt.datetime(2027, 9, 13, 1, 0, tzinfo=dt.UTC)  # two days before Mid-Autumn 2027 (Shanghai)
CONFIG = {"TIMEZONE": "Asia/Shanghai"}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def generate(db: Database, customers: int, orders_per_customer: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = NOW.replace(tzinfo=None)
    products = [(f"商品{i}", 5000 + 1000 * i, rng.choice((30, 45, 60, 90))) for i in range(10)]
    with db.session() as s:
        s.execute(
            Product.__table__.insert(),
            [
                {
                    "name": name,
                    "price_cents": price,
                    "usage_days": days,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for name, price, days in products
            ],
        )
    with db.session() as s:
        catalogue = s.execute(select(Product.id, Product.price_cents, Product.usage_days, Product.name)).all()

    batch = 2000
    order_id = 0
    for start in range(0, customers, batch):
        ids = range(start + 1, min(start + batch, customers) + 1)
        customer_rows, order_rows, item_rows, inquiry_rows, complaint_rows = [], [], [], [], []
        for cid in ids:
            lunar = rng.random() < 0.3
            customer_rows.append(
                {
                    "id": cid,
                    "openid": f"o_bench_{cid}",
                    "name": f"客户{cid}",
                    "stage": "prospect",
                    "birthday_month": rng.randint(1, 12),
                    "birthday_day": rng.randint(1, 30 if lunar else 28),
                    "birthday_is_lunar": lunar,
                    "subscribed": True,
                    "opted_out": rng.random() < 0.03,
                    "unreachable": False,
                    "created_at": now - dt.timedelta(days=400),
                    "updated_at": now,
                }
            )
            for _ in range(orders_per_customer):
                order_id += 1
                created = now - dt.timedelta(days=rng.uniform(0, 365))
                product = rng.choice(catalogue)
                quantity = rng.randint(1, 3)
                order_rows.append(
                    {
                        "id": order_id,
                        "customer_id": cid,
                        "status": "received",
                        "amount_cents": product.price_cents * quantity,
                        "source": "import",
                        "created_at": created,
                        "paid_at": created,
                        "shipped_at": created + dt.timedelta(days=1),
                        "received_at": created + dt.timedelta(days=3),
                        "updated_at": created,
                    }
                )
                item_rows.append(
                    {
                        "order_id": order_id,
                        "product_id": product.id,
                        "product_name": product.name,
                        "quantity": quantity,
                        "unit_price_cents": product.price_cents,
                        "usage_days": product.usage_days,
                    }
                )
            if cid % 10 == 0:
                inquiry_rows.append(
                    {
                        "customer_id": cid,
                        "text": "多少钱",
                        "topic": "price",
                        "status": "open",
                        "created_at": now - dt.timedelta(days=rng.uniform(0, 10)),
                    }
                )
            if cid % 97 == 0:
                complaint_rows.append(
                    {"customer_id": cid, "text": "破损", "status": "open", "created_at": now}
                )
        with db.session() as s:
            s.execute(Customer.__table__.insert(), customer_rows)
            s.execute(Order.__table__.insert(), order_rows)
            s.execute(OrderItem.__table__.insert(), item_rows)
            if inquiry_rows:
                s.execute(Inquiry.__table__.insert(), inquiry_rows)
            if complaint_rows:
                s.execute(Complaint.__table__.insert(), complaint_rows)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            for table in ("customer", "orders", "order_item", "inquiry", "complaint", "product"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )
            conn.execute(text("ANALYZE"))


def timed(fn) -> tuple[float, float, object]:
    """Wall and CPU (this process) milliseconds of ``fn()``, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, result


class SweepTimer:
    """Wraps every sweep the tick runs with a timer (the tick's own code and order are unchanged).

    ``scheduler.tick`` reads its module-level ``SWEEPS`` at each call; it is swapped for a copy whose
    ``run`` records wall and CPU time. The segments sweep enqueues nothing; the rows it writes
    (customers updated, clocks written) are taken from ``recompute_due`` and the supply backfill,
    and so is the number of customers the recompute touched (recomputed: due, or moved by a cut-off).
    """

    def __init__(self) -> None:
        self.times: dict[str, tuple[float, float, int]] = {}
        self.segment_rows = 0
        self.touched: dict[str, tuple[int, float]] = {}  # tick label → (customers touched, recompute ms)
        self.label = ""

    def install(self) -> None:
        self._sweeps, self._recompute, self._backfill = (
            tick.SWEEPS,
            segment_moments.recompute_due,
            retention.backfill_supply_clocks,
        )
        tick.SWEEPS = [Sweep(s.name, self._wrap(s), s.marketing, s.description) for s in registry.SWEEPS]

        def recompute(session, now, **kw):
            wall, cpu, result = timed(lambda: self._recompute(session, now, **kw))
            self.segment_rows += result.updated + result.clocks_written
            self.touched[self.label] = (result.touched, wall, cpu)
            return result

        def backfill(session, **kw):
            created = self._backfill(session, **kw)
            self.segment_rows += created
            return created

        segment_moments.recompute_due, retention.backfill_supply_clocks = recompute, backfill

    def _wrap(self, sweep: Sweep):
        def run(session, now, config):
            self.segment_rows = 0
            wall, cpu, rows = timed(lambda: sweep.run(session, now, config))
            self.times[sweep.name] = (wall, cpu, int(rows) + self.segment_rows)
            return rows

        return run


def pause_delivery(db: Database, until: dt.datetime) -> None:
    """Delivery is paused (as after a 45009), so the tick's drain stops after its entry checks:
    sending is paced by the rate limit, not by the pool (``bench_drain.py`` measures it)."""
    with db.session() as s:
        kv.set_value(s, PAUSE_KEY, until.isoformat(), until - dt.timedelta(days=400), until)


def main(argv: list[str]) -> None:
    customers = int(argv[1]) if len(argv) > 1 else 10_000
    per_customer = int(argv[2]) if len(argv) > 2 else 3
    url = argv[3] if len(argv) > 3 else f"sqlite:///{tempfile.mkdtemp(prefix='sweeps_bench_')}/bench.db"
    db = Database(url)
    migrate.recreate(db)
    generated_ms, generated_cpu, _ = timed(lambda: generate(db, customers, per_customer))
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    print(
        f"# {db.engine.dialect.name}: {customers} customers × {per_customer} orders "
        f"(generated in {generated_ms / 1000:.1f} s), now = {NOW.isoformat()}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )

    def baseline() -> int:
        with db.read_session() as s:
            return s.scalar(select(func.count()).select_from(Order))

    baseline()  # warm the cache like the sweeps will be
    base_ms, base_cpu, count = timed(baseline)
    print(
        f"{'baseline SELECT count(*) FROM orders':44s} {base_ms:9.1f} ms wall {base_cpu:8.1f} ms CPU"
        f"   ({count} orders)"
    )
    print(
        "# a tick = every sweep in scheduler.registry.SWEEPS (each its own transaction) + the outbox drain;"
    )
    print("# delivery is paused, so the drain only resolves interrupted rows and stops (see bench_drain.py).")
    print("# CPU is this process's (on PostgreSQL the server's CPU is not in it).")

    app = create_app(
        {
            **CONFIG,
            "DATABASE_URL": url,
            "AUTO_MIGRATE": False,
            "TESTING": True,
            "SECRET_KEY": "bench",
            "WECHAT_TOKEN": "bench",
            "WECHAT_APP_ID": "wx_bench",
        }
    )
    timer = SweepTimer()
    timer.install()
    tick_db = get_db(app)
    pause_delivery(tick_db, NOW + dt.timedelta(days=365))
    local_4am = dt.datetime.combine(NOW.astimezone(SHANGHAI).date(), dt.time(4), tzinfo=SHANGHAI)
    quiet_day = (local_4am + dt.timedelta(days=10)).astimezone(dt.UTC)
    ticks = [
        ("first tick after the import (festival eve)", NOW),
        ("same tick repeated", NOW),
        ("10 days later, 04:00 (daily recompute)", quiet_day),
        ("same tick repeated", quiet_day),
        ("next day, 04:00 (daily recompute)", quiet_day + dt.timedelta(days=1)),
        ("an hour later", quiet_day + dt.timedelta(days=1, hours=1)),
    ]
    print(f"\n{'tick':44s} {'wall':>9s}    {'CPU':>9s}     {'rows':>7s}  {'wall/baseline':>13s}")
    summaries = []
    for number, (label, at) in enumerate(ticks, start=1):
        timer.times, timer.label = {}, f"#{number} {label}"
        wall, cpu, summary = timed(lambda at=at: run_tick(app, at=at))
        if summary.errors:
            raise SystemExit(f"tick errors: {summary.errors}")
        rows = sum(r for _, _, r in timer.times.values())
        print(f"{label:44s} {wall:9.1f} ms {cpu:9.1f} ms {rows:9d}  {wall / base_ms:12.0f}×")
        summaries.append((label, at, wall, cpu, rows, dict(timer.times)))
        if len(summaries) == 1:
            # The first tick wrote the import's clocks and a festival's worth of outbox rows: refresh
            # the planner's statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE would.
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            print(f"{'(ANALYZE)':44s}")
    print(
        f"\n{'sweep (wall ms / rows written) per tick':44s}"
        + "".join(f" {'#' + str(i + 1):>15s}" for i in range(len(ticks)))
    )
    for sweep in registry.SWEEPS:
        cells = []
        for *_, times in summaries:
            wall, _, rows = times.get(sweep.name, (0.0, 0.0, 0))
            cells.append(f"{wall:9.1f}/{rows:<5d}")
        print(f"{sweep.name:44s}" + "".join(f" {c:>15s}" for c in cells))
    first = summaries[0]
    print(
        f"\n# first tick: {first[2] / max(first[4], 1):.3f} ms wall per row written ({first[4]} rows); "
        f"repeated ticks (nothing due): {summaries[1][2]:.0f}, {summaries[3][2]:.0f} ms; "
        f"an hour later: {summaries[5][2]:.0f} ms"
    )
    print("\n# segments recompute (retention.segments): customers recomputed of the pool, wall and CPU")
    for label, (touched, wall, cpu) in timer.touched.items():
        print(
            f"{label:44s} {touched:9d} of {customers} customers  {wall:9.1f} ms wall {cpu:9.1f} ms CPU"
            f"  ({cpu * 1000 / max(touched, 1):.1f} µs CPU per customer touched)"
        )
    with db.read_session() as s:
        rows = s.execute(select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)).all()
    print("# outbox:", ", ".join(f"{kind} {n}" for kind, n in sorted(rows)))
    tick_db.dispose()
    db.dispose()


if __name__ == "__main__":
    main(sys.argv)
