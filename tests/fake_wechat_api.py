"""A fake of the WeChat API on loopback: a real HTTP server in a thread.

Serves ``GET /cgi-bin/token``, ``POST /cgi-bin/stable_token``, ``POST /cgi-bin/message/custom/send``,
``POST /cgi-bin/message/template/send``, ``POST /cgi-bin/message/subscribe/bizsend`` and
``GET /cgi-bin/ticket/getticket?type=jsapi`` like the platform does: tokens are checked (a new
``/token`` invalidates the previous one), template sends return a ``msgid``, a subscription notice
to an openid that holds no consent the fake knows of (``api.consent(openid, template_id)``, one
per send) answers 43101. Failures are programmed per path and consumed in order::

    api.fail("message/custom/send", 45015)          # next custom send answers errcode 45015
    api.fail("message/custom/send", http=502)       # an HTTP 502
    api.fail("message/custom/send", drop=True)      # connection closed without an answer
    api.fail_every_other("message/custom/send")     # fails half the time (-1, system busy)
    api.expire_tokens()                             # every issued token now answers 40001

Every request is kept in ``requests`` (``Received``), accepted or not.
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

SEND_PATHS = ("message/custom/send", "message/template/send", "message/subscribe/bizsend")
TICKET_PATH = "ticket/getticket"


@dataclass
class Received:
    path: str  # without the /cgi-bin/ prefix
    params: dict[str, str]
    body: dict[str, Any]
    answer: dict[str, Any] | None
    status: int
    at: float = field(default_factory=time.monotonic)

    @property
    def accepted(self) -> bool:
        return self.status == 200 and self.answer is not None and self.answer.get("errcode", 0) == 0


@dataclass
class _Failure:
    errcode: int | None = None
    http: int | None = None
    drop: bool = False


class FakeWeChatAPI:
    def __init__(self, appid: str, secret: str):
        self.appid, self.secret = appid, secret
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._every_other: dict[str, int] = {}
        self._valid_tokens: set[str] = set()
        self._classic_token: str | None = None
        self._stable_token: str | None = None
        self._ids = itertools.count(1)
        self._msgids = itertools.count(1000)
        self._server: ThreadingHTTPServer | None = None
        self._consents: dict[tuple[str, str], int] = defaultdict(int)  # (openid, template) -> sends allowed
        self._tickets = itertools.count(1)
        self.ticket: str | None = None  # the jsapi ticket issued last

    # --- control -----------------------------------------------------------------------

    def start(self) -> FakeWeChatAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One buffered write per answer and no Nagle: otherwise delayed ACKs cost 40 ms a request.
            wbufsize = 64 * 1024
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output clean
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

    def fail(
        self,
        path: str,
        errcode: int | None = None,
        *,
        http: int | None = None,
        drop: bool = False,
        times: int = 1,
    ) -> None:
        for _ in range(times):
            self._failures[path].append(_Failure(errcode=errcode, http=http, drop=drop))

    def fail_every_other(self, path: str, errcode: int = -1) -> None:
        """Answer ``errcode`` to every other request on ``path`` (the first one fails)."""
        self._every_other[path] = errcode

    def consent(self, openid: str, template_id: str, times: int = 1) -> None:
        """The customer tapped allow ``times`` times (the platform's side of a consent)."""
        with self._lock:
            self._consents[(openid, template_id)] += times

    def consents_left(self, openid: str, template_id: str) -> int:
        return self._consents[(openid, template_id)]

    def expire_tokens(self) -> None:
        with self._lock:
            self._valid_tokens.clear()
            self._classic_token = self._stable_token = None

    # --- inspection --------------------------------------------------------------------

    def calls(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def accepted(self, path: str | None = None) -> list[Received]:
        return [
            r
            for r in self.requests
            if r.accepted and (path is None or r.path == path) and r.path in SEND_PATHS
        ]

    @property
    def token_calls(self) -> list[Received]:
        return [r for r in self.requests if r.path in ("token", "stable_token")]

    # --- serving -----------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        url = urlparse(handler.path)
        path = url.path.removeprefix("/cgi-bin/")
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self._lock:
            status, answer = self._answer(path, params, body)
            self.requests.append(Received(path, params, body, answer, status))
        if answer is None and status == 0:  # drop the connection without answering
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        payload = json.dumps(answer if answer is not None else {"error": status}).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _new_token(self) -> str:
        token = f"TOKEN-{next(self._ids)}"
        self._valid_tokens.add(token)
        return token

    def _answer(self, path: str, params: dict[str, str], body: dict[str, Any]) -> tuple[int, dict | None]:
        queued = self._failures.get(path)
        if queued:
            failure = queued.popleft()
            if failure.drop:
                return 0, None
            if failure.http:
                return failure.http, None
            return 200, {"errcode": failure.errcode, "errmsg": f"fake error {failure.errcode}"}
        if path in self._every_other:
            count = sum(1 for r in self.requests if r.path == path)
            if count % 2 == 0:
                return 200, {"errcode": self._every_other[path], "errmsg": "system error"}
        if path == "token":
            if params.get("appid") != self.appid or params.get("secret") != self.secret:
                return 200, {"errcode": 40013, "errmsg": "invalid appid"}
            # A new /token invalidates the previous one.
            if self._classic_token:
                self._valid_tokens.discard(self._classic_token)
            self._classic_token = self._new_token()
            return 200, {"access_token": self._classic_token, "expires_in": 7200}
        if path == "stable_token":
            if body.get("appid") != self.appid or body.get("secret") != self.secret:
                return 200, {"errcode": 40013, "errmsg": "invalid appid"}
            if body.get("force_refresh") or self._stable_token is None:
                self._stable_token = self._new_token()
            return 200, {"access_token": self._stable_token, "expires_in": 7200}
        if path == TICKET_PATH:
            if params.get("access_token") not in self._valid_tokens:
                return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
            if params.get("type") != "jsapi":
                return 200, {"errcode": 40097, "errmsg": "invalid args"}
            self.ticket = f"JSAPI-TICKET-{next(self._tickets)}"
            return 200, {"errcode": 0, "errmsg": "ok", "ticket": self.ticket, "expires_in": 7200}
        if path in SEND_PATHS:
            if params.get("access_token") not in self._valid_tokens:
                return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
            if not body.get("touser"):
                return 200, {"errcode": 40003, "errmsg": "invalid openid"}
            if path == "message/subscribe/bizsend":
                key = (body["touser"], body.get("template_id"))
                if self._consents[key] <= 0:
                    return 200, {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
                self._consents[key] -= 1
                return 200, {"errcode": 0, "errmsg": "ok"}
            if path == "message/template/send":
                return 200, {"errcode": 0, "errmsg": "ok", "msgid": next(self._msgids)}
            return 200, {"errcode": 0, "errmsg": "ok"}
        return 404, None
