"""A Keycloak that answers an internal id which is not one URL path segment (`../../users/…`) must
not steer a call carrying the admin token to another endpoint (issue 16: the server is an attack
surface). In-memory answers (httpx.MockTransport): no real Keycloak hands out such an id."""

from __future__ import annotations

import httpx
import pytest

from dcrsync.backends.keycloak.auth import BearerAuth
from dcrsync.backends.keycloak.backend import KeycloakBackend
from dcrsync.errors import BadAnswer
from dcrsync.guards.answers import odd_segment
from dcrsync.net.http import RetryPolicy, make_client
from dcrsync.net.ratelimit import Limiter

BASE = "http://kc.test"


def backend(listing: list[dict], sent: list[httpx.Request]) -> KeycloakBackend:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 300})
        if request.method == "GET" and request.url.path.endswith("/clients"):
            return httpx.Response(200, json=listing if request.url.params.get("first") in (None, "0") else [])
        return httpx.Response(200, json=[]) if request.method == "GET" else httpx.Response(204)

    kc = KeycloakBackend({"kind": "keycloak", "url": BASE, "realm": "r", "admin": {"client_id": "dcrsync", "client_secret": "s"}})
    wire = lambda base: make_client(base, transport=httpx.MockTransport(answer),  # noqa: E731
                                    policy=RetryPolicy(attempts=1), limiter=Limiter(max_wait=0))
    kc.token_http = kc.tokens.http = wire(BASE)
    kc.http = wire(kc.url)
    kc.http.auth = BearerAuth(kc.tokens)
    return kc


@pytest.mark.parametrize("hostile", ["../../users/victim", "..", "x?first=0#", "a b", "x\\..\\users"])
def test_a_delete_by_a_hostile_id_is_refused_and_nothing_is_sent(hostile: str) -> None:
    sent: list[httpx.Request] = []
    kc = backend([{"id": hostile, "clientId": "web", "protocol": "openid-connect"}], sent)
    live = next(c for c in kc.fetch().clients if c.client_id == "web")
    before = len(sent)
    with pytest.raises(BadAnswer, match=r"is not one URL path segment .* nothing was sent"):
        kc.delete(live, None)
    assert sent[before:] == []  # not the DELETE, not anything else
    assert all("/users" not in r.url.path for r in sent)


def test_plain_ids_and_quoted_names_are_one_segment() -> None:
    assert odd_segment("/clients/0b8e6c1a-3f4e-4c4e-9a53-6d1d2f1f0e11/roles/a%2F..%2Fb") is None
    assert odd_segment("/clients/../users") == ".."
    assert odd_segment("/clients/x?y") == "x?y"
