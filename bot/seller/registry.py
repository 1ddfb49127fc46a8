"""The seller command registry: a table of commands, each a small handler function.

A command is registered with the ``@seller_command`` decorator in the module of its area
(``bot/seller/orders.py`` …); ``bot/seller/__init__.py`` imports those modules, so adding an
area is one import line there. The dispatcher (``bot/seller_commands.py``) looks the first word
of the seller's text up here; usage, summary and example feed ``帮助`` and the README cheat sheet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from storage.models import Customer


class CommandError(Exception):
    """What is wrong with the seller's command, in Chinese; nothing the command did is kept.

    ``show_usage`` appends the command's usage line to the answer.
    """

    def __init__(self, message: str, *, show_usage: bool = True):
        super().__init__(message)
        self.message = message
        self.show_usage = show_usage


@dataclass
class SellerContext:
    """Everything a command handler needs: the session, the seller, the arguments, the clock."""

    session: Session
    seller: Customer
    command: SellerCommand
    args: str
    config: Mapping[str, Any]
    now: dt.datetime
    offset: int = 0  # paging: where a list starts (``更多`` moves it on)

    @property
    def actor(self) -> str:
        """Who order events and notes are recorded as: the seller's openid."""
        return self.seller.openid or f"customer:{self.seller.id}"

    @property
    def words(self) -> list[str]:
        return self.args.split()

    def fail(self, message: str, *, show_usage: bool = True) -> CommandError:
        """``raise ctx.fail("…")``: abort the command with this answer (and its usage line)."""
        return CommandError(message, show_usage=show_usage)


Handler = Callable[[SellerContext], str]


@dataclass(frozen=True)
class SellerCommand:
    """One seller command: its words, how it is used, and the function that runs it."""

    name: str
    aliases: tuple[str, ...]
    usage: str
    summary: str
    example: str
    group: str
    handler: Handler = field(compare=False)
    paged: bool = False  # a list command: ``更多`` continues it

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


COMMANDS: dict[str, SellerCommand] = {}  # primary name -> command, in registration order
_WORDS: dict[str, SellerCommand] = {}  # every name and alias -> command


def register(command: SellerCommand) -> SellerCommand:
    """Add ``command`` to the table; a word used twice is a programming error."""
    for word in command.words:
        if word in _WORDS and _WORDS[word].name != command.name:
            raise ValueError(f"seller command word {word!r} is already used by {_WORDS[word].name!r}")
    COMMANDS[command.name] = command
    for word in command.words:
        _WORDS[word] = command
    return command


def seller_command(
    name: str,
    *,
    usage: str,
    summary: str,
    example: str,
    group: str,
    aliases: tuple[str, ...] = (),
    paged: bool = False,
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of seller command ``name``."""

    def decorate(handler: Handler) -> Handler:
        register(SellerCommand(name, tuple(aliases), usage, summary, example, group, handler, paged))
        return handler

    return decorate


def lookup(word: str) -> SellerCommand | None:
    return _WORDS.get(word)


def all_words() -> list[str]:
    return list(_WORDS)


def split_command(text: str) -> tuple[SellerCommand | None, str, str]:
    """``(command, word, args)`` for a seller's text.

    The first whitespace-separated word names the command; a command word glued to its argument
    (``付款#12``, ``客户张三``) is accepted too, the longest matching Chinese word winning (not
    an ASCII one: ``excellent`` is not ``excel`` + ``lent``).
    """
    stripped = text.strip()
    first, _, rest = stripped.partition(" ")
    command = lookup(first)
    if command is not None:
        return command, first, rest.strip()
    for word in sorted(_WORDS, key=len, reverse=True):
        if not word.isascii() and first.startswith(word) and len(first) > len(word):
            return _WORDS[word], word, stripped[len(word) :].strip()
    return None, first, rest.strip()


def groups() -> dict[str, list[SellerCommand]]:
    """Commands by group, groups and commands in registration order."""
    result: dict[str, list[SellerCommand]] = {}
    for command in COMMANDS.values():
        result.setdefault(command.group, []).append(command)
    return result
