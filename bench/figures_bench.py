"""Time the seller's ``统计`` queries (storage/figures.py) on a pool of N customers.

    PYTHONPATH=. python bench/figures_bench.py                      # 100,000 customers, SQLite temp file
    PYTHONPATH=. python bench/figures_bench.py --url postgresql+psycopg://huitou@127.0.0.1:55433/db

Seeds N customers (created over two years, spread over stages and classes), ~60% of them with 1-6
orders over the same two years, and some referrals; recomputes the segments as of three days
before (the stored stages the daily sweep left, three days stale); then runs ``business_figures``
a few times and prints the best and median wall time. The PostgreSQL database's tables are emptied first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, text

from storage import migrate, segment_moments, segments
from storage.db import Database
from storage.figures import business_figures
from storage.models import Customer, Order, Referral

STAGES = ("prospect", "new", "returning", "loyal", "fan", "sleeping", "lost")
CLASSES = ("A", "B", "C", "D", None)
STATUSES = ("pending", "paid", "shipped", "received", "received", "received", "cancelled")
CHUNK = 5000


def seed(database: Database, customers: int, now: dt.datetime, rng: random.Random) -> int:
    span = 730 * 86400
    orders_made = 0
    with database.engine.begin() as conn:
        for start in range(0, customers, CHUNK):
            rows = [
                {
                    "id": i + 1,
                    "openid": f"o_bench_{i}",
                    "name": f"客户{i}",
                    "stage": rng.choice(STAGES),
                    "customer_class": rng.choice(CLASSES),
                    "subscribed": True,
                    "opted_out": False,
                    "unreachable": False,
                    "birthday_is_lunar": False,
                    "created_at": now - dt.timedelta(seconds=rng.randrange(span)),
                    "updated_at": now,
                }
                for i in range(start, min(start + CHUNK, customers))
            ]
            conn.execute(insert(Customer.__table__), rows)
            orders = []
            for row in rows:
                if rng.random() < 0.6:
                    for _ in range(rng.randint(1, 6)):
                        orders_made += 1
                        created = now - dt.timedelta(seconds=rng.randrange(span))
                        orders.append(
                            {
                                "id": orders_made,
                                "customer_id": row["id"],
                                "status": rng.choice(STATUSES),
                                "amount_cents": rng.randrange(5000, 50000),
                                "source": "chat",
                                "created_at": created,
                                "updated_at": created,
                            }
                        )
            if orders:
                conn.execute(insert(Order.__table__), orders)
        referrals = [
            {
                "referrer_id": rng.randint(1, customers),
                "referee_id": i,
                "source": "qr",
                "status": rng.choice(("pending", "rewarded", "rejected")),
                "created_at": now - dt.timedelta(seconds=rng.randrange(span)),
            }
            for i in range(1, customers + 1, 10)
        ]
        conn.execute(insert(Referral.__table__), referrals)
        if database.engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    return orders_made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--url", help="database URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        database = Database(url)
        migrate.recreate(database)
        now = dt.datetime(2026, 11, 25, 6, 0)
        started = time.perf_counter()
        orders = seed(database, args.customers, now, random.Random(7))
        print(
            f"seeded {args.customers:,} customers, {orders:,} orders in {time.perf_counter() - started:.1f} s "
            f"({database.engine.dialect.name})"
        )
        # The stored stages as the daily recompute left them three days ago: 统计 corrects the ones
        # time has moved since (storage.segments.stale_stages).
        started = time.perf_counter()
        with database.session() as session:
            segment_moments.recompute_all(session, now - dt.timedelta(days=3))
        with database.read_session() as session:
            stale = len(segments.stale_stages(session, now))
        print(
            f"recomputed 3 days before in {time.perf_counter() - started:.1f} s; {stale:,} stages moved since"
        )
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            with database.read_session() as session:
                periods, pool = business_figures(session, now, "Asia/Shanghai", ["o_seller"])
            timings.append(time.perf_counter() - started)
        month = periods["month"]
        print(
            f"month: {month.orders} orders, revenue {month.revenue_cents / 100:.0f}, "
            f"repurchase {month.repurchase_rate:.0%}; pool {pool.total}"
        )
        print(
            f"统计 queries: best {min(timings) * 1000:.0f} ms, median {statistics.median(timings) * 1000:.0f} ms "
            f"over {args.runs} runs"
        )
        database.dispose()


if __name__ == "__main__":
    main()
