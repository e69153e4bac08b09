"""A real webhook receiver for the tests: a threaded HTTP server on 127.0.0.1 that verifies
every request's signature with the ``standardwebhooks`` package (what a receiver would
use), processes each event id once (deduplicating by ``webhook-id``, as docs/webhooks.md
tells receivers to), and counts what arrived. Each endpoint's URL says whose it is
(``who=`` in the query, the key of its secret in ``secrets``); an event goes to each of
its endpoints with the same id, so what is processed once is ``who:id``. Its ``mode`` says
how it answers: "ok" (204), "error" (500), "slow" (one request answered after ``delay``
seconds, past the service's timeout; then ``then``); ``stop()``/``start()`` take it down
and up on the same port."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.services import free_port


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.secrets: dict[str, str] = {}
        self.mode = "ok"
        self.then = "ok"
        self.delay = 2.0
        self.lock = threading.Lock()
        self.arrivals: Counter[str] = Counter()  # requests per who:id, failed ones too
        self.accepted: Counter[str] = Counter()  # 2xx answers per who:id
        self.processed: dict[str, dict[str, Any]] = {}  # each who:id once: its payload
        self.hosts: list[str] = []  # the Host headers received
        self.processed_twice: list[str] = []
        self.bad_signatures = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/essmon?from=tests"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                who = parse_qs(urlsplit(self.path).query).get("who", [""])[0]
                receiver.handle(self, who, body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def verify(self, who: str, headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
        from standardwebhooks import Webhook
        from standardwebhooks.webhooks import WebhookVerificationError

        if who not in self.secrets:
            return None
        try:
            return Webhook(self.secrets[who]).verify(body, headers)
        except WebhookVerificationError:
            return None

    def handle(self, request: BaseHTTPRequestHandler, who: str, body: bytes) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        payload = self.verify(who, headers, body)
        key = f"{who}:{headers.get('webhook-id', '')}"
        with self.lock:
            self.arrivals[key] += 1
            self.hosts.append(headers.get("host", ""))
            if payload is None:
                self.bad_signatures += 1
            mode = self.mode
            if mode == "slow":
                self.mode = self.then
        if payload is None:
            self._answer(request, 401)
            return
        if mode == "error":
            self._answer(request, 500, b"temporarily broken")
            return
        if mode == "slow":
            time.sleep(self.delay)
        with self.lock:
            self.accepted[key] += 1
            if key in self.processed:  # a retry of what was processed: acknowledged only
                self.processed_twice.append(key)
            else:
                self.processed[key] = json.loads(body)
        self._answer(request, 204)

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, body: bytes = b"") -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up waiting (the slow mode)
