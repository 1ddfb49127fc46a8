"""The customer side of the conversation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from bot import texts
from storage.models import Customer, InboundMessage


def handle_customer_text(session: Session, customer: Customer, text: str, inbound: InboundMessage,
                         config: Mapping[str, Any], now: dt.datetime) -> str | None:
    """Answer a customer's text message."""
    return texts.DEFAULT_REPLY
