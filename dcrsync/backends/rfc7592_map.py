"""What goes to a registration endpoint and what comes back (RFC 7591 / 7592), as data: the body of a
registration (POST) and of an update (PUT, a full replacement, §2.2) from the declared metadata with
the `extensions:` block merged in flat, an answer read back as a LiveClient (secrets left out), what
an answer gives only once, and what RFC 7591 has no per-client place for (`SERVER_WIDE`). Pure."""

from __future__ import annotations

from typing import Any, ClassVar

from dcrsync.errors import BackendError
from dcrsync.families import ServerWide
from dcrsync.guards.answers import OBJECT, TEXT, TEXTS, text_or_none
from dcrsync.model import EXTENSIONS, SET_FIELDS, ClientSpec, LiveClient

#: RFC 7591 has no client metadata for these: a registration server enforces them for every client by
#: its configuration. Never sent: Keycloak's endpoint refuses an unknown field (400), oidc-provider and
#: Hydra accept it and keep nothing, so every plan would show it again
SERVER_WIDE: dict[str, str] = {
    "require_pkce": (
        "RFC 7591 registration has no per-client PKCE field; the server requires PKCE by its own "
        "configuration (node oidc-provider: its `pkce.required` option, which requires it of public "
        "clients by default; Keycloak: a client policy with the `pkce-enforcer` executor): make sure it does"
    ),
}


class Rfc7592ServerWide(ServerWide):
    """What an RFC 7591 server enforces server-wide (`families.Family.server_wide`)."""

    server_wide: ClassVar[dict[str, str]] = SERVER_WIDE


#: never kept in LiveClient.raw / fields
SECRET_KEYS = ("client_secret", "registration_access_token")
#: RFC 7592 §2.2: MUST NOT be in an update body (plus Hydra's own timestamps)
NOT_IN_PUT = (
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
    "client_secret_expires_at",
    "client_secret",  # optional in §2.2; Hydra answers 403 to it, oidc-provider keeps the secret without it
    "created_at",
    "updated_at",
    "metadata",  # Hydra: "metadata cannot be set for dynamic client registration" (null included)
)


def to_live(raw: dict[str, Any], name: str | None, owner: str | None) -> LiveClient:
    raw = {k: v for k, v in raw.items() if k not in SECRET_KEYS}
    fields = dict(raw)
    fields.update({f"{EXTENSIONS}.{k}": v for k, v in raw.items()})  # compared only where declared
    return LiveClient(
        client_id=str(raw.get("client_id") or ""),
        fields=fields,
        raw=raw,
        managed_name=name,
        owner=owner if name else None,
        updated_at=text_or_none(raw.get("updated_at")),
    )


#: the grants that go through the authorization endpoint and so need a response type
REDIRECT_GRANTS = frozenset({"authorization_code", "implicit"})


def registration_body(spec: ClientSpec) -> dict[str, Any]:
    """RFC 7591 metadata as declared: no `hydra:` / `keycloak:` blocks, no name, no marker; the
    `extensions:` block merged in flat, as the server's own metadata.

    RFC 7591's default for `response_types` is [code], and a server then demands `redirect_uris`.
    A client whose declared grants never use the authorization endpoint (a `client_credentials`
    service) is sent `response_types: []` when it declares none: what the server must know, not a
    field dcrsync compares (only what the YAML declares is compared)."""
    body = {k: v for k, v in spec.fields.items() if v is not None and k != EXTENSIONS}
    grants = body.get("grant_types")
    if "response_types" not in body and isinstance(grants, list) and not REDIRECT_GRANTS & set(grants):
        body["response_types"] = []
    body.update(_extensions(spec, body))
    return body


#: a field no longer declared is left out of the PUT (§2.2: deleted), except these, sent empty:
#: Keycloak's endpoint merges instead of replacing and would keep them; compliant servers drop them
EMPTIED_WHEN_UNSET = {"redirect_uris": [], "post_logout_redirect_uris": [], "request_uris": [], "contacts": []}
# --- vendor metadata (`extensions:`) -------------------------------------------------------------
#: never carried by `extensions:` (the schema refuses them at file:line first; this is the last guard)
_NOT_VENDOR = frozenset({"client_id", *NOT_IN_PUT, *SECRET_KEYS, "software_statement"})


def _extensions(spec: ClientSpec, standard: dict[str, Any]) -> dict[str, Any]:
    ext = spec.fields.get(EXTENSIONS) or {}
    bad = sorted(k for k in ext if k in _NOT_VENDOR or k in standard)
    if bad:
        raise BackendError(
            f"{spec.where(f'{EXTENSIONS}.{bad[0]}')}: {spec.name}: `extensions.{bad[0]}` is a standard or "
            "reserved field, not vendor metadata: write it at the top level (secrets are never declared)"
        )
    return {k: v for k, v in ext.items() if v is not None}


def update_body(spec: ClientSpec, live: LiveClient) -> dict[str, Any]:
    """A full replacement (§2.2): what the server holds now plus what git declares."""
    unset = {p.removeprefix(f"{EXTENSIONS}.") for p in spec.unset}  # vendor keys no longer declared too
    raw = spec.baseline or live.raw  # strict: hand edits of undeclared fields put back
    body = {k: v for k, v in raw.items() if k not in NOT_IN_PUT and v is not None and k not in unset}
    for path in spec.unset:
        if path in EMPTIED_WHEN_UNSET:
            body[path] = EMPTIED_WHEN_UNSET[path]
        elif path.endswith("_uri") and "." not in path and live.raw.get(path):
            body[path] = ""
    body.update(registration_body(spec))
    body["client_id"] = live.client_id
    return body


#: what a registration answer gives once, kept in the state
GIVEN_ONCE = ("client_secret", "registration_access_token", "registration_client_uri")
#: what dcrsync reads of a client's metadata, by shape (anything else is kept as the server sent it)
SHAPES = {
    **{key: TEXT for key in (*GIVEN_ONCE, "client_name", "scope", "token_endpoint_auth_method", "updated_at")},
    **{key: TEXTS for key in SET_FIELDS if "." not in key},
    "jwks": OBJECT,
}
