"""Does a client secret work? Asked of the server's token endpoint, never guessed.

`check_secret` sends one `client_credentials` token request (RFC 6749 §4.4) authenticated the way
the client is registered to authenticate (§2.3.1: HTTP Basic with form-encoded id and secret, or
the two in the body). A token means the secret is right; `invalid_client` means it is wrong. A
client without the `client_credentials` grant, or a method dcrsync cannot speak here, cannot be
checked this way: the verdict says so instead of guessing; nor can an unreachable endpoint or an
unexpected answer, which decide nothing. The secret never appears in a verdict.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx

from dcrsync.http import describe_error, error_detail, make_client
from dcrsync.trust import Trust

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
    if "client_credentials" not in grant_types:
        return Verdict(
            "unverified",
            "it lacks the client_credentials grant, the only grant that proves a secret without a user",
        )
    if auth_method not in METHODS:
        return Verdict("unverified", f"dcrsync cannot check a secret for token_endpoint_auth_method {auth_method}")
    if not endpoint:
        return Verdict("unverified", no_endpoint)
    form: dict[str, Any] = {"grant_type": "client_credentials"}
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
    if response.status_code == 200:
        return Verdict("verified")
    code = _error_code(response)
    answer = f"the token endpoint answered HTTP {response.status_code} {code}".rstrip()
    if response.status_code == 401 or code == "invalid_client":
        return Verdict("wrong", answer)
    return Verdict("failed", answer)
