"""The JS-SDK ticket (``ticket/getticket?type=jsapi``) and the ``wx.config`` signature of a page.

The ticket lives 7200 s and the platform limits how often it may be fetched, so, like the access
token, all processes share one: it is stored in ``kv_store`` through
:class:`~bot.delivery.token_store.DatabaseSessionStorage` and fetched under a lock of its own
(not the token's: the fetch itself may need to refresh the token), re-reading the row first so
that a process that lost the race uses the winner's ticket. The HTTP request runs outside any
database transaction. wechatpy makes the calls: ``client.jsapi.get_ticket`` and
``client.jsapi.get_jsapi_signature`` (sha1 over ``jsapi_ticket``, ``noncestr``, ``timestamp``
and ``url``, sorted and joined with ``&``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wechatpy.utils import random_string

from bot.delivery.token_store import DatabaseSessionStorage
from bot.delivery.transport import has_credentials, make_client
from storage.db import Database

# Arbitrary constant next to the token's (token_store.TOKEN_LOCK_ID): the ticket refresh's advisory lock.
TICKET_LOCK_ID = 7_240_531_002


@dataclass(frozen=True)
class JsSdkConfig:
    """What ``wx.config`` takes for one page URL."""

    app_id: str
    timestamp: str
    nonce_str: str
    signature: str


def ticket_store(database: Database) -> DatabaseSessionStorage:
    return DatabaseSessionStorage(database, lock_id=TICKET_LOCK_ID, lock_name="jsapi-ticket")


def jsapi_ticket(client: Any, store: DatabaseSessionStorage) -> str:
    """The shared ticket; fetched (once, whichever process gets there first) when missing or expired."""
    key = f"{client.appid}_jsapi_ticket"
    ticket = store.get(key)
    if ticket:
        return ticket

    def fetch(_force: bool) -> tuple[str, int]:
        result = client.call(lambda: client.jsapi.get_ticket("jsapi"))
        return str(result["ticket"]), int(result.get("expires_in", 7200))

    return store.refresh(key, None, fetch)


def page_config(
    config: Mapping[str, Any],
    database: Database,
    url: str,
    *,
    client: Any = None,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> JsSdkConfig | None:
    """The signed ``wx.config`` values for the page at ``url`` (without its ``#`` part); None without
    app credentials (sandbox). Raises :class:`~bot.delivery.errors.DeliveryError` when no ticket can be had."""
    if not has_credentials(config):
        return None
    client = client or make_client(config, database)
    ticket = jsapi_ticket(client, ticket_store(database))
    stamp = str(int(timestamp if timestamp is not None else time.time()))
    nonce = nonce or random_string(16)
    signature = client.jsapi.get_jsapi_signature(nonce, ticket, stamp, url.split("#", 1)[0])
    return JsSdkConfig(app_id=str(client.appid), timestamp=stamp, nonce_str=nonce, signature=signature)
