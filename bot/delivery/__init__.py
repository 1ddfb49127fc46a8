"""Outbound delivery: every outbox row leaves once, through a channel WeChat allows.

One module per channel (``service_message``, ``template_message``, ``seller_draft``, and the
``sandbox`` transport) over a small client (``client``, token in ``token_store``); the rules are
plain functions (``rules``); ``drain`` claims, sends and marks rows.
"""

from bot.delivery.drain import DrainSummary, drain_outbox, preview_due

__all__ = ["DrainSummary", "drain_outbox", "preview_due"]
