"""统计: today / this week / this month, and the pool by stage and class (queries in storage/figures.py)."""

from __future__ import annotations

from bot import texts
from bot.referrals import seller_figures_line
from bot.seller.common import local
from bot.seller.registry import SellerContext, seller_command
from config import parse_list
from storage.clock import shop_zone
from storage.figures import PeriodFigures, business_figures
from storage.models import CustomerStage
from storage.orders import format_yuan

STAGE_ORDER = (
    CustomerStage.PROSPECT,
    CustomerStage.NEW,
    CustomerStage.RETURNING,
    CustomerStage.LOYAL,
    CustomerStage.FAN,
    CustomerStage.DISTRIBUTOR,
    CustomerStage.SLEEPING,
    CustomerStage.LOST,
)
CLASS_ORDER = ("A", "B", "C", "D", "E")


def _period_lines(label: str, figures: PeriodFigures) -> list[str]:
    return [
        texts.SELLER_FIGURES_PERIOD.format(
            label=label, new=figures.new_customers, orders=figures.orders, referrals=figures.referrals
        ),
        texts.SELLER_FIGURES_MONEY.format(
            revenue=format_yuan(figures.revenue_cents),
            aov=format_yuan(figures.average_order_cents),
            rate=f"{figures.repurchase_rate:.0%}",
        ),
    ]


@seller_command(
    "统计", aliases=("数据", "报表", "经营"), group=texts.SELLER_GROUP_FIGURES, **texts.SELLER_HELP["统计"]
)
def figures(ctx: SellerContext) -> str:
    if ctx.args:
        raise ctx.fail(texts.SELLER_NO_ARGS)
    timezone = shop_zone(ctx.config).key
    periods, pool = business_figures(
        ctx.session, ctx.now, timezone, parse_list(ctx.config.get("SELLER_OPENIDS"))
    )
    lines = [texts.SELLER_FIGURES_HEADER.format(date=local(ctx.config, ctx.now).strftime("%m-%d %H:%M"))]
    for key, label in texts.SELLER_FIGURES_PERIODS.items():
        lines.extend(_period_lines(label, periods[key]))
    stages = [
        texts.SELLER_FIGURES_COUNT.format(label=texts.SELLER_STAGE_LABELS[s], count=pool.by_stage[s])
        for s in STAGE_ORDER
        if pool.by_stage.get(s)
    ]
    stages += [
        texts.SELLER_FIGURES_COUNT.format(label=s or texts.SELLER_NONE, count=n)
        for s, n in pool.by_stage.items()
        if s not in STAGE_ORDER and n
    ]
    classes = [
        texts.SELLER_FIGURES_CLASS.format(klass=k, count=pool.by_class[k])
        for k in CLASS_ORDER
        if pool.by_class.get(k)
    ]
    unclassified = sum(n for k, n in pool.by_class.items() if k not in CLASS_ORDER)
    if unclassified:
        classes.append(texts.SELLER_FIGURES_UNCLASSIFIED.format(count=unclassified))
    lines.append(texts.SELLER_FIGURES_POOL.format(total=pool.total, sleeping=pool.sleeping, lost=pool.lost))
    lines.append(texts.SELLER_FIGURES_STAGES.format(stages=" ".join(stages) or texts.SELLER_NONE))
    lines.append(texts.SELLER_FIGURES_CLASSES.format(classes=" ".join(classes) or texts.SELLER_NONE))
    lines.append(seller_figures_line(ctx.session, ctx.now))  # referral programme (bot/referrals.py)
    return "\n".join(lines)
