"""Configuration: declared, typed and checked once, when the app is created.

:class:`Settings` declares every setting with its type and default. Values come from the
environment (``HUITOU_*`` for Huitou's own settings: ``HUITOU_DATABASE_URL`` is ``DATABASE_URL``;
the platforms' credentials keep their own names, ``WECHAT_TOKEN``, ``WECOM_CORP_ID`` … as documented
in ARCHITECTURE.md), then from an explicit mapping (tests). :func:`load_settings` validates and
normalises them (a malformed value stops the start with one line naming the variable and the
expected form) and applies the production rules: outside development mode the app refuses to start
without ``WECHAT_TOKEN`` and ``HUITOU_SECRET_KEY``. Code keeps reading ``app.config[...]``, which
holds the normalised values; the typed object is ``app.extensions["huitou_settings"]``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import annotated_types
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

try:  # gunicorn prints an AppImportError as one line and halts instead of respawning workers
    from gunicorn.errors import AppImportError as _StartError
except ImportError:  # pragma: no cover - gunicorn is a dependency; only for odd installs
    _StartError = Exception

log = logging.getLogger("huitou")

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"
DEFAULT_WECOM_API_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/"
# Signs the simulator's messages in development mode only; refused in production (it is public).
DEV_WECHAT_TOKEN = "huitou-dev-token"
DEVELOPMENT, PRODUCTION = "development", "production"

PositiveInt = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Hour = Annotated[int, Field(ge=0, le=23)]


def _platform(name: str) -> Any:
    """A platform setting read under its own name (``WECHAT_TOKEN``), not HUITOU_-prefixed."""
    return Field(default=None, validation_alias=AliasChoices(name))


class ConfigError(_StartError, RuntimeError):
    """A setting is missing or malformed. ``str()`` is one line naming the variable and the form."""


class Settings(BaseSettings):
    """Every setting Huitou reads (field name = ``app.config`` key), typed, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="HUITOU_",
        case_sensitive=True,
        extra="ignore",
        env_ignore_empty=True,
        enable_decoding=False,
        validate_default=True,
    )

    # --- mode: "production" unless development is asked for (``huitou serve`` on loopback does) ---
    ENV: Literal["development", "production"] = PRODUCTION
    # Storage. None means "a SQLite file under the instance folder".
    DATABASE_URL: str | None = None
    # Run `alembic upgrade heads` at start-up on SQLite (a fresh install upgrades itself).
    AUTO_MIGRATE: bool = True
    # Signs download links; required in production (every worker and process must share it).
    SECRET_KEY: str | None = Field(default=None, repr=False)
    SELLER_OPENIDS: list[str] = []
    TIMEZONE: str = "Asia/Shanghai"
    # WeChat Official Account. The token verifies the platform's signatures: required in production.
    WECHAT_TOKEN: str | None = Field(default=None, validation_alias=AliasChoices("WECHAT_TOKEN"), repr=False)
    WECHAT_ENCODING_AES_KEY: str | None = Field(
        default=None, validation_alias=AliasChoices("WECHAT_ENCODING_AES_KEY"), repr=False
    )
    WECHAT_APP_ID: str | None = _platform("WECHAT_APP_ID")
    WECHAT_APP_SECRET: str | None = Field(
        default=None, validation_alias=AliasChoices("WECHAT_APP_SECRET"), repr=False
    )
    WECHAT_API_BASE_URL: str = Field(
        default=DEFAULT_API_BASE_URL, validation_alias=AliasChoices("WECHAT_API_BASE_URL")
    )
    # WeCom (optional; declared, no behaviour yet).
    WECOM_CORP_ID: str | None = _platform("WECOM_CORP_ID")
    WECOM_AGENT_ID: str | None = _platform("WECOM_AGENT_ID")
    WECOM_SECRET: str | None = Field(default=None, validation_alias=AliasChoices("WECOM_SECRET"), repr=False)
    WECOM_TOKEN: str | None = Field(default=None, validation_alias=AliasChoices("WECOM_TOKEN"), repr=False)
    WECOM_ENCODING_AES_KEY: str | None = Field(
        default=None, validation_alias=AliasChoices("WECOM_ENCODING_AES_KEY"), repr=False
    )
    WECOM_API_BASE_URL: str = Field(
        default=DEFAULT_WECOM_API_BASE_URL, validation_alias=AliasChoices("WECOM_API_BASE_URL")
    )
    SELLER_WECOM_USERIDS: list[str] = []
    # Webhook limits.
    WEBHOOK_MAX_BODY_BYTES: PositiveInt = 64 * 1024
    WEBHOOK_REPLAY_WINDOW_SECONDS: Seconds = 300
    # Past this much processing time the passive reply is abandoned and sent via the outbox.
    WEBHOOK_REPLY_BUDGET_SECONDS: NonNegative = 4.0
    # A passive reply is also queued in the outbox, due this long after the platform sent the message
    # (it has given up on the request and its retries by then); withdrawn once the reply was written.
    WEBHOOK_REPLY_FALLBACK_SECONDS: NonNegative = 20.0
    # Where the seller's phone reaches this server (download links). Unset: the address the request
    # came in on (the webhook's Host), so the link matches the port the server really serves.
    PUBLIC_URL: str | None = None
    # Export links are single-use and live this long.
    EXPORT_LINK_MAX_AGE_SECONDS: PositiveInt = 600
    # Customer conversation: how long a half-finished order waits for the missing pieces (and a
    # finished one accepts corrections), and how far back an order converts earlier inquiries.
    CONVERSATION_TIMEOUT_MINUTES: PositiveInt = 30
    INQUIRY_CONVERSION_DAYS: Count = 30
    # --- Outbound delivery and the scheduler (bot/delivery, scheduler/) ---
    # Marketing kinds wait out the quiet hours (seller's TIMEZONE) and obey a per-customer cap.
    DELIVERY_QUIET_HOURS: str = "21:00-09:00"
    DELIVERY_MARKETING_CAP: Count = 1
    DELIVERY_MARKETING_CAP_DAYS: PositiveInt = 3
    # Customer-service messages: only within this many hours of the customer's last message, at most
    # DELIVERY_SERVICE_QUOTA of them per window.
    DELIVERY_SERVICE_WINDOW_HOURS: Seconds = 48
    DELIVERY_SERVICE_QUOTA: Count = 5
    # Template messages for service notices: JSON {kind: {"template_id": ..., "fields": {...}, "url": ...}}.
    DELIVERY_TEMPLATES: dict[str, dict[str, Any]] = {}
    DELIVERY_RATE_PER_SECOND: NonNegative = 20
    DELIVERY_BATCH_SIZE: PositiveInt = 50
    DELIVERY_MAX_ATTEMPTS: PositiveInt = 5
    DELIVERY_RETRY_BASE_SECONDS: NonNegative = 60
    DELIVERY_RETRY_MAX_SECONDS: NonNegative = 3600
    DELIVERY_RATE_LIMIT_PAUSE_SECONDS: NonNegative = 60
    DELIVERY_SENDING_TIMEOUT_SECONDS: Seconds = 600
    DELIVERY_HTTP_TIMEOUT_SECONDS: Seconds = 10
    # Subscription notices (订阅通知) on the customer's consent: JSON {kind: {"template_id", "fields", "page"}};
    # set, the order confirmation and the shipping notice carry the consent page's link (/subscribe/<token>).
    DELIVERY_SUBSCRIBE_TEMPLATES: dict[str, dict[str, Any]] = {}
    # "stable" (POST /cgi-bin/stable_token, preferred) or "classic" (GET /cgi-bin/token).
    DELIVERY_TOKEN_ENDPOINT: Literal["stable", "classic"] = "stable"
    PAYMENT_REMINDER_DELAY_HOURS: NonNegative = 12
    PAYMENT_REMINDER_MAX_AGE_DAYS: NonNegative = 7
    DRAFT_DIGEST_HOUR: Hour = 9
    SCHEDULER_INTERVAL_SECONDS: Seconds = 300
    # SQLite: the leader's lease in kv_store; a renewing thread keeps it while the leader lives.
    SCHEDULER_LEASE_SECONDS: Seconds = 60
    # --- retention sweeps (scheduler/retention.py; README "Retention sweeps") ---
    RETENTION_EXPERIENCE_DAYS: NonNegative = 2
    RETENTION_REPURCHASE_LEAD_DAYS: NonNegative = 3
    RETENTION_LAPSE_DAYS: NonNegative = 7
    RETENTION_FOLLOWUP_HOURS: NonNegative = 24
    RETENTION_GREETING_LEAD_DAYS: Count = 2
    RETENTION_CATCHUP_DAYS: NonNegative = 7
    RETENTION_WINBACK_STEP_DAYS: list[float] = [0, 7, 21]
    # "all", "none" or a list of festival slugs (checked against scheduler/calendar.py at start).
    RETENTION_FESTIVALS: str | list[str] = "all"
    RETENTION_OFFER_CLASSES: list[str] = ["A"]
    # A JSON object, or the path of a UTF-8 JSON file (checked at start).
    RETENTION_TEXTS: str | dict[str, str] | None = None
    RETENTION_SEGMENTS_HOUR: Hour = 4
    # `huitou import`: what an .xlsx may inflate to, in MB (a "zip bomb" is refused before reading).
    IMPORT_MAX_UNCOMPRESSED_MB: PositiveInt = 512
    # --- scale and faults ---
    # How long a SQLite writer waits for the write lock. Longer than the platform's 5 s on purpose:
    # a message that waits is still processed once (its reply then goes via the outbox), while one
    # that gives up is answered "please resend".
    SQLITE_BUSY_TIMEOUT_SECONDS: NonNegative = 30
    # --- Referral program (storage/referrals.py, bot/referrals.py) ---
    REFERRAL_REFERRER_POINTS: Count = 200
    REFERRAL_REFERRER_COUPON_CENTS: Count = 1500
    REFERRAL_REFEREE_POINTS: Count = 100
    REFERRAL_REFEREE_COUPON_CENTS: Count = 1000
    REFERRAL_POINT_VALUE_CENTS: PositiveInt = 1
    REFERRAL_ASK_INTERVAL_DAYS: Count = 14
    REFERRAL_TESTIMONIAL_WAIT_HOURS: NonNegative = 24
    # The three moments' texts ({code} {offer} {qr}); empty means the default in bot/texts.py.
    REFERRAL_ASK_ORDER_TEXT: str = ""
    REFERRAL_ASK_THANKS_TEXT: str = ""
    REFERRAL_ASK_PRODUCT_GOOD_TEXT: str = ""
    # --- simulator (handlers/simulator.py; development mode only) ---
    # None: on in development mode; "false" switches it off there too. Never on in production.
    SIMULATOR: bool | None = None
    # After each simulated message, run the scheduler once at the simulated time.
    SIMULATOR_AUTO_TICK: bool = True
    # Host names the simulator answers to besides the loopback names (and the ``serve --host``).
    SIMULATOR_HOSTS: list[str] = []
    # --- WeCom customer contact (optional; README "Connecting WeCom") ---
    # A mass-send task not confirmed by the member within this many days: its rows become drafts.
    WECOM_TASK_CONFIRM_DAYS: PositiveInt = 3
    # Mass messages one customer may receive per period (month, week or day); unset: the month's days.
    WECOM_CUSTOMER_LIMIT: PositiveInt | None = None
    WECOM_CUSTOMER_LIMIT_PERIOD: Literal["month", "week", "day"] = "month"

    # --- normalisation (before the type check; values arrive as strings from the environment) ---

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator(
        "DATABASE_URL",
        "SECRET_KEY",
        "WECHAT_TOKEN",
        "WECHAT_ENCODING_AES_KEY",
        "WECHAT_APP_ID",
        "WECHAT_APP_SECRET",
        "WECOM_CORP_ID",
        "WECOM_AGENT_ID",
        "WECOM_SECRET",
        "WECOM_TOKEN",
        "WECOM_ENCODING_AES_KEY",
        "PUBLIC_URL",
        "RETENTION_TEXTS",
        "SIMULATOR",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("ENV", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        return str(value).strip().lower() if value is not None else PRODUCTION

    @field_validator(
        "SELLER_OPENIDS", "SELLER_WECOM_USERIDS", "RETENTION_OFFER_CLASSES", "SIMULATOR_HOSTS", mode="before"
    )
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return parse_list(value)

    @field_validator("RETENTION_WINBACK_STEP_DAYS", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> Any:
        steps = parse_list(value)
        if not steps:
            raise ValueError("expected comma-separated day counts, e.g. 0,7,21")
        return steps

    @field_validator("RETENTION_FESTIVALS", mode="before")
    @classmethod
    def _festivals(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.lower() in {"all", "none"}):
            return (value or "all").lower()
        return parse_list(value)

    @field_validator("TIMEZONE")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name such as Asia/Shanghai") from None
        return value

    @field_validator("WECHAT_API_BASE_URL", "WECOM_API_BASE_URL", "PUBLIC_URL")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("WECHAT_ENCODING_AES_KEY", "WECOM_ENCODING_AES_KEY")
    @classmethod
    def _aes_key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9]{43}", value):
            raise ValueError(
                "expected the 43-character EncodingAESKey from the platform's server configuration"
            )
        return value

    @field_validator("DELIVERY_QUIET_HOURS")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        if value.lower() in {"", "off", "none", "no"}:
            return "off"
        match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})", value)
        try:
            start, end = (dt.time(int(match[i]), int(match[i + 1])) for i in (1, 3))
        except (TypeError, ValueError):
            raise ValueError("expected a local time range HH:MM-HH:MM (e.g. 21:00-09:00) or off") from None
        return f"{start:%H:%M}-{end:%H:%M}"

    @field_validator("DELIVERY_TEMPLATES", "DELIVERY_SUBSCRIBE_TEMPLATES", mode="before")
    @classmethod
    def _templates(cls, value: Any) -> Any:
        form = 'expected a JSON object like {"ship": {"template_id": "…", "fields": {…}, "url": "…"}}'
        if isinstance(value, str):
            try:
                value = json.loads(value or "{}")
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos}); {form}") from None
        if not isinstance(value, Mapping):
            raise ValueError(form)
        for kind, spec in value.items():
            if not isinstance(spec, Mapping) or not str(spec.get("template_id") or "").strip():
                raise ValueError(f"{kind!r} needs an object with a non-empty template_id; {form}")
            if not isinstance(spec.get("fields", {}), Mapping):
                raise ValueError(f"{kind!r}: fields must be an object of field name → text; {form}")
        return dict(value)


def env_name(field: str) -> str:
    """The environment variable a setting is read from."""
    info = Settings.model_fields.get(field)
    alias = getattr(info, "validation_alias", None) if info else None
    return alias.choices[0] if isinstance(alias, AliasChoices) else f"HUITOU_{field}"


DEFAULTS: dict[str, Any] = {
    name: info.get_default(call_default_factory=True) for name, info in Settings.model_fields.items()
}
SECRET_FIELDS = frozenset(
    {
        "SECRET_KEY",
        "WECHAT_TOKEN",
        "WECHAT_ENCODING_AES_KEY",
        "WECHAT_APP_SECRET",
        "WECOM_SECRET",
        "WECOM_TOKEN",
        "WECOM_ENCODING_AES_KEY",
        "DATABASE_URL",
    }
)


def _expected(field: str) -> str:
    """A short description of the form a field takes, from its annotation and constraints."""
    info = Settings.model_fields[field]
    kind = info.annotation
    bounds = []
    for item in info.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<=")):
            if isinstance(item, getattr(annotated_types, attr.capitalize())):
                bounds.append(f"{sign} {getattr(item, attr)}")
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(typing.get_args(kind))
    names = {int: "a whole number", float: "a number", bool: "true or false"}
    text = names.get(kind, "a value")
    return text + (" " + " and ".join(bounds) if bounds else "")


def _describe(error: Mapping[str, Any]) -> str:
    field = str(error["loc"][0]) if error.get("loc") else "?"
    name = env_name(field) if field in Settings.model_fields else field
    message = str(error.get("msg", "invalid"))
    if message.startswith("Value error, "):
        expected = message.removeprefix("Value error, ")
    else:
        expected = "expected " + _expected(field) if field in Settings.model_fields else message
    if field in SECRET_FIELDS:
        return f"{name}: {expected}"
    shown = repr(error.get("input"))
    shown = shown if len(shown) <= 60 else shown[:57] + "…"
    return f"{name}: {expected}, got {shown}"


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The raw configuration (unvalidated): defaults < environment < ``overrides``.

    For code running outside an app (the app itself uses :func:`load_settings`).
    """
    config = dict(DEFAULTS)
    for name, value in os.environ.items():
        if name.startswith("HUITOU_"):
            config[name.removeprefix("HUITOU_")] = value
    for field in Settings.model_fields:
        name = env_name(field)
        if not name.startswith("HUITOU_") and os.environ.get(name):
            config[field] = os.environ[name]
    if overrides:
        config.update(overrides)
    return config


def load_settings(overrides: Mapping[str, Any] | None = None) -> tuple[Settings, dict[str, Any]]:
    """Validate the configuration and apply the production rules; raise :class:`ConfigError` if wrong.

    Returns the typed settings and the mapping to load into ``app.config``: every declared setting,
    normalised, plus undeclared keys passed through as given (Flask's own, e.g. ``TESTING``, and
    ``HUITOU_*`` names not declared here).
    """
    overrides = dict(overrides or {})
    known = {k: v for k, v in overrides.items() if k in Settings.model_fields}
    try:
        settings = Settings(**known)
    except ValidationError as exc:
        raise ConfigError("configuration error: " + "; ".join(_describe(e) for e in exc.errors())) from None
    settings = _apply_mode(settings)
    config: dict[str, Any] = {}
    for name, value in os.environ.items():
        if name.startswith("HUITOU_") and name.removeprefix("HUITOU_") not in Settings.model_fields:
            config[name.removeprefix("HUITOU_")] = value
    config.update({k: v for k, v in overrides.items() if k not in Settings.model_fields})
    config.update(settings.model_dump())
    return settings, config


def production_mode(cfg: Mapping[str, Any]) -> bool:
    """Production unless ``ENV`` says development; real app credentials are production whatever it says."""
    if str(cfg.get("ENV") or PRODUCTION).strip().lower() != DEVELOPMENT:
        return True
    return bool(cfg.get("WECHAT_APP_ID") and cfg.get("WECHAT_APP_SECRET"))


def _apply_mode(settings: Settings) -> Settings:
    """Production refuses to start without its secrets; development fills in the dev ones."""
    if production_mode(settings.model_dump(include={"ENV", "WECHAT_APP_ID", "WECHAT_APP_SECRET"})):
        problems = []
        if not settings.WECHAT_TOKEN:
            problems.append(
                "WECHAT_TOKEN is not set (the Token of the Official Account's server configuration)"
            )
        elif settings.WECHAT_TOKEN == DEV_WECHAT_TOKEN:
            problems.append("WECHAT_TOKEN is the public development token; set your own random string")
        if not settings.SECRET_KEY:
            problems.append("HUITOU_SECRET_KEY is not set (a long random string shared by every process)")
        if problems:
            raise ConfigError(
                "production mode refuses to start: "
                + "; ".join(problems)
                + ". For a local trial run `huitou serve` on 127.0.0.1 (development mode)."
            )
        return settings.model_copy(update={"ENV": PRODUCTION})
    update: dict[str, Any] = {}
    if not settings.WECHAT_TOKEN:
        update["WECHAT_TOKEN"] = DEV_WECHAT_TOKEN
    if not settings.SECRET_KEY:
        # Development only: one process, links live as long as it does.
        update["SECRET_KEY"] = secrets.token_hex(32)
        log.info("development mode: HUITOU_SECRET_KEY is not set; using a random key for this process")
    return settings.model_copy(update=update)


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
