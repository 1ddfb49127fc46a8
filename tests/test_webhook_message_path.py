"""The message path: the text is understood before the write transaction, and what changed between
that early reading and the transaction (another message of the same customer, the catalogue) is
what the reply follows; each message kind stays within its budget of SQL statements."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import event, select, update

from bot import inbound as bot_inbound
from storage.models import InboundMessage, Product
from tests.test_conversation_flow import orders_of
from tests.test_customer_messages import add_catalogue

ADDRESS = "广东省深圳市南山区科技园路1号"
CONTACT = f"张三 13800138000 {ADDRESS}"


@pytest.fixture
def shop(db):
    add_catalogue(db)
    return db


@pytest.fixture
def between_reading_and_writing(monkeypatch):
    """Run ``action`` once, after the next message was understood and before its transaction."""
    pending: list = []
    understand = bot_inbound.understand

    def understand_then_act(text):
        understanding = understand(text)
        while pending:
            pending.pop()()
        return understanding

    monkeypatch.setattr(bot_inbound, "understand", understand_then_act)
    return pending.append


def test_a_message_of_the_same_customer_handled_in_between_is_seen(
    platform, shop, between_reading_and_writing
):
    platform.say("o_a", "你好")  # the process has read the catalogue once
    # "张三 …" is understood first; then the customer's "要两盒面膜" is handled to the end; only then
    # does the contact's transaction run: it completes the order that the other message started.
    replies = []
    between_reading_and_writing(lambda: replies.append(platform.say("o_a", "要两盒面膜")))
    reply = platform.say("o_a", CONTACT)

    [order] = orders_of(shop, "o_a")
    assert "收件人姓名" in replies[0]  # the order message ran first and asked for the details
    assert (order.recipient_name, order.phone, order.address_detail) == ("张三", "13800138000", "科技园路1号")
    assert [(i.product_name, i.quantity) for i in order.items] == [("补水面膜", 2)]
    assert f"#{order.id}" in reply and "138****8000" in reply


def test_a_product_added_in_between_is_ordered(platform, shop, between_reading_and_writing):
    platform.say("o_b", "你好")

    def seller_adds_a_product():
        with shop.session() as s:
            s.add(Product(name="玫瑰眼霜", aliases="眼霜", price_cents=15800, usage_days=60))

    between_reading_and_writing(seller_adds_a_product)
    reply = platform.say("o_b", f"要一支眼霜 {CONTACT}")

    [order] = orders_of(shop, "o_b")
    assert [(i.product_name, i.quantity, i.unit_price_cents) for i in order.items] == [("玫瑰眼霜", 1, 15800)]
    assert f"#{order.id}" in reply and "¥158" in reply


def test_a_product_taken_off_sale_in_between_is_not_ordered(platform, shop, between_reading_and_writing):
    platform.say("o_c", "你好")

    def seller_removes_the_mask():
        with shop.session() as s:
            s.execute(update(Product).where(Product.name == "补水面膜").values(active=False))

    between_reading_and_writing(seller_removes_the_mask)
    reply = platform.say("o_c", f"要两盒面膜 {CONTACT}")

    assert orders_of(shop, "o_c") == []
    assert "补水面膜" not in reply
    with shop.read_session() as s:
        [logged] = s.scalars(select(InboundMessage).where(InboundMessage.openid == "o_c").offset(1)).all()
    assert logged.content.startswith("要两盒面膜")


@contextlib.contextmanager
def counted_statements(db):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


# SQL statements per message, counting BEGIN (not COMMIT) and the passive reply's withdrawal from
# the outbox (its own transaction): (text, budget for a customer's first message, for a returning
# customer whose order is under review). The larger of SQLite's and PostgreSQL's counts (the
# latter takes an advisory lock; the tests' simulator clock reads its offset on SQLite's path); a
# change that needs more statements has to say why here.
BUDGETS = [
    ("你好", 10, 15),
    ("面膜多少钱", 13, 17),
    (f"要两盒面膜 {CONTACT}", 30, 30),
    ("我的快递到哪了", 11, 17),
    ("谢谢，面膜很好用", 22, 24),
    ("再来一瓶精华液", 21, 28),
]


@pytest.mark.parametrize(("text", "first_budget", "returning_budget"), BUDGETS, ids=[b[0] for b in BUDGETS])
def test_each_message_kind_stays_within_its_statement_budget(
    platform, shop, text, first_budget, returning_budget
):
    with counted_statements(shop) as first:
        assert platform.say("o_new", text)
    platform.say("o_old", f"要两盒面膜 {CONTACT}")  # a customer with an order under review
    with counted_statements(shop) as returning:
        assert platform.say("o_old", text)
    assert len(first) <= first_budget, "\n".join(first)
    assert len(returning) <= returning_budget, "\n".join(returning)
