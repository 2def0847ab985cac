"""Does a client secret work? Asked of the server's token endpoint, never guessed.

`check_secret` sends one token request authenticated the way the client is registered to
authenticate (RFC 6749 §2.3.1: HTTP Basic with form-encoded id and secret, or the two in the body).
With the `client_credentials` grant (§4.4) a token means the secret is right. Without it, the request
redeems a made-up authorization code (§4.1.3; or refresh token, §6): a server authenticates the client
before it looks at the grant (§5.2), so `invalid_grant` means the secret was accepted and only the
made-up code refused. Either way `invalid_client` (or 401) means the secret is wrong. A method dcrsync
cannot speak here cannot be checked: the verdict says so instead of guessing; nor can an unreachable
endpoint or an unexpected answer, which decide nothing. The secret never appears in a verdict.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx

from dcrsync.guards.trust import Trust
from dcrsync.net.http import describe_error, error_detail, make_client

#: verified / wrong: the server said so; unverified: this client cannot be checked this way;
#: failed: the check could not be made (unreachable, unexpected answer): decide nothing
Outcome = Literal["verified", "wrong", "unverified", "failed"]
#: auth methods a secret can be checked with here, and how the credentials travel
METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    #: one line for the user: why unverified, or what the server answered
    reason: str = ""


def _basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: each part form-urlencoded, then Basic."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _error_code(response: httpx.Response) -> str:
    return error_detail(response)[0] or ""


def check_secret(
    endpoint: str | None,
    client_id: str,
    secret: str,
    *,
    grant_types: list[str],
    auth_method: str,
    prefer_post: bool = False,
    no_endpoint: str = "the server's token endpoint is unknown",
    http: httpx.Client | None = None,
    trust: Trust | None = None,
) -> Verdict:
    """One token request at `endpoint`; `prefer_post` for servers that take either method (Keycloak)."""
    form = _probe(grant_types or ["authorization_code"])  # RFC 7591: no grant_types is authorization_code
    if form is None:
        return Verdict("unverified", f"none of its grants ({', '.join(grant_types)}) can prove a secret without a user")
    if auth_method not in METHODS:
        return Verdict("unverified", f"dcrsync cannot check a secret for token_endpoint_auth_method {auth_method}")
    if not endpoint:
        return Verdict("unverified", no_endpoint)
    headers: dict[str, str] = {}
    if auth_method == "client_secret_post" or prefer_post:
        form.update(client_id=client_id, client_secret=secret)
    else:
        headers["Authorization"] = _basic(client_id, secret)
    own = http is None
    client = http or make_client(timeout=30.0, max_connections=1, trust=trust)
    try:
        response = client.post(endpoint, data=form, headers=headers)
    except httpx.TransportError as exc:
        return Verdict("failed", describe_error(exc, endpoint))
    finally:
        if own:
            client.close()
    code = _error_code(response)
    answer = f"the token endpoint answered HTTP {response.status_code} {code}".rstrip()
    if response.status_code == 401 or code == "invalid_client":
        return Verdict("wrong", answer)
    if form["grant_type"] == "client_credentials" and response.status_code == 200:
        return Verdict("verified")
    if form["grant_type"] != "client_credentials" and response.status_code == 400 and code == "invalid_grant":
        return Verdict("verified", f"it authenticated the client, then refused a made-up {form['grant_type']} grant")
    return Verdict("failed", answer)


def _probe(grant_types: list[str]) -> dict[str, Any] | None:
    """The token request that tests the secret for a client with these grants: a token for
    client_credentials; else a made-up code or refresh token, which only an authenticated client gets
    `invalid_grant` for."""
    made_up = "dcrsync-secret-check-" + secrets.token_urlsafe(12)
    if "client_credentials" in grant_types:
        return {"grant_type": "client_credentials"}
    if "authorization_code" in grant_types:
        return {"grant_type": "authorization_code", "code": made_up}
    if "refresh_token" in grant_types:
        return {"grant_type": "refresh_token", "refresh_token": made_up}
    return None
