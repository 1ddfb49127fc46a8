"""What else changes when an order is created or changes status.

``storage.orders`` calls :func:`after_order_change` after every create and transition, inside the
same transaction. Storage's own effect (the retention clocks: supply mid-point and run-out, stage,
expected next purchase) always runs first; then the hooks the application installed on the
database (:func:`install`), in order. Storage never imports the code above it: the conversation
layer registers its reactions (withdrawing a payment reminder, referral rewards) at start-up
(``bot/order_reactions.py``), so the order of effects is still visible in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from storage.models import Order
from storage.retention_clock import track_order_change

OrderHook = Callable[[Session, Order, str, dt.datetime], None]
# Where the hooks travel: every session of a Database carries this key in ``Session.info``.
HOOKS_KEY = "huitou_order_hooks"


def install(database, hooks: Sequence[OrderHook]) -> None:
    """Run ``hooks`` after every order change made through ``database``'s sessions (replacing any
    installed before)."""
    database.session_info[HOOKS_KEY] = tuple(hooks)


def after_order_change(session: Session, order: Order, action: str, now: dt.datetime) -> None:
    """Run the follow-up effects of ``action`` (create, pay, ship, receive, cancel) on ``order``."""
    track_order_change(session, order, action, now)  # retention: supply clocks, stage, expected next purchase
    for hook in session.info.get(HOOKS_KEY, ()):
        hook(session, order, action, now)
