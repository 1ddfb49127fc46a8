"""Finding customers the way a seller names them: ``#7``, a phone number, a nickname or a name."""

from __future__ import annotations

import re

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.contact import normalize_phone, to_halfwidth
from storage.models import Customer

_ID = re.compile(r"#\s*(\d{1,9})")
_PHONE_TAIL = re.compile(r"(?:尾号)?(\d{4})")


def parse_customer_id(text: str) -> int | None:
    """``#7`` → 7 (fullwidth ``＃７`` too); anything else → None."""
    match = _ID.fullmatch(to_halfwidth(text).strip())
    return int(match.group(1)) if match else None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_customers(session: Session, query: str, *, limit: int = 10) -> list[Customer]:
    """Customers matching ``query``, best first.

    ``#7`` is an id; a mainland mobile number matches the stored phone; four digits match the
    phone's last four (尾号, how sellers remember numbers); anything else matches name or nickname
    exactly, or, when nothing matches exactly, as a substring. Returns at most
    ``limit`` customers (an exact id or phone normally gives one).
    """
    text = to_halfwidth(query).strip()
    if not text:
        return []
    customer_id = parse_customer_id(text)
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        return [customer] if customer is not None else []
    phone = normalize_phone(text)
    if phone:
        return list(
            session.scalars(
                select(Customer).where(Customer.phone == phone).order_by(Customer.id).limit(limit)
            )
        )
    if tail := _PHONE_TAIL.fullmatch(text):
        return list(
            session.scalars(
                select(Customer)
                .where(Customer.phone.like(f"%{tail.group(1)}"))
                .order_by(Customer.id)
                .limit(limit)
            )
        )
    exact = list(
        session.scalars(
            select(Customer)
            .where(or_(Customer.name == text, Customer.nickname == text))
            .order_by(Customer.id)
            .limit(limit)
        )
    )
    if exact:
        return exact
    pattern = f"%{_like_escape(text)}%"
    return list(
        session.scalars(
            select(Customer)
            .where(
                or_(Customer.name.like(pattern, escape="\\"), Customer.nickname.like(pattern, escape="\\"))
            )
            .order_by(Customer.id)
            .limit(limit)
        )
    )
