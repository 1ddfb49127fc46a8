"""Seller console, orders: 付款 · 发货 · 收货 · 取消 · 订单 · 未付款 · 未发货 · 记单, and every refusal."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import Order, OrderEvent
from tests.conftest import SELLER_OPENID
from tests.seller_support import add_customer, add_order, add_product, events, get_order, outbox, say


@pytest.fixture
def shop(db):
    add_product(db, "面膜", 9900, 30, "补水面膜")
    add_product(db, "眼霜", 15800, 60)
    customer = add_customer(
        db,
        openid="o_buyer",
        name="张三",
        phone="13800138000",
        province="广东省",
        city="深圳市",
        district="南山区",
        address_detail="科技园路1号",
    )
    return db, customer


def test_pay_records_seller_and_answers(platform, shop):
    db, customer = shop
    order_id = add_order(db, customer, "面膜", 2)
    reply = say(platform, f"付款 #{order_id}")
    assert f"#{order_id}" in reply and "付款" in reply and "张三" in reply and "¥198" in reply
    assert get_order(db, order_id).status == "paid"
    assert events(db, order_id)[-1] == ("pay", SELLER_OPENID)


def test_ship_sets_tracking_and_queues_notice(platform, shop):
    db, customer = shop
    order_id = add_order(db, customer, "面膜", 1, status="paid")
    reply = say(platform, f"发货 #{order_id} 顺丰 SF1234567890")
    assert "已发货" in reply and "SF1234567890" in reply and "通知" in reply
    order = get_order(db, order_id)
    assert (order.status, order.courier, order.tracking_no) == ("shipped", "顺丰", "SF1234567890")
    assert order.shipped_at is not None
    [notice] = outbox(db, "ship")
    assert notice.dedupe_key == f"ship:order:{order_id}" and "SF1234567890" in notice.text
    assert notice.customer_id == customer and notice.transactional
    assert events(db, order_id)[-1] == ("ship", SELLER_OPENID)


def test_ship_a_pending_order_works_too(platform, shop):
    db, customer = shop
    order_id = add_order(db, customer, "面膜")
    say(platform, f"发货 #{order_id} 中通 ZT778899001")
    assert get_order(db, order_id).status == "shipped"


def test_duplicate_tracking_number_is_refused(platform, shop):
    db, customer = shop
    first = add_order(db, customer, "面膜", status="paid")
    second = add_order(db, customer, "眼霜", status="paid")
    say(platform, f"发货 #{first} 顺丰 SF1234567890")
    reply = say(platform, f"发货 #{second} 顺丰 sf1234567890")
    assert "SF1234567890" in reply and f"#{first}" in reply and "核对" in reply
    order = get_order(db, second)
    assert (order.status, order.tracking_no, order.courier) == ("paid", None, None)
    assert len(outbox(db, "ship")) == 1


def test_shipping_a_cancelled_order_is_refused(platform, shop):
    db, customer = shop
    order_id = add_order(db, customer, "面膜", status="cancelled")
    reply = say(platform, f"发货 #{order_id} 顺丰 SF1234567890")
    assert "已取消" in reply and "不能发货" in reply
    order = get_order(db, order_id)
    assert (order.status, order.tracking_no) == ("cancelled", None)
    assert outbox(db, "ship") == []


def test_shipping_twice_is_refused(platform, shop):
    db, customer = shop
    order_id = add_order(db, customer, "面膜", status="paid")
    say(platform, f"发货 #{order_id} 顺丰 SF1234567890")
    reply = say(platform, f"发货 #{order_id} 圆通 YT0000000001")
    assert "已发货" in reply and "不能发货" in reply
    assert get_order(db, order_id).tracking_no == "SF1234567890"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("发货", "请写订单号"),
        ("发货 #999 顺丰 SF1234567890", "没有订单 #999"),
        ("发货 #{id}", "快递公司和运单号"),
        ("发货 #{id} 顺丰", "快递公司和运单号"),
        ("发货 #{id} 顺丰 SF12", "运单号“SF12”不对"),
        ("发货 #{id} SF1234567890 顺丰", "不像快递公司"),
        ("发货 #{id} 顺丰 SF1234567890 多余", "内容多了"),
        ("发货 十二 顺丰 SF1234567890", "不是订单号"),
    ],
)
def test_ship_errors_say_what_is_wrong_and_change_nothing(platform, shop, text, expected):
    db, customer = shop
    order_id = add_order(db, customer, "面膜", status="paid")
    reply = say(platform, text.format(id=order_id))
    assert expected in reply
    if "没有订单" not in expected:
        assert "用法：发货 #订单号 快递公司 运单号" in reply
    order = get_order(db, order_id)
    assert (order.status, order.tracking_no) == ("paid", None)
    assert outbox(db, "ship") == []


@pytest.mark.parametrize("command", ["付款", "收货", "取消"])
def test_nonexistent_order(platform, shop, command):
    reply = say(platform, f"{command} #4242")
    assert "没有订单 #4242" in reply


def test_receive_and_cancel(platform, shop):
    db, customer = shop
    shipped = add_order(db, customer, "面膜", status="shipped")
    pending = add_order(db, customer, "眼霜")
    assert "收货" in say(platform, f"收货 #{shipped}")
    assert get_order(db, shipped).status == "received"
    assert "已取消" in say(platform, f"取消 #{pending} 客户不要了")
    assert get_order(db, pending).status == "cancelled"
    assert events(db, pending)[-1] == ("cancel", SELLER_OPENID)


def test_refused_transitions(platform, shop):
    db, customer = shop
    pending = add_order(db, customer, "面膜")
    shipped = add_order(db, customer, "面膜", status="shipped")
    assert "不能确认收货" in say(platform, f"收货 #{pending}")
    assert "不能取消" in say(platform, f"取消 #{shipped}")
    assert "不能标记付款" in say(platform, f"付款 #{shipped}")
    assert get_order(db, pending).status == "pending"
    assert get_order(db, shipped).status == "shipped"


def test_order_history_shows_who_did_what(platform, shop):
    db, customer = shop
    order_id = add_order(db, customer, "面膜", 2)
    say(platform, f"付款 #{order_id}")
    say(platform, f"发货 #{order_id} 顺丰 SF1234567890")
    reply = say(platform, f"订单 #{order_id}")
    lines = reply.splitlines()
    assert f"订单 #{order_id} · 已发货" in lines[0]
    assert any("下单（客户）" in line for line in lines)
    assert any("付款（您）" in line for line in lines)
    assert any("发货（您）" in line and "SF1234567890" in line for line in lines)


def test_unpaid_and_unshipped_lists(platform, shop):
    db, customer = shop
    pending = add_order(db, customer, "面膜")
    paid = add_order(db, customer, "眼霜", status="paid")
    unpaid_reply = say(platform, "未付款")
    assert f"#{pending}" in unpaid_reply and f"#{paid} " not in unpaid_reply and "1笔" in unpaid_reply
    unshipped_reply = say(platform, "未发货")
    assert f"#{paid}" in unshipped_reply and f"#{pending} " not in unshipped_reply
    say(platform, f"发货 #{paid} 顺丰 SF1234567890")
    assert "没有待发货" in say(platform, "未发货")


def test_long_list_is_paged_with_more(platform, shop):
    db, customer = shop
    ids = [add_order(db, customer, "面膜") for _ in range(19)]
    first = say(platform, "未付款")
    assert f"#{ids[0]} " in first and f"#{ids[8]} " not in first and "共19条" in first and "更多" in first
    assert len(first.encode()) < 2000
    second = say(platform, "更多")
    assert f"#{ids[8]} " in second and f"#{ids[0]} " not in second
    third = say(platform, "下一页")
    assert f"#{ids[18]} " in third and "更多" not in third
    assert "没有更多" in say(platform, "更多")


def test_record_order_by_hand(platform, shop):
    db, customer = shop
    reply = say(platform, f"记单 #{customer} 面膜2 眼霜1")
    assert (
        "已记单" in reply
        and "面膜×2" in reply
        and "眼霜×1" in reply
        and "¥356" in reply
        and "待付款" in reply
    )
    with db.read_session() as s:
        order = s.scalar(select(Order).where(Order.customer_id == customer))
        assert (order.source, order.status, order.amount_cents, order.phone) == (
            "seller",
            "pending",
            35600,
            "13800138000",
        )
        assert s.scalar(select(OrderEvent.actor).where(OrderEvent.order_id == order.id)) == SELLER_OPENID


def test_record_paid_order_by_phone(platform, shop):
    db, customer = shop
    reply = say(platform, "记单 13800138000 两盒补水面膜 已付款")
    assert "面膜×2" in reply and "已付款" in reply
    with db.read_session() as s:
        order = s.scalar(select(Order).where(Order.customer_id == customer))
        assert order.status == "paid"
    assert [a for a, _ in events(db, order.id)] == ["create", "pay"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("记单", "请写客户和商品数量"),
        ("记单 #{id}", "请写客户和商品数量"),
        ("记单 #9999 面膜2", "没找到客户"),
        ("记单 #{id} 口红2", "没认出"),
    ],
)
def test_record_order_errors(platform, shop, text, expected):
    db, customer = shop
    reply = say(platform, text.format(id=customer))
    assert expected in reply
    with db.read_session() as s:
        assert s.scalar(select(Order.id)) is None


def test_record_order_with_an_ambiguous_product(platform, db):
    add_product(db, "保湿眼霜", 12800, 60, "眼霜")
    add_product(db, "紧致眼霜", 15800, 60, "眼霜")
    customer = add_customer(db, name="张三")
    reply = say(platform, f"记单 #{customer} 眼霜1")
    assert "“眼霜”有几款" in reply and "保湿眼霜" in reply and "紧致眼霜" in reply
    with db.read_session() as s:
        assert s.scalar(select(Order.id)) is None
    assert "保湿眼霜×1" in say(platform, f"记单 #{customer} 保湿眼霜1")


def test_record_order_without_address_warns(platform, shop):
    db, _ = shop
    bare = add_customer(db, nickname="小雨")
    reply = say(platform, f"记单 #{bare} 面膜1")
    assert "已记单" in reply and "地址" in reply
