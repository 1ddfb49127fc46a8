"""The webhook's cost per message in one process, next to the baseline route, and where it goes.

    python bench/profile_webhook.py [--messages 1000] [--database-url URL] [--profile] [--sort tottime]

The same message mix as bench_webhook.py goes through Flask's test client (no gunicorn, no
network) to ``/wechat`` and to the bare ``/baseline`` route. The figure is **CPU time** of this
process per request (``time.process_time``), which other busy processes on the machine disturb far
less than wall-clock throughput; the requests are pre-encrypted so the platform's side is not
counted. On SQLite the webhook holds the write lock for nearly all of its time, so 1 / (ms per
message) is also the ceiling of messages per second whatever the number of workers.
``--profile`` adds a cProfile listing of the ``/wechat`` run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from app import create_app  # noqa: E402
from bench.baseline_route import baseline_bp  # noqa: E402
from bench.bench_webhook import MESSAGE_MIX, prepare_database  # noqa: E402
from storage.db import get_db  # noqa: E402
from tests.wechat_platform import AES_KEY, APP_ID, TOKEN, WeChatPlatform  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--database-url", help="scratch database (default: a temporary SQLite file)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile listing of the /wechat run")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="huitou-profile-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'profile.db'}"
        prepare_database(url)
        app = create_app(
            {
                "DATABASE_URL": url,
                "AUTO_MIGRATE": False,
                "SECRET_KEY": "profile",
                "WECHAT_TOKEN": TOKEN,
                "WECHAT_ENCODING_AES_KEY": AES_KEY,
                "WECHAT_APP_ID": APP_ID,
                "SELLER_OPENIDS": "o_profile_seller",
                "SIMULATOR": False,
            }
        )
        app.register_blueprint(baseline_bp)
        client = app.test_client()
        platform = WeChatPlatform(client, mode="safe")
        run_id = random.randrange(10**6, 10**7)

        def requests_for(count: int, first: int) -> list[tuple[str, dict]]:
            prepared = []
            for i in range(first, first + count):
                customer = i % args.customers
                text = MESSAGE_MIX[(i // args.customers + customer) % len(MESSAGE_MIX)]
                xml = platform.text_xml(f"o_prof_{run_id}_{customer}", text, msg_id=run_id * 10**9 + i)
                prepared.append(platform.envelope(xml, str(int(time.time())), f"n{i}"))
            return prepared

        def run(
            route: str, prepared: list[tuple[str, dict]], profiler: cProfile.Profile | None = None
        ) -> float:
            started = time.process_time()
            if profiler:
                profiler.enable()
            for body, params in prepared:
                response = client.post(route, query_string=params, data=body, content_type="text/xml")
                assert response.status_code == 200, response.get_data(as_text=True)
            if profiler:
                profiler.disable()
            return (time.process_time() - started) / len(prepared) * 1000

        run("/wechat", requests_for(len(MESSAGE_MIX), 10**8))  # warm-up: lazy imports, caches
        run("/baseline", requests_for(len(MESSAGE_MIX), 10**8 + 100))
        baseline_ms = run("/baseline", requests_for(args.messages, 5 * 10**8))
        profiler = cProfile.Profile() if args.profile else None
        statements = [0]
        in_transaction = [0.0, None]  # CPU seconds between BEGIN and COMMIT/ROLLBACK, start

        def count_statement(*_args) -> None:
            statements[0] += 1

        def begun(*_args) -> None:
            in_transaction[1] = time.process_time()

        def ended(*_args) -> None:
            if in_transaction[1] is not None:
                in_transaction[0] += time.process_time() - in_transaction[1]
                in_transaction[1] = None

        listeners = [
            ("before_cursor_execute", count_statement),
            ("begin", begun),
            ("commit", ended),
            ("rollback", ended),
        ]
        engine = get_db(app).engine
        for name, listener in listeners:
            event.listen(engine, name, listener)
        webhook_ms = run("/wechat", requests_for(args.messages, 0), profiler)
        for name, listener in listeners:
            event.remove(engine, name, listener)
        get_db(app).dispose()

    backend = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    print(
        f"== in-process CPU time per request, {args.messages} messages, {backend}"
        f"{' (under cProfile)' if profiler else ''}"
    )
    print(f"/baseline  {baseline_ms:6.2f} ms  (decrypt + parse + encrypted reply)")
    print(
        f"/wechat    {webhook_ms:6.2f} ms  (everything Huitou does; "
        f"{statements[0] / args.messages:.1f} SQL statements per message, counting BEGIN, not COMMIT)"
    )
    print(
        f"           {in_transaction[0] / args.messages * 1000:6.2f} ms of it inside transactions "
        "(BEGIN to COMMIT: on SQLite the write lock is held for this long)"
    )
    print(f"ratio baseline/webhook (the throughput ratio when CPU-bound): {baseline_ms / webhook_ms:.2f}")
    if profiler:
        pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
