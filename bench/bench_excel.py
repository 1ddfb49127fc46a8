"""Benchmark of the Excel export and import (not part of the test suite).

    python bench/bench_excel.py 1000 10000 100000

For each size N: a fresh SQLite pool of N customers with 3 orders each (one item per order) is
exported with ``export_workbook``; the exported workbook is then imported into an empty pool with
``import_file`` (N new customers). Each measurement runs in its own child process, which reports
its wall time and peak resident memory (ru_maxrss). The baselines, measured in the same run:
openpyxl write-only writing the same sheets with the same row and column counts of plain values
(no database, no types, no styles), and openpyxl read-only reading the same workbook.
Children import the same modules before measuring, so their memory starts from the same base.

To measure the import alone (build the workbook once, then import it as often as needed):

    python bench/bench_excel.py --build 100000 /tmp/huitou-100k.xlsx
    python bench/bench_excel.py --import /tmp/huitou-100k.xlsx [--again] [--code DIR] [--profile]

``--import`` imports the workbook into a fresh empty SQLite pool in a child process and prints its
CPU time, rows/s and peak memory; ``--again`` imports it once more into the pool it filled (every
row matched and unchanged: a re-import) and prints that CPU time too; ``--code DIR`` runs the child
against another checkout's code (e.g. the code before a change, measured alternately with this
one); ``--profile`` adds a cProfile of the import (by own and by cumulative time) to stderr.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The code under test: this checkout, or another one's (``--code``, passed to children by environment).
CODE = Path(os.environ.get("HUITOU_BENCH_CODE") or ROOT)
sys.path.insert(0, str(CODE))

ORDERS_PER_CUSTOMER = 3
NOW = dt.datetime(2026, 11, 1)
ADDRESSES = [
    ("广东省", "深圳市", "南山区", "科技园路{n}号"),
    ("浙江省", "杭州市", "西湖区", "文三路{n}号"),
    ("北京市", "北京市", "朝阳区", "建国路{n}号"),
    ("四川省", "成都市", "武侯区", "人民南路{n}号"),
]


def _app(url: str):
    from app import create_app

    return create_app(
        {"DATABASE_URL": url, "SECRET_KEY": "bench", "WECHAT_TOKEN": "bench", "AUTO_MIGRATE": True}
    )


def seed(url: str, customers: int) -> None:
    """N customers, 3 orders each: bulk inserts (executemany), in batches."""
    from sqlalchemy import insert

    from storage.db import get_db
    from storage.models import Customer, Order, OrderItem, Product

    database = get_db(_app(url))
    with database.session() as session:
        session.execute(
            insert(Product),
            [
                {"id": 1, "name": "面膜", "price_cents": 9900, "usage_days": 30},
                {"id": 2, "name": "眼霜", "price_cents": 15800, "usage_days": 60},
            ],
        )
    batch = 5000
    order_id = 0
    for start in range(1, customers + 1, batch):
        ids = range(start, min(start + batch, customers + 1))
        people, orders, items = [], [], []
        for cid in ids:
            province, city, district, detail = ADDRESSES[cid % len(ADDRESSES)]
            people.append(
                {
                    "id": cid,
                    "openid": f"o_{cid:08d}",
                    "name": f"客户{cid}",
                    "nickname": f"昵称{cid}",
                    "phone": f"13{cid:09d}",
                    "province": province,
                    "city": city,
                    "district": district,
                    "address_detail": detail.format(n=cid),
                    "tags": "VIP" if cid % 5 == 0 else None,
                    "source": "朋友圈",
                    "stage": "prospect",
                    "opted_out": False,
                    "subscribed": True,
                    "unreachable": False,
                    "birthday_is_lunar": False,
                    "birthday_month": 1 + cid % 12,
                    "birthday_day": 1 + cid % 28,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
            for k in range(ORDERS_PER_CUSTOMER):
                order_id += 1
                product = 1 + (cid + k) % 2
                created = NOW - dt.timedelta(days=300 - 40 * k - cid % 30)
                orders.append(
                    {
                        "id": order_id,
                        "customer_id": cid,
                        "status": "received",
                        "amount_cents": 9900 * 2,
                        "recipient_name": f"客户{cid}",
                        "phone": f"13{cid:09d}",
                        "province": province,
                        "city": city,
                        "district": district,
                        "address_detail": detail.format(n=cid),
                        "courier": "顺丰",
                        "tracking_no": f"SF{order_id:012d}",
                        "source": "chat",
                        "created_at": created,
                        "updated_at": created,
                        "paid_at": created,
                        "shipped_at": created,
                        "received_at": created,
                    }
                )
                items.append(
                    {
                        "order_id": order_id,
                        "product_id": product,
                        "product_name": ["面膜", "眼霜"][product - 1],
                        "quantity": 2,
                        "unit_price_cents": 9900,
                        "usage_days": 30,
                    }
                )
        with database.session() as session:
            session.execute(insert(Customer), people)
            session.execute(insert(Order), orders)
            session.execute(insert(OrderItem), items)
    database.dispose()


# --- Measured children ------------------------------------------------------------------------------


def _preload() -> None:
    """Same imports in every child, so peak memory figures share one base."""
    import openpyxl  # noqa: F401

    import app  # noqa: F401
    import storage.excel_export  # noqa: F401
    import storage.excel_import  # noqa: F401
    from storage.contact import split_address

    split_address("广东省深圳市南山区科技园路1号")  # load cpca's tables


def child_export(url: str, target: str) -> dict:
    from storage.db import get_db
    from storage.excel_export import export_workbook

    database = get_db(_app(url))
    start = time.perf_counter()
    with database.read_session() as session:
        summary = export_workbook(session, target, timezone="Asia/Shanghai", now=NOW)
    return {"seconds": time.perf_counter() - start, "rows": summary.rows}


def child_baseline_write(target: str, rows_json: str) -> dict:
    from openpyxl import Workbook

    from storage.excel_export import (
        CUSTOMER_COLUMNS,
        INQUIRY_COLUMNS,
        ORDER_COLUMNS,
        PRODUCT_COLUMNS,
        REFERRAL_COLUMNS,
        REWARD_COLUMNS,
    )

    rows = json.loads(rows_json)
    widths = {
        "客户": len(CUSTOMER_COLUMNS),
        "订单": len(ORDER_COLUMNS),
        "咨询": len(INQUIRY_COLUMNS),
        "转介绍": len(REFERRAL_COLUMNS),
        "积分": len(REWARD_COLUMNS),
        "回购分析": len(PRODUCT_COLUMNS),
        "概览": 3,
    }
    start = time.perf_counter()
    workbook = Workbook(write_only=True)
    for title, width in widths.items():
        sheet = workbook.create_sheet(title)
        sheet.append([f"列{i}" for i in range(width)])
        for n in range(rows.get(title, 0)):
            sheet.append([n if i % 2 else f"值{n}" for i in range(width)])
    workbook.save(target)
    return {"seconds": time.perf_counter() - start}


def child_import(url: str, source: str, profile: str = "", again: str = "") -> dict:
    from storage.db import get_db
    from storage.excel_import import import_file

    database = get_db(_app(url))
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start, cpu = time.perf_counter(), time.process_time()
    report = import_file(
        database, source, now=NOW, error_report=Path(url.removeprefix("sqlite:///") + ".err.xlsx")
    )
    result = {
        "seconds": time.perf_counter() - start,
        "import_cpu": time.process_time() - cpu,
        "rows": report.rows,
        "created": report.created,
        "bad": len(report.bad_rows),
    }
    if again:  # the same file once more into the pool it just filled: every row matched, unchanged
        cpu = time.process_time()
        report = import_file(database, source, now=NOW, error_report=None, dry_run=False)
        result["again_cpu"] = time.process_time() - cpu
        result["again_unchanged"] = report.unchanged
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(40)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(50)
    return result


def child_baseline_read(source: str) -> dict:
    from openpyxl import load_workbook

    start = time.perf_counter()
    workbook = load_workbook(source, read_only=True, data_only=True)
    count = sum(1 for _row in workbook["客户"].iter_rows(values_only=True))
    workbook.close()
    return {"seconds": time.perf_counter() - start, "rows": count}


CHILDREN = {
    "export": child_export,
    "baseline_write": child_baseline_write,
    "import": child_import,
    "baseline_read": child_baseline_read,
}


def run_child(name: str, *args: str, stderr=subprocess.PIPE) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", name, *args],
        check=True,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        cwd=CODE,
        env={**os.environ, "HUITOU_BENCH_CODE": str(CODE)},
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def build(size: int, target: Path) -> None:
    """Seed a pool of ``size`` customers and export it to ``target`` (kept for ``--import``)."""
    with tempfile.TemporaryDirectory(prefix="huitou-bench-") as workdir:
        pool = f"sqlite:///{Path(workdir) / 'pool.db'}"
        seed(pool, size)
        export = run_child("export", pool, str(target.resolve()))
    print(f"built {target}: {export['rows']} in {export['seconds']:.1f} s wall, {export['cpu']:.1f} s CPU")


def import_only(source: Path, profile: bool, again: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="huitou-bench-") as workdir:
        empty = f"sqlite:///{Path(workdir) / 'empty.db'}"
        result = run_child(
            "import",
            empty,
            str(source.resolve()),
            "1" if profile else "",
            "1" if again else "",
            stderr=None if profile else subprocess.PIPE,
        )
    print(
        f"import {source.name} with {CODE}: {result['rows']} rows, {result['created']} created, "
        f"{result['bad']} bad | {result['import_cpu']:.1f} s CPU ({result['rows'] / result['import_cpu']:.0f} "
        f"rows per CPU second), {result['seconds']:.1f} s wall, {result['peak_mb']:.0f} MB peak"
    )
    if again:
        print(
            f"  again into the filled pool: {result['again_unchanged']} unchanged | {result['again_cpu']:.1f} s CPU "
            f"({result['rows'] / result['again_cpu']:.0f} rows per CPU second)"
        )


def bench(size: int, workdir: Path) -> None:
    pool = f"sqlite:///{workdir / f'pool{size}.db'}"
    empty = f"sqlite:///{workdir / f'empty{size}.db'}"
    started = time.perf_counter()
    seed(pool, size)
    print(
        f"\n{size} customers × {ORDERS_PER_CUSTOMER} orders (seeded in {time.perf_counter() - started:.1f} s)"
    )
    exported = workdir / f"export{size}.xlsx"
    export = run_child("export", pool, str(exported))
    base_write = run_child("baseline_write", str(workdir / f"base{size}.xlsx"), json.dumps(export["rows"]))
    imported = run_child("import", empty, str(exported))
    base_read = run_child("baseline_read", str(exported))
    print(
        f"  export  {export['seconds']:6.1f} s wall {export['cpu']:6.1f} s CPU {export['peak_mb']:5.0f} MB peak | "
        f"baseline write-only {base_write['seconds']:6.1f} s wall {base_write['cpu']:6.1f} s CPU "
        f"{base_write['peak_mb']:5.0f} MB | ratio {export['seconds'] / base_write['seconds']:.2f}× wall, "
        f"{export['cpu'] / base_write['cpu']:.2f}× CPU"
    )
    print(
        f"  import  {imported['seconds']:6.1f} s wall {imported['cpu']:6.1f} s CPU {imported['peak_mb']:5.0f} MB peak | "
        f"baseline read-only  {base_read['seconds']:6.1f} s wall {base_read['cpu']:6.1f} s CPU "
        f"{base_read['peak_mb']:5.0f} MB | {imported['created']} created, {imported['bad']} bad rows"
    )


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        _preload()
        started = time.process_time()
        result = CHILDREN[argv[1]](*argv[2:])
        result["cpu"] = time.process_time() - started
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    if "--code" in argv:
        index = argv.index("--code")
        os.environ["HUITOU_BENCH_CODE"] = argv[index + 1]
        global CODE
        CODE = Path(argv[index + 1]).resolve()
        del argv[index : index + 2]
    if argv[:1] == ["--build"]:
        build(int(argv[1]), Path(argv[2]))
        return
    if argv[:1] == ["--import"]:
        import_only(Path(argv[1]), "--profile" in argv, "--again" in argv)
        return
    sizes = [int(a) for a in argv] or [1000, 10000]
    with tempfile.TemporaryDirectory(prefix="huitou-bench-") as workdir:
        for size in sizes:
            bench(size, Path(workdir))


if __name__ == "__main__":
    main(sys.argv[1:])
