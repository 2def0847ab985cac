"""A FAKE, not a real server: it answers what no real authorization server produces on demand, for
issue 16 items 6 (no traceback, whatever the server answers) and 7 (bounded work).

Every real server dcrsync supports runs in the tests (Hydra, Keycloak, oidc-provider); this one stands
in only for a broken or hostile one: a captive portal's HTML page with a 200, a page that is not a
list, JSON nested a million deep, a create answered with a list, pagination that never ends, a
200 MB body, an answer trickled one byte a second. It speaks just enough of Hydra's admin API
(`/admin/clients`) for dcrsync to reach the answer under test. 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: how each misbehaviour answers GET /admin/clients (the listing every plan starts with)
MODES = ("empty", "html", "not-a-list", "nesting-bomb", "endless", "endless-uncounted", "huge", "trickle",
         "create-answers-list")


@dataclass
class Seen:
    """What the fake served, for the test to bound dcrsync's work by."""

    requests: int = 0
    pages: int = 0
    bytes_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, sent: int = 0, page: bool = False) -> None:
        with self.lock:
            self.requests += 1
            self.bytes_sent += sent
            self.pages += int(page)


def _client(name: str) -> dict:
    return {"client_id": str(uuid.uuid4()), "client_name": name, "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic", "metadata": {}, "owner": ""}


def _handler(mode: str, seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        counter = seen

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key.replace("_", "-"), value)
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass
            seen.count(len(body), page=self.path.startswith("/admin/clients?"))

        def do_GET(self) -> None:  # noqa: N802
            LISTING.get(mode, lambda h: h._send(200, b"[]", X_Total_Count="0"))(self)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            sent = json.loads(self.rfile.read(length) or b"{}")
            if mode == "create-answers-list":
                self._send(201, json.dumps([sent]).encode())
            else:
                self._send(201, json.dumps({**sent, "client_secret": "s3cret-from-fake"}).encode())

    return Handler


def _html(h: BaseHTTPRequestHandler) -> None:
    page = b"<!DOCTYPE html><html><head><title>Sign in to the guest Wi-Fi</title></head><body>Accept</body></html>"
    h._send(200, page, "text/html; charset=utf-8")  # type: ignore[attr-defined]


def _not_a_list(h: BaseHTTPRequestHandler) -> None:
    h._send(200, b'{"clients": [], "next": null}')  # type: ignore[attr-defined]


def _nesting_bomb(h: BaseHTTPRequestHandler) -> None:
    depth = 1_000_000
    h._send(200, b"[" * depth + b"]" * depth)  # type: ignore[attr-defined]


def _endless(counted: bool) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(h: BaseHTTPRequestHandler) -> None:
        page = [_client(f"endless-{i}") for i in range(PAGE)]
        token = uuid.uuid4().hex
        headers = {"Link": f'</admin/clients?page_size={PAGE}&page_token={token}>; rel="next"'}
        if counted:
            headers["X_Total_Count"] = "3"
        h._send(200, json.dumps(page).encode(), **headers)  # type: ignore[attr-defined]
    return answer


def _huge(h: BaseHTTPRequestHandler) -> None:
    """200 MB of one JSON list, streamed (the fake never holds it whole)."""
    chunk = (json.dumps(_client("x" * 200)) + ",").encode() * 256
    total = 200 * 1024 * 1024
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(total))
    h.end_headers()
    sent = 0
    try:
        h.wfile.write(b"[")
        while sent < total - 1:
            part = chunk[: total - 1 - sent]
            h.wfile.write(part)
            sent += len(part)
    except OSError:
        pass  # dcrsync hung up: what the test wants
    h.counter.count(sent + 1)  # type: ignore[attr-defined]


def _trickle(h: BaseHTTPRequestHandler) -> None:
    """A valid answer, one byte a second."""
    body = b"[]"
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body) + 600))
    h.end_headers()
    try:
        for byte in b" " * 600 + body:
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
            time.sleep(1.0)
    except OSError:
        pass


PAGE = 500
LISTING: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {
    "html": _html, "not-a-list": _not_a_list, "nesting-bomb": _nesting_bomb, "endless": _endless(True),
    "endless-uncounted": _endless(False), "huge": _huge, "trickle": _trickle,
}


class HostileServer:
    """`with HostileServer("html") as fake: fake.url` — one misbehaviour, on a free 127.0.0.1 port."""

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        self.seen = Seen()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(mode, self.seen))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
