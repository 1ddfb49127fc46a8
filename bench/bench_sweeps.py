"""Time each retention sweep on a generated shop, next to a `SELECT count(*) FROM orders` baseline.

Usage:
    python bench/bench_sweeps.py [CUSTOMERS] [ORDERS_PER_CUSTOMER] [DATABASE_URL]

Defaults: 10000 customers × 3 orders on a fresh SQLite file in a temporary directory. With a
PostgreSQL URL the schema is dropped and recreated: point it at a scratch database.

The shop: a year of orders (spread evenly, each shipped a day later, 1–3 units of a catalogue
product with usage days 30–90), one inquiry per ten customers over the last ten days, solar and
lunar birthdays, a few opted-out customers and open complaints. Orders are bulk-inserted (not
through the order hook); the daily segments sweep then computes stages and backfills the supply
clocks, as it does after an import. Each sweep runs twice at the same ``now``: the first run
enqueues what is due, the second (a repeated tick) must enqueue nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text  # noqa: E402

from scheduler import retention  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Complaint, Customer, Inquiry, Order, OrderItem, OutboxMessage, Product  # noqa: E402

NOW = dt.datetime(2027, 9, 13, 1, 0, tzinfo=dt.UTC)  # two days before Mid-Autumn 2027 (Shanghai)
CONFIG = {"TIMEZONE": "Asia/Shanghai"}


def generate(db: Database, customers: int, orders_per_customer: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = NOW.replace(tzinfo=None)
    products = [(f"商品{i}", 5000 + 1000 * i, rng.choice((30, 45, 60, 90))) for i in range(10)]
    with db.session() as s:
        s.execute(Product.__table__.insert(), [
            {"name": name, "price_cents": price, "usage_days": days, "active": True, "created_at": now,
             "updated_at": now} for name, price, days in products])
    with db.session() as s:
        catalogue = s.execute(select(Product.id, Product.price_cents, Product.usage_days, Product.name)).all()

    batch = 2000
    order_id = 0
    for start in range(0, customers, batch):
        ids = range(start + 1, min(start + batch, customers) + 1)
        customer_rows, order_rows, item_rows, inquiry_rows, complaint_rows = [], [], [], [], []
        for cid in ids:
            lunar = rng.random() < 0.3
            customer_rows.append({
                "id": cid, "openid": f"o_bench_{cid}", "name": f"客户{cid}", "stage": "prospect",
                "birthday_month": rng.randint(1, 12), "birthday_day": rng.randint(1, 30 if lunar else 28),
                "birthday_is_lunar": lunar, "subscribed": True, "opted_out": rng.random() < 0.03,
                "unreachable": False, "created_at": now - dt.timedelta(days=400), "updated_at": now,
            })
            for _ in range(orders_per_customer):
                order_id += 1
                created = now - dt.timedelta(days=rng.uniform(0, 365))
                product = rng.choice(catalogue)
                quantity = rng.randint(1, 3)
                order_rows.append({
                    "id": order_id, "customer_id": cid, "status": "received", "amount_cents": product.price_cents * quantity,
                    "source": "import", "created_at": created, "paid_at": created,
                    "shipped_at": created + dt.timedelta(days=1), "received_at": created + dt.timedelta(days=3),
                    "updated_at": created,
                })
                item_rows.append({"order_id": order_id, "product_id": product.id, "product_name": product.name,
                                  "quantity": quantity, "unit_price_cents": product.price_cents,
                                  "usage_days": product.usage_days})
            if cid % 10 == 0:
                inquiry_rows.append({"customer_id": cid, "text": "多少钱", "topic": "price", "status": "open",
                                     "created_at": now - dt.timedelta(days=rng.uniform(0, 10))})
            if cid % 97 == 0:
                complaint_rows.append({"customer_id": cid, "text": "破损", "status": "open", "created_at": now})
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
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT coalesce(max(id), 1) FROM {table}))"))
            conn.execute(text("ANALYZE"))


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def main(argv: list[str]) -> None:
    customers = int(argv[1]) if len(argv) > 1 else 10_000
    per_customer = int(argv[2]) if len(argv) > 2 else 3
    url = argv[3] if len(argv) > 3 else f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    db = Database(url)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(db)
    generated_ms, _ = timed(lambda: generate(db, customers, per_customer))
    if db.engine.dialect.name == "sqlite":
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    print(f"# {db.engine.dialect.name}: {customers} customers × {per_customer} orders "
          f"(generated in {generated_ms / 1000:.1f} s), now = {NOW.isoformat()}")

    def baseline() -> int:
        with db.read_session() as s:
            return s.scalar(select(func.count()).select_from(Order))

    baseline()  # warm the cache like the sweeps will be
    base_ms, count = timed(baseline)
    print(f"{'baseline SELECT count(*) FROM orders':40s} {base_ms:9.1f} ms   ({count} orders)")
    print(f"{'sweep':40s} {'1st run':>9s}    {'rows':>6s}   {'2nd run':>9s}  {'rows':>4s}  {'1st/baseline':>12s}")
    for sweep in retention.RETENTION_SWEEPS:
        results = []
        for _ in range(2):
            def run(sweep=sweep):
                with db.session() as s:
                    return sweep.run(s, NOW, CONFIG)
            results.append(timed(run))
        (first_ms, first_rows), (second_ms, second_rows) = results
        print(f"{sweep.name:40s} {first_ms:9.1f} ms {first_rows:6d}   {second_ms:9.1f} ms {second_rows:4d}"
              f"  {first_ms / base_ms:11.1f}×")
    # The daily recompute on an ordinary day (the first run above also backfilled every clock).
    def next_day():
        with db.session() as s:
            return retention.sweep_segments(s, NOW + dt.timedelta(days=1), CONFIG)
    day_ms, _ = timed(next_day)
    print(f"{'retention.segments (next day)':40s} {day_ms:9.1f} ms")
    with db.read_session() as s:
        rows = s.execute(select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)).all()
    print("# outbox:", ", ".join(f"{kind} {n}" for kind, n in sorted(rows)))
    db.dispose()


if __name__ == "__main__":
    main(sys.argv)
