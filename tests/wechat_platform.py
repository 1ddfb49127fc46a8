"""The WeChat platform stand-in with the test suite's credentials.

Every test talks to the webhook through it (``platform.say(openid, text) -> reply``), in plain,
compatible or safe mode, so tests exercise the same path a real Official Account does. It is the
simulator's own stand-in (``handlers/simulator/platform.py``): one implementation of the platform.
"""

from __future__ import annotations

from wechatpy.utils import check_signature  # noqa: F401  (re-exported for tests)

from handlers.simulator import platform as _platform
from handlers.simulator.platform import Reply, sign

__all__ = ["ACCOUNT", "AES_KEY", "APP_ID", "TOKEN", "Reply", "WeChatPlatform", "sign"]

TOKEN = "test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx1234567890abcdef"
ACCOUNT = "gh_huitou_test"

_BUILDER = _platform.WeChatPlatform(None, "plain", token=TOKEN, account=ACCOUNT)


class WeChatPlatform(_platform.WeChatPlatform):
    """Posts messages to ``/wechat`` the way the platform does, with the tests' Token and keys."""

    def __init__(
        self, client, mode: str = "safe", token: str = TOKEN, aes_key: str = AES_KEY, app_id: str = APP_ID
    ):
        super().__init__(client, mode, token=token, aes_key=aes_key, app_id=app_id, account=ACCOUNT)

    # The builders are also used without a platform (``WeChatPlatform.text_xml(...)``).
    text_xml = staticmethod(_BUILDER.text_xml)
    event_xml = staticmethod(_BUILDER.event_xml)
    media_xml = staticmethod(_BUILDER.media_xml)
    subscribe_msg_xml = staticmethod(_BUILDER.subscribe_msg_xml)
