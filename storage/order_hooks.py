"""What else changes when an order is created or changes status.

``storage.orders`` calls :func:`after_order_change` after every create and transition, inside
the same transaction. Each feature (retention timing, referral rewards, ...) adds one explicit
call here rather than patching the status machine, so the order of effects is visible in one place.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from storage.models import Order


def after_order_change(session: Session, order: Order, action: str, now: dt.datetime) -> None:
    """Run the follow-up effects of ``action`` (create, pay, ship, receive, cancel) on ``order``."""
    from bot.delivery.order_notices import on_order_change
    from storage import referrals
    from storage.retention_clock import track_order_change

    on_order_change(session, order, action, now)  # withdraw a payment reminder not sent yet
    track_order_change(session, order, action, now)  # retention: supply clocks, stage, expected next purchase
    referrals.on_order_change(session, order, action, now)  # referral rewards on pay, reversal on cancel
