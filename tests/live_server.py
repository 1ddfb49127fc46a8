"""Real servers for fault tests: Huitou under gunicorn in a subprocess, and a TCP gate to a database.

``GunicornServer`` starts ``gunicorn -w N 'app:create_app()'`` on a free loopback port with the
test's database and WeChat credentials; ``HttpClient`` lets ``WeChatPlatform`` post to it over
HTTP exactly as it posts to Flask's test client. ``TcpGate`` forwards a local port to a database
server and can be shut (connections refused, open ones cut) and reopened on the same port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tests.clock import wall_clock_seconds
from tests.wechat_platform import AES_KEY, APP_ID, TOKEN, sign

ROOT = Path(__file__).resolve().parent.parent

# The worker options of the README's production command (threads, so slow clients do not hold
# every worker; see "Running on PostgreSQL with several workers").
PRODUCTION_OPTIONS = ("--worker-class", "gthread", "--threads", "8")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process_group(process: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session=True`` and its children (SIGTERM, then
    SIGKILL after 30 s), e.g. a gunicorn master with its workers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class HttpResponse:
    def __init__(self, response: requests.Response):
        self.status_code = response.status_code
        self._text = response.text

    def get_data(self, as_text: bool = False):
        return self._text if as_text else self._text.encode()


class HttpClient:
    """The subset of Flask's test client that ``WeChatPlatform`` uses, over real HTTP."""

    clock = staticmethod(wall_clock_seconds)  # the server runs on the real clock

    def __init__(self, base_url: str):
        self.base_url = base_url

    def post(self, path: str, query_string: dict, data: str | bytes, content_type: str) -> HttpResponse:
        response = requests.post(
            self.base_url + path,
            params=query_string,
            data=data,
            headers={"Content-Type": content_type},
            timeout=30,
        )
        return HttpResponse(response)


class GunicornServer:
    """``gunicorn -w workers 'app:create_app()'`` on a free port, stopped (whole group) on exit."""

    def __init__(
        self, database_url: str, workers: int = 3, env: dict | None = None, options: tuple[str, ...] = ()
    ):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            HUITOU_DATABASE_URL=database_url,
            HUITOU_AUTO_MIGRATE="false",
            HUITOU_SECRET_KEY="test-secret",
            WECHAT_TOKEN=TOKEN,
            WECHAT_ENCODING_AES_KEY=AES_KEY,
            WECHAT_APP_ID=APP_ID,
            PYTHONPATH=str(ROOT),
            **(env or {}),
        )
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{self.port}",
            "--chdir",
            str(ROOT),
            "--log-level",
            "warning",
            *options,
            "app:create_app()",
        ]
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> GunicornServer:
        self.process = subprocess.Popen(self.command, env=self.env, start_new_session=True)
        self.wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 60) -> None:
        timestamp, nonce = str(int(wall_clock_seconds())), "ready"
        params = {
            "timestamp": timestamp,
            "nonce": nonce,
            "signature": sign(TOKEN, timestamp, nonce),
            "echostr": "up",
        }
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                if requests.get(self.base_url + "/wechat", params=params, timeout=5).text == "up":
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.1)  # polling a starting subprocess, not simulating time
        self.stop()
        raise RuntimeError("gunicorn did not answer within the timeout")

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)

    def client(self) -> HttpClient:
        return HttpClient(self.base_url)


class TcpGate:
    """A TCP forwarder from a local port to ``upstream``; ``shut()`` makes the port refuse and cuts
    every open connection, ``open()`` listens again on the same port (a database going away and back).
    """

    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def shut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _addr = listener.accept()
            except OSError:
                return  # shut
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
