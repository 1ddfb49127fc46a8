"""Customer lookups and creation."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from storage.models import Customer
from storage.upsert import insert_ignore

_BY_OPENID = select(Customer).where(Customer.openid == bindparam("openid"))  # built once: every message uses it


def get_or_create_by_openid(session: Session, openid: str, now: dt.datetime) -> tuple[Customer, bool]:
    """Return the customer with this openid, creating them if unknown; ``(customer, created)``.

    Creation is an insert-or-ignore, so two messages from a new follower handled at the same time
    by different workers end up with one customer row.
    """
    customer = session.scalar(_BY_OPENID, {"openid": openid})
    if customer is not None:
        return customer, False
    created = insert_ignore(
        session,
        Customer.__table__,
        {"openid": openid, "created_at": now, "updated_at": now, "subscribed": True, "stage": "prospect",
         "opted_out": False, "unreachable": False, "birthday_is_lunar": False},
        ["openid"],
    )
    customer = session.scalar(_BY_OPENID, {"openid": openid})
    return customer, bool(created)
