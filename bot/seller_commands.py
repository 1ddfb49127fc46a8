"""The seller console: commands typed by the openids in HUITOU_SELLER_OPENIDS.

The commands themselves live in ``bot/seller/`` (one module per area, registered in a table, see
``bot/seller/registry.py``). This module reads the seller's text, finds the command, runs it in a
savepoint (a refused command changes nothing) and answers. A seller's text that is no command gets
a hint to send ``帮助`` (with the closest command when there is one), never customer handling: a
seller account always talks to the console.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import bot.seller  # noqa: F401  (imports every command module, filling the registry)
from bot import texts
from bot.seller import registry
from bot.seller.registry import CommandError, SellerContext
from bot.seller.waiting import with_waiting_notices
from config import parse_list
from storage.models import Customer

log = logging.getLogger(__name__)

SUGGESTION_CUTOFF = 50  # rapidfuzz ratio: one wrong character in a two-character word still matches
MAX_TEXT = 2000


def is_seller(customer: Customer, config: Mapping[str, Any]) -> bool:
    return bool(customer.openid) and customer.openid in parse_list(config.get("SELLER_OPENIDS"))


# Fullwidth forms a phone keyboard produces in numbers and references (``＃１２``, ``＋８６``), and the
# ideographic space. Chinese punctuation (，。：) is left alone: notes and answers keep it as typed.
_HALFWIDTH = {
    **{0xFF10 + i: 0x30 + i for i in range(10)},
    **{0xFF21 + i: 0x41 + i for i in range(26)},
    **{0xFF41 + i: 0x61 + i for i in range(26)},
    0xFF03: ord("#"),
    0xFF0B: ord("+"),
    0xFF0D: ord("-"),
    0xFF0E: ord("."),
    0xFF0F: ord("/"),
    0x3000: ord(" "),
}


def normalize_command_text(text: str) -> str:
    """``＃１２`` → ``#12``, ideographic spaces → spaces, trimmed; trailing full stops dropped."""
    return (text or "")[:MAX_TEXT].translate(_HALFWIDTH).strip().rstrip("。！!")


def handle_seller_text(
    session: Session, seller: Customer, text: str, config: Mapping[str, Any], now: dt.datetime
) -> str | None:
    """Run a seller command and return the answer; None when ``seller`` is not a seller account."""
    if not is_seller(seller, config):
        return None
    normalized = normalize_command_text(text)
    command, word, args = registry.split_command(normalized)
    reply = (
        _not_a_command(word)
        if command is None
        else run(SellerContext(session, seller, command, args, config, now))
    )
    return with_waiting_notices(session, seller, reply, now)  # notices that waited for this seller


def run(ctx: SellerContext) -> str:
    """Run ``ctx.command`` in a savepoint: a CommandError (or a bug) rolls back all it did."""
    try:
        with ctx.session.begin_nested():
            reply = ctx.command.handler(ctx)
            ctx.session.flush()  # constraint violations surface here, inside the savepoint
            return reply
    except CommandError as exc:
        if exc.show_usage:
            return f"{exc.message}\n{texts.SELLER_USAGE.format(usage=ctx.command.usage)}"
        return exc.message
    except OperationalError:
        raise
    except Exception:  # a bug must not lose the message: it is stored, and the seller is told
        log.exception("seller command %s failed", ctx.command.name)
        return texts.SELLER_COMMAND_FAILED


def closest_command(word: str) -> registry.SellerCommand | None:
    """The registered command whose name or alias is closest to ``word`` (rapidfuzz), if any is close."""
    if not word:
        return None
    word = word[:8]
    best, best_score = None, 0.0
    for candidate in registry.all_words():
        # Ties (统记: 统计 or 记单?) go to the word that starts the same way.
        score = fuzz.ratio(word, candidate) + (5 if candidate[0] == word[0] else 0)
        if score > best_score:
            best, best_score = candidate, score
    return registry.lookup(best) if best is not None and best_score >= SUGGESTION_CUTOFF else None


def _not_a_command(word: str) -> str:
    suggestion = closest_command(word)
    if suggestion is not None:
        return texts.SELLER_UNKNOWN_SUGGEST.format(word=word, name=suggestion.name, usage=suggestion.usage)
    return texts.SELLER_NOT_A_COMMAND
