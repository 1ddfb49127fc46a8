"""Conversations over several messages: completing an order, choosing a product, timeouts,
conflicting contact data, corrections, inquiries turning into orders, seller notices, parcels,
opt-out, complaints, the referral hook."""

from __future__ import annotations

import datetime as dt
import sys
import types

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from storage import models
from storage.models import (
    Complaint,
    ConversationState,
    Customer,
    FieldConflict,
    Inquiry,
    Order,
    OutboxMessage,
)
from tests.conftest import SELLER_OPENID
from tests.test_customer_messages import add_catalogue

ADDRESS = "广东省深圳市南山区科技园路1号"


@pytest.fixture
def shop(db):
    add_catalogue(db)
    return db


def orders_of(db, openid):
    with db.read_session() as s:
        return s.scalars(
            select(Order)
            .join(Customer)
            .where(Customer.openid == openid)
            .order_by(Order.id)
            .options(selectinload(Order.items))
        ).all()


def customer(db, openid) -> Customer:
    with db.read_session() as s:
        return s.scalar(select(Customer).where(Customer.openid == openid))


def seller_notices(db):
    with db.read_session() as s:
        return s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "seller_notice").order_by(OutboxMessage.id)
        ).all()


def test_order_completed_over_three_messages(platform, shop):
    reply = platform.say("o_a", "要两盒面膜")
    [order] = orders_of(shop, "o_a")
    assert f"#{order.id}" in reply and "收件人姓名" in reply and "手机号" in reply and "地址" in reply
    assert order.status == "pending" and order.amount_cents == 19800

    reply = platform.say("o_a", "张三 13800138000")
    assert "地址" in reply and "手机号" not in reply
    reply = platform.say("o_a", ADDRESS)

    [order] = orders_of(shop, "o_a")  # the same pending order, now complete
    assert (
        order.recipient_name,
        order.phone,
        order.province,
        order.city,
        order.district,
        order.address_detail,
    ) == ("张三", "13800138000", "广东省", "深圳市", "南山区", "科技园路1号")
    assert f"#{order.id}" in reply and "补水面膜×2" in reply and "¥198" in reply
    assert "138****8000" in reply and "13800138000" not in reply and ADDRESS in reply
    assert "取消订单" in reply  # how to correct or cancel
    person = customer(shop, "o_a")
    assert (person.name, person.phone, person.address) == ("张三", "13800138000", ADDRESS)
    with shop.read_session() as s:
        assert s.get(ConversationState, person.id).kind == "order_review"
    assert f"#{order.id}" in platform.say("o_a", "好的")


def test_bare_name_and_street_answer_the_questions_asked(platform, shop):
    platform.say("o_b", "要一瓶精华，寄到浙江省杭州市西湖区")
    reply = platform.say("o_b", "文三路100号")
    assert "收件人姓名" in reply and "地址" not in reply.split("还差")[-1]
    platform.say("o_b", "王芳")
    reply = platform.say("o_b", "13700137000")
    [order] = orders_of(shop, "o_b")
    assert (order.recipient_name, order.phone, order.address) == (
        "王芳",
        "13700137000",
        "浙江省杭州市西湖区文三路100号",
    )
    assert "137****7000" in reply


def test_ambiguous_product_is_asked_and_answer_completes_the_order(platform, shop):
    reply = platform.say("o_c", "眼霜来两支 张三 13800138000 " + ADDRESS)
    assert "1. 修护眼霜" in reply and "2. 紧致眼霜" in reply
    assert orders_of(shop, "o_c") == []
    reply = platform.say("o_c", "2")
    [order] = orders_of(shop, "o_c")
    assert [(i.product_name, i.quantity) for i in order.items] == [("紧致眼霜", 2)]
    assert order.recipient_name == "张三" and order.address == ADDRESS
    assert "¥336" in reply


def test_unknown_product_then_a_known_one(platform, shop):
    reply = platform.say("o_d", "要两瓶爽肤水")
    assert "爽肤水" in reply and "补水面膜" in reply  # says what exists
    assert orders_of(shop, "o_d") == []
    platform.say("o_d", "那来一盒面膜吧")
    [order] = orders_of(shop, "o_d")
    assert [(i.product_name, i.quantity) for i in order.items] == [("补水面膜", 1)]


def test_pending_order_times_out(platform, shop, app_config):
    start = dt.datetime(2026, 11, 23, 2, 0)
    with time_machine.travel(start, tick=False):
        platform.say("o_e", "要两盒面膜")
    with time_machine.travel(start + dt.timedelta(minutes=31), tick=False):
        reply = platform.say("o_e", "张三 13800138000")
    [order] = orders_of(shop, "o_e")
    assert order.phone is None and order.recipient_name is None  # not attached after the timeout
    assert order.status == "pending"  # the seller still sees it
    assert "#" not in reply
    with shop.read_session() as s:
        assert s.get(ConversationState, customer(shop, "o_e").id) is None


def test_timeout_is_configurable(app_config, shop):
    from app import create_app
    from tests.wechat_platform import WeChatPlatform

    app_config["CONVERSATION_TIMEOUT_MINUTES"] = 120
    platform = WeChatPlatform(create_app(app_config).test_client())
    start = dt.datetime(2026, 11, 23, 2, 0)
    with time_machine.travel(start, tick=False):
        platform.say("o_f", "要两盒面膜")
    with time_machine.travel(start + dt.timedelta(minutes=90), tick=False):
        platform.say("o_f", "张三 13800138000")
    [order] = orders_of(shop, "o_f")
    assert order.phone == "13800138000"


def test_returning_customer_reuses_stored_details(platform, shop):
    platform.say("o_g", "要两盒面膜 张三 13800138000 " + ADDRESS)
    reply = platform.say("o_g", "再来一瓶精华")
    first, second = orders_of(shop, "o_g")
    assert second.id != first.id
    assert (second.recipient_name, second.phone, second.address) == ("张三", "13800138000", ADDRESS)
    assert f"#{second.id}" in reply and "上次留的" in reply


def test_different_phone_keeps_both_and_asks(platform, shop):
    platform.say("o_h", "要两盒面膜 张三 13800138000 " + ADDRESS)
    platform.say("o_h", "取消订单")
    reply = platform.say("o_h", "要一盒面膜 张三 13900139000 " + ADDRESS)
    assert "139****9000" in reply and "138****8000" in reply and "更新" in reply
    person = customer(shop, "o_h")
    assert person.phone == "13800138000"  # not silently overwritten
    assert orders_of(shop, "o_h")[-1].phone == "13900139000"  # this order ships as told
    with shop.read_session() as s:
        [conflict] = s.scalars(select(FieldConflict)).all()
        assert (conflict.field, conflict.stored_value, conflict.proposed_value, conflict.source) == (
            "phone",
            "13800138000",
            "13900139000",
            "chat",
        )
        assert conflict.resolved_at is None

    assert platform.say("o_h", "更新").startswith("好的，资料已更新")
    assert customer(shop, "o_h").phone == "13900139000"
    with shop.read_session() as s:
        assert s.scalar(select(FieldConflict)).resolved_at is not None


def test_different_address_kept_when_customer_says_no(platform, shop):
    platform.say("o_i", "要两盒面膜 张三 13800138000 " + ADDRESS)
    platform.say("o_i", "要一盒面膜 张三 13800138000 北京市朝阳区建国路88号")
    assert platform.say("o_i", "不用").startswith("好的，资料保持原来的")
    assert customer(shop, "o_i").address == ADDRESS
    assert orders_of(shop, "o_i")[-1].address == "北京市北京市朝阳区建国路88号"
    with shop.read_session() as s:
        conflict = s.scalar(select(FieldConflict))
        assert conflict.field == "address" and conflict.resolved_at is not None


def test_correction_after_confirmation_updates_the_same_order(platform, shop):
    platform.say("o_j", "要两盒面膜 张三 13800138000 " + ADDRESS)
    reply = platform.say("o_j", "电话写错了，是13900139000")
    [order] = orders_of(shop, "o_j")
    assert order.phone == "13900139000"
    assert "已更新订单" in reply and "139****9000" in reply


def test_cancel_pending_order(platform, shop):
    platform.say("o_k", "要两盒面膜")
    reply = platform.say("o_k", "算了")
    [order] = orders_of(shop, "o_k")
    assert order.status == "cancelled" and f"#{order.id}" in reply
    with shop.read_session() as s:
        assert [e.action for e in s.get(Order, order.id).events] == ["create", "cancel"]


def test_inquiry_answered_then_linked_to_the_order(platform, shop):
    reply = platform.say("o_l", "面膜多少钱")
    assert "¥99" in reply
    platform.say("o_l", "要两盒 面膜 张三 13800138000 " + ADDRESS)
    [order] = orders_of(shop, "o_l")
    with shop.read_session() as s:
        [inquiry] = s.scalars(select(Inquiry)).all()
        assert (inquiry.status, inquiry.topic, inquiry.converted_order_id) == ("answered", "price", order.id)


def test_unconverted_inquiries_are_found(platform, shop):
    from storage.inquiries import unconverted_inquiries

    platform.say("o_m", "防晒霜有货吗")
    with shop.read_session() as s:
        found = unconverted_inquiries(
            s, older_than=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)
        )
        assert [(i.topic, i.status) for i in found] == [("stock", "open")]


def test_unanswerable_inquiry_is_forwarded_to_each_seller(app_config, shop):
    from app import create_app
    from tests.wechat_platform import WeChatPlatform

    app_config["SELLER_OPENIDS"] = f"{SELLER_OPENID},o_helper"
    platform = WeChatPlatform(create_app(app_config).test_client())
    reply = platform.say("o_n", "敏感肌能用防晒吗")
    assert reply == "防晒霜（¥88）：这个我问下店主，稍后回复您🙏"  # the product named, nothing invented
    notices = seller_notices(shop)
    with shop.read_session() as s:
        inquiry = s.scalar(select(Inquiry))
    assert inquiry.status == "open"
    assert sorted(n.dedupe_key for n in notices) == sorted(
        f"seller:inquiry:{inquiry.id}:{o}" for o in (SELLER_OPENID, "o_helper")
    )
    assert all(
        n.transactional and n.openid in (SELLER_OPENID, "o_helper") and "敏感肌" in n.text for n in notices
    )


def test_new_order_notifies_the_seller_once(platform, shop):
    platform.say("o_o", "要两盒面膜")
    platform.say("o_o", "张三 13800138000 " + ADDRESS)
    [order] = orders_of(shop, "o_o")
    [notice] = seller_notices(shop)
    assert notice.dedupe_key == f"seller:new-order:{order.id}:{SELLER_OPENID}"
    assert notice.openid == SELLER_OPENID and notice.transactional and f"#{order.id}" in notice.text


def test_complaint_is_stored_and_forwarded(platform, shop):
    platform.say("o_p", "要两盒面膜 张三 13800138000 " + ADDRESS)
    reply = platform.say("o_p", "收到的面膜破损了，要退货")
    assert "抱歉" in reply
    [order] = orders_of(shop, "o_p")
    with shop.read_session() as s:
        complaint = s.scalar(select(Complaint))
    assert (complaint.order_id, complaint.status) == (order.id, "open")
    keys = [n.dedupe_key for n in seller_notices(shop)]
    assert f"seller:complaint:{complaint.id}:{SELLER_OPENID}" in keys


def test_my_orders_shows_status_courier_and_tracking(platform, shop):
    platform.say("o_q", "要两盒面膜 张三 13800138000 " + ADDRESS)
    [order] = orders_of(shop, "o_q")
    with shop.session() as s:
        o = s.get(Order, order.id)
        o.status, o.courier, o.tracking_no = "shipped", "顺丰", "SF1234567890"
    reply = platform.say("o_q", "我的快递到哪了")
    assert f"#{order.id}" in reply and "已发货" in reply and "顺丰" in reply and "SF1234567890" in reply
    assert platform.say("o_new", "查一下订单").startswith("还没查到")


def test_opt_out_stops_marketing_at_once_and_opt_in_restores(platform, shop):
    from storage.outbox import enqueue

    platform.say("o_r", "你好")
    person = customer(shop, "o_r")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with shop.session() as s:
        enqueue(
            s,
            dedupe_key="repurchase:test",
            kind="repurchase",
            text="该回购啦",
            customer_id=person.id,
            now=now,
        )
        enqueue(
            s,
            dedupe_key="ship:test",
            kind="ship",
            text="已发货",
            customer_id=person.id,
            now=now,
            transactional=True,
        )
    reply = platform.say("o_r", "TD")
    assert "退订" in reply
    person = customer(shop, "o_r")
    assert person.opted_out and person.opted_out_at is not None
    with shop.read_session() as s:
        rows = {m.dedupe_key: (m.status, m.skip_reason) for m in s.scalars(select(OutboxMessage))}
    assert rows == {"repurchase:test": ("skipped", "opted_out"), "ship:test": ("pending", None)}
    assert "恢复订阅" in platform.say("o_r", "订阅")
    assert not customer(shop, "o_r").opted_out


def test_praise_of_the_product_is_kept_as_a_testimonial(platform, shop):
    platform.say("o_s", "面膜很好用，已经推荐给闺蜜了")
    with shop.read_session() as s:
        assert [t.text for t in s.scalars(select(models.Testimonial))] == ["面膜很好用，已经推荐给闺蜜了"]


def test_referral_code_without_referral_module_gets_a_neutral_reply(platform, shop, monkeypatch):
    monkeypatch.setitem(sys.modules, "bot.referrals", None)  # as if the module did not exist
    assert "AB12CD" in platform.say("o_t", "推荐码 AB12CD")


def test_referral_code_goes_to_the_referral_hook(platform, shop, monkeypatch):
    calls = []
    module = types.ModuleType("bot.referrals")

    def apply_typed_code(session, customer, code, config, now):
        calls.append((customer.openid, code))
        return "推荐码已登记，下单立减10元"

    module.apply_typed_code = apply_typed_code
    monkeypatch.setitem(sys.modules, "bot.referrals", module)
    assert platform.say("o_u", "邀請碼：hk2024") == "推荐码已登记，下单立减10元"
    assert calls == [("o_u", "HK2024")]


def test_a_failing_handler_still_answers_and_keeps_the_message(platform, shop, monkeypatch):
    import bot.customer_replies as replies
    from storage.models import InboundMessage

    def broken(turn):
        raise RuntimeError("bug")

    monkeypatch.setitem(replies.HANDLERS, "greeting", broken)
    assert platform.say("o_v", "你好")
    with shop.read_session() as s:
        assert s.scalar(select(InboundMessage.content)) == "你好"


def test_a_handler_failing_half_way_keeps_none_of_its_effects(platform, shop, monkeypatch):
    """The failing message is rolled back whole and stored again with the safe answer, once."""
    import bot.customer_replies as replies
    from bot import texts
    from storage.models import InboundMessage

    def half_done(turn):
        turn.session.add(
            Complaint(customer_id=turn.customer.id, text="half", status="open", created_at=turn.now)
        )
        turn.session.flush()
        raise RuntimeError("bug after a write")

    monkeypatch.setitem(replies.HANDLERS, "greeting", half_done)
    reply = platform.post_text("o_half", "你好", msg_id=987654321)
    assert reply.status == 200 and reply.text == texts.DEFAULT_REPLY
    again = platform.post_text("o_half", "你好", msg_id=987654321)  # the platform's retry
    assert again.body == reply.body
    with shop.read_session() as s:
        assert s.scalars(select(Complaint)).all() == []
        stored = s.scalars(select(InboundMessage).where(InboundMessage.openid == "o_half")).all()
        assert [(m.content, m.intent) for m in stored] == [("你好", None)]
        assert s.scalar(select(Customer.last_inbound_at).where(Customer.openid == "o_half")) is not None


@pytest.mark.parametrize("text", __import__("tests.test_order_parser", fromlist=["ODD_INPUTS"]).ODD_INPUTS)
def test_odd_messages_through_the_webhook_are_answered_without_errors(platform, shop, caplog, text):
    """No message raises, and none is answered by the safety net (which would log an error)."""
    with caplog.at_level("ERROR"):
        reply = platform.post_text("o_odd", text)
        follow_up = platform.post_text("o_odd", "要两盒面膜")
    assert reply.status == 200 and reply.text
    assert follow_up.status == 200 and follow_up.text
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_seller_answer_closes_the_open_inquiry(platform, shop):
    from storage.inquiries import answer_inquiry

    platform.say("o_w", "精华液是正品吗")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with shop.session() as s:
        inquiry = s.scalar(select(Inquiry))
        assert inquiry.status == "open"
        answer_inquiry(s, inquiry, "保证正品", now)
    with shop.read_session() as s:
        assert s.scalar(select(Inquiry.status)) == "answered"


def test_two_order_messages_racing_for_one_customer_both_get_answers(app, shop):
    import threading

    from tests.wechat_platform import WeChatPlatform

    platform = WeChatPlatform(app.test_client())
    platform.say("o_race", "你好")  # the customer exists; the race is on the conversation state
    barrier = threading.Barrier(2)
    replies: list = []

    def send(text):
        p = WeChatPlatform(app.test_client())
        barrier.wait()
        replies.append(p.post_text("o_race", text))

    threads = [threading.Thread(target=send, args=(t,)) for t in ("要两盒面膜", "要一瓶精华")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status for r in replies] == [200, 200] and all(r.text for r in replies)
    with shop.read_session() as s:
        assert len(s.scalars(select(ConversationState)).all()) == 1
    assert 1 <= len(orders_of(shop, "o_race")) <= 2


# --- A paid or shipped order is the seller's to change (issue 15, item 8) ----------------------


def _ordered_and_paid(platform, db, openid):
    platform.say(openid, "要两盒面膜 张三 13800138000 " + ADDRESS)
    [order] = orders_of(db, openid)
    assert "已标记付款" in platform.say(SELLER_OPENID, f"付款 #{order.id}")
    return order.id


def _order_events(db, order_id):
    with db.read_session() as s:
        return [(e.action, e.actor, e.detail) for e in s.get(Order, order_id).events]


def test_address_change_after_shipping_is_a_request_to_the_seller(platform, shop):
    order_id = _ordered_and_paid(platform, shop, "o_ship1")
    assert "已发货" in platform.say(SELLER_OPENID, f"发货 #{order_id} 顺丰 SF1000000001")
    reply = platform.say("o_ship1", "地址改成北京市北京市朝阳区建国路88号")

    [order] = orders_of(shop, "o_ship1")  # what left is not rewritten
    assert (order.status, order.phone, order.address) == ("shipped", "13800138000", ADDRESS)
    assert "已更新" not in reply and "本单按这次的发" not in reply
    assert "已经发出" in reply and "已转告店主" in reply and "拒收" in reply and "SF1000000001" in reply
    assert _order_events(shop, order_id)[-1] == (
        "change_request",
        "customer",
        "地址改成北京市北京市朝阳区建国路88号",
    )
    [notice] = [n for n in seller_notices(shop) if n.payload.get("request") == "change"]
    assert notice.openid == SELLER_OPENID and f"#{order_id}" in notice.text and "建国路88号" in notice.text
    assert "已发货" in notice.text and notice.transactional
    # The seller sees the request in the order's history.
    assert "客户要求修改" in platform.say(SELLER_OPENID, f"订单 #{order_id}")


def test_cancelling_a_shipped_order_says_what_happens_next(platform, shop):
    order_id = _ordered_and_paid(platform, shop, "o_ship2")
    platform.say(SELLER_OPENID, f"发货 #{order_id} 顺丰 SF1000000002")
    reply = platform.say("o_ship2", "取消订单")
    assert orders_of(shop, "o_ship2")[0].status == "shipped"
    assert "已取消" not in reply and "没法直接取消" in reply and "拒收" in reply and "已转告店主" in reply
    assert _order_events(shop, order_id)[-1][:2] == ("cancel_request", "customer")
    assert any(
        n.payload.get("request") == "cancel" and f"#{order_id}" in n.text for n in seller_notices(shop)
    )


def test_after_payment_a_change_or_cancellation_is_forwarded_not_applied(platform, shop):
    order_id = _ordered_and_paid(platform, shop, "o_paid")
    reply = platform.say("o_paid", "电话写错了，是13900139000")
    [order] = orders_of(shop, "o_paid")
    assert order.phone == "13800138000" and "已更新" not in reply and "已转告店主" in reply
    reply = platform.say("o_paid", "取消订单")
    assert orders_of(shop, "o_paid")[0].status == "paid"
    assert "已转告店主" in reply and "已取消" not in reply
    assert [e[0] for e in _order_events(shop, order_id)] == [
        "create",
        "pay",
        "change_request",
        "cancel_request",
    ]
    assert {
        n.payload.get("request") for n in seller_notices(shop) if n.payload.get("order_id") == order_id
    } >= {"change", "cancel"}


def test_a_request_about_the_last_order_after_the_conversation_ended(platform, shop, app_config):
    order_id = _ordered_and_paid(platform, shop, "o_late")
    platform.say(SELLER_OPENID, f"发货 #{order_id} 顺丰 SF1000000003")
    with shop.session() as s:  # the order's conversation timed out long ago
        s.query(ConversationState).delete()
    reply = platform.say("o_late", "取消订单")
    assert orders_of(shop, "o_late")[0].status == "shipped" and "没法直接取消" in reply
    reply = platform.say("o_late", "地址改成北京市北京市朝阳区建国路88号")
    assert orders_of(shop, "o_late")[0].address == ADDRESS and "已转告店主" in reply
    assert [e[0] for e in _order_events(shop, order_id)][-2:] == ["cancel_request", "change_request"]


def test_a_pending_order_is_still_corrected_and_cancelled_by_the_customer(platform, shop):
    platform.say("o_pend", "要两盒面膜 张三 13800138000 " + ADDRESS)
    assert "已更新订单" in platform.say("o_pend", "电话写错了，是13900139000")
    assert "已取消" in platform.say("o_pend", "取消订单")
    [order] = orders_of(shop, "o_pend")
    assert order.status == "cancelled" and order.phone == "13900139000"
