"""A TCP port that only counts who connects: where an attacker's URL would point.

Not a server of any kind: it accepts a connection, records what arrived in its first 64 KiB (the
request line and headers, where a bearer token or a form body would be), and closes it. Tests of
issue 16 item 2 point a configuration at it and assert that nothing ever connected.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Listener:
    host: str = "127.0.0.1"
    received: list[bytes] = field(default_factory=list)

    def start(self) -> Listener:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((self.host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="listener", daemon=True)
        self.thread.start()
        return self

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connections(self) -> int:
        return len(self.received)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1.0)
                try:
                    self.received.append(conn.recv(65536))
                except OSError:
                    self.received.append(b"")

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()
