"""帮助 (help) and 更多 (next page of the last list)."""

from __future__ import annotations

from bot import conversation_state, texts
from bot.seller import registry
from bot.seller.common import STATE_PAGE
from bot.seller.registry import SellerContext, seller_command


@seller_command(
    "帮助",
    aliases=("help", "?", "？", "菜单", "命令"),
    group=texts.SELLER_GROUP_GENERAL,
    **texts.SELLER_HELP["帮助"],
)
def show_help(ctx: SellerContext) -> str:
    if ctx.args:
        command = registry.lookup(ctx.args.split()[0])
        if command is None:
            raise ctx.fail(texts.SELLER_HELP_UNKNOWN.format(word=ctx.args.split()[0]))
        aliases = (
            texts.SELLER_HELP_ALIASES.format(aliases="、".join(command.aliases)) if command.aliases else ""
        )
        return texts.SELLER_HELP_ONE.format(
            name=command.name,
            summary=command.summary,
            usage=command.usage,
            example=command.example,
            aliases=aliases,
        )
    lines = [texts.SELLER_HELP_HEADER]
    for group, commands in registry.groups().items():
        lines.append(texts.SELLER_HELP_GROUP.format(group=group, names=" ".join(c.name for c in commands)))
    lines.append(texts.SELLER_HELP_FOOTER)
    return "\n".join(lines)


@seller_command(
    "更多", aliases=("下一页", "下页"), group=texts.SELLER_GROUP_GENERAL, **texts.SELLER_HELP["更多"]
)
def next_page(ctx: SellerContext) -> str:
    state, _expired = conversation_state.load(ctx.session, ctx.seller.id, ctx.now)
    if state is None or state.kind != STATE_PAGE:
        raise ctx.fail(texts.SELLER_NO_MORE, show_usage=False)
    command = registry.COMMANDS.get(state.data.get("command", ""))
    if command is None:
        raise ctx.fail(texts.SELLER_NO_MORE, show_usage=False)
    inner = registry.SellerContext(
        ctx.session,
        ctx.seller,
        command,
        state.data.get("args", ""),
        ctx.config,
        ctx.now,
        offset=int(state.data.get("offset", 0)),
    )
    return command.handler(inner)
