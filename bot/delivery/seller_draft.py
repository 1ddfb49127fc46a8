"""Channel: seller draft. The text goes on the seller's ``待发`` list to send by hand.

A draft is an outbox row with status ``drafted`` and channel ``draft``; ``storage.outbox``
lists them and marks them done. The seller gets a daily digest of open drafts
(:func:`digest_text`, enqueued by the ``draft_digest`` sweep).
"""

from __future__ import annotations

from bot import texts
from storage.models import OutboxMessage

NAME = "draft"
DIGEST_PREVIEW = 5


def digest_text(total: int, drafts: list[OutboxMessage], names: dict[int, str]) -> str:
    """The seller's daily digest: how many drafts wait, and the first few."""
    lines = [texts.DRAFT_DIGEST_HEADER.format(count=total)]
    for row in drafts[:DIGEST_PREVIEW]:
        preview = row.text.replace("\n", " ")
        if len(preview) > 30:
            preview = preview[:30] + "…"
        name = names.get(row.customer_id or 0, texts.DRAFT_DIGEST_UNKNOWN_CUSTOMER)
        lines.append(texts.DRAFT_DIGEST_LINE.format(id=row.id, customer=name, text=preview))
    if total > DIGEST_PREVIEW:
        lines.append(texts.DRAFT_DIGEST_MORE.format(count=total - DIGEST_PREVIEW))
    lines.append(texts.DRAFT_DIGEST_FOOTER)
    return "\n".join(lines)
