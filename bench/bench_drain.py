"""Outbox drain throughput against the loopback fake WeChat API, and the rate limit holding.

    python bench/bench_drain.py [--messages 500] [--rate 50] [--database-url URL]

Prints: the fake API's raw request rate (sequential POSTs with one HTTP session: the ceiling),
the drain's messages/s with no rate limit, and with ``--rate`` the achieved rate plus the most
requests seen in any one-second window (must not exceed the limit).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from bot.delivery.drain import drain_outbox  # noqa: E402
from storage.customers import get_or_create_by_openid  # noqa: E402
from storage.db import get_db  # noqa: E402
from storage.outbox import enqueue  # noqa: E402
from tests.fake_wechat_api import FakeWeChatAPI  # noqa: E402

APP_ID, SECRET = "wxbench000000000", "bench-secret"


def raw_rate(api: FakeWeChatAPI, n: int) -> float:
    http = requests.Session()
    token = http.post(
        f"{api.base_url}stable_token",
        json={"grant_type": "client_credential", "appid": APP_ID, "secret": SECRET, "force_refresh": False},
    ).json()
    started = time.perf_counter()
    for i in range(n):
        http.post(
            f"{api.base_url}message/custom/send",
            params={"access_token": token["access_token"]},
            json={"touser": f"o_raw_{i}", "msgtype": "text", "text": {"content": "你好"}},
        ).raise_for_status()
    return n / (time.perf_counter() - started)


def fill(app, n: int, prefix: str, now: dt.datetime) -> None:
    with get_db(app).session() as s:
        for i in range(n):
            customer, _ = get_or_create_by_openid(s, f"o_{prefix}_{i}", now)
            customer.last_inbound_at = now
            s.flush()
            enqueue(
                s,
                dedupe_key=f"bench:{prefix}:{i}",
                kind="bench",
                text=f"第 {i} 条",
                customer_id=customer.id,
                transactional=True,
                now=now,
            )


def max_per_second(times: list[float]) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    api = FakeWeChatAPI(APP_ID, SECRET).start()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        app = create_app(
            {
                "DATABASE_URL": url,
                "AUTO_MIGRATE": True,
                "SECRET_KEY": "bench",
                "WECHAT_TOKEN": "bench",
                "WECHAT_APP_ID": APP_ID,
                "WECHAT_APP_SECRET": SECRET,
                "WECHAT_API_BASE_URL": api.base_url,
                "DELIVERY_RATE_PER_SECOND": 0,
                "DELIVERY_BATCH_SIZE": 100,
            }
        )
        if not get_db(app).is_sqlite:
            from storage import migrate

            migrate.upgrade(get_db(app))
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        baseline = raw_rate(api, args.messages)
        print(f"fake API raw rate:      {baseline:8.0f} requests/s ({args.messages} sequential POSTs)")

        fill(app, args.messages, "free", now)
        started = time.perf_counter()
        summary = drain_outbox(get_db(app), app.config, now)
        elapsed = time.perf_counter() - started
        sent = summary.total("sent")
        print(
            f"drain, no rate limit:   {sent / elapsed:8.0f} messages/s ({sent} sent in {elapsed:.2f} s, "
            f"{sent / elapsed / baseline:.0%} of the raw rate)"
        )

        limited = min(args.messages, int(args.rate * 4))
        fill(app, limited, "limited", now)
        app.config["DELIVERY_RATE_PER_SECOND"] = args.rate
        first = len(api.requests)
        started = time.perf_counter()
        summary = drain_outbox(get_db(app), app.config, now)
        elapsed = time.perf_counter() - started
        times = [r.at for r in api.requests[first:] if r.path == "message/custom/send"]
        peak = max_per_second(times)
        print(
            f"drain, limit {args.rate:g}/s:    {summary.total('sent') / elapsed:8.1f} messages/s "
            f"({summary.total('sent')} sent in {elapsed:.2f} s); busiest second: {peak} requests "
            f"-> limit {'held' if peak <= args.rate + 1 else 'EXCEEDED'}"
        )
        get_db(app).dispose()
    api.stop()


if __name__ == "__main__":
    main()
