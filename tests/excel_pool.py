"""A small customer pool with orders, inquiries, referrals and points, for the Excel tests."""

from __future__ import annotations

import datetime as dt

from storage.models import (
    Customer,
    CustomerNote,
    CustomerStage,
    Inquiry,
    OrderStatus,
    Product,
    Referral,
    RewardEntry,
)
from storage.orders import ItemSpec, create_order, transition

T0 = dt.datetime(2026, 1, 10, 2, 30)  # naive UTC: 10:30 in Shanghai
NOW = dt.datetime(2026, 5, 1, 4, 0)


def seed_pool(session) -> dict[str, int]:
    """Zhang San bought masks three times (30 days apart, third order shipped); Li Si once (cancelled
    once too) and was referred by Zhang San; Wang Wu only asked. Returns the ids by name."""
    mask = Product(name="面膜", price_cents=9900, usage_days=30)
    cream = Product(name="眼霜", price_cents=15850, usage_days=60)
    session.add_all([mask, cream])
    session.flush()
    zhang = Customer(
        openid="o_zhang",
        nickname="小张",
        name="张三",
        phone="13800138000",
        province="广东省",
        city="深圳市",
        district="南山区",
        address_detail="科技园路1号",
        tags="VIP,面膜",
        birthday_year=1990,
        birthday_month=5,
        birthday_day=20,
        source="朋友圈",
        referral_code="ZS8K2Q",
    )
    li = Customer(
        openid="o_li",
        name="李四",
        phone="13900139000",
        province="浙江省",
        city="杭州市",
        district="西湖区",
        address_detail="文三路2号",
        birthday_month=8,
        birthday_day=15,
        birthday_is_lunar=True,
        opted_out=True,
    )
    wang = Customer(openid="o_wang", nickname="旺旺")
    session.add_all([zhang, li, wang])
    session.flush()
    li.referrer_id = zhang.id
    session.add(CustomerNote(customer_id=zhang.id, text="女儿在上大学"))

    orders = []
    for k in range(3):
        order = create_order(
            session,
            zhang,
            [ItemSpec(mask, 2)],
            actor="o_zhang",
            now=T0 + dt.timedelta(days=30 * k),
            recipient_name="张三",
            phone="13800138000",
            province="广东省",
            city="深圳市",
            district="南山区",
            address_detail="科技园路1号",
        )
        orders.append(order)
    transition(session, orders[2], "ship", actor="seller", now=T0 + dt.timedelta(days=61))
    orders[2].courier, orders[2].tracking_no = "顺丰", "SF1234567890"
    li_order = create_order(
        session, li, [ItemSpec(cream, 1), ItemSpec(mask, 1)], actor="o_li", now=T0 + dt.timedelta(days=40)
    )
    cancelled = create_order(session, li, [ItemSpec(mask, 5)], actor="o_li", now=T0 + dt.timedelta(days=41))
    transition(session, cancelled, "cancel", actor="o_li", now=T0 + dt.timedelta(days=41))
    assert cancelled.status == OrderStatus.CANCELLED

    session.add_all(
        [
            Inquiry(
                customer_id=wang.id,
                text="面膜多少钱",
                topic="price",
                product_id=mask.id,
                status="answered",
                answer="99元",
                created_at=T0,
                answered_at=T0,
            ),
            Inquiry(
                customer_id=li.id,
                text="眼霜敏感肌能用吗",
                topic="effect",
                product_id=cream.id,
                converted_order_id=li_order.id,
                created_at=T0 + dt.timedelta(days=39),
            ),
        ]
    )
    referral = Referral(
        referrer_id=zhang.id,
        referee_id=li.id,
        source="typed",
        status="rewarded",
        order_id=li_order.id,
        created_at=T0 + dt.timedelta(days=39),
        rewarded_at=T0 + dt.timedelta(days=41),
    )
    session.add(referral)
    session.flush()
    session.add_all(
        [
            RewardEntry(
                customer_id=zhang.id,
                points=100,
                coupon_cents=1000,
                reason="推荐好友下单",
                referral_id=referral.id,
                order_id=li_order.id,
                created_at=T0 + dt.timedelta(days=41),
            ),
            RewardEntry(
                customer_id=zhang.id, points=-30, reason="兑换", created_at=T0 + dt.timedelta(days=50)
            ),
        ]
    )
    zhang.stage = CustomerStage.LOYAL
    zhang.customer_class = "A"
    zhang.rfm_r, zhang.rfm_f, zhang.rfm_m, zhang.rfm_segment = 5, 4, 5, "champions"
    session.flush()
    return {"zhang": zhang.id, "li": li.id, "wang": wang.id, "li_order": li_order.id}
