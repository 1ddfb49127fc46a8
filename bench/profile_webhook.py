"""Profile the webhook path in one process: the same message mix as bench_webhook.py, through
Flask's test client (no gunicorn, no network), under cProfile.

    python bench/profile_webhook.py [--messages 2000] [--database-url URL] [--sort tottime] [--top 40]

Prints the time per message and the functions that cost the most, so that optimisations of the
webhook can be aimed and checked.
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

from app import create_app  # noqa: E402
from bench.bench_webhook import MESSAGE_MIX, prepare_database  # noqa: E402
from storage.db import get_db  # noqa: E402
from tests.wechat_platform import AES_KEY, APP_ID, TOKEN, WeChatPlatform  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--database-url", help="scratch database (default: a temporary SQLite file)")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="huitou-profile-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'profile.db'}"
        prepare_database(url)
        app = create_app({"DATABASE_URL": url, "AUTO_MIGRATE": False, "SECRET_KEY": "profile",
                          "WECHAT_TOKEN": TOKEN, "WECHAT_ENCODING_AES_KEY": AES_KEY, "WECHAT_APP_ID": APP_ID,
                          "SELLER_OPENIDS": "o_profile_seller"})
        platform = WeChatPlatform(app.test_client(), mode="safe")
        run_id = random.randrange(10**6, 10**7)

        def send(i: int) -> None:
            customer = i % args.customers
            text = MESSAGE_MIX[(i // args.customers + customer) % len(MESSAGE_MIX)]
            reply = platform.post_xml(platform.text_xml(f"o_prof_{run_id}_{customer}", text, msg_id=run_id * 10**9 + i))
            assert reply.status == 200, reply.body

        for i in range(len(MESSAGE_MIX)):  # warm-up: lazy imports, caches
            send(10**8 + i)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for i in range(args.messages):
            send(i)
        profiler.disable()
        elapsed = time.perf_counter() - started
        get_db(app).dispose()

    print(f"{args.messages} messages in {elapsed:.2f} s under cProfile: {elapsed / args.messages * 1000:.2f} ms each "
          "(including the test platform's own encryption)")
    pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
