"""The issuer, token endpoint and discovery URL a delivery hands to apps, read once per run from the
server's OpenID Connect discovery document (per environment: the server of the chosen `--env`).

`delivery.issuer` in dcrsync.yaml names the issuer apps use when it differs from what dcrsync can
see (the family's own discovery URL otherwise: Keycloak's realm, Hydra's `server.public_url`, an RFC
7591 server's metadata). The answer is a shape-checked JSON object of bounded size.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from dcrsync.backends.base import Backend
from dcrsync.backends.discovery import metadata_urls
from dcrsync.net.http import RetryPolicy, make_client

MAX_BYTES = 1 << 20


@dataclass
class Endpoints:
    issuer: str | None = None
    token_endpoint: str | None = None
    discovery_url: str | None = None
    #: why they are unknown, when they are
    problem: str | None = None

    def values(self) -> dict[str, str | None]:
        return {"issuer": self.issuer, "token_endpoint": self.token_endpoint, "discovery_url": self.discovery_url}


def read(backend: Backend, issuer: str | None) -> Endpoints:
    """The endpoints from the discovery document (`issuer`'s when given, else the family's)."""
    url = metadata_urls(issuer)[0] if issuer else backend.discovery_url()
    if not url:
        return Endpoints(token_endpoint=backend.token_endpoint(), problem=f"{backend.family} publishes no "
                         "discovery URL dcrsync knows (Hydra: set server.public_url)")
    try:
        with make_client(timeout=15, policy=RetryPolicy(attempts=3)) as http:
            response = http.get(url)
    except httpx.HTTPError as exc:
        return Endpoints(discovery_url=url, problem=f"cannot read {url} ({type(exc).__name__})")
    doc = None
    if response.status_code == 200 and len(response.content) <= MAX_BYTES:
        try:
            doc = response.json()
        except ValueError:
            doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("issuer"), str):
        return Endpoints(discovery_url=url, problem=f"{url} answered {response.status_code} without an issuer")
    token = doc.get("token_endpoint")
    issued = doc["issuer"]
    return Endpoints(issued, token if isinstance(token, str) else backend.token_endpoint(), metadata_urls(issued)[0])
