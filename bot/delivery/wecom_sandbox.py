"""The simulator's WeCom: an in-process stand-in for WeCom's API, used only with the simulator's own corp id.

The development-mode simulator (``handlers/simulator/wecom.py``) sets ``WECOM_CORP_ID`` to
:data:`CORP_ID`; :func:`bot.delivery.wecom_client.make_client` then hands out a
:class:`SandboxWeComClient` instead of an HTTP client, and never does so in production mode.
Welcomes and app messages are already recorded as outbox rows by their callers; mass-send tasks
are ``wecom_task`` rows. The only state WeCom itself would hold, whether the member tapped
"send" on a task, is kept in ``kv_store`` (:func:`confirm`), and the poll reads it back as
WeCom's ``get_groupmsg_task`` / ``get_groupmsg_send_result`` answers would.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

import config as huitou_config
from storage import kv
from storage.clock import utcnow
from storage.db import Database
from storage.models import WecomTask, WecomTaskRecipient

# The simulator's own credentials: never a real corp's (real corp ids start "ww" plus 16 hex digits).
CORP_ID = "ww_huitou_simulator"
SECRET = "huitou-simulator-wecom-secret"
AGENT_ID = "1000001"
TOKEN = "huitou-simulator-wecom-token"
AES_KEY = "SimulatorWeComEncodingAESKey0123456789abcde"
MEMBER = "sim_shop"
CONFIRMED_KEY = "wecom_sandbox:confirmed:{msgid}"


def is_sandbox(config: Mapping[str, Any]) -> bool:
    """The simulator's WeCom: its corp id, and development mode (production never gets the sandbox)."""
    return config.get("WECOM_CORP_ID") == CORP_ID and not huitou_config.production_mode(config)


def confirm(database: Database, task_id: int, now: dt.datetime) -> bool:
    """The member taps "send" on an open task in the WeCom app; False when there is no such task."""
    with database.session() as session:
        task = session.get(WecomTask, task_id)
        if task is None or task.status != "open" or not task.msgid:
            return False
        kv.set_value(session, CONFIRMED_KEY.format(msgid=task.msgid), now.isoformat(), now)
        return True


class SandboxWeComClient:
    """The calls of :class:`bot.delivery.wecom_client.HuitouWeComClient`, answered in-process."""

    def __init__(self, database: Database):
        self.database = database
        self.agent_id = int(AGENT_ID)

    def send_app_text(self, userids: Sequence[str], text: str) -> str | None:
        return f"sandbox-app:{secrets.token_hex(6)}"

    def add_contact_way(self, userid: str, state: str | None) -> dict[str, Any]:
        config_id = secrets.token_hex(8)
        return {"errcode": 0, "config_id": config_id, "qr_code": f"https://sandbox.invalid/wecom/{config_id}"}

    def get_external_contact(self, external_userid: str) -> dict[str, Any]:
        return {
            "errcode": 0,
            "external_contact": {"external_userid": external_userid, "type": 1},
            "follow_user": [{"userid": MEMBER, "remark_mobiles": []}],
        }

    def send_welcome_msg(self, welcome_code: str, text: str) -> None:
        return None  # the welcome's outbox row is the record

    def add_msg_template(self, sender: str, external_userids: Sequence[str], text: str) -> dict[str, Any]:
        return {"errcode": 0, "fail_list": [], "msgid": f"sandbox-task:{secrets.token_hex(8)}"}

    def _confirmed(self, msgid: str) -> bool:
        with self.database.read_session() as session:
            return kv.get_value(session, CONFIRMED_KEY.format(msgid=msgid), utcnow()) is not None

    def get_groupmsg_task(self, msgid: str, cursor: str | None = None) -> dict[str, Any]:
        with self.database.read_session() as session:
            sender = session.scalar(select(WecomTask.sender).where(WecomTask.msgid == msgid))
        status = 2 if self._confirmed(msgid) else 0
        return {"errcode": 0, "task_list": [{"userid": sender, "status": status}] if sender else []}

    def get_groupmsg_send_result(self, msgid: str, userid: str, cursor: str | None = None) -> dict[str, Any]:
        status = 1 if self._confirmed(msgid) else 0
        with self.database.read_session() as session:
            externals = session.scalars(
                select(WecomTaskRecipient.external_userid)
                .join(WecomTask, WecomTask.id == WecomTaskRecipient.task_id)
                .where(WecomTask.msgid == msgid, WecomTask.sender == userid)
            ).all()
        return {
            "errcode": 0,
            "send_list": [{"external_userid": e, "userid": userid, "status": status} for e in externals],
        }

    def cancel_groupmsg_send(self, msgid: str) -> None:
        return None
