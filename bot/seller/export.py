"""导出: a signed, short-lived, single-use download link for the pool as Excel (/downloads/export#<token>).

The link is built from ``HUITOU_PUBLIC_URL`` when set, else from the address the message came in on
(the request's host URL), so it names the port the server really serves; it is sent as a clickable
``<a href>``, which Official Account text messages support.
"""

from __future__ import annotations

from flask import has_request_context, request

from bot import texts
from bot.seller.registry import SellerContext, seller_command
from storage.export_links import make_export_url, max_age_seconds


@seller_command(
    "导出",
    aliases=("下载", "excel", "Excel", "表格"),
    group=texts.SELLER_GROUP_EXPORT,
    **texts.SELLER_HELP["导出"],
)
def export(ctx: SellerContext) -> str:
    if ctx.args:
        raise ctx.fail(texts.SELLER_NO_ARGS)
    minutes = max(1, max_age_seconds(ctx.config) // 60)
    base_url = request.host_url if has_request_context() else None
    return texts.SELLER_EXPORT_LINK.format(
        url=make_export_url(ctx.config, ctx.actor, base_url), minutes=minutes
    )
