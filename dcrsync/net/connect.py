"""The sockets under every HTTP client dcrsync makes (`dcrsync.net.http._transport`): each socket
operation bounded by the request's overall deadline, and each connection made to an address vetted
where it is made.

Why vet at the connection: `GuardTransport` refuses a host name that resolves to a link-local or
cloud-metadata address, but it resolves once, before the request, and the connection resolved the
name again. A name served with a short TTL (DNS rebinding) could answer a public address to the check
and 169.254.169.254 to the connection. So the connection resolves the name itself, once, skips every
link-local or metadata address among the answers (unless the Trust allows them), and connects to
an address that passed; TLS still verifies the certificate against the host name.
"""

from __future__ import annotations

import threading
import time

import httpcore

from dcrsync.guards.trust import Trust, link_local
from dcrsync.net.gate import Resolver, UntrustedRequest, answers, literal

# --- the overall deadline: every socket operation of an attempt gets at most what is left ----------
_local = threading.local()


def set_deadline(deadline: float | None) -> None:
    """The monotonic time this thread's current request must be answered by (None: no deadline)."""
    _local.deadline = deadline


def bounded(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the request's overall deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:  # noqa: ANN001
        return _Stream(self.inner.start_tls(ssl_context, server_hostname, bounded(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str):  # noqa: ANN201
        return self.inner.get_extra_info(info)


class Backend(httpcore.NetworkBackend):
    """httpcore's own sockets, under the deadline, to vetted addresses (see the module docstring).
    `resolve`: `socket.getaddrinfo` unless given (tests give one whose answers change between calls)."""

    def __init__(self, trust: Trust | None = None, resolve: Resolver | None = None) -> None:
        self.inner: httpcore.NetworkBackend = httpcore.SyncBackend()
        self.trust = trust or Trust()
        self.resolve = resolve

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # noqa: ANN001, ANN201
        failure: Exception | None = None
        for address in self.addresses(host, port):
            try:
                stream = self.inner.connect_tcp(address, port, bounded(timeout, httpcore.ConnectTimeout),
                                                local_address, socket_options)
            except httpcore.ConnectError as exc:  # the next address, as a resolver's list is meant
                failure = exc
                continue
            return _Stream(stream)
        assert failure is not None
        raise failure

    def addresses(self, host: str, port: int) -> list[str]:
        """Where a connection to `host` may go, in the resolver's order: the name itself where there is
        nothing to vet (a literal address, judged as written; link-local allowed; a host the trusted
        variable names), else its resolved addresses that are not link-local or metadata ones."""
        if self.trust.allow_link_local or self.trust.names(host) or literal(host):
            return [host]
        allowed = allowed_answers(host, port, self.trust, self.resolve)
        if not allowed:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        return allowed

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # noqa: ANN001, ANN201
        return _Stream(self.inner.connect_unix_socket(path, bounded(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def allowed_answers(host: str, port: int, trust: Trust, resolve: Resolver | None = None) -> list[str]:
    """`answers` less every link-local or metadata address; UntrustedRequest when every answer is one."""
    addresses = answers(host, port, resolve)
    allowed = [a for a in addresses if not link_local(a)]
    if addresses and not allowed:
        raise UntrustedRequest(
            f"request not sent: {trust.link_local_refusal(f'{host} (it resolved to {addresses[0]} when connecting)')}"
        )
    return allowed

