"""Outbound delivery: every outbox row leaves once, through a channel WeChat allows.

One module per channel (``service_message``, ``template_message``, ``seller_draft``, and the
``sandbox`` transport) over a small client (``client``, token in ``token_store``); the rules are
plain functions (``rules``); ``drain`` claims, sends and marks rows.
"""
