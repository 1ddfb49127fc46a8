"""导出: a signed, expiring download link for the pool as Excel (the route is /downloads/export/<token>)."""

from __future__ import annotations

from bot import texts
from bot.seller.registry import SellerContext, seller_command
from storage.export_links import DEFAULT_MAX_AGE_SECONDS, make_export_url


@seller_command("导出", aliases=("下载", "excel", "Excel", "表格"), group=texts.SELLER_GROUP_EXPORT,
                **texts.SELLER_HELP["导出"])
def export(ctx: SellerContext) -> str:
    if ctx.args:
        raise ctx.fail(texts.SELLER_NO_ARGS)
    seconds = int(ctx.config.get("EXPORT_LINK_MAX_AGE_SECONDS") or DEFAULT_MAX_AGE_SECONDS)
    hours = max(1, seconds // 3600)
    return texts.SELLER_EXPORT_LINK.format(url=make_export_url(ctx.config, ctx.actor), hours=hours)
