"""Customer lookups and creation, and the per-customer lock a message's transaction takes first."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session, make_transient_to_detached

from storage.models import Customer
from storage.upsert import insert_one_ignore

_BY_OPENID = select(Customer).where(
    Customer.openid == bindparam("openid")
)  # built once: every message uses it

# The advisory-lock namespace of customers (first key of the two-key form, so it never meets the
# one-key locks of the scheduler leader and the token refresh).
CUSTOMER_LOCK_NAMESPACE = 724_053_100
_LOCK_CUSTOMER = text("SELECT pg_advisory_xact_lock(:namespace, :key)")


def customer_lock_key(openid: str) -> int:
    """The second advisory-lock key of ``openid``: a stable signed 32-bit hash (collisions only make
    two customers wait for each other now and then)."""
    return int.from_bytes(hashlib.blake2b(openid.encode(), digest_size=4).digest(), "big", signed=True)


def lock_customer(session: Session, openid: str) -> None:
    """Serialise the work of one customer's messages: call first thing in the message's transaction.

    On PostgreSQL a transaction-scoped advisory lock on a hash of the openid (it needs no customer
    row, so a new follower's first two messages queue too, and it is released at commit or
    rollback); messages of other customers go on in parallel. On SQLite the write transaction
    already holds the database's single write lock, so there is nothing to add.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            _LOCK_CUSTOMER, {"namespace": CUSTOMER_LOCK_NAMESPACE, "key": customer_lock_key(openid)}
        )


def find_by_openid(session: Session, openid: str) -> Customer | None:
    """The customer with this openid, or None (never creates one)."""
    return session.scalar(_BY_OPENID, {"openid": openid})


def get_or_create_by_openid(
    session: Session, openid: str, now: dt.datetime, *, wrote_now: bool = False
) -> tuple[Customer, bool]:
    """Return the customer with this openid, creating them if unknown; ``(customer, created)``.

    ``wrote_now``: they are writing to us (a customer created now has ``last_inbound_at = now``,
    so the message's own UPDATE of it is not needed).

    Creation is an insert-or-ignore, so two messages from a new follower handled at the same time
    by different workers end up with one customer row.
    """
    customer = session.scalar(_BY_OPENID, {"openid": openid})
    if customer is not None:
        return customer, False
    row = {
        "openid": openid,
        "created_at": now,
        "updated_at": now,
        "subscribed": True,
        "stage": "prospect",
        "opted_out": False,
        "unreachable": False,
        "birthday_is_lunar": False,
    }
    if wrote_now:
        row["last_inbound_at"] = now
    new_id = insert_one_ignore(session, Customer.__table__, row, ["openid"])
    if new_id is None:  # another worker created them first
        return session.scalar(_BY_OPENID, {"openid": openid}), False
    # The row is exactly what was just inserted (every other column NULL: none has a server
    # default): the session takes it as loaded instead of reading it back.
    customer = Customer(**{**_NULL_COLUMNS, **row}, id=new_id)
    make_transient_to_detached(customer)
    session.add(customer)
    return customer, True


_NULL_COLUMNS = {
    column.key: None
    for column in Customer.__table__.columns
    if column.server_default is None and column.key not in ("id",)
}
