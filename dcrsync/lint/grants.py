"""Rules on grants, response types and client authentication: redirect URIs where a grant needs
them (DCR001), public clients (DCR004, DCR008), keys (DCR005, DCR009), response types that match the
grants (DCR006), and discouraged grants (DCR007, DCR010)."""

from __future__ import annotations

from collections.abc import Iterator

from dcrsync.backends.keycloak import mapping as keycloak_map
from dcrsync.lint.common import Finding, auth_method, grant_at, grant_types, listed
from dcrsync.model import ClientSpec

#: Keycloak's own PKCE attribute (DCR008 accepts it), and the portable field that says the same
PKCE_ATTR = keycloak_map.PKCE_ATTR
PKCE_FIELD = keycloak_map.PKCE_FIELD
_TLS_SUBJECTS = (
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
)


def dcr001_redirect_uris_needed(client: ClientSpec) -> Iterator[Finding]:
    if listed(client, "redirect_uris"):
        return
    declared = "grant_types" in client.fields
    for grant in ("authorization_code", "implicit"):
        if grant not in grant_types(client):
            continue
        if declared:
            message = f"grant `{grant}` needs `redirect_uris`: add the URIs the app receives the user back on"
        else:
            message = (
                "no `grant_types` means `authorization_code` (RFC 7591), which needs `redirect_uris`: "
                "add them, or declare the grant types the client uses"
            )
        where = (
            client.where("redirect_uris") if "redirect_uris" in client.fields else grant_at(client, grant)
        )
        yield "DCR001", where, message


def dcr004_public_client_credentials(client: ClientSpec) -> Iterator[Finding]:
    if auth_method(client) == "none" and "client_credentials" in grant_types(client):
        message = (
            "grant `client_credentials` needs a client that can authenticate, but "
            "`token_endpoint_auth_method` is `none`: choose an authentication method or drop the grant"
        )
        yield "DCR004", grant_at(client, "client_credentials"), message


def dcr005_keys(client: ClientSpec) -> Iterator[Finding]:
    has_jwks, has_uri = "jwks" in client.fields, "jwks_uri" in client.fields
    if has_jwks and has_uri:
        message = "`jwks` and `jwks_uri` are both set: keep only one (RFC 7591 §2)"
        yield "DCR005", client.where("jwks_uri"), message
        return
    method = auth_method(client)
    if method in ("private_key_jwt", "self_signed_tls_client_auth") and not has_jwks and not has_uri:
        message = f"`{method}` needs the client's public keys: add `jwks_uri` (or an inline `jwks`)"
        yield "DCR005", client.where("token_endpoint_auth_method"), message
    elif method in ("private_key_jwt", "self_signed_tls_client_auth") and has_jwks:
        jwks = client.fields["jwks"]
        if isinstance(jwks, dict) and not jwks.get("keys"):
            message = f"`{method}` needs at least one key in `jwks.keys`: add the client's public key"
            yield "DCR005", client.where("jwks"), message


def _response_parts(response_type: str) -> set[str]:
    return set(response_type.split())


def dcr006_response_grant_agreement(client: ClientSpec) -> Iterator[Finding]:
    grants = grant_types(client)
    declared = client.fields.get("response_types")
    responses: list[str] = declared if isinstance(declared, list) else ["code"]
    for i, rt in enumerate(responses if declared is not None else []):
        parts = _response_parts(rt)
        where = client.where_item("response_types", i)
        if "code" in parts and "authorization_code" not in grants:
            yield (
                "DCR006",
                where,
                f"response type `{rt}` needs grant `authorization_code` in `grant_types`: add it",
            )
        if parts & {"token", "id_token"} and "implicit" not in grants:
            yield "DCR006", where, f"response type `{rt}` needs grant `implicit` in `grant_types`: add it"
    if "authorization_code" in grants and not any("code" in _response_parts(r) for r in responses):
        message = "grant `authorization_code` needs response type `code` in `response_types`: add it"
        yield "DCR006", grant_at(client, "authorization_code"), message
    if "implicit" in grants and not any(_response_parts(r) & {"token", "id_token"} for r in responses):
        what = "in `response_types`" if declared is not None else "(`response_types` defaults to [code])"
        message = f"grant `implicit` needs response type `token` or `id_token` {what}: add one"
        yield "DCR006", grant_at(client, "implicit"), message


def dcr007_implicit(client: ClientSpec) -> Iterator[Finding]:
    if "implicit" in grant_types(client):
        message = (
            "the implicit grant is discouraged (OAuth 2.0 Security BCP): use authorization_code with PKCE"
        )
        yield "DCR007", grant_at(client, "implicit"), message


def dcr008_pkce(client: ClientSpec, family: str | None) -> Iterator[Finding]:
    if auth_method(client) != "none" or "authorization_code" not in grant_types(client):
        return
    declared = client.fields.get(PKCE_FIELD)
    if declared is True:
        return  # Keycloak enforces it for this client; Hydra and RFC 7592 servers server-wide (a plan note)
    attrs = client.block("keycloak").get("attributes")
    method = attrs.get(PKCE_ATTR) if isinstance(attrs, dict) else None
    if declared is None and family in (None, "keycloak") and method is not None:
        if method == "S256":
            return  # Keycloak's own attribute, as a console-made client has it
        message = (
            f"public client: Keycloak's `{PKCE_ATTR}` is `{method}`, which does not stop a stolen code: "
            f"write `{PKCE_FIELD}: true` instead (S256)"
        )
        yield "DCR008", client.where("keycloak"), message
        return
    if declared is False:
        message = f"public client with `{PKCE_FIELD}: false`: PKCE (S256) is what protects its codes; write `{PKCE_FIELD}: true`"
        yield "DCR008", client.where(PKCE_FIELD), message
        return
    message = f"public client without PKCE: write `{PKCE_FIELD}: true` (the app must then send a S256 code_challenge)"
    yield "DCR008", client.where("token_endpoint_auth_method"), message


def dcr009_tls_subject(client: ClientSpec) -> Iterator[Finding]:
    if auth_method(client) != "tls_client_auth":
        return
    present = [k for k in _TLS_SUBJECTS if k in client.fields]
    if len(present) == 1:
        return
    if not present:
        message = "`tls_client_auth` needs the expected certificate subject: add one `tls_client_auth_subject_dn` or `_san_*`"
        yield "DCR009", client.where("token_endpoint_auth_method"), message
    else:
        listed = ", ".join(f"`{k}`" for k in present)
        message = f"`tls_client_auth` takes exactly one certificate subject field, found {listed}: keep one"
        yield "DCR009", client.where(present[1]), message


def dcr010_password(client: ClientSpec) -> Iterator[Finding]:
    if "password" in grant_types(client):
        message = "the password grant is discouraged (OAuth 2.0 Security BCP): use authorization_code or device_code"
        yield "DCR010", grant_at(client, "password"), message
