"""Product questions: answered from the facts the seller gave the product (seller command 资料 or
the import's 商品资料 sheet), or the product named with its price and an honest hand-over that
reaches the seller with the question. Never an invented fact."""

from __future__ import annotations

import openpyxl
from sqlalchemy import select

from storage.models import Inquiry, OutboxMessage, Product
from tests.seller_support import say as seller_say
from tests.test_customer_messages import add_catalogue


def facts(db, name):
    with db.read_session() as s:
        return s.scalar(select(Product).where(Product.name == name)).facts


def inquiries(db):
    with db.read_session() as s:
        return [(i.text, i.status, i.product_id) for i in s.scalars(select(Inquiry).order_by(Inquiry.id))]


def seller_notices(db):
    with db.read_session() as s:
        return [m.text for m in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "seller_notice"))]


def product_id(db, name):
    with db.read_session() as s:
        return s.scalar(select(Product.id).where(Product.name == name))


def test_seller_sets_facts_and_customer_questions_are_answered_from_them(platform, db):
    add_catalogue(db)
    assert "每周2-3次" in seller_say(platform, "资料 面膜 用法 每周2-3次，洁面后敷15分钟")
    seller_say(platform, "资料 精华 适合 敏感肌可以用，先在耳后试一下")
    seller_say(platform, "资料 防晒 库存 现货，当天发")
    assert facts(db, "补水面膜") == {"how_to": "每周2-3次，洁面后敷15分钟"}
    assert "用法：每周2-3次" in seller_say(platform, "资料 面膜")

    assert "每周2-3次，洁面后敷15分钟" in platform.say("o_q", "面膜怎么用")
    assert "现货，当天发" in platform.say("o_q", "防晒霜还有货吗")
    reply = platform.say("o_q", "精华敏感肌能用吗")
    assert "玻尿酸精华液" in reply and "敏感肌可以用，先在耳后试一下" in reply
    assert [status for _t, status, _p in inquiries(db)] == ["answered"] * 3
    assert seller_notices(db) == []  # nothing to hand over


def test_a_fact_can_be_removed_and_a_bad_kind_is_explained(platform, db):
    add_catalogue(db)
    seller_say(platform, "资料 面膜 产地 韩国进口")
    assert "没有“颜色”这一项" in seller_say(platform, "资料 面膜 颜色 蓝色")
    seller_say(platform, "资料 面膜 产地 删除")
    assert facts(db, "补水面膜") is None
    assert "没有“口红”这款商品" in seller_say(platform, "资料 口红 用法 涂嘴上")


def test_unknown_fact_names_the_product_and_hands_over_to_the_seller(platform, db):
    add_catalogue(db)
    reply = platform.say("o_q", "防晒霜还有货吗")
    assert reply == "防晒霜（¥88）：这个我问下店主，稍后回复您🙏"
    [(text, status, pid)] = inquiries(db)
    assert (text, status, pid) == ("防晒霜还有货吗", "open", product_id(db, "防晒霜"))
    [notice] = seller_notices(db)
    assert "防晒霜还有货吗" in notice and "【防晒霜】" in notice


def test_questions_after_a_product_was_mentioned_are_about_it(platform, db):
    add_catalogue(db)
    seller_say(platform, "资料 精华 用法 早晚各一次，2-3滴")
    platform.say("o_q", "精华多少钱")
    assert "早晚各一次，2-3滴" in platform.say("o_q", "怎么用比较好")
    reply = platform.say("o_q", "是正品吗")
    assert reply == "玻尿酸精华液（¥199）：这个我问下店主，稍后回复您🙏"  # no origin fact: nothing invented
    assert [pid for _t, _s, pid in inquiries(db)] == [product_id(db, "玻尿酸精华液")] * 3
    assert any("是正品吗" in n and "玻尿酸精华液" in n for n in seller_notices(db))


def test_a_question_in_a_pending_order_is_about_its_product(platform, db):
    add_catalogue(db)
    seller_say(platform, "资料 面膜 保质期 3年，开封后3个月内用完")
    platform.say("o_q", "要两盒面膜")
    assert "3年，开封后3个月内用完" in platform.say("o_q", "保质期多久")


def test_partly_known_answers_what_is_known_and_hands_over_the_rest(platform, db):
    add_catalogue(db)
    seller_say(platform, "资料 面膜 库存 有现货")
    reply = platform.say("o_q", "面膜有货吗，孕妇能用吗")
    assert "有现货" in reply and "问下店主" in reply
    assert inquiries(db)[0][1] == "open" and seller_notices(db)


def test_import_reads_the_product_facts_sheet(runner, db, tmp_path):
    add_catalogue(db)
    path = tmp_path / "pool.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "客户"
    wb.active.append(["姓名", "电话"])
    wb.active.append(["张三", "13800138000"])
    sheet = wb.create_sheet("商品资料")
    sheet.append(["商品", "库存", "用法", "适合", "产地", "保质期"])
    sheet.append(["面膜", "现货", "每周2-3次", "所有肤质", None, "3年"])
    sheet.append(["口红", "现货", None, None, None, None])
    wb.save(path)
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    assert facts(db, "补水面膜") == {
        "stock": "现货",
        "how_to": "每周2-3次",
        "suits": "所有肤质",
        "shelf_life": "3年",
    }
    assert "商品资料：更新 1 款商品" in result.output and "第3行“口红”" in result.output
