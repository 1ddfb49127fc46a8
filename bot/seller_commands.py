"""The seller console: commands typed by the openids in HUITOU_SELLER_OPENIDS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from storage.models import Customer


def handle_seller_text(session: Session, seller: Customer, text: str, config: Mapping[str, Any],
                       now: dt.datetime) -> str | None:
    """Run a seller command; None when the text is not a command (customer handling applies)."""
    return None
