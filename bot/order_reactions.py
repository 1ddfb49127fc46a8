"""The conversation layer's reactions to an order change, installed as the database's order hooks.

In order: a payment reminder not sent yet is withdrawn once the order is paid or cancelled
(``bot/delivery/order_notices.py``); the referral rewards are granted on the referee's first
payment and reversed on its cancellation (``bot/referral_rewards.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from bot import referral_rewards
from bot.delivery import order_notices
from storage import order_hooks
from storage.db import Database
from storage.models import Order


def install(database: Database, config: Mapping[str, Any]) -> None:
    """Make every order change through ``database`` run these reactions with the app's ``config``."""

    def referral_effects(session: Session, order: Order, action: str, now: dt.datetime) -> None:
        referral_rewards.on_order_change(session, order, action, now, config)

    order_hooks.install(database, [order_notices.on_order_change, referral_effects])
