"""A demo shop: a small skincare catalogue and customers with months of order history.

Dates are relative to ``now`` so the figures, the export and the scheduled nudges show something
at once: one customer's eye cream runs out within the week, another buys a mask every month,
one has gone quiet for half a year, one has a birthday coming. Loading is idempotent: products
are matched by name, customers by openid (``demo_*``), and a customer's history is written only
if they have no demo orders yet, so loading twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import texts
from storage.models import (
    Customer,
    CustomerStage,
    Inquiry,
    Order,
    OrderEvent,
    OrderItem,
    OrderStatus,
    Product,
)
from storage.order_hooks import after_order_change
from storage.upsert import insert_ignore

DEMO_SOURCE = "demo"


@dataclass(frozen=True)
class DemoProduct:
    name: str
    aliases: str
    price_cents: int
    usage_days: int


@dataclass(frozen=True)
class DemoOrder:
    days_ago: int
    items: tuple[tuple[str, int], ...]  # (product name, quantity)
    received: bool = True


@dataclass(frozen=True)
class DemoCustomer:
    openid: str
    nickname: str
    name: str
    phone: str
    province: str
    city: str
    district: str
    address_detail: str
    tags: str
    orders: tuple[DemoOrder, ...] = ()
    birthday_in_days: int | None = None
    inquiry: str | None = None


PRODUCTS = (
    DemoProduct("面膜", "补水面膜,面膜贴", 9900, 30),
    DemoProduct("眼霜", "紧致眼霜", 16800, 60),
    DemoProduct("精华", "精华液,修护精华", 25800, 45),
    DemoProduct("洗面奶", "洁面乳,洁面", 7900, 60),
    DemoProduct("防晒霜", "防晒乳,防晒", 12800, 90),
)

CUSTOMERS = (
    # A regular: a box of masks every month, the next one due about now.
    DemoCustomer(
        "demo_lina",
        "娜娜",
        "李娜",
        "13800138001",
        "广东省",
        "深圳市",
        "南山区",
        "科技园路1号",
        "老客户,敏感肌",
        orders=(
            DemoOrder(95, (("面膜", 1),)),
            DemoOrder(63, (("面膜", 1),)),
            DemoOrder(32, (("面膜", 1), ("洗面奶", 1))),
        ),
    ),
    # One eye cream 55 days ago: a 60-day supply, so the repurchase nudge is due within days.
    DemoCustomer(
        "demo_wangfang",
        "芳芳",
        "王芳",
        "13900139002",
        "浙江省",
        "杭州市",
        "西湖区",
        "文三路90号",
        "朋友圈",
        orders=(DemoOrder(55, (("眼霜", 1),)),),
    ),
    # Bought twice half a year ago and went quiet: a sleeping customer to win back.
    DemoCustomer(
        "demo_chenjing",
        "静静",
        "陈静",
        "13700137003",
        "上海市",
        "上海市",
        "浦东新区",
        "张江路88号",
        "微博",
        orders=(DemoOrder(200, (("精华", 1),)), DemoOrder(160, (("面膜", 2),))),
    ),
    # A recent first order and a birthday in ten days.
    DemoCustomer(
        "demo_zhaomin",
        "敏敏",
        "赵敏",
        "13600136004",
        "北京市",
        "北京市",
        "朝阳区",
        "建国路100号",
        "QQ空间",
        orders=(DemoOrder(12, (("面膜", 2),)),),
        birthday_in_days=10,
    ),
    # Buys for his wife; sun cream and cleanser in one order.
    DemoCustomer(
        "demo_liuyang",
        "阳光",
        "刘洋",
        "13500135005",
        "四川省",
        "成都市",
        "武侯区",
        "天府大道1000号",
        "老客户介绍",
        orders=(DemoOrder(40, (("防晒霜", 1), ("洗面奶", 2))),),
    ),
    # Asked about the price three days ago and has not ordered.
    DemoCustomer(
        "demo_zhouting",
        "婷婷",
        "周婷",
        "13300133006",
        "江苏省",
        "南京市",
        "鼓楼区",
        "中山路18号",
        "朋友圈",
        inquiry="面膜多少钱一盒？敏感肌能用吗",
    ),
)


@dataclass
class DemoResult:
    products: int = 0
    customers: int = 0
    orders: int = 0
    names: list[str] = field(default_factory=list)


def _at_local_morning(now: dt.datetime, days_ago: int) -> dt.datetime:
    """``days_ago`` days before ``now``, at 03:00 UTC (11:00 in China): orders come in by day."""
    day = (now - dt.timedelta(days=days_ago)).date()
    return dt.datetime.combine(day, dt.time(3, 0))


def load_demo_shop(session: Session, now: dt.datetime) -> DemoResult:
    """Add the demo catalogue and customers with their history (naive UTC ``now``); idempotent."""
    result = DemoResult()
    # Counted from what existed before (not from insert row counts, which drivers report unevenly).
    known_products = set(
        session.scalars(select(Product.name).where(Product.name.in_([p.name for p in PRODUCTS])))
    )
    known_customers = set(
        session.scalars(select(Customer.openid).where(Customer.openid.in_([c.openid for c in CUSTOMERS])))
    )
    for product in PRODUCTS:
        result.products += product.name not in known_products
        insert_ignore(
            session,
            Product.__table__,
            {
                "name": product.name,
                "aliases": product.aliases,
                "price_cents": product.price_cents,
                "usage_days": product.usage_days,
                "active": True,
                "created_at": now,
                "updated_at": now,
            },
            ["name"],
        )
    catalogue = {
        p.name: p
        for p in session.scalars(select(Product).where(Product.name.in_([p.name for p in PRODUCTS])))
    }
    for index, spec in enumerate(CUSTOMERS, start=1):
        first_seen = _at_local_morning(now, max([o.days_ago for o in spec.orders] + [3]) + 2)
        created = spec.openid not in known_customers
        insert_ignore(
            session,
            Customer.__table__,
            {
                "openid": spec.openid,
                "nickname": spec.nickname,
                "name": spec.name,
                "phone": spec.phone,
                "province": spec.province,
                "city": spec.city,
                "district": spec.district,
                "address_detail": spec.address_detail,
                "tags": spec.tags,
                "source": DEMO_SOURCE,
                "stage": CustomerStage.PROSPECT,
                "subscribed": True,
                "opted_out": False,
                "unreachable": False,
                "birthday_is_lunar": False,
                "created_at": first_seen,
                "updated_at": now,
            },
            ["openid"],
        )
        result.customers += created
        customer = session.scalar(select(Customer).where(Customer.openid == spec.openid))
        if created and spec.birthday_in_days is not None:
            birthday = (now + dt.timedelta(days=spec.birthday_in_days)).date()
            customer.birthday_month, customer.birthday_day = birthday.month, birthday.day
        has_history = session.scalar(
            select(func.count())
            .select_from(Order)
            .where(Order.customer_id == customer.id, Order.source == DEMO_SOURCE)
        )
        if has_history:
            continue
        for number, order in enumerate(sorted(spec.orders, key=lambda o: -o.days_ago), start=1):
            _add_history_order(session, customer, order, catalogue, now, f"SF9{index:03d}{number:02d}000000")
            result.orders += 1
        if spec.orders:
            result.names.append(spec.name)
            customer.last_order_at = _at_local_morning(now, min(o.days_ago for o in spec.orders))
            customer.stage = CustomerStage.RETURNING if len(spec.orders) > 1 else CustomerStage.NEW
        if spec.inquiry and created:
            product = catalogue.get("面膜")
            session.add(
                Inquiry(
                    customer_id=customer.id,
                    text=spec.inquiry,
                    topic="price",
                    product_id=product.id if product else None,
                    status="open",
                    created_at=_at_local_morning(now, 3),
                )
            )
    session.flush()
    return result


def _add_history_order(
    session: Session,
    customer: Customer,
    spec: DemoOrder,
    catalogue: dict[str, Product],
    now: dt.datetime,
    tracking_no: str,
) -> Order:
    """A past order, written as history like an import: the events are recorded as they happened,
    and the order hooks see one ``create`` of an already received order (so retention starts its
    supply clocks) rather than a replayed ``ship``, which would send a months-old shipping notice."""
    created = _at_local_morning(now, spec.days_ago)
    paid, shipped, received = (
        created + dt.timedelta(hours=1),
        created + dt.timedelta(days=1),
        created + dt.timedelta(days=3),
    )
    order = Order(
        customer=customer,
        status=OrderStatus.RECEIVED if spec.received else OrderStatus.SHIPPED,
        source=DEMO_SOURCE,
        recipient_name=customer.name,
        phone=customer.phone,
        province=customer.province,
        city=customer.city,
        district=customer.district,
        address_detail=customer.address_detail,
        courier="顺丰",
        tracking_no=tracking_no,
        created_at=created,
        paid_at=paid,
        shipped_at=shipped,
        received_at=received if spec.received else None,
        updated_at=received,
    )
    total = 0
    for name, quantity in spec.items:
        product = catalogue[name]
        order.items.append(
            OrderItem(
                product_id=product.id,
                product_name=product.name,
                quantity=quantity,
                unit_price_cents=product.price_cents,
                usage_days=product.usage_days,
            )
        )
        total += product.price_cents * quantity
    order.amount_cents = total
    session.add(order)
    for action, at in (("create", created), ("pay", paid), ("ship", shipped), ("receive", received)):
        if action == "receive" and not spec.received:
            continue
        session.add(
            OrderEvent(
                order=order,
                action=action,
                actor=DEMO_SOURCE,
                created_at=at,
                detail=texts.DEMO_ORDER_NOTE if action == "create" else None,
            )
        )
    session.flush()
    after_order_change(session, order, "create", created)
    return order
