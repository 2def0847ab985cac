"""What an authorization server says it supports, and the plan-time check of the YAML against it.

A server may publish its metadata (OpenID Connect Discovery 1.0, RFC 8414). `plan` reads it once
(the fetch is the backend's) and `unsupported` compares each client's declared metadata with it:
a grant type, response type, token endpoint auth method or algorithm the server does not list is
an error at the field's `file:line`, found before anything is sent; a scope it does not list is
only a warning, because both specs let a server leave supported scopes out of `scopes_supported`.

Only what the document lists is checked: a list the server leaves out is not checked at all
(rather than assuming the specs' defaults, which sloppy servers do not honour). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dcrsync.guards.answers import inert
from dcrsync.model import ClientSpec, Location

OIDC_WELL_KNOWN = "/.well-known/openid-configuration"
OAUTH_WELL_KNOWN = "/.well-known/oauth-authorization-server"

#: client metadata field -> the server metadata list of the values it may take
SINGLE_VALUES: dict[str, str] = {
    "token_endpoint_auth_method": "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg": "token_endpoint_auth_signing_alg_values_supported",
    "id_token_signed_response_alg": "id_token_signing_alg_values_supported",
    "id_token_encrypted_response_alg": "id_token_encryption_alg_values_supported",
    "id_token_encrypted_response_enc": "id_token_encryption_enc_values_supported",
    "userinfo_signed_response_alg": "userinfo_signing_alg_values_supported",
    "userinfo_encrypted_response_alg": "userinfo_encryption_alg_values_supported",
    "userinfo_encrypted_response_enc": "userinfo_encryption_enc_values_supported",
    "request_object_signing_alg": "request_object_signing_alg_values_supported",
    "request_object_encryption_alg": "request_object_encryption_alg_values_supported",
    "request_object_encryption_enc": "request_object_encryption_enc_values_supported",
    "authorization_signed_response_alg": "authorization_signing_alg_values_supported",
    "introspection_signed_response_alg": "introspection_signing_alg_values_supported",
    "subject_type": "subject_types_supported",
}
#: list fields: each item must be listed (response types compare as sets of words)
LIST_VALUES: dict[str, str] = {
    "grant_types": "grant_types_supported",
    "response_types": "response_types_supported",
}


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer publishes its metadata: OpenID Connect's location (issuer + well-known), then
    RFC 8414's (well-known inserted before the issuer's path), which differ when the issuer has a path."""
    base = issuer.rstrip("/")
    parts = urlsplit(base)
    return [base + OIDC_WELL_KNOWN, urlunsplit((parts.scheme, parts.netloc, OAUTH_WELL_KNOWN + parts.path, "", ""))]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" | "warning"
    location: Location
    name: str
    message: str

    def format(self) -> str:
        return f"{self.location}: {self.name}: {self.message}"


def _listed(metadata: Mapping[str, Any], key: str) -> list[str] | None:
    value = metadata.get(key)
    if not isinstance(value, list) or not value:
        return None  # not published: not checked
    return [str(v) for v in value]


def _offers(values: list[str]) -> str:
    """What the server offers, as its metadata says it (server-chosen text: made inert, clipped)."""
    return inert(", ".join(values), 300)


def unsupported(spec: ClientSpec, metadata: Mapping[str, Any], source: str) -> Iterator[Finding]:
    """What `spec` declares that the server's metadata (read from `source`) says it does not support."""
    fields = spec.fields
    for path, key in SINGLE_VALUES.items():
        value, offered = fields.get(path), _listed(metadata, key)
        if value is None or offered is None or str(value) in offered:
            continue
        yield Finding(
            "error", spec.where(path), spec.name,
            f"the server does not support {path} `{value}` (its {key} in {source}: {_offers(offered)}): "
            "choose one of those, or have it enabled on the server",
        )
    for path, key in LIST_VALUES.items():
        value, offered = fields.get(path), _listed(metadata, key)
        if not isinstance(value, list) or offered is None:
            continue
        words = path == "response_types"
        known = {frozenset(v.split()) for v in offered} if words else set(offered)
        for i, item in enumerate(value):
            if (frozenset(str(item).split()) if words else str(item)) in known:
                continue
            yield Finding(
                "error", spec.where_item(path, i), spec.name,
                f"the server does not support {path[:-1].replace('_', ' ')} `{item}` (its {key} in {source}: "
                f"{_offers(offered)}): remove it, or have it enabled on the server",
            )
    scope, offered = fields.get("scope"), _listed(metadata, "scopes_supported")
    if isinstance(scope, str) and offered is not None:
        missing = [s for s in scope.split() if s not in offered]
        if missing:
            yield Finding(
                "warning", spec.where("scope"), spec.name,
                f"the server does not advertise scope {', '.join(f'`{s}`' for s in missing)} (its "
                f"scopes_supported in {source}: {_offers(offered)}); servers may leave scopes out, "
                "but one that does not know it will refuse the client",
            )
