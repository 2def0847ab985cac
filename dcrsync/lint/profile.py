"""Lint profiles: `baseline` (the rules as they always were) and `rfc9700`, the OAuth 2.0 Security
Best Current Practice (RFC 9700), chosen with `lint: {profile: …}` in dcrsync.yaml.

Under `rfc9700` the BCP's MUSTs are errors: the implicit and password grants (DCR007, DCR010), an
authorization-code client without PKCE, public (DCR008) or confidential (DCR014), a plain-http
redirect to `localhost` rather than a loopback IP literal (DCR015, RFC 8252 §8.3), and a public
client's refresh tokens that are neither sender-constrained nor rotated (DCR016). Wildcards and
other non-exact redirect URIs (DCR011) and plain http to anything but loopback (DCR003) are errors
in both profiles.

A rule the server meets by its own configuration is met by saying so: PKCE by `require_pkce: true`
(sent to Keycloak, a server-wide setting on Hydra and RFC 7592 servers, as the plan notes) or, for
every client at once, by Hydra's `server: {pkce_enforced: all|public}`, refresh
token rotation by the family (Hydra rotates every refresh token) or by
`lint: {refresh_token_rotation: "how the server rotates them"}`. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from dcrsync.lint.common import Finding, auth_method, grant_at, grant_types, listed
from dcrsync.lint.grants import PKCE_ATTR, PKCE_FIELD
from dcrsync.load.config import Config
from dcrsync.model import ClientSpec, Severity

BASELINE = "baseline"
RFC9700 = "rfc9700"
PROFILES = (BASELINE, RFC9700)
#: rules whose severity the rfc9700 profile raises (the BCP says MUST NOT / MUST)
RAISED: dict[str, Severity] = {"DCR007": "error", "DCR008": "error", "DCR010": "error"}
#: families known to rotate every refresh token on use, whatever their configuration
ROTATES_REFRESH_TOKENS = {"hydra": "Hydra rotates refresh tokens on every use"}
#: metadata that binds a client's tokens to a key it holds (sender-constrained, RFC 9700 §2.2.2)
SENDER_CONSTRAINED = ("dpop_bound_access_tokens", "tls_client_certificate_bound_access_tokens")


@dataclass(frozen=True)
class Profile:
    """The profile a project lints with, and what it says the server does by its own configuration."""

    name: str = BASELINE
    #: `lint.refresh_token_rotation`: how the server rotates refresh tokens (its reason), if it does
    refresh_token_rotation: str | None = None
    #: `server.pkce_enforced` (Hydra): its own configuration requires PKCE of `all` clients or `public` ones
    pkce_enforced: str | None = None

    def severity(self, rule: str, default: Severity) -> Severity:
        return RAISED.get(rule, default) if self.name == RFC9700 else default

    def met_by_server(self, rule: str) -> bool:
        """The server's own configuration, as dcrsync.yaml states it, meets `rule` for every client:
        PKCE of public clients (DCR008) under `pkce_enforced: public` or `all`, of every client
        (DCR014) under `all`."""
        return (rule == "DCR008" and self.pkce_enforced in ("public", "all")) or (
            rule == "DCR014" and self.pkce_enforced == "all")


def has_pkce(client: ClientSpec) -> bool:
    """The file asks for PKCE with S256: `require_pkce: true`, or Keycloak's own attribute."""
    if client.fields.get(PKCE_FIELD) is True:
        return True
    attrs = client.block("keycloak").get("attributes")
    return client.fields.get(PKCE_FIELD) is None and isinstance(attrs, dict) and attrs.get(PKCE_ATTR) == "S256"


def dcr014_confidential_pkce(client: ClientSpec) -> Iterator[Finding]:
    if auth_method(client) == "none" or "authorization_code" not in grant_types(client) or has_pkce(client):
        return
    where = client.where(PKCE_FIELD) if PKCE_FIELD in client.fields else grant_at(client, "authorization_code")
    message = (
        f"authorization-code client without PKCE (RFC 9700 §2.1.1): write `{PKCE_FIELD}: true` and have the "
        "app send a S256 code_challenge (a client secret does not stop an injected code)"
    )
    yield "DCR014", where, message


def dcr015_localhost(client: ClientSpec) -> Iterator[Finding]:
    for key, label in (("redirect_uris", "redirect URI"), ("post_logout_redirect_uris", "post-logout redirect URI")):
        for i, uri in enumerate(listed(client, key)):
            try:
                parts = urlsplit(uri) if isinstance(uri, str) else None
                host = parts.hostname if parts else None
            except ValueError:
                continue  # DCR002 says so
            if parts is None or parts.scheme.lower() != "http" or host != "localhost":
                continue
            fixed = uri.replace("localhost", "127.0.0.1", 1)
            message = (
                f"{label} `{uri}` uses `localhost`: use the loopback IP literal `{fixed}` (RFC 8252 §8.3: a name "
                "can resolve elsewhere, and the app may listen on another interface than the browser reaches)"
            )
            yield "DCR015", client.where_item(key, i), message


def dcr016_refresh_tokens(profile: Profile, family: str | None) -> Callable[[ClientSpec], Iterator[Finding]]:
    def check(client: ClientSpec) -> Iterator[Finding]:
        if auth_method(client) != "none" or "refresh_token" not in grant_types(client):
            return
        if any(client.fields.get(f) is True for f in SENDER_CONSTRAINED):
            return
        if profile.refresh_token_rotation or (family in ROTATES_REFRESH_TOKENS):
            return
        message = (
            "public client with refresh tokens that are neither sender-constrained nor known to be rotated "
            "(RFC 9700 §4.14.2): set `dpop_bound_access_tokens: true`, or, when the server rotates them, say "
            "how in dcrsync.yaml (`lint: {refresh_token_rotation: \"…\"}`), or drop the refresh_token grant"
        )
        yield "DCR016", grant_at(client, "refresh_token"), message

    return check


def profile_checks(profile: Profile, family: str | None) -> list[Callable[[ClientSpec], Iterator[Finding]]]:
    """The rules only `profile` has (none for baseline)."""
    if profile.name != RFC9700:
        return []
    return [dcr014_confidential_pkce, dcr015_localhost, dcr016_refresh_tokens(profile, family)]


def project_profile(config: Config, name: str | None = None) -> Profile:
    """The profile a project lints with: `name` (`--profile`) or dcrsync.yaml's, with what its server
    meets by its own configuration (Hydra's `server.pkce_enforced: all|public`)."""
    said = config.server_settings.get("pkce_enforced") if config.family == "hydra" else None
    enforced = said if said in ("all", "public") else None
    return Profile(name or config.lint_profile, config.refresh_token_rotation, enforced)
