"""Sandbox transport: records deliveries instead of calling WeChat (no app id/secret configured).

The outbox rows still go through the whole channel choice and end ``sent`` with an ``api_msgid``
of ``sandbox:<n>``, so a laptop install shows exactly what would have gone out and how.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
_ids = itertools.count(1)


@dataclass
class SandboxDelivery:
    channel: str
    openid: str
    text: str | None = None
    template_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    msgid: str = ""


class SandboxTransport:
    """Accepts every message and keeps it in ``deliveries``."""

    name = "sandbox"

    def __init__(self) -> None:
        self.deliveries: list[SandboxDelivery] = []

    def _record(self, delivery: SandboxDelivery) -> str:
        delivery.msgid = f"sandbox:{next(_ids)}"
        self.deliveries.append(delivery)
        log.info("sandbox delivery %s via %s to %s", delivery.msgid, delivery.channel, delivery.openid)
        return delivery.msgid

    def send_text(self, openid: str, text: str) -> str | None:
        return self._record(SandboxDelivery("service", openid, text=text))

    def send_template(
        self, openid: str, template_id: str, data: dict[str, Any], url: str | None = None
    ) -> str | None:
        return self._record(SandboxDelivery("template", openid, template_id=template_id, data=data))

    def send_subscribe(
        self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None
    ) -> str | None:
        return self._record(SandboxDelivery("subscribe", openid, template_id=template_id, data=data))
