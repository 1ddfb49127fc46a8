"""The baseline the webhook benchmarks compare against: what any safe-mode WeChat bot must do.

``POST /baseline`` decrypts the envelope with wechatpy, parses the message and answers with an
encrypted text reply: no database, no conversation. Registered only by the benchmarks.
"""

from __future__ import annotations

import secrets
import time

from flask import Blueprint, Response, current_app, request
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto

baseline_bp = Blueprint("baseline", __name__)


@baseline_bp.post("/baseline")
def baseline() -> Response:
    cfg = current_app.config
    crypto = WeChatCrypto(cfg["WECHAT_TOKEN"], cfg["WECHAT_ENCODING_AES_KEY"], cfg["WECHAT_APP_ID"])
    args = request.args
    xml = crypto.decrypt_message(request.get_data(), args["msg_signature"], args["timestamp"], args["nonce"])
    msg = parse_message(xml)
    reply = create_reply("收到", msg).render()
    return Response(
        crypto.encrypt_message(reply, secrets.token_hex(8), str(int(time.time()))), mimetype="application/xml"
    )
