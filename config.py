"""Configuration: defaults, then the environment, then an explicit mapping.

Flask's prefixed environment (``HUITOU_*``) covers Huitou's own settings: ``HUITOU_DATABASE_URL``
becomes ``DATABASE_URL`` and so on. The WeChat credentials keep the platform's names
(``WECHAT_TOKEN`` …) as documented in ARCHITECTURE.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"

# Settings read from the environment under their own names (not HUITOU_-prefixed).
WECHAT_ENV_NAMES = (
    "WECHAT_TOKEN",
    "WECHAT_ENCODING_AES_KEY",
    "WECHAT_APP_ID",
    "WECHAT_APP_SECRET",
    "WECHAT_API_BASE_URL",
)

DEFAULTS: dict[str, Any] = {
    # Storage. None means "a SQLite file under the instance folder".
    "DATABASE_URL": None,
    # Run `alembic upgrade heads` at start-up on SQLite (a fresh install upgrades itself).
    "AUTO_MIGRATE": True,
    "SECRET_KEY": None,
    "SELLER_OPENIDS": "",
    "TIMEZONE": "Asia/Shanghai",
    # WeChat. A token is needed to verify the platform's signatures; the dev default only serves
    # the local simulator and is refused when app credentials are configured.
    "WECHAT_TOKEN": None,
    "WECHAT_ENCODING_AES_KEY": None,
    "WECHAT_APP_ID": None,
    "WECHAT_APP_SECRET": None,
    "WECHAT_API_BASE_URL": DEFAULT_API_BASE_URL,
    # Webhook limits.
    "WEBHOOK_MAX_BODY_BYTES": 64 * 1024,
    "WEBHOOK_REPLAY_WINDOW_SECONDS": 300,
    # Past this much processing time the passive reply is abandoned and sent via the outbox.
    "WEBHOOK_REPLY_BUDGET_SECONDS": 4.0,
    # Where the app is reachable from the seller's phone (download links).
    "PUBLIC_URL": "http://127.0.0.1:5000",
    "EXPORT_LINK_MAX_AGE_SECONDS": 24 * 3600,
    # Customer conversation: how long a half-finished order waits for the missing pieces (and a
    # finished one accepts corrections), and how far back an order converts earlier inquiries.
    "CONVERSATION_TIMEOUT_MINUTES": 30,
    "INQUIRY_CONVERSION_DAYS": 30,
    # --- simulator (handlers/simulator.py) ---
    # "production" (or real app credentials) switches the simulator off whatever SIMULATOR says.
    "ENV": "development",
    # None: on unless in production mode; "false" switches it off on a development machine too.
    "SIMULATOR": None,
    # After each simulated message, run the scheduler once at the simulated time (as a running
    # scheduler would within minutes), so notices show up in the chat at once.
    "SIMULATOR_AUTO_TICK": True,
}

DEV_WECHAT_TOKEN = "huitou-dev-token"


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the effective configuration: defaults < environment < ``overrides``."""
    config = dict(DEFAULTS)
    for name, value in os.environ.items():
        if name.startswith("HUITOU_"):
            config[name.removeprefix("HUITOU_")] = value
    for name in WECHAT_ENV_NAMES:
        if os.environ.get(name):
            config[name] = os.environ[name]
    if overrides:
        config.update(overrides)
    return config


def parse_bool(value: Any) -> bool:
    """Read a boolean from config, accepting the usual environment spellings."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in {"1", "true", "yes", "on", "y"}


def parse_list(value: Any) -> list[str]:
    """Read a comma-separated (or already-list) setting into a clean list of strings."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        items = value
    else:
        items = str(value).replace("，", ",").split(",")
    return [str(item).strip() for item in items if str(item).strip()]
