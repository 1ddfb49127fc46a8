"""A fake of the WeCom (企业微信) API on loopback: a real HTTP server in a thread.

Serves what Huitou calls, shaped like developer.work.weixin.qq.com documents it:
``GET gettoken``, ``POST message/send``, ``POST externalcontact/add_contact_way``,
``GET externalcontact/get``, ``POST externalcontact/send_welcome_msg``,
``POST externalcontact/add_msg_template``, ``get_groupmsg_task``, ``get_groupmsg_send_result``,
``cancel_groupmsg_send``. Tokens are checked; a new ``gettoken`` keeps older tokens valid (as
WeCom does). The test plays the people::

    api.befriend("wm_ext_1", "ShopOwner", name="李四", remark_mobiles=["13800138000"])
    code = api.welcome_code("wm_ext_1")             # what the add_external_contact event carries
    api.tap(msgid)                                  # the member confirms a mass-send task
    api.unfriend("wm_ext_1", "ShopOwner")           # customer deleted the member
    api.fail("message/send", 60020)                 # next call on that path answers errcode 60020
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Received:
    path: str
    params: dict[str, str]
    body: dict[str, Any]
    answer: dict[str, Any] | None
    status: int
    at: float = field(default_factory=time.monotonic)

    @property
    def accepted(self) -> bool:
        return self.status == 200 and self.answer is not None and self.answer.get("errcode", 0) == 0


@dataclass
class Task:
    msgid: str
    sender: str
    text: str
    external_userids: list[str]
    sent: bool = False
    cancelled: bool = False
    results: dict[str, int] = field(default_factory=dict)  # external_userid -> status 0/1/2/3


class FakeWeComAPI:
    def __init__(self, corp_id: str, secret: str, members: list[str] | None = None):
        self.corp_id, self.secret = corp_id, secret
        self.members = set(members or [])
        self.requests: list[Received] = []
        self.tasks: dict[str, Task] = {}
        self.contacts: dict[
            str, dict[str, Any]
        ] = {}  # external_userid -> {name, unionid, follow: {userid: {...}}}
        self.friends: set[tuple[str, str]] = set()  # (external_userid, userid)
        self.received_this_period: set[str] = set()  # customers who already got a mass message
        self.welcome_codes: dict[str, str] = {}  # code -> external_userid (unused)
        self._lock = threading.Lock()
        self._failures: dict[str, deque[tuple[int | None, int | None]]] = defaultdict(deque)
        self._tokens: set[str] = set()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # --- control -----------------------------------------------------------------------

    def start(self) -> FakeWeComAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                api._handle(self, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw.decode("utf-8")) if raw else {}
                except ValueError:
                    body = {"_unreadable": raw.decode("utf-8", "replace")}
                api._handle(self, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/cgi-bin/"

    def fail(self, path: str, errcode: int | None = None, *, http: int | None = None, times: int = 1) -> None:
        for _ in range(times):
            self._failures[path].append((errcode, http))

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def befriend(
        self,
        external_userid: str,
        userid: str,
        *,
        name: str = "微信用户",
        unionid: str | None = None,
        remark_mobiles: list[str] | None = None,
        state: str | None = None,
    ) -> None:
        with self._lock:
            contact = self.contacts.setdefault(
                external_userid, {"name": name, "unionid": unionid, "follow": {}}
            )
            contact["follow"][userid] = {
                "userid": userid,
                "remark": "",
                "state": state or "",
                "remark_mobiles": list(remark_mobiles or []),
                "createtime": int(time.time()),
            }
            self.friends.add((external_userid, userid))

    def unfriend(self, external_userid: str, userid: str) -> None:
        with self._lock:
            self.friends.discard((external_userid, userid))

    def welcome_code(self, external_userid: str) -> str:
        code = f"WELCOME-{next(self._ids)}"
        self.welcome_codes[code] = external_userid
        return code

    def tap(self, msgid: str) -> None:
        """The member opens 群发助手 and taps 发送: each customer's result as WeCom decides it."""
        with self._lock:
            task = self.tasks[msgid]
            task.sent = True
            for ext in task.external_userids:
                if (ext, task.sender) not in self.friends:
                    task.results[ext] = 2
                elif ext in self.received_this_period:
                    task.results[ext] = 3
                else:
                    task.results[ext] = 1
                    self.received_this_period.add(ext)

    # --- inspection --------------------------------------------------------------------

    def calls(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def app_messages(self, userid: str | None = None) -> list[str]:
        """Texts the app sent to members (accepted ``message/send``), oldest first."""
        return [
            r.body["text"]["content"]
            for r in self.calls("message/send")
            if r.accepted and (userid is None or userid in r.body.get("touser", "").split("|"))
        ]

    # --- serving -----------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        url = urlparse(handler.path)
        path = url.path.removeprefix("/cgi-bin/")
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self._lock:
            status, answer = self._answer(path, params, body)
            self.requests.append(Received(path, params, body, answer, status))
        payload = json.dumps(answer if answer is not None else {"error": status}, ensure_ascii=False).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    @staticmethod
    def _ok(**fields: Any) -> tuple[int, dict[str, Any]]:
        return 200, {"errcode": 0, "errmsg": "ok", **fields}

    def _answer(self, path: str, params: dict[str, str], body: dict[str, Any]) -> tuple[int, dict | None]:
        queued = self._failures.get(path)
        if queued:
            errcode, http = queued.popleft()
            if http:
                return http, None
            return 200, {"errcode": errcode, "errmsg": f"fake error {errcode}"}
        if path == "gettoken":
            if params.get("corpid") != self.corp_id or params.get("corpsecret") != self.secret:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            token = f"WECOM-TOKEN-{next(self._ids)}"
            self._tokens.add(token)
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}
        if params.get("access_token") not in self._tokens:
            return 200, {"errcode": 42001, "errmsg": "access_token expired"}
        if path == "message/send":
            users = [u for u in str(body.get("touser", "")).split("|") if u]
            invalid = [u for u in users if u not in self.members]
            return self._ok(invaliduser="|".join(invalid), msgid=f"appmsg-{next(self._ids)}")
        if path == "externalcontact/add_contact_way":
            state = body.get("state") or ""
            if len(state) > 30:
                return 200, {"errcode": 40058, "errmsg": "state exceeds 30 characters"}
            if not body.get("user") or any(u not in self.members for u in body["user"]):
                return 200, {"errcode": 40098, "errmsg": "member not configured for customer contact"}
            n = next(self._ids)
            return self._ok(config_id=f"config-{n}", qr_code=f"https://wework.qq.com/q/fake-{n}")
        if path == "externalcontact/get":
            contact = self.contacts.get(params.get("external_userid", ""))
            if contact is None:
                return 200, {"errcode": 84061, "errmsg": "not external contact"}
            ext = params["external_userid"]
            return self._ok(
                external_contact={
                    "external_userid": ext,
                    "name": contact["name"],
                    "type": 1,
                    **({"unionid": contact["unionid"]} if contact["unionid"] else {}),
                },
                follow_user=list(contact["follow"].values()),
            )
        if path == "externalcontact/send_welcome_msg":
            if self.welcome_codes.pop(body.get("welcome_code", ""), None) is None:
                return 200, {"errcode": 41051, "errmsg": "invalid welcome_code"}
            return self._ok()
        if path == "externalcontact/add_msg_template":
            sender, externals = body.get("sender"), list(body.get("external_userid") or [])
            fail = [e for e in externals if (e, sender) not in self.friends]
            msgid = f"msg{next(self._ids)}"
            self.tasks[msgid] = Task(
                msgid,
                sender,
                body.get("text", {}).get("content", ""),
                [e for e in externals if e not in fail],
            )
            return self._ok(fail_list=fail, msgid=msgid)
        if path == "externalcontact/get_groupmsg_task":
            task = self.tasks.get(body.get("msgid", ""))
            if task is None:
                return 200, {"errcode": 41063, "errmsg": "msgid not found"}
            entry = {"userid": task.sender, "status": 2 if task.sent else 0}
            if task.sent:
                entry["send_time"] = int(time.time())
            return self._ok(next_cursor="", task_list=[entry])
        if path == "externalcontact/get_groupmsg_send_result":
            task = self.tasks.get(body.get("msgid", ""))
            if task is None:
                return 200, {"errcode": 41063, "errmsg": "msgid not found"}
            send_list = [
                {"external_userid": e, "userid": task.sender, "status": task.results.get(e, 0)}
                for e in task.external_userids
            ]
            return self._ok(next_cursor="", send_list=send_list)
        if path == "externalcontact/cancel_groupmsg_send":
            task = self.tasks.get(body.get("msgid", ""))
            if task is None:
                return 200, {"errcode": 41063, "errmsg": "msgid not found"}
            task.cancelled = True
            return self._ok()
        return 404, None
