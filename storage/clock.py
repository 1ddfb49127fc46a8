"""Time in Huitou, in one place.

**Convention: every stored timestamp is naive UTC** (a ``datetime`` without ``tzinfo`` whose
value is UTC), on SQLite and PostgreSQL alike. Code passes time as a parameter (``now``); aware
values are accepted at the edges and normalised with :func:`naive_utc`. The shop's own time zone
(``HUITOU_TIMEZONE``, default Asia/Shanghai) applies only where a person reads or chooses a time:
quiet hours, greetings' days, the digest's hour, figures' days, the export, the CLI's ``--at``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"


def utcnow() -> dt.datetime:
    """The live clock as naive UTC (the storage convention)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as naive UTC: an aware value is converted, a naive one is taken as UTC already."""
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def aware_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@lru_cache(maxsize=16)
def zone(name: str | None) -> ZoneInfo:
    """The ``ZoneInfo`` for ``name`` (the default zone when empty)."""
    return ZoneInfo(str(name or DEFAULT_TIMEZONE))


def shop_zone(config: Mapping[str, Any]) -> ZoneInfo:
    """The shop's time zone from the app's config (``TIMEZONE``)."""
    return zone(config.get("TIMEZONE"))


def to_local(value: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A stored (naive UTC) or aware moment as an aware datetime in ``tz``."""
    return aware_utc(value).astimezone(tz)


def local_to_utc(value: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A local wall-clock moment in ``tz`` (naive, or aware in any zone) as naive UTC."""
    return naive_utc(value if value.tzinfo is not None else value.replace(tzinfo=tz))
