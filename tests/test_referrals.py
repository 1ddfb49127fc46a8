"""The referral program through the webhook: codes (QR and typed), every attribution rule, rewards
on payment and their reversal, the ledger, the three moments and their 14-day cap, testimonials."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
import time_machine
from sqlalchemy import select

from bot import referral_rewards, texts
from storage import models, referrals
from storage.models import (
    Complaint,
    Customer,
    CustomerStage,
    KeyValue,
    Order,
    OrderEvent,
    OutboxMessage,
    Referral,
    RewardEntry,
    utcnow,
)
from storage.orders import transition
from storage.segment_moments import recompute_all
from tests.conftest import FAKE_APP_SECRET, SELLER_OPENID
from tests.fake_wechat_api import FakeWeChatAPI
from tests.test_customer_messages import add_catalogue
from tests.wechat_platform import APP_ID

ADDRESS_A = "广东省深圳市南山区科技园路1号"
ADDRESS_B = "浙江省杭州市西湖区文三路100号"
ORDER_A = f"要两盒面膜 张三 13800138000 {ADDRESS_A}"
ORDER_B = f"要一盒面膜 李四 13900139000 {ADDRESS_B}"
START = dt.datetime(2026, 11, 2, 4, 0)  # 12:00 in Shanghai


@pytest.fixture
def shop(db):
    add_catalogue(db)
    return db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def customer(db, openid) -> Customer:
    with db.read_session() as s:
        return s.scalar(select(Customer).where(Customer.openid == openid))


def last_order(db, openid) -> Order:
    with db.read_session() as s:
        return s.scalar(
            select(Order).join(Customer).where(Customer.openid == openid).order_by(Order.id.desc())
        )


def change_order(app, db, order_id, action):
    """The seller marks the order paid / cancels it (what the seller console does)."""
    with app.app_context(), db.session() as s:
        transition(s, s.get(Order, order_id), action, actor=SELLER_OPENID, now=utcnow())


def rows(db, model, *where):
    with db.read_session() as s:
        return s.scalars(select(model).where(*where).order_by(model.id)).all()


def code_in(reply: str) -> str:
    match = re.search(r"推荐码[：: ]*([A-Z2-9]{6})", reply)
    assert match, reply
    return match.group(1)


def balance(db, openid) -> referrals.Ledger:
    with db.read_session() as s:
        return referrals.ledger(s, customer(db, openid).id)


# --- Codes -------------------------------------------------------------------------------------


def test_code_alphabet_has_no_lookalikes():
    assert not set("0O1I") & set(referrals.CODE_ALPHABET)
    assert len(set(referrals.CODE_ALPHABET)) == len(referrals.CODE_ALPHABET) == 32
    for _ in range(2000):
        code = referrals.generate_code()
        assert len(code) == 6 and set(code) <= set(referrals.CODE_ALPHABET)
        assert any(c.isdigit() for c in code) and any(c.isalpha() for c in code)  # a bare code is a code
        assert referrals.normalize_code(code.lower()) == code
    assert referrals.normalize_code("AB0CDE") is None and referrals.normalize_code("ABCDE") is None


def test_code_is_stable_for_life_and_collisions_draw_again(shop, monkeypatch):
    with shop.session() as s:
        a, b = Customer(openid="o_a"), Customer(openid="o_b")
        s.add_all([a, b])
        s.flush()
        first = referrals.ensure_code(s, a)
        assert referrals.ensure_code(s, a) == first
        draws = iter([first, first, "ZZZZZ9"])  # b draws a's code twice: the UNIQUE index refuses it
        monkeypatch.setattr(referrals, "generate_code", lambda: next(draws))
        assert referrals.ensure_code(s, b) == "ZZZZZ9"
    assert customer(shop, "o_a").referral_code == first
    assert customer(shop, "o_b").referral_code == "ZZZZZ9"


def test_customer_asks_for_code_and_points(platform, shop):
    reply = platform.say("o_a", "我的推荐码")
    code = customer(shop, "o_a").referral_code
    assert code and code in reply and "积分：0 分" in reply
    assert "二维码暂不可用" in reply  # no app credentials in tests: said so, the code works alone
    assert code in platform.say("o_a", "我的积分") and customer(shop, "o_a").referral_code == code


# --- The whole story ---------------------------------------------------------------------------


def test_buy_invite_follow_pay_reward_fan_then_cancel_reverses(app, platform, shop, client):
    reply = platform.say("o_a", ORDER_A)  # moment 1: the order confirmation invites
    code = code_in(reply)
    assert "订单" in reply and "好友首单付款后，您得200积分+¥15优惠券，好友得100积分+¥10优惠券" in reply
    change_order(app, shop, last_order(shop, "o_a").id, "pay")

    welcome = platform.post_event("o_b", "subscribe", f"qrscene_ref_{code}").text
    assert texts.WELCOME in welcome and "好友推荐" in welcome and "100积分+¥10优惠券" in welcome
    [referral] = rows(shop, Referral)
    b = customer(shop, "o_b")
    assert (referral.referrer_id, referral.referee_id, referral.source, referral.status) == (
        customer(shop, "o_a").id,
        b.id,
        "qr",
        "pending",
    )
    assert b.referrer_id == customer(shop, "o_a").id and b.subscribe_scene == f"ref_{code}"

    platform.say("o_b", ORDER_B)
    order_b = last_order(shop, "o_b")
    assert rows(shop, RewardEntry) == []  # placed is not enough
    change_order(app, shop, order_b.id, "pay")

    [referral] = rows(shop, Referral)
    assert referral.status == "rewarded" and referral.order_id == order_b.id
    a_book, b_book = balance(shop, "o_a"), balance(shop, "o_b")
    assert (a_book.points_balance, a_book.coupon_balance_cents) == (200, 1500)
    assert (b_book.points_balance, b_book.coupon_balance_cents) == (100, 1000)
    assert customer(shop, "o_a").stage == CustomerStage.FAN
    with shop.session() as s:  # the daily stage recompute agrees (one rule: storage.segments.stage_for)
        recompute_all(s, utcnow())
    assert customer(shop, "o_a").stage == CustomerStage.FAN
    notices = rows(shop, OutboxMessage, OutboxMessage.kind == "referral_reward")
    assert sorted(n.dedupe_key for n in notices) == [
        f"referral:reward:{referral.id}:referee",
        f"referral:reward:{referral.id}:referrer",
    ]
    reply = platform.say("o_b", "我的积分")
    assert "积分：100 分" in reply and "¥10" in reply and "新朋友首单奖励" in reply

    change_order(app, shop, order_b.id, "cancel")
    [referral] = rows(shop, Referral)
    assert referral.status == "reversed"
    reversals = rows(shop, RewardEntry, RewardEntry.reason == "reward_reversed")
    assert sorted((e.points, e.coupon_cents) for e in reversals) == [(-200, -1500), (-100, -1000)]
    assert balance(shop, "o_a").points_balance == 0 and balance(shop, "o_b").coupon_balance_cents == 0
    assert balance(shop, "o_a").points_earned == 200 and balance(shop, "o_a").points_reversed == 200
    assert customer(shop, "o_a").stage != CustomerStage.FAN
    assert "奖励撤回" in platform.say("o_a", "我的积分")

    # B's next paid order does not re-earn a reversed referral.
    platform.say("o_b", "再来一盒面膜")
    change_order(app, shop, last_order(shop, "o_b").id, "pay")
    assert len(rows(shop, RewardEntry)) == 4


def test_rewards_come_from_config(app_config, platform, shop, app):
    app.config.update(
        REFERRAL_REFERRER_POINTS="0",
        REFERRAL_REFERRER_COUPON_CENTS="2000",
        REFERRAL_REFEREE_POINTS="50",
        REFERRAL_REFEREE_COUPON_CENTS="0",
    )
    code = code_in(platform.say("o_a", "推荐码"))
    platform.say("o_b", f"推荐码 {code}")
    platform.say("o_b", ORDER_B)
    change_order(app, shop, last_order(shop, "o_b").id, "pay")
    assert [(e.points, e.coupon_cents, e.reason) for e in rows(shop, RewardEntry)] == [
        (0, 2000, "referrer_reward"),
        (50, 0, "referee_reward"),
    ]


# --- Typed codes and the rules -----------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(3))
def test_typed_code_attributes_a_new_customer(platform, shop, attempt):
    code = code_in(platform.say("o_a", "推荐码"))
    reply = platform.say("o_c", f"推荐码 {code.lower()}")
    assert code in reply and "100积分+¥10优惠券" in reply
    [referral] = rows(shop, Referral)
    assert referral.source == "typed" and referral.status == "pending"
    assert platform.say("o_c", code) == texts.REFERRAL_SAME  # a bare code works too; nothing changes
    assert len(rows(shop, Referral)) == 1


@pytest.mark.parametrize(
    "form", ["推荐码：{lower}", "邀请码是{code}", "我朋友的推荐码 {code} 😊", "{fullwidth}"]
)
def test_typed_code_forms(platform, shop, form):
    code = code_in(platform.say("o_a", "推荐码"))
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in code)
    reply = platform.say("o_c", form.format(code=code, lower=code.lower(), fullwidth=fullwidth))
    assert "已为您登记" in reply, reply
    assert rows(shop, Referral)[0].referee_id == customer(shop, "o_c").id


def test_code_typed_with_the_first_order_counts(app, platform, shop):
    code = code_in(platform.say("o_a", "推荐码"))
    platform.say("o_c", ORDER_B)  # first order placed, not paid yet
    assert "登记" in platform.say("o_c", f"推荐码 {code}")
    [referral] = rows(shop, Referral)
    order = last_order(shop, "o_c")
    assert referral.order_id == order.id and order.referral_code_used == code
    change_order(app, shop, order.id, "pay")
    assert rows(shop, Referral)[0].status == "rewarded"


def test_no_self_referral(platform, shop):
    code = code_in(platform.say("o_a", "推荐码"))
    assert platform.say("o_a", f"推荐码 {code}") == texts.REFERRAL_SELF
    assert platform.post_event("o_a", "SCAN", f"ref_{code}").text == texts.REFERRAL_SCENE_SELF
    assert rows(shop, Referral) == [] and customer(shop, "o_a").referrer_id is None


def test_referrer_is_never_changed(platform, shop):
    code_a = code_in(platform.say("o_a", "推荐码"))
    code_d = code_in(platform.say("o_d", "推荐码"))
    platform.post_event("o_c", "subscribe", f"qrscene_ref_{code_a}")
    assert platform.say("o_c", f"推荐码 {code_d}") == texts.REFERRAL_ALREADY
    platform.post_event("o_c", "SCAN", f"ref_{code_d}")
    [referral] = rows(shop, Referral)
    assert referral.referrer_id == customer(shop, "o_a").id == customer(shop, "o_c").referrer_id


def test_a_customer_who_ordered_is_not_new(app, platform, shop):
    code = code_in(platform.say("o_a", "推荐码"))
    platform.say("o_c", ORDER_B)
    change_order(app, shop, last_order(shop, "o_c").id, "pay")
    reply = platform.say("o_c", f"推荐码 {code}")
    assert "新朋友" in reply and customer(shop, "o_c").referral_code in reply
    # Following through a QR code later does not attribute either.
    platform.post_event("o_c", "unsubscribe")
    assert "好友推荐" not in platform.post_event("o_c", "subscribe", f"qrscene_ref_{code}").text
    assert rows(shop, Referral) == []


def test_a_cancelled_order_also_counts_as_having_ordered(app, platform, shop):
    code = code_in(platform.say("o_a", "推荐码"))
    platform.say("o_c", ORDER_B)
    change_order(app, shop, last_order(shop, "o_c").id, "cancel")
    platform.say("o_c", f"推荐码 {code}")
    assert rows(shop, Referral) == []


def test_no_mutual_referral(platform, shop):
    code_a = code_in(platform.say("o_a", "推荐码"))
    code_c = code_in(platform.say("o_c", "推荐码"))
    platform.say("o_c", f"推荐码 {code_a}")
    assert platform.say("o_a", f"推荐码 {code_c}") == texts.REFERRAL_CYCLE
    assert len(rows(shop, Referral)) == 1


def test_unknown_codes_are_refused(platform, shop):
    reply = platform.say("o_c", "推荐码 ZZZZ99")
    assert "没找到" in reply and "ZZZZ99" in reply
    assert "好友推荐" not in (platform.post_event("o_e", "subscribe", "qrscene_ref_NOPE22").text or "")
    assert platform.post_event("o_f", "subscribe", "qrscene_poster_2026").text == texts.WELCOME
    assert rows(shop, Referral) == []


def test_same_phone_is_held_for_review_not_rewarded(app, platform, shop):
    platform.say("o_a", ORDER_A)
    code = customer(shop, "o_a").referral_code or code_in(platform.say("o_a", "推荐码"))
    platform.say("o_c", f"推荐码 {code}")
    platform.say("o_c", f"要一盒面膜 王五 13800138000 {ADDRESS_B}")  # A's phone
    change_order(app, shop, last_order(shop, "o_c").id, "pay")
    [referral] = rows(shop, Referral)
    assert (referral.status, referral.reason) == ("held", "same_phone")
    assert rows(shop, RewardEntry) == []
    [notice] = rows(shop, OutboxMessage, OutboxMessage.dedupe_key.like("seller:referral-held:%"))
    assert (
        notice.openid == SELLER_OPENID
        and f"审核 #{referral.id}" in notice.text
        and "13800138000" not in notice.text
    )
    assert customer(shop, "o_a").stage != CustomerStage.FAN


def test_same_address_is_held_at_attribution(platform, shop):
    platform.say("o_a", ORDER_A)
    with shop.session() as s:  # C is known from an import with A's address, no order yet
        s.add(
            Customer(
                openid="o_c",
                name="王五",
                province="广东省",
                city="深圳市",
                district="南山区",
                address_detail="科技园路 1号",
            )
        )
    code = customer(shop, "o_a").referral_code
    assert platform.say("o_c", f"推荐码 {code}") == texts.REFERRAL_APPLIED_HELD.format(code=code)
    [referral] = rows(shop, Referral)
    assert (referral.status, referral.reason) == ("held", "same_address")
    [notice] = rows(shop, OutboxMessage, OutboxMessage.dedupe_key.like("seller:referral-held:%"))
    assert "与推荐人地址相同" in notice.text


def test_seller_approval_of_a_held_pair_grants_the_rewards(app, platform, shop):
    platform.say("o_a", ORDER_A)
    code = customer(shop, "o_a").referral_code
    platform.say("o_c", f"推荐码 {code}")
    platform.say("o_c", f"要一盒面膜 王五 13800138000 {ADDRESS_B}")
    change_order(app, shop, last_order(shop, "o_c").id, "pay")
    with app.app_context(), shop.session() as s:
        referral = s.scalars(select(Referral)).one()
        referral_rewards.review(s, referral, True, utcnow(), app.config)
    assert rows(shop, Referral)[0].status == "rewarded"
    assert balance(shop, "o_a").points_balance == 200 and customer(shop, "o_a").stage == CustomerStage.FAN
    with shop.session() as s, pytest.raises(referrals.ReferralError):
        referral_rewards.review(s, s.scalars(select(Referral)).one(), False, utcnow(), app.config)


# --- The three moments and the cap -------------------------------------------------------------


def test_thanks_gets_warm_answer_and_invitation_once_per_14_days(platform, shop, frozen):
    reply = platform.say("o_a", "谢谢亲，辛苦了")
    code = customer(shop, "o_a").referral_code
    assert texts.REFERRAL_THANKS_WARM in reply and code in reply
    assert customer(shop, "o_a").last_referral_ask_at == START

    frozen.shift(dt.timedelta(days=1))
    assert platform.say("o_a", "谢谢") == texts.THANKS_REPLY
    assert platform.say("o_a", "服务真贴心") == texts.THANKS_REPLY  # praise of the service: the same moment
    frozen.shift(dt.timedelta(days=12))
    assert platform.say("o_a", "老板人真好👍") == texts.THANKS_REPLY

    frozen.shift(dt.timedelta(days=1))  # 14 days after the ask
    assert code in platform.say("o_a", "谢谢你")


def test_each_moment_kind_has_its_own_interval(platform, shop, frozen):
    """The order confirmation's mention of the code does not use up the praise moment."""
    reply = platform.say("o_a", ORDER_A)
    code = customer(shop, "o_a").referral_code
    assert code in reply  # moment (1)
    frozen.shift(dt.timedelta(days=5))
    reply = platform.say("o_a", "用了一周皮肤好多了😊")
    assert code in reply and texts.PRODUCT_GOOD_REPLY in reply  # moment (3), days later
    frozen.shift(dt.timedelta(days=1))
    reply = platform.say("o_a", "老板人真好👍")
    assert code in reply and texts.REFERRAL_THANKS_WARM in reply  # moment (2)
    frozen.shift(dt.timedelta(days=1))
    assert code not in platform.say("o_a", "你家东西真不错，下次还买")  # (3) again within 14 days
    assert code not in platform.say("o_a", "谢谢")  # (2) again within 14 days
    assert code not in platform.say("o_a", "再来一盒面膜")  # (1) again within 14 days


def test_never_two_invitations_in_one_message(app, shop, frozen):
    from bot import referrals as moments

    with app.app_context(), shop.session() as s:
        person = Customer(openid="o_two", created_at=START)
        s.add(person)
        s.flush()
        assert moments.invitation(s, person, moments.MOMENT_ORDER, app.config, START)
        assert moments.invitation(s, person, moments.MOMENT_PRODUCT_GOOD, app.config, START) is None
        assert moments.invitation(
            s, person, moments.MOMENT_PRODUCT_GOOD, app.config, START + dt.timedelta(seconds=1)
        )


def test_no_asks_to_opted_out_customers_or_with_open_complaint(platform, shop):
    platform.say("o_a", "TD")
    assert platform.say("o_a", "谢谢") == texts.THANKS_REPLY
    assert "推荐码" not in platform.say("o_a", ORDER_A)
    platform.say("o_b", "收到的面膜破损了")
    assert platform.say("o_b", "谢谢") == texts.THANKS_REPLY
    assert platform.say("o_b", "面膜很好用") == texts.PRODUCT_GOOD_REPLY
    assert (
        customer(shop, "o_a").last_referral_ask_at is None
        and customer(shop, "o_b").last_referral_ask_at is None
    )
    with shop.session() as s:
        s.scalars(select(Complaint)).one().status = "closed"
    assert customer(shop, "o_b").referral_code is None
    reply = platform.say("o_b", "谢谢")
    assert customer(shop, "o_b").referral_code in reply


def test_product_good_asks_for_a_testimonial_and_keeps_it(platform, shop):
    reply = platform.say("o_a", "面膜很好用")
    assert (
        texts.PRODUCT_GOOD_REPLY in reply
        and "使用感受" in reply
        and customer(shop, "o_a").referral_code in reply
    )
    assert [t.text for t in rows(shop, models.Testimonial)] == ["面膜很好用"]
    assert platform.say("o_a", "用了一周皮肤水润多了，闺蜜也说我气色好") == texts.TESTIMONIAL_THANKS
    assert [t.text for t in rows(shop, models.Testimonial)] == ["用了一周皮肤水润多了，闺蜜也说我气色好"]
    # Only the next message: later praise is not swallowed as a testimonial answer.
    assert platform.say("o_a", "真的很不错哦") == texts.PRODUCT_GOOD_REPLY
    assert len(rows(shop, models.Testimonial)) == 2


def test_a_question_after_the_request_is_answered_not_stored(platform, shop):
    platform.say("o_a", "面膜很好用")
    reply = platform.say("o_a", "面膜多少钱")
    assert "¥99" in reply
    assert [t.text for t in rows(shop, models.Testimonial)] == ["面膜很好用"]
    with shop.read_session() as s:
        assert s.scalars(select(KeyValue).where(KeyValue.key.like("referral:testimonial:%"))).all() == []


def test_moment_texts_are_configurable(app, platform, shop):
    app.config["REFERRAL_ASK_THANKS_TEXT"] = "分享码{code}给朋友吧"
    reply = platform.say("o_a", "谢谢")
    assert reply.endswith(f"分享码{customer(shop, 'o_a').referral_code}给朋友吧")
    app.config["REFERRAL_ASK_ORDER_TEXT"] = "坏模板{oops}"  # a typo falls back to the default text
    reply = platform.say("o_b", ORDER_B)
    assert "坏模板" not in reply and "好友首单付款后" in reply


# --- Ledger and redemption ---------------------------------------------------------------------


def _rewarded_referee(app, platform, shop) -> Order:
    code = code_in(platform.say("o_a", "推荐码"))
    platform.say("o_b", f"推荐码 {code}")
    platform.say("o_b", ORDER_B)
    change_order(app, shop, last_order(shop, "o_b").id, "pay")
    return last_order(shop, "o_b")


def test_redeem_points_against_an_order_and_refund_on_cancel(app, platform, shop):
    _rewarded_referee(app, platform, shop)
    platform.say("o_b", "再来两盒面膜")
    order = last_order(shop, "o_b")
    with app.app_context(), shop.session() as s:
        o = s.get(Order, order.id)
        assert referrals.redeem(s, o, points=60, actor=SELLER_OPENID, now=utcnow(), config=app.config) == 60
        with pytest.raises(referrals.ReferralError, match="积分不足"):
            referrals.redeem(s, o, points=41, actor=SELLER_OPENID, now=utcnow(), config=app.config)
        with pytest.raises(referrals.ReferralError):
            referrals.redeem(s, o, points=0, actor=SELLER_OPENID, now=utcnow(), config=app.config)
    book = balance(shop, "o_b")
    assert (book.points_earned, book.points_spent, book.points_balance) == (100, 60, 40)
    assert [e.action for e in rows(shop, OrderEvent, OrderEvent.order_id == order.id)] == ["create", "redeem"]
    change_order(app, shop, order.id, "cancel")
    assert balance(shop, "o_b").points_balance == 100
    with app.app_context(), shop.session() as s, pytest.raises(referrals.ReferralError, match="已取消"):
        referrals.redeem(
            s, s.get(Order, order.id), points=10, actor=SELLER_OPENID, now=utcnow(), config=app.config
        )


def test_redeem_cannot_exceed_the_order_amount(app, platform, shop):
    _rewarded_referee(app, platform, shop)
    platform.say("o_b", "再来一盒面膜")
    with app.app_context(), shop.session() as s:
        order = s.get(Order, last_order(shop, "o_b").id)
        order.amount_cents = 500
        with pytest.raises(referrals.ReferralError, match="超过"):
            referrals.redeem(s, order, coupon_cents=600, actor=SELLER_OPENID, now=utcnow(), config=app.config)
        assert (
            referrals.redeem(s, order, coupon_cents=500, actor=SELLER_OPENID, now=utcnow(), config=app.config)
            == 500
        )


# --- QR codes ----------------------------------------------------------------------------------


class QRCodeFakeAPI(FakeWeChatAPI):
    """The fake WeChat API plus ``POST /cgi-bin/qrcode/create`` (tickets named after the scene)."""

    def _answer(self, path, params, body):
        if path == "qrcode/create" and not self._failures.get(path):
            if params.get("access_token") not in self._valid_tokens:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            scene = body["action_info"]["scene"]["scene_str"]
            return 200, {"ticket": f"TICKET+{scene}", "url": f"http://weixin.qq.com/q/{scene}"}
        return super()._answer(path, params, body)


@pytest.fixture
def qr_api(app_config):
    api = QRCodeFakeAPI(appid=APP_ID, secret=FAKE_APP_SECRET).start()
    app_config.update(WECHAT_APP_SECRET=FAKE_APP_SECRET, WECHAT_API_BASE_URL=api.base_url)
    yield api
    api.stop()


def test_without_credentials_there_is_no_qr_code_and_it_says_so(platform, shop, runner):
    platform.say("o_a", "推荐码")
    result = runner.invoke(args=["referral", "qr"])
    assert result.exit_code == 0 and "No WeChat credentials" in result.output
    assert "二维码暂不可用" in platform.say("o_a", "推荐码")


def test_qr_codes_are_created_once_through_the_api_and_shown(qr_api, platform, shop, runner):
    assert "正在生成" in platform.say("o_a", "推荐码")
    code = customer(shop, "o_a").referral_code
    result = runner.invoke(args=["referral", "qr"])
    assert result.exit_code == 0 and "created: 1, failed: 0" in result.output
    [call] = qr_api.calls("qrcode/create")
    assert call.body == {
        "action_name": "QR_LIMIT_STR_SCENE",
        "action_info": {"scene": {"scene_str": f"ref_{code}"}},
    }
    assert "created: 0" in runner.invoke(args=["referral", "qr"]).output
    assert len(qr_api.calls("qrcode/create")) == 1  # cached in kv_store
    with shop.read_session() as s:
        assert s.get(KeyValue, f"referral:qr:{code}").value
    url = f"https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=TICKET%2Bref_{code}"
    assert url in platform.say("o_a", "我的推荐码")
    assert url in platform.say("o_a", "谢谢")  # the moments carry it too
    # A friend scanning it is attributed (the scene the API was given).
    assert "好友推荐" in platform.post_event("o_b", "subscribe", f"qrscene_ref_{code}").text


def test_qr_api_failure_is_reported_and_retried_next_run(qr_api, platform, shop, runner):
    platform.say("o_a", "推荐码")
    qr_api.fail("qrcode/create", 45009)
    result = runner.invoke(args=["referral", "qr"])
    assert result.exit_code == 1 and "failed: 1" in result.output
    assert "created: 1" in runner.invoke(args=["referral", "qr"]).output


# --- Figures -----------------------------------------------------------------------------------


def test_figures_count_made_converted_and_top_referrers(app, platform, shop):
    _rewarded_referee(app, platform, shop)
    code = customer(shop, "o_a").referral_code
    platform.say("o_c", f"推荐码 {code}")
    rng = random.Random(7)
    code_d = code_in(platform.say("o_d", "推荐码"))
    platform.say(f"o_{rng.randint(100, 999)}", f"推荐码 {code_d}")
    with shop.read_session() as s:
        figures = referrals.figures(s, utcnow())
    assert (figures.made, figures.converted, figures.held) == (3, 1, 0)
    assert (figures.points_granted, figures.coupon_granted_cents) == (300, 2500)
    assert [f.customer.openid for f in figures.top] == ["o_a", "o_d"]
    assert (figures.top[0].made, figures.top[0].converted) == (2, 1)


# --- Intents -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("我的积分", "my_rewards"),
        ("推荐码", "my_rewards"),
        ("我的推荐码是多少", "my_rewards"),
        ("积分还有多少", "my_rewards"),
        ("查一下积分", "my_rewards"),
        ("怎么推荐朋友", "my_rewards"),
        ("推荐有什么奖励", "my_rewards"),
        ("邀请码", "my_rewards"),
        ("推荐码 ab23cd", "referral_code"),
        ("AB23CD", "referral_code"),
        ("我的推荐码是AB23CD", "referral_code"),
        ("已经推荐给闺蜜了", "product_good"),
        ("面膜多少钱", "inquiry"),
    ],
)
def test_rewards_and_code_intents(text, intent):
    from bot.intents import detect_intent

    assert detect_intent(text).intent == intent


def test_concurrent_first_requests_agree_on_one_code(app, shop):
    """Two workers assigning a code to the same customer at once end with one code.

    On PostgreSQL both read the customer without a code before either writes; on SQLite write
    transactions queue (BEGIN IMMEDIATE), so the second simply finds the first one's code."""
    import threading

    with shop.session() as s:
        s.add(Customer(openid="o_race"))
    barrier, codes, errors = threading.Barrier(2), [], []

    def worker():
        try:
            with shop.session() as s:
                person = s.scalar(select(Customer).where(Customer.openid == "o_race"))
                if not shop.is_sqlite:
                    barrier.wait(timeout=10)
                codes.append(referrals.ensure_code(s, person))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    stored = customer(shop, "o_race").referral_code
    assert codes == [stored, stored]


def test_referral_candidates_are_frequent_sociable_buyers(app, platform, shop):
    def buy(openid, times):
        platform.say(openid, ORDER_B)
        change_order(app, shop, last_order(shop, openid).id, "pay")
        for _ in range(times - 1):
            platform.say(openid, "再来一盒面膜")
            change_order(app, shop, last_order(shop, openid).id, "pay")

    buy("o_a", 2)
    platform.say("o_a", "谢谢，发货真快")
    buy("o_b", 3)
    buy("o_c", 1)
    platform.say("o_c", "面膜很好用")  # sociable, but one order
    buy("o_d", 2)
    platform.say("o_d", "谢谢")
    platform.say("o_d", "TD")  # opted out: not to be asked
    with shop.read_session() as s:
        found = referrals.referral_candidates(s, utcnow())
    assert [(c.customer.openid, c.paid_orders, c.sociable) for c in found] == [("o_a", 2, 1), ("o_b", 3, 0)]
