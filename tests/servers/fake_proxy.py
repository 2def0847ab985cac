"""A FAKE proxy in front of a REAL server (Hydra, oidc-provider): it forwards every request to the
real server and only adds the fault under test, which the real servers cannot produce on demand.

- `limit`: answers some requests 429 itself, without forwarding them (the server never sees them,
  as with a gateway's rate limiter): a share of them at random (`share`), or all of them during a
  storm of `storm` seconds from the first one; with `Retry-After` or without. Serves issue 19 item 1
  (429 and 503 waited out, by time, together).
- `tamper`: forwards the request, then rewrites the real server's answer before dcrsync sees it
  (a secret left out, another client_id). The client really exists on the server afterwards, so the
  test can check what the next apply converges to. Serves issue 16 item 8 (answers checked before
  they are recorded).

Every request is logged (time, method, path, status answered) for the test to count. 127.0.0.1 only.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Limit:
    """Which requests the proxy answers 429 itself."""

    method: str = "POST"
    path_prefix: str = "/"
    share: float = 0.0  # answer this share of matching requests 429, at random
    storm: float = 0.0  # or: every matching request for this many seconds from the first one
    retry_after: str | None = "1"
    #: other headers of the 429 (e.g. `RateLimit-Reset`)
    headers: dict[str, str] = field(default_factory=dict)
    seed: int = 7


#: (method, path, the real server's status and JSON answer) -> the answer dcrsync gets
Tamper = Callable[[str, str, int, object], object]


@dataclass
class Logged:
    at: float
    method: str
    path: str
    status: int
    forwarded: bool


@dataclass
class ProxyLog:
    entries: list[Logged] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: the real server's answers the proxy rewrote, as the server sent them
    originals: list[object] = field(default_factory=list)

    def add(self, entry: Logged) -> None:
        with self.lock:
            self.entries.append(entry)

    def count(self, method: str | None = None, status: int | None = None, prefix: str = "/") -> int:
        with self.lock:
            return sum(1 for e in self.entries if (method is None or e.method == method)
                       and (status is None or e.status == status) and e.path.startswith(prefix))


class FakeProxy:
    """`with FakeProxy(upstream, limit=Limit(share=0.5)) as proxy: proxy.url` (see the module's doc)."""

    def __init__(self, upstream: str, *, limit: Limit | None = None, tamper: Tamper | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.limit, self.tamper = limit, tamper
        self.log = ProxyLog()
        self._rng = random.Random(limit.seed if limit else 0)
        self._storm_from: float | None = None
        self._lock = threading.Lock()
        self.http = httpx.Client(timeout=60.0, limits=httpx.Limits(max_connections=64))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.http.close()

    def limited(self, method: str, path: str) -> bool:
        limit = self.limit
        if limit is None or method != limit.method or not path.startswith(limit.path_prefix):
            return False
        with self._lock:
            if limit.storm:
                now = time.monotonic()
                self._storm_from = self._storm_from if self._storm_from is not None else now
                return now - self._storm_from < limit.storm
            return self._rng.random() < limit.share

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, headers: dict[str, str], body: bytes, forwarded: bool) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                proxy.log.add(Logged(time.monotonic(), self.command, self.path, status, forwarded))

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.limited(self.command, self.path):
                    limit = proxy.limit
                    assert limit is not None
                    after = {"Retry-After": limit.retry_after} if limit.retry_after else {}
                    headers = {"Content-Type": "application/json", **after, **limit.headers}
                    self._answer(429, headers, b'{"error": "rate_limited"}', False)
                    return
                sent = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                real = proxy.http.request(self.command, proxy.upstream + self.path, headers=sent, content=body)
                content = real.content
                if proxy.tamper is not None and content:
                    original = json.loads(content)
                    changed = proxy.tamper(self.command, self.path, real.status_code, original)
                    if changed is not original:
                        proxy.log.originals.append(original)
                        content = json.dumps(changed).encode()
                headers = {k: v for k, v in real.headers.items() if k.lower() not in HOP_BY_HOP}
                self._answer(real.status_code, headers, content, True)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any  # noqa: N815

        return Handler
