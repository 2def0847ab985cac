"""Keycloak admin tokens: a service account's client_credentials or a user's password grant on
`admin-cli`, one token shared by every thread and fetched again before it expires."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from typing import Any
from urllib.parse import quote

import httpx

from dcrsync.errors import BackendError
from dcrsync.guards.answers import decode, objects
from dcrsync.net.http import error_detail, unreachable

#: fetch a new admin token this many seconds before the old one expires
TOKEN_MARGIN = 15.0


def detail(response: httpx.Response) -> str:
    err, desc = error_detail(response)
    if err and desc and err != desc:
        return f"{err}: {desc}"
    return desc or err or response.reason_phrase


class AdminTokens:
    """One admin access token shared by every thread, fetched again before it expires."""

    def __init__(self, url: str, admin: dict[str, Any], http: httpx.Client) -> None:
        self.realm = str(admin.get("realm") or "master")
        self.endpoint = f"{url}/realms/{quote(self.realm)}/protocol/openid-connect/token"
        if admin.get("client_id") and admin.get("client_secret") is not None:
            self.form = {
                "grant_type": "client_credentials",
                "client_id": str(admin["client_id"]),
                "client_secret": str(admin["client_secret"]),
            }
            self.who = f"service account {admin['client_id']!r} of realm {self.realm!r}"
        elif admin.get("username"):
            self.form = {
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": str(admin["username"]),
                "password": str(admin.get("password") or ""),
            }
            self.who = f"user {admin['username']!r} of realm {self.realm!r}"
        else:
            raise BackendError(
                "server.admin needs either client_id and client_secret, or username and password"
            )
        self.http = http
        self.lock = threading.Lock()
        self.token: str | None = None
        self.expires = 0.0
        self.fetches = 0

    def get(self, stale: str | None = None) -> str:
        """The current token; a new one if it expires soon, or if `stale` (refused) is current."""
        with self.lock:
            if self.token and self.token != stale and time.monotonic() < self.expires:
                return self.token
            try:
                response = self.http.post(self.endpoint, data=self.form)
            except httpx.TransportError as exc:
                raise unreachable(exc, self.endpoint) from None
            self.fetches += 1
            if response.status_code != 200:
                hint = "check server.admin in dcrsync.yaml"
                if response.status_code == 404:
                    hint = f"realm {self.realm!r} does not exist: check server.admin.realm in dcrsync.yaml"
                raise BackendError(
                    f"keycloak refused the admin credentials ({self.who}): HTTP {response.status_code} "
                    f"{detail(response)}; {hint}",
                    status=response.status_code,
                )
            what = f"log in as {self.who}"
            body = objects([decode(response, what)], "access_token", response, what, noun="token answer")[0]
            self.token = body["access_token"]
            expires = body.get("expires_in")
            lifetime = float(expires) if isinstance(expires, (int, float)) and 0 < expires < 1e9 else 60.0
            self.expires = time.monotonic() + max(lifetime - TOKEN_MARGIN, lifetime / 2)
            return self.token


class BearerAuth(httpx.Auth):
    """Adds the admin token; on a 401 fetches a new one and sends the request once more."""

    def __init__(self, tokens: AdminTokens) -> None:
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.get()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.tokens.get(stale=token)}"
            yield request
