"""Where a bundle's values come from (`sources`), and the key names of the presets. Pure.

A consumer names its own keys (`keys: {OAUTH_CLIENT_ID: client_id}`) or takes a preset. The
registration access token is never a source: it manages the client, and no app needs it.
"""

from __future__ import annotations

import re

#: what a bundle key may take its value from
SOURCES: tuple[str, ...] = ("client_id", "client_secret", "issuer", "token_endpoint", "discovery_url")
#: sources read from the server's metadata (one read per run, only when a delivery needs one)
ENDPOINT_SOURCES = frozenset({"issuer", "token_endpoint", "discovery_url"})


def _spring_id(client: str) -> str:
    """Spring's registration id as an environment variable spells it (relaxed binding: letters and
    digits, upper case)."""
    return re.sub(r"[^A-Za-z0-9]", "", client).upper() or "CLIENT"


def preset_keys(preset: str, client: str) -> dict[str, str]:
    """The keys of `preset` for the client named `client`: bundle key -> source."""
    if preset == "dotenv":
        return {
            "OAUTH_CLIENT_ID": "client_id", "OAUTH_CLIENT_SECRET": "client_secret",
            "OAUTH_ISSUER": "issuer", "OAUTH_TOKEN_ENDPOINT": "token_endpoint",
        }
    if preset == "spring":  # spring.security.oauth2.client.registration.<id>.client-id, … as env vars
        reg = _spring_id(client)
        return {
            f"SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_{reg}_CLIENTID": "client_id",
            f"SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_{reg}_CLIENTSECRET": "client_secret",
            f"SPRING_SECURITY_OAUTH2_CLIENT_PROVIDER_{reg}_ISSUERURI": "issuer",
        }
    if preset == "oauth2-proxy":
        return {
            "OAUTH2_PROXY_CLIENT_ID": "client_id", "OAUTH2_PROXY_CLIENT_SECRET": "client_secret",
            "OAUTH2_PROXY_OIDC_ISSUER_URL": "issuer",
        }
    if preset == "envoy-gateway":  # a SecurityPolicy's oidc.clientSecret reads the key `client-secret`
        return {"client-secret": "client_secret"}
    raise ValueError(preset)


PRESETS: tuple[str, ...] = ("dotenv", "spring", "oauth2-proxy", "envoy-gateway")
#: the keys `state secret --format json|env|dotenv` prints: every source under its own name
STANDARD: dict[str, str] = {s: s for s in SOURCES}
