"""Export the customer pool with its analysis to one Excel workbook (openpyxl, write-only).

Sheets: 客户, 订单, 咨询, 转介绍, 积分, 回购分析, 概览. Every query streams (server-side cursor on
PostgreSQL, ``yield_per``) and per-customer figures come from set-based queries merged in customer
order, so memory stays flat however large the pool is.

Analysis columns use what the retention sweeps stored on the customer (class, RFM, median
interval, expected next purchase). Where a sweep has not filled them yet:
- median repurchase interval: computed from the customer's orders (2+ orders, else blank);
- expected next purchase: last order + median interval, else last order + the supply of the last
  order (the first line to run out: quantity × usage days), else blank;
- A/B/C/D class and RFM: blank (they rank customers against each other: the sweep's job).
The stage is always read off the orders as of the export's ``now`` with the sweep's own rule
(``storage.segments.stage_as_of``: the seller's 客户 and 统计 use it too, with the same clock).
The seller's own accounts (``seller_openids``) are not customers: they are left out of the 客户
sheet and of every customer figure, as in 统计.
"""

from __future__ import annotations

import datetime as dt
import statistics
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, PieChart, Reference
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from storage.excel_sheets import (
    KIND_FORMATS,
    MONEY_FORMAT,
    RFM_SEGMENT_LABELS,
    Column,
    LocalTime,
    MergeCursor,
    TypedSheet,
)
from storage.models import (
    Customer,
    CustomerNote,
    CustomerStage,
    Inquiry,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    Referral,
    RewardEntry,
)
from storage.orders import STATUS_LABELS
from storage.segments import (
    LOST_FACTOR,
    LOST_MIN_DAYS,
    SLEEPING_FACTOR,
    SLEEPING_MIN_DAYS,
    OrderFacts,
    stage_as_of,
    stage_for,
)

STREAM = {"stream_results": True, "yield_per": 2000}
PROGRESS_EVERY = 5000
NOTE_SEPARATOR = "\n"

STAGE_LABELS = {
    CustomerStage.PROSPECT: "潜客",
    CustomerStage.NEW: "新客",
    CustomerStage.RETURNING: "老客户",
    CustomerStage.LOYAL: "忠诚客户",
    CustomerStage.FAN: "粉丝",
    CustomerStage.DISTRIBUTOR: "分销商",
    CustomerStage.SLEEPING: "沉睡客户",
    CustomerStage.LOST: "流失客户",
}
TOPIC_LABELS = {"price": "价格", "stock": "库存", "effect": "效果", "usage": "用法", "other": "其他"}
INQUIRY_STATUS_LABELS = {"open": "待回复", "answered": "已回复", "closed": "已关闭"}
REFERRAL_SOURCE_LABELS = {"qr": "扫码", "typed": "输入推荐码", "seller": "店主登记"}
REFERRAL_STATUS_LABELS = {
    "pending": "待首单",
    "held": "待确认",
    "rewarded": "已奖励",
    "reversed": "已撤销",
    "rejected": "未通过",
}
COUNTED_REFERRAL_STATUSES = ("pending", "held", "rewarded")

SHEET_CUSTOMERS, SHEET_ORDERS, SHEET_INQUIRIES = "客户", "订单", "咨询"
SHEET_REFERRALS, SHEET_REWARDS, SHEET_REPURCHASE, SHEET_OVERVIEW = "转介绍", "积分", "回购分析", "概览"
SHEET_TITLES = (
    SHEET_CUSTOMERS,
    SHEET_ORDERS,
    SHEET_INQUIRIES,
    SHEET_REFERRALS,
    SHEET_REWARDS,
    SHEET_REPURCHASE,
    SHEET_OVERVIEW,
)

CUSTOMER_COLUMNS = (
    Column("客户ID", "int", 8),
    Column("OpenID", "text", 14),
    Column("昵称", "text", 14),
    Column("姓名", "text", 10),
    Column("手机号", "phone", 14),
    Column("省", "text", 10),
    Column("市", "text", 10),
    Column("区", "text", 10),
    Column("详细地址", "text", 30),
    Column("标签", "text", 16),
    Column("生日", "text", 12),
    Column("生日类型", "text", 9),
    Column("来源", "text", 10),
    Column("首次下单", "datetime", 17),
    Column("最近下单", "datetime", 17),
    Column("订单数", "int", 8),
    Column("累计消费", "money", 12),
    Column("客单价", "money", 11),
    Column("回购间隔中位数(天)", "days", 12),
    Column("预计下次购买", "datetime", 17),
    Column("阶段", "text", 10),
    Column("客户等级", "text", 9),
    Column("R", "int", 5),
    Column("F", "int", 5),
    Column("M", "int", 5),
    Column("RFM分群", "text", 14),
    Column("推荐码", "text", 10),
    Column("推荐人", "text", 12),
    Column("推荐人数", "int", 9),
    Column("积分余额", "int", 9),
    Column("已退订", "yesno", 8),
    Column("备注", "text", 30),
)
ORDER_COLUMNS = (
    Column("订单号", "int", 8),
    Column("客户ID", "int", 8),
    Column("客户", "text", 12),
    Column("收件人", "text", 10),
    Column("手机号", "phone", 14),
    Column("省", "text", 10),
    Column("市", "text", 10),
    Column("区", "text", 10),
    Column("详细地址", "text", 30),
    Column("商品", "text", 24),
    Column("件数", "int", 6),
    Column("金额", "money", 11),
    Column("状态", "text", 8),
    Column("快递公司", "text", 10),
    Column("快递单号", "text", 18),
    Column("推荐码", "text", 10),
    Column("来源", "text", 8),
    Column("备注", "text", 20),
    Column("下单时间", "datetime", 17),
    Column("付款时间", "datetime", 17),
    Column("发货时间", "datetime", 17),
    Column("收货时间", "datetime", 17),
    Column("取消时间", "datetime", 17),
)
INQUIRY_COLUMNS = (
    Column("编号", "int", 8),
    Column("客户ID", "int", 8),
    Column("客户", "text", 12),
    Column("内容", "text", 36),
    Column("主题", "text", 8),
    Column("商品", "text", 12),
    Column("状态", "text", 8),
    Column("回复", "text", 30),
    Column("已转化", "yesno", 8),
    Column("转化订单号", "int", 10),
    Column("咨询时间", "datetime", 17),
    Column("回复时间", "datetime", 17),
)
REFERRAL_COLUMNS = (
    Column("编号", "int", 8),
    Column("推荐人ID", "int", 9),
    Column("推荐人", "text", 12),
    Column("被推荐人ID", "int", 10),
    Column("被推荐人", "text", 12),
    Column("方式", "text", 10),
    Column("状态", "text", 8),
    Column("原因", "text", 20),
    Column("订单号", "int", 8),
    Column("推荐时间", "datetime", 17),
    Column("奖励时间", "datetime", 17),
)
REWARD_COLUMNS = (
    Column("编号", "int", 8),
    Column("客户ID", "int", 8),
    Column("客户", "text", 12),
    Column("积分", "int", 8),
    Column("优惠券", "money", 10),
    Column("原因", "text", 24),
    Column("转介绍编号", "int", 10),
    Column("订单号", "int", 8),
    Column("时间", "datetime", 17),
)
PRODUCT_COLUMNS = (
    Column("商品", "text", 16),
    Column("使用周期(天)", "int", 12),
    Column("购买人数", "int", 10),
    Column("回购人数", "int", 10),
    Column("回购率", "percent", 9),
    Column("回购周期中位数(天)", "days", 14),
    Column("比使用周期多(天)", "days", 14),
)
MONTH_HEADERS = ("月份", "新客收入", "老客收入", "合计", "新客订单", "老客订单")
OVERVIEW_COLUMNS = (Column("指标", "text", 22), Column("数值", "text", 14), Column("说明", "text", 40))


Progress = Callable[[str, int, int | None], None]


@dataclass
class ExportSummary:
    """What went into the workbook: rows per sheet and the headline figures."""

    rows: dict[str, int] = field(default_factory=dict)
    indicators: dict[str, Any] = field(default_factory=dict)


def display_name(name: str | None, nickname: str | None, customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    return name or nickname or f"客户#{customer_id}"


def median_days(times: list[dt.datetime]) -> float | None:
    """Median gap in days between consecutive purchases (None with fewer than two)."""
    if len(times) < 2:
        return None
    gaps = [(b - a).total_seconds() / 86400 for a, b in zip(times, times[1:], strict=False)]
    return round(statistics.median(gaps), 1)


def fallback_stage(
    stored: str | None,
    order_count: int,
    last_order_at: dt.datetime | None,
    now: dt.datetime,
    cycle_days: float | None = None,
) -> str:
    """The stage as of the export.

    Fan and distributor are decisions (a paid referral, the seller's promotion) and are kept. The
    other stages follow from the orders and the clock, and the stored value is only as fresh as the
    last recompute, so they are read off the orders at ``now`` with the sweep's own rule.
    """
    if stored in (CustomerStage.FAN, CustomerStage.DISTRIBUTOR):
        return stored
    return stage_for(order_count, last_order_at, cycle_days, now)


def birthday_text(year: int | None, month: int | None, day: int | None) -> str | None:
    if not month or not day:
        return None
    return f"{year:04d}-{month:02d}-{day:02d}" if year else f"{month:02d}-{day:02d}"


class _Totals:
    """Running figures collected while the customer sheet streams past (small, fixed size)."""

    def __init__(self):
        self.customers = 0
        self.buyers = 0
        self.repeat_buyers = 0
        self.orders = 0
        self.revenue = 0
        self.first_order_revenue = 0
        self.opted_out = 0
        self.sellers = 0  # the seller's own accounts, left out
        self.stages: Counter[str] = Counter()
        self.intervals = array("d")
        # month -> [new revenue, returning revenue, new orders, returning orders]
        self.months: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])


def export_workbook(
    session: Session,
    target: str | Path | IO[bytes],
    *,
    timezone: str,
    now: dt.datetime,
    progress: Progress | None = None,
    seller_openids: Iterable[str] = (),
) -> ExportSummary:
    """Write the whole pool to ``target`` (a path or a binary file object); ``now`` is naive UTC.

    ``seller_openids``: the seller's own accounts, left out of the customers (HUITOU_SELLER_OPENIDS).
    """
    local = LocalTime(timezone)
    report = progress or (lambda _sheet, _done, _total: None)
    workbook = Workbook(write_only=True)
    summary = ExportSummary()
    totals = _Totals()

    customers = _count(session, Customer)
    sheet = TypedSheet(workbook, SHEET_CUSTOMERS, CUSTOMER_COLUMNS, local, expected_rows=customers)
    _write_customers(session, sheet, totals, local, now, customers, report, frozenset(seller_openids))
    summary.rows[SHEET_CUSTOMERS] = sheet.rows
    for title, columns, model, writer in (
        (SHEET_ORDERS, ORDER_COLUMNS, Order, _write_orders),
        (SHEET_INQUIRIES, INQUIRY_COLUMNS, Inquiry, _write_inquiries),
        (SHEET_REFERRALS, REFERRAL_COLUMNS, Referral, _write_referrals),
        (SHEET_REWARDS, REWARD_COLUMNS, RewardEntry, _write_rewards),
    ):
        sheet = TypedSheet(workbook, title, columns, local, expected_rows=_count(session, model))
        writer(session, sheet, report)
        sheet.finish()
        summary.rows[title] = sheet.rows

    sheet = TypedSheet(workbook, SHEET_REPURCHASE, PRODUCT_COLUMNS, local)
    _write_repurchase(session, sheet, totals, local)
    summary.rows[SHEET_REPURCHASE] = sheet.rows

    summary.indicators = _indicators(session, totals)
    _write_overview(workbook, local, summary.indicators, totals)
    summary.rows[SHEET_OVERVIEW] = len(summary.indicators)

    workbook.save(target)
    return summary


# --- 客户 -------------------------------------------------------------------------------------------


def _customer_rows(session: Session):
    referrer = aliased(Customer)
    made = (
        select(Referral.referrer_id.label("cid"), func.count().label("n"))
        .where(Referral.status.in_(COUNTED_REFERRAL_STATUSES))
        .group_by(Referral.referrer_id)
        .subquery()
    )
    points = (
        select(RewardEntry.customer_id.label("cid"), func.sum(RewardEntry.points).label("points"))
        .group_by(RewardEntry.customer_id)
        .subquery()
    )
    rewarded = (
        select(Referral.referrer_id.label("cid"), func.count().label("n"))
        .where(Referral.status == "rewarded")
        .group_by(Referral.referrer_id)
        .subquery()
    )
    notes = (
        select(
            CustomerNote.customer_id.label("cid"),
            func.aggregate_strings(CustomerNote.text, NOTE_SEPARATOR).label("text"),
        )
        .group_by(CustomerNote.customer_id)
        .subquery()
    )
    c = Customer
    stmt = (
        select(
            c.id,
            c.openid,
            c.nickname,
            c.name,
            c.phone,
            c.province,
            c.city,
            c.district,
            c.address_detail,
            c.tags,
            c.birthday_year,
            c.birthday_month,
            c.birthday_day,
            c.birthday_is_lunar,
            c.source,
            c.stage,
            c.customer_class,
            c.rfm_r,
            c.rfm_f,
            c.rfm_m,
            c.rfm_segment,
            c.median_interval_days,
            c.expected_next_purchase_at,
            c.referral_code,
            c.opted_out,
            referrer.id,
            referrer.name,
            referrer.nickname,
            made.c.n,
            points.c.points,
            notes.c.text,
            rewarded.c.n,
        )
        .outerjoin(referrer, referrer.id == c.referrer_id)
        .outerjoin(made, made.c.cid == c.id)
        .outerjoin(points, points.c.cid == c.id)
        .outerjoin(notes, notes.c.cid == c.id)
        .outerjoin(rewarded, rewarded.c.cid == c.id)
        .order_by(c.id)
    )
    return session.execute(stmt.execution_options(**STREAM))


def _purchase_rows(session: Session):
    """Active orders by customer and time, with the supply (days) each one bought: the first line to
    run out among those with usage days (as ``storage.segments.active_orders``)."""
    supply = (
        select(
            OrderItem.order_id.label("oid"), func.min(OrderItem.quantity * OrderItem.usage_days).label("days")
        )
        .where(OrderItem.usage_days > 0)
        .group_by(OrderItem.order_id)
        .subquery()
    )
    stmt = (
        select(Order.customer_id, Order.created_at, Order.amount_cents, supply.c.days)
        .outerjoin(supply, supply.c.oid == Order.id)
        .where(Order.status != OrderStatus.CANCELLED)
        .order_by(Order.customer_id, Order.created_at, Order.id)
    )
    return session.execute(stmt.execution_options(**STREAM))


def _count(session: Session, model) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _write_customers(
    session: Session,
    sheet: TypedSheet,
    totals: _Totals,
    local: LocalTime,
    now: dt.datetime,
    total: int,
    report: Progress,
    sellers: frozenset[str] = frozenset(),
) -> None:
    purchases = MergeCursor(_purchase_rows(session))
    for row in _customer_rows(session):
        (
            cid,
            openid,
            nickname,
            name,
            phone,
            province,
            city,
            district,
            detail,
            tags,
            b_year,
            b_month,
            b_day,
            b_lunar,
            source,
            stage,
            klass,
            rfm_r,
            rfm_f,
            rfm_m,
            segment,
            stored_median,
            stored_next,
            code,
            opted_out,
            ref_id,
            ref_name,
            ref_nick,
            made,
            points,
            notes,
            rewarded,
        ) = row
        orders = purchases.take(cid)
        if openid in sellers:
            totals.sellers += 1
            continue
        count = len(orders)
        spent = sum(o[2] for o in orders)
        first = orders[0][1] if orders else None
        last = orders[-1][1] if orders else None
        median = stored_median if stored_median is not None else median_days([o[1] for o in orders])
        expected = stored_next
        if expected is None and last is not None:
            if median is not None:
                expected = last + dt.timedelta(days=median)
            elif orders[-1][3]:
                expected = last + dt.timedelta(days=orders[-1][3])
        facts = [OrderFacts(o[1], None, o[3] or None, o[2]) for o in orders]
        effective_stage = stage_as_of(facts, now, referred=bool(rewarded), tags=tags, current=stage)

        totals.customers += 1
        totals.stages[effective_stage] += 1
        totals.opted_out += bool(opted_out)
        if count:
            totals.buyers += 1
            totals.repeat_buyers += count >= 2
            totals.orders += count
            totals.revenue += spent
            totals.first_order_revenue += orders[0][2]
            if median is not None:
                totals.intervals.append(median)
            for index, order in enumerate(orders):
                bucket = totals.months[local(order[1]).strftime("%Y-%m")]
                returning = 1 if index else 0
                bucket[returning] += order[2]
                bucket[2 + returning] += 1

        sheet.append(
            (
                cid,
                openid,
                nickname,
                name,
                phone,
                province,
                city,
                district,
                detail,
                tags,
                birthday_text(b_year, b_month, b_day),
                ("农历" if b_lunar else "公历") if b_month else None,
                source,
                first,
                last,
                count,
                spent,
                spent // count if count else None,
                median,
                expected,
                STAGE_LABELS.get(effective_stage, effective_stage),
                klass,
                rfm_r,
                rfm_f,
                rfm_m,
                RFM_SEGMENT_LABELS.get(segment, segment),
                code,
                display_name(ref_name, ref_nick, ref_id),
                made or 0,
                points or 0,
                bool(opted_out),
                notes,
            )
        )
        if sheet.rows % PROGRESS_EVERY == 0:
            report(SHEET_CUSTOMERS, sheet.rows, total)
    report(SHEET_CUSTOMERS, sheet.rows, total)
    sheet.finish()


# --- 订单, 咨询, 转介绍, 积分 ---------------------------------------------------------------------------


def _write_orders(session: Session, sheet: TypedSheet, report: Progress) -> None:
    items = MergeCursor(
        session.execute(
            select(OrderItem.order_id, OrderItem.product_name, OrderItem.quantity)
            .order_by(OrderItem.order_id, OrderItem.id)
            .execution_options(**STREAM)
        )
    )
    o, c = Order, Customer
    rows = session.execute(
        select(
            o.id,
            o.customer_id,
            c.name,
            c.nickname,
            o.recipient_name,
            o.phone,
            o.province,
            o.city,
            o.district,
            o.address_detail,
            o.amount_cents,
            o.status,
            o.courier,
            o.tracking_no,
            o.referral_code_used,
            o.source,
            o.note,
            o.created_at,
            o.paid_at,
            o.shipped_at,
            o.received_at,
            o.cancelled_at,
        )
        .join(c, c.id == o.customer_id)
        .order_by(o.id)
        .execution_options(**STREAM)
    )
    for (
        oid,
        cid,
        name,
        nickname,
        recipient,
        phone,
        province,
        city,
        district,
        detail,
        amount,
        status,
        courier,
        tracking,
        code,
        source,
        note,
        created,
        paid,
        shipped,
        received,
        cancelled,
    ) in rows:
        lines = items.take(oid)
        sheet.append(
            (
                oid,
                cid,
                display_name(name, nickname, cid),
                recipient,
                phone,
                province,
                city,
                district,
                detail,
                "、".join(f"{line[1]}×{line[2]}" for line in lines),
                sum(line[2] for line in lines),
                amount,
                STATUS_LABELS.get(status, status),
                courier,
                tracking,
                code,
                source,
                note,
                created,
                paid,
                shipped,
                received,
                cancelled,
            )
        )
        if sheet.rows % PROGRESS_EVERY == 0:
            report(SHEET_ORDERS, sheet.rows, None)


def _write_inquiries(session: Session, sheet: TypedSheet, report: Progress) -> None:
    i, c = Inquiry, Customer
    rows = session.execute(
        select(
            i.id,
            i.customer_id,
            c.name,
            c.nickname,
            i.text,
            i.topic,
            Product.name,
            i.status,
            i.answer,
            i.converted_order_id,
            i.created_at,
            i.answered_at,
        )
        .join(c, c.id == i.customer_id)
        .outerjoin(Product, Product.id == i.product_id)
        .order_by(i.id)
        .execution_options(**STREAM)
    )
    for iid, cid, name, nickname, text, topic, product, status, answer, converted, created, answered in rows:
        sheet.append(
            (
                iid,
                cid,
                display_name(name, nickname, cid),
                text,
                TOPIC_LABELS.get(topic, topic),
                product,
                INQUIRY_STATUS_LABELS.get(status, status),
                answer,
                converted is not None,
                converted,
                created,
                answered,
            )
        )


def _write_referrals(session: Session, sheet: TypedSheet, report: Progress) -> None:
    r = Referral
    referrer, referee = aliased(Customer), aliased(Customer)
    rows = session.execute(
        select(
            r.id,
            r.referrer_id,
            referrer.name,
            referrer.nickname,
            r.referee_id,
            referee.name,
            referee.nickname,
            r.source,
            r.status,
            r.reason,
            r.order_id,
            r.created_at,
            r.rewarded_at,
        )
        .join(referrer, referrer.id == r.referrer_id)
        .join(referee, referee.id == r.referee_id)
        .order_by(r.id)
        .execution_options(**STREAM)
    )
    for (
        rid,
        ref_id,
        ref_name,
        ref_nick,
        fee_id,
        fee_name,
        fee_nick,
        source,
        status,
        reason,
        order_id,
        created,
        rewarded,
    ) in rows:
        sheet.append(
            (
                rid,
                ref_id,
                display_name(ref_name, ref_nick, ref_id),
                fee_id,
                display_name(fee_name, fee_nick, fee_id),
                REFERRAL_SOURCE_LABELS.get(source, source),
                REFERRAL_STATUS_LABELS.get(status, status),
                reason,
                order_id,
                created,
                rewarded,
            )
        )


def _write_rewards(session: Session, sheet: TypedSheet, report: Progress) -> None:
    e, c = RewardEntry, Customer
    rows = session.execute(
        select(
            e.id,
            e.customer_id,
            c.name,
            c.nickname,
            e.points,
            e.coupon_cents,
            e.reason,
            e.referral_id,
            e.order_id,
            e.created_at,
        )
        .join(c, c.id == e.customer_id)
        .order_by(e.id)
        .execution_options(**STREAM)
    )
    for eid, cid, name, nickname, points, coupon, reason, referral_id, order_id, created in rows:
        sheet.append(
            (
                eid,
                cid,
                display_name(name, nickname, cid),
                points,
                coupon,
                reason,
                referral_id,
                order_id,
                created,
            )
        )


# --- 回购分析 -------------------------------------------------------------------------------------------


def _product_rows(session: Session):
    """(product, customer, order, time) for every active purchase, by product, customer and time."""
    key = func.coalesce(Product.name, OrderItem.product_name)
    stmt = (
        select(key, Order.customer_id, Order.id, Order.created_at)
        .select_from(OrderItem)
        .join(Order, Order.id == OrderItem.order_id)
        .outerjoin(Product, Product.id == OrderItem.product_id)
        .where(Order.status != OrderStatus.CANCELLED)
        .order_by(key, Order.customer_id, Order.created_at, Order.id)
    )
    return session.execute(stmt.execution_options(**STREAM))


def product_repurchase(rows) -> list[tuple[str, int, int, float | None]]:
    """Per product: (name, buyers, repeat buyers, median days between one customer's purchases)."""
    result = []
    current = None
    buyers = repeaters = 0
    gaps = array("d")
    last_customer = last_order = last_time = None
    purchases = 0

    def close():
        if current is not None:
            result.append((current, buyers, repeaters, round(statistics.median(gaps), 1) if gaps else None))

    for name, customer_id, order_id, created in rows:
        if name != current:
            close()
            current, buyers, repeaters, gaps = name, 0, 0, array("d")
            last_customer = last_order = last_time = None
        if customer_id != last_customer:
            buyers += 1
            purchases = 1
            last_customer, last_order, last_time = customer_id, order_id, created
            continue
        if order_id == last_order:
            continue  # the same product twice in one order
        purchases += 1
        if purchases == 2:
            repeaters += 1
        gaps.append((created - last_time).total_seconds() / 86400)
        last_order, last_time = order_id, created
    close()
    return result


def _write_repurchase(session: Session, sheet: TypedSheet, totals: _Totals, local: LocalTime) -> None:
    usage = dict(session.execute(select(Product.name, Product.usage_days)).all())
    for name, buyers, repeaters, median in product_repurchase(_product_rows(session)):
        period = usage.get(name)
        sheet.append(
            (
                name,
                period,
                buyers,
                repeaters,
                repeaters / buyers if buyers else None,
                median,
                round(median - period, 1) if median is not None and period else None,
            )
        )
    sheet.finish()
    # Second table below the products: revenue per month from first orders vs repeat orders.
    sheet.append_raw(())
    sheet.append_raw(sheet.header_cell(h) for h in MONTH_HEADERS)
    money = _money_cells(sheet, 4)
    for month in sorted(totals.months):
        new, old, new_n, old_n = totals.months[month]
        sheet.append_raw([month, *money(new, old, new + old), new_n, old_n])


def _money_cells(sheet: TypedSheet, count: int):
    def cells(*cents):
        out = []
        for value in cents[:count]:
            cell = WriteOnlyCell(sheet.ws, value=value / 100)
            cell.number_format = MONEY_FORMAT
            out.append(cell)
        return out

    return cells


# --- 概览 ------------------------------------------------------------------------------------------------


def _indicators(session: Session, totals: _Totals) -> dict[str, Any]:
    referrals = (
        session.scalar(
            select(func.count()).select_from(Referral).where(Referral.status.in_(COUNTED_REFERRAL_STATUSES))
        )
        or 0
    )
    referred_buyers = (
        session.scalar(select(func.count()).select_from(Referral).where(Referral.status == "rewarded")) or 0
    )
    inquiries = session.scalar(select(func.count()).select_from(Inquiry)) or 0
    converted = (
        session.scalar(
            select(func.count()).select_from(Inquiry).where(Inquiry.converted_order_id.is_not(None))
        )
        or 0
    )
    buyers = totals.buyers
    return {
        "客户总数": totals.customers,
        "下单客户数": buyers,
        "订单数": totals.orders,
        "销售额": totals.revenue,
        "客单价": totals.revenue // totals.orders if totals.orders else None,
        "首单客单价": totals.first_order_revenue // buyers if buyers else None,
        "购买频次": round(totals.orders / buyers, 2) if buyers else None,
        "回购率": totals.repeat_buyers / buyers if buyers else None,
        "回购周期中位数(天)": round(statistics.median(totals.intervals), 1) if totals.intervals else None,
        "转介绍人数": referrals,
        "转介绍成交": referred_buyers,
        "咨询数": inquiries,
        "咨询转化率": converted / inquiries if inquiries else None,
        "沉睡客户": totals.stages.get(CustomerStage.SLEEPING, 0),
        "流失客户": totals.stages.get(CustomerStage.LOST, 0),
        "已退订": totals.opted_out,
    }


INDICATOR_KINDS = {
    "销售额": "money",
    "客单价": "money",
    "首单客单价": "money",
    "回购率": "percent",
    "咨询转化率": "percent",
}
INDICATOR_NOTES = {
    "客户总数": "客户池里的全部客户（店主自己的账号不算）",
    "下单客户数": "至少有一笔未取消订单的客户",
    "购买频次": "平均每位下单客户的订单数",
    "回购率": "下单2次及以上的客户 ÷ 下单客户",
    "首单客单价": "第一笔订单的平均金额",
    "转介绍成交": "被推荐人已下单并发放奖励的转介绍",
    "咨询转化率": "咨询后下单的比例",
    "沉睡客户": f"最近一单距今超过{SLEEPING_MIN_DAYS}天且超过{SLEEPING_FACTOR:g}倍回购周期",
    "流失客户": f"最近一单距今超过{LOST_MIN_DAYS}天且超过{LOST_FACTOR:g}倍回购周期",
}


def _write_overview(
    workbook: Workbook, local: LocalTime, indicators: dict[str, Any], totals: _Totals
) -> None:
    sheet = TypedSheet(workbook, SHEET_OVERVIEW, OVERVIEW_COLUMNS, local, filter_rows=False)
    for column, width in zip("DEFGH", (4, 12, 14, 14, 12), strict=False):
        sheet.ws.column_dimensions[column].width = width
    for name, value in indicators.items():
        kind = INDICATOR_KINDS.get(name)
        if kind and value is not None:
            cell = WriteOnlyCell(sheet.ws, value=value / 100 if kind == "money" else value)
            cell.number_format = KIND_FORMATS[kind]
            value = cell
        sheet.append_raw([name, value, INDICATOR_NOTES.get(name)])
        sheet.rows += 1
    # Tables feeding the charts, below the indicators.
    stage_start = sheet.rows + 3
    sheet.append_raw(())
    sheet.append_raw([sheet.header_cell("阶段"), sheet.header_cell("客户数")])
    stages = [(STAGE_LABELS[s], totals.stages.get(s, 0)) for s in STAGE_LABELS]
    for label, count in stages:
        sheet.append_raw([label, count])
    month_start = stage_start + len(stages) + 2
    sheet.append_raw(())
    sheet.append_raw([sheet.header_cell(h) for h in ("月份", "新客收入", "老客收入")])
    money = _money_cells(sheet, 2)
    months = sorted(totals.months)
    for month in months:
        new, old, _n, _o = totals.months[month]
        sheet.append_raw([month, *money(new, old)])

    pie = PieChart()
    pie.title = "客户阶段分布"
    pie.add_data(
        Reference(sheet.ws, min_col=2, min_row=stage_start, max_row=stage_start + len(stages)),
        titles_from_data=True,
    )
    pie.set_categories(
        Reference(sheet.ws, min_col=1, min_row=stage_start + 1, max_row=stage_start + len(stages))
    )
    pie.height, pie.width = 8, 12
    sheet.ws.add_chart(pie, "E2")

    bar = BarChart()
    bar.type = "col"
    bar.grouping = "stacked"
    bar.overlap = 100
    bar.title = "每月销售额：新客 vs 老客"
    bar.y_axis.title = "元"
    bar.y_axis.numFmt = "#,##0"
    last = month_start + max(len(months), 1)
    bar.add_data(
        Reference(sheet.ws, min_col=2, max_col=3, min_row=month_start, max_row=last), titles_from_data=True
    )
    bar.set_categories(Reference(sheet.ws, min_col=1, min_row=month_start + 1, max_row=last))
    bar.height, bar.width = 8, 18
    sheet.ws.add_chart(bar, "E19")
