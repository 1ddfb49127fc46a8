"""Seller console, messages: 咨询 · 回复 · 关闭 · 待发 · 已发 · 导出."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from storage.export_links import verify_export_token
from storage.models import Inquiry, OutboxMessage, utcnow
from tests.conftest import SELLER_OPENID
from tests.seller_support import add_customer, add_product, fetch, outbox, say


def add_inquiry(db, customer_id, text="敏感肌能用吗") -> int:
    from storage.inquiries import record_inquiry

    with db.session() as s:
        return record_inquiry(s, customer_id, text, topic="effect", product_id=None, now=utcnow()).id


def test_customer_question_shows_up_and_is_answered_through_the_bot(platform, db):
    add_product(db, "面膜", 9900)
    platform.say("o_buyer", "面膜敏感肌能用吗")
    with db.read_session() as s:
        [row] = s.scalars(select(Inquiry)).all()
        customer_id = row.customer_id
    listing = say(platform, "咨询")
    assert (
        f"#{row.id}" in listing and "敏感肌能用吗" in listing and "【面膜】" in listing and "1条" in listing
    )

    reply = say(platform, f"回复 #{row.id} 可以用，先在耳后试一下")
    assert f"已回复咨询 #{row.id}" in reply
    [answer] = outbox(db, "inquiry_answer")
    assert answer.dedupe_key == f"inquiry-answer:{row.id}" and answer.customer_id == customer_id
    assert "可以用，先在耳后试一下" in answer.text and "敏感肌能用吗" in answer.text
    stored = fetch(db, Inquiry, row.id)
    assert (stored.status, stored.answer) == ("answered", "可以用，先在耳后试一下")
    assert stored.answered_at is not None
    assert "没有待回复" in say(platform, "咨询")


def test_answer_twice_is_refused_once_sent(platform, db):
    customer = add_customer(db, openid="o_buyer", nickname="小雨")
    inquiry_id = add_inquiry(db, customer)
    say(platform, f"回复 #{inquiry_id} 可以用")
    reply = say(platform, f"回复 #{inquiry_id} 再说一遍")
    assert "已经回复过了" in reply
    assert fetch(db, Inquiry, inquiry_id).answer == "可以用"
    assert len(outbox(db, "inquiry_answer")) == 1


def test_answer_errors(platform, db):
    customer = add_customer(db, openid="o_buyer", nickname="小雨")
    inquiry_id = add_inquiry(db, customer)
    assert "请写咨询号" in say(platform, "回复")
    assert "没有咨询 #999" in say(platform, "回复 #999 可以用")
    assert "请写回复内容" in say(platform, f"回复 #{inquiry_id}")
    assert "不是咨询号" in say(platform, "回复 第五个 可以用")
    assert fetch(db, Inquiry, inquiry_id).status == "open"
    assert outbox(db, "inquiry_answer") == []


def test_close_inquiry(platform, db):
    customer = add_customer(db, openid="o_buyer", nickname="小雨")
    inquiry_id = add_inquiry(db, customer)
    assert f"已关闭咨询 #{inquiry_id}" in say(platform, f"关闭 #{inquiry_id}")
    stored = fetch(db, Inquiry, inquiry_id)
    assert stored.status == "closed" and stored.closed_at is not None
    assert "本来就是关闭的" in say(platform, f"关闭 #{inquiry_id}")
    assert "已关闭，不能再回复" in say(platform, f"回复 #{inquiry_id} 可以用")
    assert outbox(db, "inquiry_answer") == []
    assert "没有咨询 #999" in say(platform, "关闭 #999")


def add_draft(db, customer_id, text, status="drafted") -> int:
    now = utcnow()
    with db.session() as s:
        row = OutboxMessage(
            dedupe_key=f"test:draft:{uuid.uuid4().hex}",
            customer_id=customer_id,
            kind="repurchase",
            text=text,
            channel="draft",
            status=status,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )
        s.add(row)
        s.flush()
        return row.id


def test_drafts_are_listed_with_text_to_copy_and_marked_done(platform, db):
    customer = add_customer(db, openid="o_buyer", name="张三")
    first = add_draft(db, customer, "张三您好，面膜快用完了吧？需要的话跟我说～")
    second = add_draft(db, customer, "张三，中秋快乐🌕")
    add_draft(db, customer, "已经发过的", status="sent")
    listing = say(platform, "待发")
    assert "2条" in listing and f"#{first} 发给 张三（#{customer}）" in listing
    assert "张三您好，面膜快用完了吧？需要的话跟我说～" in listing and "中秋快乐" in listing
    assert "已经发过的" not in listing
    reply = say(platform, f"已发 #{first}")
    assert f"#{first}" in reply and "还剩 1 条" in reply
    with db.read_session() as s:
        row = s.get(OutboxMessage, first)
        assert row.status == "sent" and row.sent_at is not None
    assert f"#{first} " not in say(platform, "待发") and f"#{second}" in say(platform, "待发")
    assert "还剩 0 条" in say(platform, f"已发 {second}")
    assert "可能已经标记过了" in say(platform, f"已发 #{first}")
    assert "请写待发消息的编号" in say(platform, "已发")
    assert "不是编号" in say(platform, "已发 第一条")


def test_many_drafts_are_paged_within_the_reply_limit(platform, db):
    customer = add_customer(db, openid="o_buyer", name="张三")
    long_text = "张三您好，" + "好久不见，最近皮肤状态怎么样？" * 12
    ids = [add_draft(db, customer, f"{long_text}{i}") for i in range(7)]
    first = say(platform, "待发")
    assert len(first.encode()) <= 2000 and f"#{ids[0]} " in first and "更多" in first
    shown = set(map(int, re.findall(r"—— #(\d+)", first)))
    rest = say(platform, "更多")
    shown_next = set(map(int, re.findall(r"—— #(\d+)", rest)))
    assert shown and shown_next and not shown & shown_next and min(shown_next) == max(shown) + 1


def test_no_drafts(platform):
    assert "没有需要手动发送" in say(platform, "待发")


def test_export_link_is_signed_for_this_seller(platform, app):
    reply = say(platform, "导出")
    url = re.search(r'<a href="(https?://[^"]+)">', reply).group(1)
    assert url.startswith("http://localhost/downloads/export#") and "10分钟内有效" in reply
    token = url.rsplit("#", 1)[1]
    assert verify_export_token(app.config, token) == SELLER_OPENID
    assert "不需要加内容" in say(platform, "导出 全部")


def test_opting_out_withdraws_the_customers_drafts_from_the_sellers_list(platform, db):
    """A customer who sends TD has their drafted marketing withdrawn (skipped, opted out) so the seller
    cannot send it by mistake; a transactional draft (a shipping notice) stays on the list."""
    customer = add_customer(db, openid="o_buyer", name="张三")
    other = add_customer(db, openid="o_other", name="李四")
    greeting = add_draft(db, customer, "张三，春节快乐🧧")
    kept = add_draft(db, other, "李四，春节快乐🧧")
    now = utcnow()
    with db.session() as s:
        notice = OutboxMessage(
            dedupe_key="ship:order:test",
            customer_id=customer,
            kind="ship",
            text="您的订单已发货",
            transactional=True,
            channel="draft",
            status="drafted",
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )
        s.add(notice)
        s.flush()
        notice_id = notice.id
    assert f"#{greeting} " in say(platform, "待发")

    assert "退订" in platform.say("o_buyer", "TD")

    withdrawn = fetch(db, OutboxMessage, greeting)
    assert (withdrawn.status, withdrawn.skip_reason) == ("skipped", "opted_out")
    assert fetch(db, OutboxMessage, notice_id).status == "drafted"
    listing = say(platform, "待发")
    assert f"#{greeting} " not in listing and f"#{kept} " in listing and f"#{notice_id} " in listing
    assert "可能已经标记过了" in say(platform, f"已发 #{greeting}")
    assert fetch(db, OutboxMessage, greeting).status == "skipped"
