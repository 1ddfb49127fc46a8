"""Webhook throughput and latency under gunicorn, next to a bare wechatpy baseline on the same server.

    python bench/bench_webhook.py                                  # SQLite (a fresh temporary file)
    python bench/bench_webhook.py --database-url postgresql+psycopg://huitou@127.0.0.1:5432/scratch

For each database: start ``gunicorn -w 2`` serving ``bench.webhook_server:app`` (Huitou plus a
``/baseline`` route doing only decrypt + parse + encrypted reply), warm both routes up, then drive
each with ``wrk`` over loopback for ``--duration`` seconds at ``--connections`` connections. Every
request is a distinct safe-mode text message (its own MsgId, signed and encrypted beforehand, from
a few hundred customers, a mix of greetings, questions, orders and thanks). Afterwards every MsgId
that was sent is looked up: each answered one must have exactly one ``inbound_message`` row.

Use an empty scratch database: the script migrates it, adds a small catalogue when there is none,
and leaves the customers and messages it created behind. Needs ``wrk`` (``apt install wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from storage import migrate  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import InboundMessage, Product  # noqa: E402
from tests.live_server import free_port, stop_process_group  # noqa: E402
from tests.wechat_platform import AES_KEY, APP_ID, TOKEN, WeChatPlatform, sign  # noqa: E402

LUA_SCRIPT = Path(__file__).with_name("webhook_wrk.lua")

CATALOGUE = [
    ("补水面膜", "面膜,补水膜", 9900, 30),
    ("玻尿酸精华液", "精华,精华液", 19900, 60),
    ("防晒霜", "防晒,防晒乳", 8800, 90),
    ("氨基酸洗面奶", "洗面奶,洁面", 6900, 60),
]

# What customers send on a promotion day: greetings, questions, orders, tracking, thanks.
MESSAGE_MIX = [
    "你好",
    "面膜多少钱",
    "要两盒面膜 张三 13800138000 广东省深圳市南山区科技园路1号",
    "我的快递到哪了",
    "防晒霜有货吗",
    "谢谢，面膜很好用",
    "再来一瓶精华液",
    "在吗",
]

TARGET_RATIO = 0.4
TARGET_P99_MS = 50.0


@dataclass
class WrkResult:
    route: str
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    bad: int
    exhausted: int
    sent_keys: list[str]
    answered: int
    cpu_ms: float = 0.0  # server (gunicorn master + workers) CPU time per answered request


def prepare_database(url: str) -> None:
    database = Database(url)
    try:
        migrate.upgrade(database)
        with database.session() as session:
            if not session.scalar(select(func.count()).select_from(Product)):
                session.add_all(
                    Product(name=n, aliases=a, price_cents=p, usage_days=d) for n, a, p, d in CATALOGUE
                )
    finally:
        database.dispose()


def write_requests(path: Path, route: str, count: int, run_id: int, customers: int) -> list[str]:
    """Write ``count`` signed, encrypted text messages (distinct MsgIds); return their msg keys."""
    platform = WeChatPlatform(client=None, mode="safe")
    timestamp = str(int(time.time()))
    keys = []
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            msg_id = run_id * 10**9 + i
            customer = i % customers
            text = MESSAGE_MIX[(i // customers + customer) % len(MESSAGE_MIX)]
            xml = platform.text_xml(
                f"o_bench_{run_id}_{customer}", text, msg_id=msg_id, create_time=int(timestamp)
            )
            nonce = secrets.token_hex(5)
            body, params = platform.envelope(xml, timestamp, nonce)
            out.write(f"{route}?{urllib.parse.urlencode(params)}\t{body}\n")
            keys.append(f"msg:{msg_id}")
    return keys


def start_server(url: str, port: int, args: argparse.Namespace) -> subprocess.Popen:
    env = dict(
        os.environ,
        HUITOU_DATABASE_URL=url,
        HUITOU_AUTO_MIGRATE="false",
        HUITOU_SECRET_KEY="bench",
        HUITOU_SELLER_OPENIDS="o_bench_seller",
        HUITOU_SIMULATOR="false",
        WECHAT_TOKEN=TOKEN,
        WECHAT_ENCODING_AES_KEY=AES_KEY,
        WECHAT_APP_ID=APP_ID,
        PYTHONPATH=str(ROOT),
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(args.workers),
        "-b",
        f"127.0.0.1:{port}",
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        "--chdir",
        str(ROOT),
        "bench.webhook_server:app",
    ]
    server = subprocess.Popen(command, env=env, start_new_session=True)
    timestamp, nonce = str(int(time.time())), "ready"
    probe = (
        f"http://127.0.0.1:{port}/wechat?timestamp={timestamp}&nonce={nonce}"
        f"&signature={sign(TOKEN, timestamp, nonce)}&echostr=ok"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(probe, timeout=2) as response:
                if response.read() == b"ok":
                    return server
        except OSError:
            time.sleep(0.2)
    stop_process_group(server)
    raise SystemExit("gunicorn did not come up within 60 s")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every process in the process group (gunicorn master and workers)."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[2]) == pgid:  # after the command: state, ppid, pgrp, ..., utime (12), stime (13)
            total += int(fields[11]) + int(fields[12])
    return total / tick


def run_wrk(
    port: int,
    route: str,
    keys: list[str],
    requests_file: Path,
    args: argparse.Namespace,
    duration: float,
    server_pgid: int | None = None,
) -> WrkResult:
    command = [
        "wrk",
        "-t",
        str(args.wrk_threads),
        "-c",
        str(args.connections),
        "-d",
        f"{int(duration)}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{port}",
        "--",
        str(requests_file),
        str(args.wrk_threads),
    ]
    cpu_before = group_cpu_seconds(server_pgid) if server_pgid else 0.0
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    cpu_used = (group_cpu_seconds(server_pgid) - cpu_before) if server_pgid else 0.0
    line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    sent_keys = []
    for thread in data["threads"]:
        share = keys[thread["id"] :: args.wrk_threads]
        sent_keys.extend(share[: thread["sent"]])
    errors = sum(data["errors"].values())
    return WrkResult(
        route=route,
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        requests=data["requests"],
        errors=errors,
        bad=sum(t["bad"] for t in data["threads"]),
        exhausted=sum(t["exhausted"] for t in data["threads"]),
        sent_keys=sent_keys,
        answered=sum(t["answered"] for t in data["threads"]),
        cpu_ms=cpu_used * 1000 / data["requests"] if data["requests"] else 0.0,
    )


def verify_stored(url: str, run_id: int, sent_keys: list[str], answered: int, connections: int) -> dict:
    """Each answered message stored exactly once, nothing stored that was not sent."""
    database = Database(url)
    try:
        with database.read_session() as session:
            rows = session.execute(
                select(InboundMessage.msg_key, func.count())
                .where(InboundMessage.msg_key.like(f"msg:{run_id}%"))
                .group_by(InboundMessage.msg_key)
            ).all()
    finally:
        database.dispose()
    stored = {key for key, _n in rows}
    sent = set(sent_keys)
    return {
        "sent": len(sent),
        "answered": answered,
        "stored": len(stored),
        "doubled": sum(1 for _key, n in rows if n > 1),
        "unexpected": len(stored - sent),
        # In flight when wrk stopped: sent, maybe stored, never answered (at most one per connection).
        "lost": max(0, answered - len(stored & sent)),
        "ok": not (stored - sent)
        and answered <= len(stored & sent) <= len(sent)
        and len(sent) - len(stored & sent) <= connections
        and all(n == 1 for _k, n in rows),
    }


def bench_database(url: str, label: str, args: argparse.Namespace, workdir: Path) -> dict:
    prepare_database(url)
    load_before = os.getloadavg()[0]
    port = free_port()
    run_id = random.randrange(10**6, 10**7)
    count = int(args.duration * args.max_rps)
    ids = {"/baseline": run_id * 10 + 1, "/wechat": run_id * 10 + 2}
    files = {route: workdir / f"{label}{route.replace('/', '_')}.txt" for route in ids}
    keys = {route: write_requests(files[route], route, count, ids[route], args.customers) for route in ids}
    warm = workdir / f"{label}_warm.txt"
    server = start_server(url, port, args)
    try:
        for route in ("/baseline", "/wechat"):
            warm_keys = write_requests(
                warm, route, int(args.warmup * args.max_rps), run_id * 10 + 5, args.customers
            )
            run_wrk(port, route, warm_keys, warm, args, args.warmup)
        results = [
            run_wrk(port, route, keys[route], files[route], args, args.duration, server.pid) for route in ids
        ]
    finally:
        stop_process_group(server)
    huitou = results[1]
    check = verify_stored(url, ids["/wechat"], huitou.sent_keys, huitou.answered, args.connections)
    return {
        "label": label,
        "baseline": results[0],
        "huitou": huitou,
        "check": check,
        "load": (load_before, os.getloadavg()[0]),
    }


def print_report(report: dict, args: argparse.Namespace) -> bool:
    base, hui, check = report["baseline"], report["huitou"], report["check"]
    ratio = hui.rps / base.rps if base.rps else 0.0
    print(
        f"\n== {report['label']}: gunicorn -w {args.workers} ({args.worker_class}), wrk -c {args.connections} "
        f"-t {args.wrk_threads} -d {args.duration}s; {os.cpu_count()} CPUs, load average "
        f"{report['load'][0]:.1f} before, {report['load'][1]:.1f} after"
    )
    print(
        f"{'route':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'requests':>9} {'errors':>7}"
        f" {'server CPU ms/req':>18}"
    )
    for r in (base, hui):
        print(
            f"{r.route:<10} {r.rps:8.1f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.max_ms:8.1f} {r.requests:9d} "
            f"{r.errors + r.bad:7d} {r.cpu_ms:18.2f}"
        )
    print(f"ratio huitou/baseline throughput: {ratio:.2f}  (target >= {TARGET_RATIO})")
    if base.cpu_ms and hui.cpu_ms:
        # Steadier than req/s on a shared machine: what each request costs the server's processes.
        print(f"ratio of server CPU per request, baseline/huitou: {base.cpu_ms / hui.cpu_ms:.2f}")
    print(
        f"exactly once: sent {check['sent']}, answered {check['answered']}, stored {check['stored']}, "
        f"doubled {check['doubled']}, lost {check['lost']}, unexpected {check['unexpected']}"
        f"{'' if not hui.exhausted else f', RESENT {hui.exhausted} (raise --max-rps)'}"
        f" -> {'OK' if check['ok'] else 'FAILED'}"
    )
    met = ratio >= TARGET_RATIO and hui.p99_ms <= TARGET_P99_MS
    clean = check["ok"] and not (hui.errors or hui.bad or base.errors or base.bad)
    print(
        f"target (ratio >= {TARGET_RATIO}, p99 <= {TARGET_P99_MS:.0f} ms): {'met' if met else 'MISSED'}; "
        f"errors/lost/doubled: {'none' if clean else 'SOME'}"
    )
    return clean


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        action="append",
        default=[],
        help="SQLAlchemy URL of a scratch database (repeatable); default: a temporary SQLite file",
    )
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per route")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--customers", type=int, default=400, help="distinct openids sending")
    parser.add_argument(
        "--max-rps",
        type=float,
        default=3000,
        help="messages prepared per second of run (each is sent at most once)",
    )
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is needed (apt install wrk)", file=sys.stderr)
        return 2

    clean = True
    with tempfile.TemporaryDirectory(prefix="huitou-bench-") as tmp:
        workdir = Path(tmp)
        urls = args.database_url or [f"sqlite:///{workdir / 'bench.db'}"]
        for url in urls:
            label = (
                "SQLite" if url.startswith("sqlite") else "PostgreSQL" if url.startswith("postgres") else url
            )
            clean &= print_report(bench_database(url, label, args, workdir), args)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
