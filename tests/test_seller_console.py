"""Seller console basics: help, unknown commands, the authorisation boundary, the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.seller import registry
from storage.models import Order, OrderEvent, OutboxMessage, Product
from tests.conftest import SELLER_OPENID
from tests.seller_support import add_customer, add_order, add_product, get_order, say

README = Path(__file__).resolve().parent.parent / "README.md"


def products(db) -> dict[str, Product]:
    with db.read_session() as s:
        rows = s.scalars(select(Product)).all()
        for row in rows:
            s.expunge(row)
        return {p.name: p for p in rows}


# --- help and the registry ---------------------------------------------------------------------


def test_help_lists_every_command(platform):
    reply = say(platform, "帮助")
    for command in registry.COMMANDS.values():
        assert command.name in reply, command.name
    assert all(len(line) <= 60 for line in reply.splitlines())


def test_help_for_one_command_shows_usage_and_example(platform):
    reply = say(platform, "帮助 发货")
    assert "发货 #订单号 快递公司 运单号" in reply and "发货 #12 顺丰 SF1234567890" in reply


def test_help_for_unknown_command(platform):
    assert "没有“飞行”这个命令" in say(platform, "帮助 飞行")


def test_every_command_is_in_the_readme_cheat_sheet():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Seller cheat sheet", 1)[1].split("\n## ", 1)[0]
    for command in registry.COMMANDS.values():
        assert f"`{command.example}`" in section, command.name
        assert re.search(rf"\| `{re.escape(command.name)}`", section), command.name


def test_every_command_has_usage_summary_example_and_unique_words():
    words = [w for c in registry.COMMANDS.values() for w in c.words]
    assert len(words) == len(set(words))
    for command in registry.COMMANDS.values():
        assert command.usage and command.summary and command.example
        assert command.example.split()[0] == command.name


def test_unknown_command_suggests_the_closest(platform):
    reply = say(platform, "发获 #12 顺丰 SF1234567890")
    assert "没有“发获”这个命令" in reply and "“发货”" in reply and "用法：发货" in reply
    assert "“统计”" in say(platform, "统记")


def test_seller_chat_that_is_no_command_gets_a_hint(platform):
    assert "帮助" in say(platform, "今天天气不错")


def test_fullwidth_and_glued_forms(platform, db):
    add_product(db, "面膜", 9900)
    customer = add_customer(db, name="张三")
    order_id = add_order(db, customer, "面膜")
    reply = say(
        platform, f"付款＃{str(order_id).translate(str.maketrans('0123456789', '０１２３４５６７８９'))}"
    )
    assert "已标记付款" in reply
    assert get_order(db, order_id).status == "paid"


# --- the authorisation boundary ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["统计", "导出", "待发", "未付款", "客户 13800138000", "咨询", "帮助", "商品"]
)
def test_customer_typing_seller_commands_gets_no_seller_data(platform, db, text):
    add_product(db, "面膜", 9900)
    add_customer(db, name="张三", phone="13800138000")
    reply = platform.say("o_customer", text) or ""
    for secret in (
        "营业额",
        "/downloads/export/",
        "138****8000",
        "待您手动发送",
        "店主命令",
        "在售商品",
        "复购率",
    ):
        assert secret not in reply


def test_customer_cannot_ship_pay_or_add_products(platform, db):
    add_product(db, "面膜", 9900)
    victim = add_customer(db, name="张三", phone="13800138000")
    order_id = add_order(db, victim, "面膜", status="paid")
    platform.say("o_customer", f"发货 #{order_id} 顺丰 SF1234567890")
    platform.say("o_customer", f"取消 #{order_id}")
    platform.say("o_customer", "商品 口红 1 30天")
    order = get_order(db, order_id)
    assert (order.status, order.tracking_no) == ("paid", None)
    assert "口红" not in products(db)
    with db.read_session() as s:
        assert s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ship")).all() == []


def test_seller_listed_with_spaces_in_config(app_config, db):
    from app import create_app
    from tests.wechat_platform import WeChatPlatform

    app_config["SELLER_OPENIDS"] = f" o_other , {SELLER_OPENID} "
    platform = WeChatPlatform(create_app(app_config).test_client())
    assert "店主命令" in platform.say(SELLER_OPENID, "帮助")


# --- catalogue ---------------------------------------------------------------------------------


def test_add_product_with_aliases(platform, db):
    reply = say(platform, "商品 面膜 99 30天 别名 补水面膜,面膜贴")
    assert "已上新" in reply and "面膜 ¥99" in reply and "30天" in reply and "补水面膜" in reply
    product = products(db)["面膜"]
    assert (product.price_cents, product.usage_days, product.alias_list, product.active) == (
        9900,
        30,
        ["补水面膜", "面膜贴"],
        True,
    )


def test_add_product_minimal_forms(platform, db):
    assert "已上新" in say(platform, "商品 面膜 99 30天")
    assert "已上新" in say(platform, "商品 精华 ¥128.5")
    assert "已上新" in say(platform, "商品 口红 88元 90")
    got = products(db)
    assert (got["面膜"].price_cents, got["面膜"].usage_days) == (9900, 30)
    assert (got["精华"].price_cents, got["精华"].usage_days) == (12850, None)
    assert (got["口红"].price_cents, got["口红"].usage_days) == (8800, 90)


def test_update_product_keeps_what_is_not_given(platform, db):
    say(platform, "商品 面膜 99 30天 别名 补水面膜")
    reply = say(platform, "商品 面膜 89")
    assert "已更新" in reply and "¥89" in reply
    product = products(db)["面膜"]
    assert (product.price_cents, product.usage_days, product.alias_list) == (8900, 30, ["补水面膜"])
    assert len(products(db)) == 1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("商品 面膜 -99 30天", "价格不能是负数"),
        ("商品 面膜 九十九 30天", "价格“九十九”不对"),
        ("商品 面膜 99 三十天", "天数“三十天”不对"),
        ("商品 面膜 99 0天", "天数“0天”不对"),
        ("商品 面膜 99 30天 多余", "内容多了"),
        ("商品 面膜", "还没有“面膜”这款商品"),
        ("商品 99 面膜", "不像商品名称"),
        ("商品 面膜 99 别名", "“别名”后面要写别名"),
        ("商品 面膜 99 30天 别名 眼霜", "已经是“眼霜”在用"),
    ],
)
def test_product_errors_change_nothing(platform, db, text, expected):
    add_product(db, "眼霜", 15800, 60)
    reply = say(platform, text)
    assert expected in reply
    assert "用法：商品" in reply
    assert set(products(db)) == {"眼霜"}


def test_negative_price_update_keeps_old_price(platform, db):
    say(platform, "商品 面膜 99 30天")
    assert "负数" in say(platform, "商品 面膜 -1")
    assert products(db)["面膜"].price_cents == 9900


def test_list_retire_and_restore(platform, db):
    say(platform, "商品 面膜 99 30天 别名 补水面膜")
    say(platform, "商品 眼霜 158 60天")
    listing = say(platform, "商品")
    assert "在售商品（2款）" in listing and "面膜 ¥99" in listing and "眼霜 ¥158" in listing
    assert "已下架：面膜" in say(platform, "下架 面膜")
    assert products(db)["面膜"].active is False
    listing = say(platform, "商品")
    assert "面膜" not in listing.split("\n", 1)[1] and "已下架 1 款" in listing
    assert "本来就是下架" in say(platform, "下架 补水面膜")
    assert "没有“口红”" in say(platform, "下架 口红")
    assert "请写商品名称" in say(platform, "下架")
    assert "重新上架" in say(platform, "上架 面膜")
    assert products(db)["面膜"].active is True


def test_retired_product_is_no_longer_offered_to_customers(platform, db):
    say(platform, "商品 面膜 99 30天")
    say(platform, "商品 眼霜 158 60天")
    say(platform, "下架 面膜")
    platform.say("o_buyer", "要两盒面膜 张三 13800138000 广东省深圳市南山区科技园路1号")
    with db.read_session() as s:
        assert s.scalars(select(Order)).all() == []


def test_show_one_product(platform, db):
    say(platform, "商品 面膜 99 30天 别名 补水面膜")
    assert say(platform, "商品 面膜").startswith("#1 面膜 ¥99 · 30天")
    assert say(platform, "商品 补水面膜").startswith("#1 面膜")


def test_empty_catalogue(platform):
    assert "还没有商品" in say(platform, "商品")


def test_unexpected_failure_changes_nothing(platform, db, monkeypatch):
    from bot.seller import registry as reg

    add_product(db, "面膜", 9900)
    customer = add_customer(db, name="张三")
    order_id = add_order(db, customer, "面膜")
    original = reg.COMMANDS["付款"]

    def broken(ctx):
        original.handler(ctx)
        raise RuntimeError("boom")

    monkeypatch.setitem(reg._WORDS, "付款", reg.SellerCommand(**{**original.__dict__, "handler": broken}))
    assert "什么都没有改动" in say(platform, f"付款 #{order_id}")
    assert get_order(db, order_id).status == "pending"
    with db.read_session() as s:
        assert s.scalars(select(OrderEvent).where(OrderEvent.action == "pay")).all() == []


def test_not_a_seller_gets_none_from_the_console(db, app):
    from bot.seller_commands import handle_seller_text
    from storage.models import Customer, utcnow

    customer_id = add_customer(db, openid="o_customer")
    with db.session() as s:
        customer = s.get(Customer, customer_id)
        assert handle_seller_text(s, customer, "统计", app.config, utcnow()) is None


def test_ascii_alias_is_not_glued(platform):
    reply = say(platform, "excellent")
    assert "没有“excellent”这个命令" in reply and "http" not in reply
