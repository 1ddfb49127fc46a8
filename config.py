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
    # --- Outbound delivery and the scheduler (bot/delivery, scheduler/) ---
    # Marketing kinds wait out the quiet hours (seller's TIMEZONE) and obey a per-customer cap.
    "DELIVERY_QUIET_HOURS": "21:00-09:00",
    "DELIVERY_MARKETING_CAP": 1,
    "DELIVERY_MARKETING_CAP_DAYS": 3,
    # Customer-service messages: only within this many hours of the customer's last message, at most
    # DELIVERY_SERVICE_QUOTA of them per window.
    "DELIVERY_SERVICE_WINDOW_HOURS": 48,
    "DELIVERY_SERVICE_QUOTA": 5,
    # Template messages for service notices: JSON {kind: {"template_id": ..., "fields": {...}, "url": ...}}.
    "DELIVERY_TEMPLATES": "{}",
    # Subscription notices (订阅通知) on the customer's consent: JSON {kind: {"template_id", "fields", "page"}};
    # set, the order confirmation and the shipping notice carry the consent page's link (/subscribe/<token>).
    "DELIVERY_SUBSCRIBE_TEMPLATES": "{}",
    "DELIVERY_RATE_PER_SECOND": 20,
    "DELIVERY_BATCH_SIZE": 50,
    "DELIVERY_MAX_ATTEMPTS": 5,
    "DELIVERY_RETRY_BASE_SECONDS": 60,
    "DELIVERY_RETRY_MAX_SECONDS": 3600,
    "DELIVERY_RATE_LIMIT_PAUSE_SECONDS": 60,
    "DELIVERY_SENDING_TIMEOUT_SECONDS": 600,
    "DELIVERY_HTTP_TIMEOUT_SECONDS": 10,
    # "stable" (POST /cgi-bin/stable_token, preferred) or "classic" (GET /cgi-bin/token).
    "DELIVERY_TOKEN_ENDPOINT": "stable",
    "PAYMENT_REMINDER_DELAY_HOURS": 12,
    "PAYMENT_REMINDER_MAX_AGE_DAYS": 7,
    "DRAFT_DIGEST_HOUR": 9,
    "SCHEDULER_INTERVAL_SECONDS": 300,
    "SCHEDULER_LEASE_SECONDS": 900,
    # --- retention sweeps (scheduler/retention.py; README "Retention sweeps") ---
    "RETENTION_EXPERIENCE_DAYS": 2,
    "RETENTION_REPURCHASE_LEAD_DAYS": 3,
    "RETENTION_LAPSE_DAYS": 7,
    "RETENTION_FOLLOWUP_HOURS": 24,
    "RETENTION_GREETING_LEAD_DAYS": 2,
    "RETENTION_CATCHUP_DAYS": 7,
    "RETENTION_WINBACK_STEP_DAYS": "0,7,21",
    "RETENTION_FESTIVALS": "all",
    "RETENTION_OFFER_CLASSES": "A",
    "RETENTION_TEXTS": None,
    "RETENTION_SEGMENTS_HOUR": 4,
    # `huitou import`: what an .xlsx may inflate to, in MB (a "zip bomb" is refused before reading).
    "IMPORT_MAX_UNCOMPRESSED_MB": 512,
    # --- scale and faults ---
    # How long a SQLite writer waits for the write lock. Longer than the platform's 5 s on purpose:
    # a message that waits is still processed once (its reply then goes via the outbox), while one
    # that gives up is answered "please resend".
    "SQLITE_BUSY_TIMEOUT_SECONDS": 30,
    # --- Referral program (storage/referrals.py, bot/referrals.py) ---
    # Rewards when a referee's first order is paid: points and/or coupon cents, for both sides.
    "REFERRAL_REFERRER_POINTS": 200,
    "REFERRAL_REFERRER_COUPON_CENTS": 1500,
    "REFERRAL_REFEREE_POINTS": 100,
    "REFERRAL_REFEREE_COUPON_CENTS": 1000,
    # What one point is worth when redeemed against an order, in cents.
    "REFERRAL_POINT_VALUE_CENTS": 1,
    # At most one referral ask per customer in this many days (all three moments together).
    "REFERRAL_ASK_INTERVAL_DAYS": 14,
    # How long a "product is good" answer waits for the customer's testimonial.
    "REFERRAL_TESTIMONIAL_WAIT_HOURS": 24,
    # The three moments' texts ({code} {offer} {qr}); empty means the default in bot/texts.py.
    "REFERRAL_ASK_ORDER_TEXT": "",
    "REFERRAL_ASK_THANKS_TEXT": "",
    "REFERRAL_ASK_PRODUCT_GOOD_TEXT": "",
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
