"""A small per-customer memory across messages (``ConversationState`` rows), with a timeout."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from storage.models import ConversationState
from storage.upsert import upsert

DEFAULT_TIMEOUT_MINUTES = 30
# Customers known, in this session, to have no state row: a second look would only read again
# what the message's own transaction already knows (its writes go through this module).
_ABSENT = "huitou_no_conversation_state"


def timeout_minutes(config: Mapping[str, Any]) -> int:
    try:
        return max(1, int(config.get("CONVERSATION_TIMEOUT_MINUTES", DEFAULT_TIMEOUT_MINUTES)))
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT_MINUTES


def load(
    session: Session, customer_id: int, now: dt.datetime
) -> tuple[ConversationState | None, ConversationState | None]:
    """``(live state, expired state)``: an expired row is deleted and returned as the second item."""
    state = current(session, customer_id)
    if state is None:
        return None, None
    if state.expires_at <= now:
        session.delete(state)
        session.flush()
        _absent(session).add(customer_id)
        return None, state
    return state, None


def current(session: Session, customer_id: int) -> ConversationState | None:
    """The customer's state row as it is (expired or not), read at most once per session."""
    if customer_id in _absent(session):
        return None
    state = session.get(ConversationState, customer_id)
    if state is None:
        _absent(session).add(customer_id)
    return state


def known_absent(session: Session, customer_id: int) -> None:
    """The caller knows the customer has no state row (e.g. created in this transaction)."""
    _absent(session).add(customer_id)


def _absent(session: Session) -> set[int]:
    return session.info.setdefault(_ABSENT, set())


def save(
    session: Session,
    customer_id: int,
    kind: str,
    data: dict[str, Any],
    config: Mapping[str, Any],
    now: dt.datetime,
) -> None:
    """Create or replace the customer's state; it expires ``CONVERSATION_TIMEOUT_MINUTES`` from now."""
    values = {
        "kind": kind,
        "data": dict(data),
        "expires_at": now + dt.timedelta(minutes=timeout_minutes(config)),
        "updated_at": now,
    }
    state = session.identity_map.get(session.identity_key(ConversationState, customer_id))
    if state is not None:
        for name, value in values.items():  # a new dict for ``data``, so SQLAlchemy sees the JSON change
            setattr(state, name, value)
        return
    # Not loaded in this session: one insert-or-update (two messages of one customer racing in two
    # workers both succeed; the later one's state wins).
    _absent(session).discard(customer_id)
    upsert(
        session,
        ConversationState.__table__,
        {"customer_id": customer_id, **values},
        ["customer_id"],
        list(values),
    )


def clear(session: Session, customer_id: int) -> None:
    state = current(session, customer_id)
    if state is not None:
        session.delete(state)
        session.flush()
        _absent(session).add(customer_id)
