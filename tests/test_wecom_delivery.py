"""WeCom end to end against the fake WeCom API: customers coming in, the welcome, seller notices in the
app, marketing through confirmed mass-send tasks, and every fallback. Time is passed to the ticks."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import texts
from bot.wecom_events import customer_state
from scheduler.tick import run_tick
from storage import referrals as referral_store
from storage.models import Customer, Order, OutboxMessage, Referral, WecomContact, WecomTask, utcnow
from storage.outbox import enqueue
from tests.conftest import SELLER_OPENID
from tests.seller_support import add_customer, add_product
from tests.wecom_platform import SELLER_USERID

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = dt.timedelta(days=1)


def morning_after(moment: dt.datetime, hour: int = 10) -> dt.datetime:
    """The first ``hour``:00 in Shanghai at or after ``moment`` (naive UTC): outside the quiet hours."""
    local = moment.replace(tzinfo=dt.UTC).astimezone(SHANGHAI)
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate < local:
        candidate += DAY
    return candidate.astimezone(dt.UTC).replace(tzinfo=None)


def rows(db, **where) -> list[OutboxMessage]:
    with db.read_session() as s:
        found = s.scalars(select(OutboxMessage).filter_by(**where).order_by(OutboxMessage.id)).all()
        for row in found:
            s.expunge(row)
        return found


def contact(db, external: str) -> WecomContact:
    with db.read_session() as s:
        row = s.scalar(select(WecomContact).where(WecomContact.external_userid == external))
        s.expunge(row)
        return row


def add_on_wecom(fake_wecom, wecom, external: str, **friend) -> tuple[float, float]:
    """The customer adds the seller on WeCom; returns (monotonic time of the event, of the welcome)."""
    state = friend.pop("state", None)
    fake_wecom.befriend(external, SELLER_USERID, **friend)
    code = fake_wecom.welcome_code(external)
    started = time.monotonic()
    reply = wecom.contact_event(
        "add_external_contact", SELLER_USERID, external, state=state, welcome_code=code
    )
    assert reply.status == 200 and reply.body == "success"
    [welcome] = [
        r for r in fake_wecom.calls("externalcontact/send_welcome_msg") if r.body["welcome_code"] == code
    ]
    assert welcome.accepted
    return started, welcome.at


@pytest.fixture
def shop(wecom, db):
    add_product(db, "补水面膜", 9900, usage_days=30)
    return db


def test_a_customer_who_ordered_on_the_account_gets_the_repurchase_nudge_57_days_later_by_a_confirmed_task(
    shop, db, platform, wecom, fake_wecom, app
):
    reply = platform.say("o_fang", "要两盒补水面膜，王芳 13800138000，广东省深圳市南山区科技园路1号")
    assert "订单" in reply
    with db.read_session() as s:
        order = s.scalar(select(Order))
        order_id, customer_id = order.id, order.customer_id
    # The seller ships it from the WeCom app (same console as on the Official Account).
    assert "发货" in wecom.say(SELLER_USERID, f"发货 #{order_id} 顺丰 SF1234567890")

    started, welcomed = add_on_wecom(
        fake_wecom, wecom, "wm_fang", name="芳芳", remark_mobiles=["13800138000"]
    )
    assert welcomed - started < 20  # sent right after the callback's commit, not at a tick
    linked = contact(db, "wm_fang")
    assert (linked.customer_id, linked.linked_by, linked.status) == (customer_id, "phone", "active")
    [welcome_row] = rows(db, kind="wecom_welcome")
    assert welcome_row.status == "sent" and welcome_row.customer_id == customer_id

    with db.read_session() as s:
        shipped_at = s.get(Order, order_id).shipped_at
    at = morning_after(shipped_at + 57 * DAY)
    run_tick(app, at=at)
    [nudge] = rows(db, kind="repurchase")
    assert (nudge.status, nudge.channel) == ("wecom_task", "wecom")
    [task] = fake_wecom.tasks.values()
    assert task.sender == SELLER_USERID and task.external_userids == ["wm_fang"]
    assert "王芳" not in task.text and task.text.startswith(texts.WECOM_NAME_PLACEHOLDER)
    assert any("1 条群发任务" in m for m in fake_wecom.app_messages(SELLER_USERID))

    fake_wecom.tap(task.msgid)  # the member taps 发送 in 群发助手
    run_tick(app, at=at + dt.timedelta(minutes=5))
    [nudge] = rows(db, kind="repurchase")
    assert (nudge.status, nudge.channel, nudge.api_msgid) == ("sent", "wecom", task.msgid)
    assert (
        rows(db, status="drafted", customer_id=customer_id, transactional=False) == []
    )  # no marketing draft
    with db.read_session() as s:
        assert s.scalar(select(WecomTask.status)) == "done"


def test_a_seller_silent_for_a_week_still_gets_the_new_order_notice_and_the_digest_in_the_app(
    shop, db, platform, wecom, fake_wecom, app
):
    with db.session() as s:
        seller = Customer(openid=SELLER_OPENID, last_inbound_at=utcnow() - 8 * DAY)
        s.add(seller)
    platform.say("o_li", "要一盒补水面膜，李四 13900139000，浙江省杭州市西湖区文三路1号")
    now = utcnow()
    run_tick(app, at=now)
    assert any("新订单" in m or "下单" in m for m in fake_wecom.app_messages(SELLER_USERID)), (
        fake_wecom.app_messages(SELLER_USERID)
    )
    [oa_row] = [r for r in rows(db, kind="seller_notice") if r.openid == SELLER_OPENID]
    assert oa_row.status == "skipped"  # the Official Account window is closed for the seller

    # A draft exists (a customer who is on no channel): the morning digest reaches the app.
    someone = add_customer(db, name="无渠道")
    with db.session() as s:
        enqueue(s, dedupe_key="winback:test:1", kind="winback", text="好久不见", customer_id=someone, now=now)
    morning = morning_after(now + DAY)
    run_tick(app, at=morning)
    run_tick(app, at=morning + dt.timedelta(minutes=5))
    [digest] = [r for r in rows(db, kind="draft_digest") if r.openid == f"wecom:{SELLER_USERID}"]
    assert (digest.status, digest.channel) == ("sent", "wecom_app")
    assert digest.text in fake_wecom.app_messages(SELLER_USERID)


def test_a_referral_state_credits_the_referrer_like_the_account_qr_scene(shop, db, wecom, fake_wecom):
    referrer = add_customer(db, name="老客", openid="o_old")
    with db.session() as s:
        code = referral_store.ensure_code(s, s.get(Customer, referrer))
    add_on_wecom(fake_wecom, wecom, "wm_new", name="新朋友", state=f"ref_{code}")
    new = contact(db, "wm_new")
    assert new.linked_by == "new" and new.state == f"ref_{code}"
    with db.read_session() as s:
        customer = s.get(Customer, new.customer_id)
        assert customer.source == "wecom" and customer.referrer_id == referrer
        assert s.scalar(select(Referral.referrer_id).where(Referral.referee_id == customer.id)) == referrer
    [welcome] = fake_wecom.calls("externalcontact/send_welcome_msg")
    assert "好友推荐" in welcome.body["text"]["content"]


def test_a_personal_contact_way_links_whoever_adds_through_it_to_that_customer(
    shop, db, wecom, fake_wecom, runner
):
    customer_id = add_customer(db, name="赵六", openid="o_zhao")
    result = runner.invoke(args=["wecom", "contact-way", "--customer", str(customer_id)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[0].startswith("https://wework.qq.com/q/")
    [call] = fake_wecom.calls("externalcontact/add_contact_way")
    state = call.body["state"]
    assert len(state) <= 30 and call.body["user"] == [SELLER_USERID]
    add_on_wecom(fake_wecom, wecom, "wm_zhao", name="不相关的昵称", state=state)
    assert (contact(db, "wm_zhao").customer_id, contact(db, "wm_zhao").linked_by) == (customer_id, "state")
    # A forged state (someone else's number, no valid signature) links nobody.
    assert state == customer_state(customer_id, "test-secret")
    add_on_wecom(fake_wecom, wecom, "wm_forger", state=f"c{customer_id}_0000000000")
    assert contact(db, "wm_forger").linked_by == "new"


def test_contact_way_state_is_at_most_30_characters_and_user_defaults_to_the_seller(
    wecom, fake_wecom, runner
):
    assert runner.invoke(args=["wecom", "contact-way", "--state", "x" * 31]).exit_code != 0
    assert fake_wecom.calls("externalcontact/add_contact_way") == []
    result = runner.invoke(args=["wecom", "contact-way", "--state", "ref_ABC123"])
    assert result.exit_code == 0, result.output
    [call] = fake_wecom.calls("externalcontact/add_contact_way")
    assert (
        call.body["state"] == "ref_ABC123" and call.body["user"] == [SELLER_USERID] and call.body["type"] == 1
    )


def test_the_same_add_event_delivered_twice_links_and_welcomes_once(shop, db, wecom, fake_wecom):
    fake_wecom.befriend("wm_twice", SELLER_USERID)
    code = fake_wecom.welcome_code("wm_twice")
    xml = wecom.contact_xml(
        "add_external_contact", SELLER_USERID, "wm_twice", welcome_code=code, create_time=1700
    )
    assert [wecom.post_xml(xml).status for _ in range(3)] == [200, 200, 200]
    assert len(fake_wecom.calls("externalcontact/send_welcome_msg")) == 1
    assert len(rows(db, kind="wecom_welcome")) == 1


def _linked_customer(db, fake_wecom, wecom, external: str) -> int:
    add_on_wecom(fake_wecom, wecom, external)
    return contact(db, external).customer_id


def _due_winback(db, customer_id: int, at: dt.datetime, key: str = "winback:test") -> None:
    with db.session() as s:
        enqueue(
            s,
            dedupe_key=f"{key}:{customer_id}",
            kind="winback",
            text="好久不见，上新了～",
            customer_id=customer_id,
            now=at,
        )


def test_a_customer_who_deleted_the_member_is_marked_gone_the_seller_told_and_the_row_falls_back(
    shop, db, wecom, fake_wecom, app
):
    customer_id = _linked_customer(db, fake_wecom, wecom, "wm_gone")
    fake_wecom.unfriend("wm_gone", SELLER_USERID)
    assert wecom.contact_event("del_follow_user", SELLER_USERID, "wm_gone").status == 200
    assert contact(db, "wm_gone").status == "gone"
    at = morning_after(utcnow() + DAY)
    _due_winback(db, customer_id, at)
    run_tick(app, at=at)
    assert any("删除了你" in m for m in fake_wecom.app_messages(SELLER_USERID))
    [row] = rows(db, kind="winback")
    assert (row.status, row.channel) == ("drafted", "draft")


def test_not_a_friend_at_send_time_falls_back_to_the_next_channel(shop, db, wecom, fake_wecom, app):
    customer_id = _linked_customer(db, fake_wecom, wecom, "wm_two")
    at = morning_after(utcnow() + DAY)
    _due_winback(db, customer_id, at)
    run_tick(app, at=at)
    [task] = fake_wecom.tasks.values()
    fake_wecom.unfriend("wm_two", SELLER_USERID)  # deleted before the member tapped: status 2
    fake_wecom.tap(task.msgid)
    run_tick(app, at=at + dt.timedelta(minutes=5))
    run_tick(app, at=at + dt.timedelta(minutes=10))
    assert contact(db, "wm_two").status == "gone"
    [row] = rows(db, kind="winback")
    assert (row.status, row.channel) == ("drafted", "draft")
    assert "not a friend" in row.last_error


def test_already_received_one_postpones_the_row(shop, db, wecom, fake_wecom, app):
    customer_id = _linked_customer(db, fake_wecom, wecom, "wm_three")
    fake_wecom.received_this_period.add("wm_three")
    at = morning_after(utcnow() + DAY)
    _due_winback(db, customer_id, at)
    run_tick(app, at=at)
    fake_wecom.tap(next(iter(fake_wecom.tasks)))
    run_tick(app, at=at + dt.timedelta(minutes=5))
    [row] = rows(db, kind="winback")
    assert row.status == "pending" and row.next_attempt_at >= at + dt.timedelta(hours=23)


def test_a_task_not_confirmed_in_time_is_withdrawn_and_its_rows_become_drafts(
    shop, db, wecom, fake_wecom, app, app_config
):
    customer_id = _linked_customer(db, fake_wecom, wecom, "wm_late")
    at = morning_after(utcnow() + DAY)
    _due_winback(db, customer_id, at)
    run_tick(app, at=at)
    run_tick(app, at=at + 2 * DAY)
    assert rows(db, kind="winback")[0].status == "wecom_task"
    run_tick(app, at=at + 3 * DAY + dt.timedelta(minutes=5))  # WECOM_TASK_CONFIRM_DAYS = 3
    [row] = rows(db, kind="winback")
    assert (row.status, row.channel) == ("drafted", "draft") and "not confirmed" in row.last_error
    [task] = fake_wecom.tasks.values()
    assert task.cancelled


def test_many_customers_due_the_same_text_share_one_task(shop, db, wecom, fake_wecom, app):
    ids = [_linked_customer(db, fake_wecom, wecom, f"wm_many_{n}") for n in range(3)]
    at = morning_after(utcnow() + DAY)
    for customer_id in ids:
        _due_winback(db, customer_id, at)
    run_tick(app, at=at)
    [task] = fake_wecom.tasks.values()
    assert sorted(task.external_userids) == ["wm_many_0", "wm_many_1", "wm_many_2"]
    assert any("1 条群发任务（共 3 位客户）" in m for m in fake_wecom.app_messages(SELLER_USERID))


def test_the_per_customer_limit_is_planned_so_tasks_do_not_bounce(
    shop, db, wecom_settings, fake_wecom, client
):
    from app import create_app
    from tests.wecom_platform import WeComPlatform

    wecom_settings.update(WECOM_CUSTOMER_LIMIT="1", DELIVERY_MARKETING_CAP="10")
    limited = create_app(wecom_settings)
    wecom = WeComPlatform(limited.test_client())
    customer_id = _linked_customer(db, fake_wecom, wecom, "wm_limit")
    at = morning_after(utcnow() + DAY)
    _due_winback(db, customer_id, at, key="winback:first")
    run_tick(limited, at=at)
    fake_wecom.tap(next(iter(fake_wecom.tasks)))
    run_tick(limited, at=at + dt.timedelta(minutes=5))
    _due_winback(db, customer_id, at, key="winback:second")
    run_tick(limited, at=at + dt.timedelta(minutes=10))
    first, second = rows(db, kind="winback")
    assert (first.status, first.channel) == ("sent", "wecom")
    assert (second.status, second.channel) == ("drafted", "draft")
    assert len(fake_wecom.tasks) == 1
