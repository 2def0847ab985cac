"""The one gate every request to a server passes: `dcrsync.guards.trust` applied at the HTTP transport.

`dcrsync.net.http.make_client` puts this transport under every client it makes, so a URL the server's
own answers name (a discovery document's registration endpoint, a `registration_client_uri`, a
redirect) is held to the same rule as the URLs in dcrsync.yaml: nothing is sent where
`DCRSYNC_TRUSTED_SERVER` does not agree, nor to a link-local or cloud-metadata address. Host names
are resolved here (once per host) so that a name pointing at 169.254.169.254 is caught as well.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from dcrsync.errors import BackendError, ConfigError
from dcrsync.guards.trust import Trust, UntrustedURL, from_env, link_local, shown


class UntrustedRequest(BackendError):
    """A request dcrsync refused to send; nothing left the machine."""


def server_trust(environ: Mapping[str, str] | None = None, *, allow_link_local: bool = False) -> Trust:
    """The server's Trust from the environment; a malformed variable is one line (ConfigError)."""
    try:
        return from_env(os.environ if environ is None else environ, allow_link_local=allow_link_local)[0]
    except UntrustedURL as exc:
        raise ConfigError(str(exc)) from None


def store_trust(environ: Mapping[str, str] | None = None, *, allow_link_local: bool = False) -> Trust:
    """The state store's Trust from the environment (see `server_trust`)."""
    try:
        return from_env(os.environ if environ is None else environ, allow_link_local=allow_link_local)[1]
    except UntrustedURL as exc:
        raise ConfigError(str(exc)) from None


Resolver = Callable[..., list[Any]]


def answers(host: str, port: int, resolve: Resolver | None = None) -> list[str]:
    """The addresses `host` resolves to, in order, each once; [] when it does not resolve (the
    connection says so). `resolve`: `socket.getaddrinfo`, looked up when called, unless given. The
    gate's check and the connection's vetting (`dcrsync.net.connect`) both resolve through it."""
    try:
        found = (resolve or socket.getaddrinfo)(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def resolves_link_local(host: str, port: int, resolve: Resolver | None = None) -> str | None:
    """The first link-local or metadata address among a host name's `answers`, or None (also for a
    literal address, judged as written). The gate's check, and the PostgreSQL store's before its
    driver connects on its own."""
    return None if literal(host) else next((a for a in answers(host, port, resolve) if link_local(a)), None)


def literal(host: str) -> bool:
    """`host` is an IP address as written (IPv4 dotted or IPv6), not a name to resolve."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.split("%", 1)[0])
    except OSError:
        return False
    return True


class GuardTransport(httpx.BaseTransport):
    """Refuses, before any byte is sent, a request its Trust does not allow."""

    def __init__(self, inner: httpx.BaseTransport, trust: Trust, resolve: Resolver | None = None) -> None:
        self.inner = inner
        self.trust = trust
        self.resolve = resolve
        self._resolved: dict[str, bool] = {}  # host -> resolves to a link-local address
        self._judged: dict[str, str | None] = {}  # url -> why it is refused (None: allowed), this client's

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        problem = self._judged.get(url, "") if len(url) < 2048 else ""
        if problem == "":  # not judged yet (an apply sends most of its requests to one URL)
            problem = self.trust.refusal(url)
            if problem is None and self._resolves_link_local(request.url.host):
                problem = self.trust.link_local_refusal(f"{shown(url)} (its host resolves to one)")
            if len(self._judged) >= 4096:
                self._judged.clear()
            self._judged[url] = problem
        if problem is not None:
            raise UntrustedRequest(f"request not sent: {problem}")
        return self.inner.handle_request(request)

    def _resolves_link_local(self, host: str) -> bool:
        if self.trust.allow_link_local or self.trust.names(host) or link_local(host):
            return False  # allowed, or already judged on the literal
        if host not in self._resolved:  # unresolvable: the connection itself will fail and say so
            self._resolved[host] = resolves_link_local(host, 0, self.resolve) is not None
        return self._resolved[host]

    def close(self) -> None:
        self.inner.close()
