"""A day of business from the seller's phone: add a product, confirm and ship three orders, look a
customer up, add a note, read the figures, get the export link, without leaving the chat."""

from __future__ import annotations

import datetime as dt
import re

import time_machine
from sqlalchemy import select

from storage.export_links import verify_export_token
from storage.models import Customer, CustomerNote, Order, OrderEvent
from tests.conftest import SELLER_OPENID
from tests.seller_support import outbox

MORNING = dt.datetime(2026, 11, 24, 1, 30)  # 09:30 in Shanghai
BUYERS = [
    ("o_zhang", "要两盒面膜 张三 13800138000 广东省深圳市南山区科技园路1号", "SF1000000001"),
    ("o_li", "眼霜来一支，李四 13900139000 浙江省杭州市西湖区文三路20号", "YT2000000002"),
    ("o_wang", "补水面膜3盒 王五 13700137000 北京市朝阳区建国路88号", "ZT3000000003"),
]


def test_day_of_business(platform, db, app):
    seller = lambda text: platform.say(SELLER_OPENID, text)  # noqa: E731
    with time_machine.travel(MORNING.replace(tzinfo=dt.UTC), tick=True) as clock:
        assert "已上新" in seller("商品 面膜 99 30天 别名 补水面膜,面膜贴")
        assert "已上新" in seller("商品 眼霜 158 60天")
        assert "面膜 ¥99" in seller("商品")

        clock.shift(dt.timedelta(hours=1))
        for openid, text, _ in BUYERS:
            assert "#" in platform.say(openid, text)
        with db.read_session() as s:
            orders = {c.openid: o.id for o, c in s.execute(select(Order, Customer).join(Customer))}
        assert len(orders) == 3

        unpaid = seller("未付款")
        assert "3笔" in unpaid and all(f"#{i} " in unpaid for i in orders.values())
        for openid, _, _tracking in BUYERS:
            assert "已标记付款" in seller(f"付款 #{orders[openid]}")
        unshipped = seller("未发货")
        assert "3笔" in unshipped
        clock.shift(dt.timedelta(hours=3))
        for openid, _, tracking in BUYERS:
            reply = seller(f"发货 #{orders[openid]} 顺丰 {tracking}")
            assert "已发货" in reply and tracking in reply
        assert "没有待发货" in seller("未发货")
        notices = outbox(db, "ship")
        assert sorted(n.dedupe_key for n in notices) == sorted(f"ship:order:{i}" for i in orders.values())

        profile = seller("客户 13800138000")
        assert "张三" in profile and "订单：1笔" in profile and "累计消费：¥198" in profile
        zhang_id = int(re.search(r"#(\d+) 张三", profile).group(1))
        assert "已记下" in seller(f"备注 #{zhang_id} 孩子下月高考")
        assert "孩子下月高考" in seller("客户 张三")

        figures = seller("统计")
        assert "【今天】新客3 · 订单3" in figures and "营业额¥653 · 客单价¥217.67" in figures

        link = re.search(r'<a href="(https?://[^"]+)">', seller("导出")).group(1)
        assert verify_export_token(app.config, link.rsplit("#", 1)[1]) == SELLER_OPENID

        history = seller(f"订单 #{orders['o_li']}")
        assert "已发货" in history and "付款（您）" in history and "YT2000000002" in history

    with db.read_session() as s:
        assert {o.status for o in s.scalars(select(Order))} == {"shipped"}
        seller_events = s.scalars(select(OrderEvent).where(OrderEvent.actor == SELLER_OPENID)).all()
        assert sorted(e.action for e in seller_events) == ["pay"] * 3 + ["ship"] * 3
        assert s.scalar(select(CustomerNote.text)) == "孩子下月高考"
