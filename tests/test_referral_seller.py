"""The referral programme from the seller's chat: 推荐, 审核, 兑换, 代理, 积分 and the 统计 line,
with the story of issue 7 run end to end through the webhook (customer and seller accounts)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from storage.models import Customer, CustomerStage, Order, OutboxMessage, Referral, RewardEntry, utcnow
from storage.segment_moments import recompute_all
from tests.conftest import SELLER_OPENID
from tests.test_customer_messages import add_catalogue

ADDRESS_A = "广东省深圳市南山区科技园路1号"
ADDRESS_B = "浙江省杭州市西湖区文三路100号"
ORDER_A = f"要两盒面膜 张三 13800138000 {ADDRESS_A}"
ORDER_B = f"要一盒面膜 李四 13900139000 {ADDRESS_B}"


@pytest.fixture
def shop(db):
    add_catalogue(db)
    return db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(dt.datetime(2026, 11, 2, 4, 0), tick=False) as traveller:
        yield traveller


def seller(platform, text: str) -> str:
    return platform.say(SELLER_OPENID, text)


def person(db, openid) -> Customer:
    with db.read_session() as s:
        return s.scalar(select(Customer).where(Customer.openid == openid))


def last_order_id(db, openid) -> int:
    with db.read_session() as s:
        return s.scalar(
            select(Order.id).join(Customer).where(Customer.openid == openid).order_by(Order.id.desc())
        )


def all_rows(db, model):
    with db.read_session() as s:
        return s.scalars(select(model).order_by(model.id)).all()


def test_the_story_buy_invite_follow_pay_fan_and_cancel(platform, shop):
    assert "推荐码" in platform.say("o_a", ORDER_A)
    a = person(shop, "o_a")
    assert "付款" in seller(platform, f"付款 #{last_order_id(shop, 'o_a')}")

    assert "好友推荐" in platform.post_event("o_b", "subscribe", f"qrscene_ref_{a.referral_code}").text
    platform.say("o_b", ORDER_B)
    order_b = last_order_id(shop, "o_b")
    seller(platform, f"付款 #{order_b}")
    assert person(shop, "o_a").stage == CustomerStage.FAN
    assert {(e.customer_id, e.points) for e in all_rows(shop, RewardEntry)} == {
        (a.id, 200),
        (person(shop, "o_b").id, 100),
    }

    figures = seller(platform, "推荐")
    assert "累计推荐 1 人 · 成交 1" in figures and "已发奖励：300 积分 + ¥25 优惠券" in figures
    assert f"#{a.id} 张三" in figures.split("推荐达人：")[1]
    ledger = seller(platform, f"积分 #{a.id}")
    assert a.referral_code in ledger and "积分 200（获得 200" in ledger and "推荐 1 人 · 成交 1" in ledger
    assert f"由 #{a.id} 推荐" in seller(platform, f"积分 #{person(shop, 'o_b').id}")
    assert "推荐：累计 1 人，成交 1" in seller(platform, "统计")
    assert "积分：200" in seller(platform, f"客户 #{a.id}")  # the profile shows the balance

    seller(platform, f"取消 #{order_b}")
    assert all_rows(shop, Referral)[0].status == "reversed"
    assert "积分 0（获得 200 · 已用 0 · 撤回 200）" in seller(platform, f"积分 #{a.id}")
    assert "撤回 1" in seller(platform, "推荐")


def test_review_of_a_held_pair(platform, shop):
    platform.say("o_a", ORDER_A)
    code = person(shop, "o_a").referral_code
    platform.say("o_c", f"推荐码 {code}")
    platform.say("o_c", f"要一盒面膜 王五 13800138000 {ADDRESS_B}")  # the referrer's phone
    seller(platform, f"付款 #{last_order_id(shop, 'o_c')}")
    [referral] = all_rows(shop, Referral)
    assert referral.status == "held" and all_rows(shop, RewardEntry) == []
    notices = [m for m in all_rows(shop, OutboxMessage) if m.dedupe_key.startswith("seller:referral-held:")]
    assert len(notices) == 1 and notices[0].openid == SELLER_OPENID

    listing = seller(platform, "审核")
    assert (
        f"推荐#{referral.id}：" in listing and "与推荐人电话相同" in listing and "13800138000" not in listing
    )
    assert "通过" in seller(platform, f"审核 #{referral.id}")  # no decision: usage
    assert "没有推荐 #99" in seller(platform, "审核 #99 通过")
    assert "双方奖励已发放" in seller(platform, f"审核 #{referral.id} 通过")
    assert all_rows(shop, Referral)[0].status == "rewarded" and len(all_rows(shop, RewardEntry)) == 2
    assert "不在待审核" in seller(platform, f"审核 #{referral.id} 拒绝")
    assert len(all_rows(shop, RewardEntry)) == 2
    assert seller(platform, "审核") == "没有待审核的推荐👌"


def test_rejected_pair_gets_nothing(platform, shop):
    platform.say("o_a", ORDER_A)
    with shop.session() as s:
        s.add(
            Customer(
                openid="o_c",
                province="广东省",
                city="深圳市",
                district="南山区",
                address_detail="科技园路1号",
            )
        )
    platform.say("o_c", f"推荐码 {person(shop, 'o_a').referral_code}")
    [referral] = all_rows(shop, Referral)
    assert "已拒绝" in seller(platform, f"审核 #{referral.id} 拒绝")
    platform.say("o_c", ORDER_B)
    seller(platform, f"付款 #{last_order_id(shop, 'o_c')}")
    assert all_rows(shop, Referral)[0].status == "rejected" and all_rows(shop, RewardEntry) == []


def test_redeem_points_and_coupon_against_an_order(platform, shop):
    platform.say("o_a", "推荐码")
    platform.say("o_b", f"推荐码 {person(shop, 'o_a').referral_code}")
    platform.say("o_b", ORDER_B)
    seller(platform, f"付款 #{last_order_id(shop, 'o_b')}")
    platform.say("o_b", "再来两盒面膜")
    order = last_order_id(shop, "o_b")  # ¥198

    reply = seller(platform, f"兑换 #{order} 60")
    assert "抵扣 60 积分（¥0.60），应收 ¥197.40" in reply and "剩余 40 积分、¥10 优惠券" in reply
    reply = seller(platform, f"兑换 #{order} 10元")
    assert "应收 ¥187.40" in reply and "剩余 40 积分、¥0 优惠券" in reply
    assert "积分不足" in seller(platform, f"兑换 #{order} 41")
    assert "优惠券余额不足" in seller(platform, f"兑换 #{order} ¥1")
    assert "不是有效的数量" in seller(platform, f"兑换 #{order} 很多")
    assert "积分数" in seller(platform, f"兑换 #{order}")
    assert "#999" in seller(platform, "兑换 #999 10")
    with shop.read_session() as s:
        spent = s.scalars(select(RewardEntry).where(RewardEntry.reason == "redeem")).all()
    assert [(e.points, e.coupon_cents, e.order_id) for e in spent] == [(-60, 0, order), (0, -1000, order)]
    seller(platform, f"取消 #{order}")
    assert "积分 100（" in seller(platform, f"积分 #{person(shop, 'o_b').id}")


def test_promote_to_distributor_sticks(platform, shop):
    platform.say("o_a", "推荐码")
    a = person(shop, "o_a")
    assert "升为代理" in seller(platform, f"代理 #{a.id}")
    assert "已经是代理" in seller(platform, f"代理 #{a.id}")
    platform.say("o_b", f"推荐码 {a.referral_code}")
    platform.say("o_b", ORDER_B)
    seller(platform, f"付款 #{last_order_id(shop, 'o_b')}")
    assert person(shop, "o_a").stage == CustomerStage.DISTRIBUTOR  # a paying referee does not demote
    assert "代理" in person(shop, "o_a").tags.split(",")
    with shop.session() as s:  # nor does the daily stage recompute (it keeps the 代理 tag's stage)
        recompute_all(s, utcnow())
    assert person(shop, "o_a").stage == CustomerStage.DISTRIBUTOR
    assert "没找到客户“#999”" in seller(platform, "代理 #999")


def test_candidates_in_the_figures(platform, shop):
    platform.say("o_a", ORDER_A)
    seller(platform, f"付款 #{last_order_id(shop, 'o_a')}")
    platform.say("o_a", "再来一盒面膜")
    seller(platform, f"付款 #{last_order_id(shop, 'o_a')}")
    platform.say("o_a", "面膜很好用")
    reply = seller(platform, "推荐")
    assert "值得邀请" in reply and f"#{person(shop, 'o_a').id} 张三" in reply and "近一年买2次" in reply


def test_customers_get_no_seller_referral_data(platform, shop):
    platform.say("o_a", "推荐码")
    a = person(shop, "o_a")
    for text in (f"积分 #{a.id}", "推荐", f"代理 #{a.id}"):
        assert a.referral_code not in (platform.say("o_b", text) or "")
    assert person(shop, "o_a").stage != CustomerStage.DISTRIBUTOR
    assert "审核" not in (platform.say("o_b", "审核 #1 通过") or "")


def test_reward_notices_go_out_with_the_scheduler_tick(platform, shop, runner, frozen):
    platform.say("o_a", "推荐码")
    platform.say("o_b", f"推荐码 {person(shop, 'o_a').referral_code}")
    platform.say("o_b", ORDER_B)
    seller(platform, f"付款 #{last_order_id(shop, 'o_b')}")
    result = runner.invoke(args=["scheduler", "tick"])
    assert result.exit_code == 0, result.output
    notices = [m for m in all_rows(shop, OutboxMessage) if m.kind == "referral_reward"]
    assert sorted((m.openid, m.status, m.channel) for m in notices) == [
        ("o_a", "sent", "service"),
        ("o_b", "sent", "service"),
    ]
    assert "200积分+¥15优惠券" in next(m.text for m in notices if m.openid == "o_a")
    runner.invoke(args=["scheduler", "tick"])  # a second tick sends nothing again
    assert [m.attempts for m in all_rows(shop, OutboxMessage) if m.kind == "referral_reward"] == [1, 1]


def test_the_sellers_own_account_is_never_a_referral_candidate(platform, shop):
    """The seller tries the shop with their own account (two paid orders, like a good customer):
    they are not among the customers to ask for a referral."""
    from tests.seller_support import add_order

    seller(platform, "帮助")  # the seller's own customer row
    me = person(shop, SELLER_OPENID)
    with shop.session() as s:
        s.get(Customer, me.id).name = "店主自己"
    for _ in range(2):
        add_order(shop, me.id, "补水面膜", status="paid", now=utcnow())
    platform.say("o_a", ORDER_A)
    seller(platform, f"付款 #{last_order_id(shop, 'o_a')}")
    platform.say("o_a", "再来一盒面膜")
    seller(platform, f"付款 #{last_order_id(shop, 'o_a')}")
    reply = seller(platform, "推荐")
    assert (
        f"#{person(shop, 'o_a').id} 张三" in reply and "店主自己" not in reply and f"#{me.id} " not in reply
    )
