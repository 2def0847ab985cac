"""Rules the schema cannot say. Each has a stable id, a severity, and a one-line why.

`RULES` is the one table: the README's rule list and `validate --format json` come from it.
Rules run on clients that passed the schema, so values have their schema types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from dcrsync.model import ClientSpec, Diagnostic, Location, Severity


class Rule(NamedTuple):
    severity: Severity
    summary: str
    why: str


RULES: dict[str, Rule] = {
    "DCR001": Rule(
        "error",
        "`authorization_code` or `implicit` grant needs `redirect_uris` (no `grant_types` means `authorization_code`)",
        "the server has nowhere to send the user back to; RFC 7591 defaults `grant_types` to authorization_code",
    ),
    "DCR002": Rule(
        "error",
        "a redirect URI (and a post-logout redirect URI) must be absolute and have no fragment",
        "RFC 6749 §3.1.2: the server compares redirect URIs exactly and must not receive a fragment",
    ),
    "DCR003": Rule(
        "error",
        "a redirect URI (and a post-logout redirect URI) uses https; http only for loopback (127.0.0.1, "
        "[::1], localhost); a private-use scheme (com.example.app:/cb) only with `application_type: native`",
        "codes and tokens sent over plain http or to a scheme any app can claim can be stolen "
        "(OAuth 2.0 Security BCP, RFC 8252 §7)",
    ),
    "DCR004": Rule(
        "error",
        "`token_endpoint_auth_method: none` cannot use the `client_credentials` grant",
        "client_credentials authenticates the client itself; a public client has no credentials to prove",
    ),
    "DCR005": Rule(
        "error",
        "`private_key_jwt` / `self_signed_tls_client_auth` need exactly one of `jwks` and `jwks_uri`; "
        "never both",
        "the server needs the client's public keys to check it, and RFC 7591 §2 forbids sending both",
    ),
    "DCR006": Rule(
        "error",
        "`response_types` and `grant_types` agree: `code` ↔ authorization_code, `token`/`id_token` ↔ implicit",
        "RFC 7591 §2.1: a response type the grants cannot use (or a grant without its response type) "
        "fails at login time",
    ),
    "DCR007": Rule(
        "warning",
        "the `implicit` grant is discouraged",
        "OAuth 2.0 Security BCP: tokens in the URL leak; use authorization_code with PKCE instead",
    ),
    "DCR008": Rule(
        "warning",
        "a public client (`token_endpoint_auth_method: none`) must use PKCE",
        "without a secret, PKCE (S256) is what stops a stolen authorization code being redeemed; "
        "make sure the app sends a code_challenge",
    ),
    "DCR009": Rule(
        "error",
        "`tls_client_auth` needs exactly one `tls_client_auth_subject_dn` / `_san_dns` / `_san_uri` / "
        "`_san_ip` / `_san_email`",
        "RFC 8705 §2.1.2: the server matches the client certificate against exactly one of them",
    ),
    "DCR010": Rule(
        "warning",
        "the `password` grant is discouraged",
        "OAuth 2.0 Security BCP: the resource owner password credentials grant must not be used; "
        "it exposes the user's password to the client",
    ),
}

Finding = tuple[str, Location, str]  # rule id, where, message
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_TLS_SUBJECTS = (
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
)


def grant_types(client: ClientSpec) -> list[str]:
    """Declared grant types, or RFC 7591's default."""
    declared = client.fields.get("grant_types")
    return list(declared) if isinstance(declared, list) else ["authorization_code"]


def _auth_method(client: ClientSpec) -> str:
    return client.fields.get("token_endpoint_auth_method") or "client_secret_basic"


def _grant_at(client: ClientSpec, grant: str) -> Location:
    """The `grant_types` item naming `grant`, or the client itself when the grant is the default."""
    declared = client.fields.get("grant_types")
    if isinstance(declared, list) and grant in declared:
        return client.where_item("grant_types", declared.index(grant))
    return client.location


def _list(client: ClientSpec, key: str) -> list[Any]:
    value = client.fields.get(key)
    return value if isinstance(value, list) else []


# --- rules -----------------------------------------------------------------------------------


def dcr001_redirect_uris_needed(client: ClientSpec) -> Iterator[Finding]:
    if _list(client, "redirect_uris"):
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
            client.where("redirect_uris") if "redirect_uris" in client.fields else _grant_at(client, grant)
        )
        yield "DCR001", where, message


def _uri_findings(client: ClientSpec, key: str, label: str) -> Iterator[Finding]:
    native = client.fields.get("application_type") == "native"
    for i, uri in enumerate(_list(client, key)):
        if not isinstance(uri, str):
            continue
        where = client.where_item(key, i)
        for rule, message in _check_redirect_uri(uri, native):
            yield rule, where, f"{label} `{uri}` {message}"


def _check_redirect_uri(uri: str, native: bool) -> list[tuple[str, str]]:
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return [("DCR002", "is not a valid URI: write the full URI, e.g. https://app.example.com/callback")]
    found: list[tuple[str, str]] = []
    scheme = parts.scheme.lower()
    if not scheme or (scheme in ("http", "https") and not host):
        what = "has no scheme" if not scheme else "has no host"
        found.append(
            ("DCR002", f"is not absolute ({what}): write the full URI, e.g. https://app.example.com/callback")
        )
        return found
    if "#" in uri:
        found.append(
            ("DCR002", f"has a fragment (`#{parts.fragment}`): remove it, the server must not get one")
        )
    if scheme == "https":
        return found
    if scheme == "http":
        if host not in _LOOPBACK:
            found.append(
                (
                    "DCR003",
                    "uses http: use https (plain http is allowed only for 127.0.0.1, [::1] and localhost)",
                )
            )
        return found
    if not native:
        found.append(
            (
                "DCR003",
                f"uses the private-use scheme `{scheme}:`, which only native apps may use: "
                "set `application_type: native`, or use https",
            )
        )
    elif "." not in scheme:
        found.append(
            (
                "DCR003",
                f"uses the scheme `{scheme}:`: a private-use scheme must be a reverse domain name "
                "you own, like `com.example.app:` (RFC 8252 §7.1)",
            )
        )
    return found


def dcr002_003_redirect_uris(client: ClientSpec) -> Iterator[Finding]:
    yield from _uri_findings(client, "redirect_uris", "redirect URI")
    yield from _uri_findings(client, "post_logout_redirect_uris", "post-logout redirect URI")


def dcr004_public_client_credentials(client: ClientSpec) -> Iterator[Finding]:
    if _auth_method(client) == "none" and "client_credentials" in grant_types(client):
        message = (
            "grant `client_credentials` needs a client that can authenticate, but "
            "`token_endpoint_auth_method` is `none`: choose an authentication method or drop the grant"
        )
        yield "DCR004", _grant_at(client, "client_credentials"), message


def dcr005_keys(client: ClientSpec) -> Iterator[Finding]:
    has_jwks, has_uri = "jwks" in client.fields, "jwks_uri" in client.fields
    if has_jwks and has_uri:
        message = "`jwks` and `jwks_uri` are both set: keep only one (RFC 7591 §2)"
        yield "DCR005", client.where("jwks_uri"), message
        return
    method = _auth_method(client)
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
        yield "DCR006", _grant_at(client, "authorization_code"), message
    if "implicit" in grants and not any(_response_parts(r) & {"token", "id_token"} for r in responses):
        what = "in `response_types`" if declared is not None else "(`response_types` defaults to [code])"
        message = f"grant `implicit` needs response type `token` or `id_token` {what}: add one"
        yield "DCR006", _grant_at(client, "implicit"), message


def dcr007_implicit(client: ClientSpec) -> Iterator[Finding]:
    if "implicit" in grant_types(client):
        message = (
            "the implicit grant is discouraged (OAuth 2.0 Security BCP): use authorization_code with PKCE"
        )
        yield "DCR007", _grant_at(client, "implicit"), message


def dcr008_pkce(client: ClientSpec) -> Iterator[Finding]:
    if _auth_method(client) == "none" and "authorization_code" in grant_types(client):
        message = "public client: PKCE is required, make sure the app sends a S256 code_challenge"
        yield "DCR008", client.where("token_endpoint_auth_method"), message


def dcr009_tls_subject(client: ClientSpec) -> Iterator[Finding]:
    if _auth_method(client) != "tls_client_auth":
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
        yield "DCR010", _grant_at(client, "password"), message


CHECKS: tuple[Callable[[ClientSpec], Iterator[Finding]], ...] = (
    dcr001_redirect_uris_needed,
    dcr002_003_redirect_uris,
    dcr004_public_client_credentials,
    dcr005_keys,
    dcr006_response_grant_agreement,
    dcr007_implicit,
    dcr008_pkce,
    dcr009_tls_subject,
    dcr010_password,
)


def lint(clients: Sequence[ClientSpec]) -> list[Diagnostic]:
    """Every finding of every rule, sorted by location."""
    out: list[Diagnostic] = []
    for client in clients:
        for check in CHECKS:
            for rule, where, message in check(client):
                out.append(Diagnostic(where, RULES[rule].severity, rule, message))
    out.sort(key=lambda d: (d.location, d.rule))
    return out


def rules_markdown() -> str:
    """The rule table for the README."""
    lines = ["| id | severity | rule | why |", "| --- | --- | --- | --- |"]
    for rule_id, rule in RULES.items():
        lines.append(f"| {rule_id} | {rule.severity} | {rule.summary} | {rule.why} |")
    return "\n".join(lines)
