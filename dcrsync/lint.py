"""Rules the schema cannot say. Each has a stable id, a severity, and a one-line why.

`RULES` is the one table: the README's rule list and `validate --format json` come from it.
Rules run on clients that passed the schema, so values have their schema types.

Rules know the server family they lint for (`server.kind` of dcrsync.yaml; None: any family, as
`validate PATH` without a config), so they never demand what that family cannot hold. A finding
can be ignored, with a reason, for the whole project (`lint: {ignore: {RULE: reason}}` in
dcrsync.yaml) or for one client (the same block in its file); ignored findings are kept apart as
`Suppressed`, so `validate` still shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from dcrsync.backends import hydra_map, keycloak_map
from dcrsync.model import EXTENSIONS, ClientSpec, Diagnostic, Ignore, Location, Severity

#: server families lint knows; None stands for "any family"
FAMILIES = ("hydra", "rfc7592", "keycloak")
#: families that have nowhere to store `application_type`
NO_APPLICATION_TYPE = frozenset({"hydra", "keycloak"})
#: standard flags Keycloak keeps in an attribute of another shape -> the attribute (the boolean ones
#: are mapped: `keycloak_map.BOOL_ATTR_FIELDS`)
KEYCLOAK_NOT_MAPPED = {
    # "not required" / "request or request_uri" / "request only" / "request_uri only", not a boolean
    "require_signed_request_object": "request.object.required",
}
#: Keycloak's post-logout redirect URI meaning "the client's redirect URIs"
KEYCLOAK_SAME_AS_REDIRECTS = "+"
PKCE_ATTR = keycloak_map.PKCE_ATTR
PKCE_FIELD = keycloak_map.PKCE_FIELD


class Rule(NamedTuple):
    severity: Severity
    summary: str
    why: str
    ignorable: bool = True  # False: ignoring it cannot help, the server refuses anyway


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
        "[::1], localhost); a private-use scheme (com.example.app:/cb) only with `application_type: native` "
        "(on Hydra and Keycloak, which cannot store `application_type`, a reverse-domain private-use scheme "
        "needs none)",
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
        "a public client (`token_endpoint_auth_method: none`) must use PKCE: declare `require_pkce: true` "
        "(on Keycloak, `keycloak: {attributes: {pkce.code.challenge.method: S256}}` also meets it)",
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
    "DCR011": Rule(
        "error",
        "no `*` in a redirect URI or a post-logout redirect URI (Keycloak's post-logout `+`, \"the redirect "
        "URIs\", is no wildcard and is fine there)",
        "OAuth 2.0 Security BCP §4.1.3: redirect URIs are compared exactly; Keycloak matches `*` as a wildcard "
        "(an open redirect for codes), every other server as the character itself (a URI no app can use)",
    ),
    "DCR012": Rule(
        "error",
        "on Hydra, each post-logout redirect URI shares scheme, host and port with one of the client's "
        "redirect URIs",
        "Hydra refuses the client otherwise (400 at apply); it compares them as written, so "
        "`https://a.example.com` and `https://a.example.com:443` differ",
    ),
    "DCR013": Rule(
        "error",
        "a field the server family cannot hold (Keycloak: `application_type`, `sector_identifier_uri`, … — "
        "see Server families; Hydra: `application_type`)",
        "the server would refuse it, or drop it so that every plan shows it again; checked only when "
        "dcrsync.yaml names the family",
        ignorable=False,
    ),
}

IGNORABLE: tuple[str, ...] = tuple(rule_id for rule_id, rule in RULES.items() if rule.ignorable)

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


def _uri_findings(client: ClientSpec, key: str, label: str, family: str | None) -> Iterator[Finding]:
    native = client.fields.get("application_type") == "native" or family in NO_APPLICATION_TYPE
    for i, uri in enumerate(_list(client, key)):
        if not isinstance(uri, str):
            continue
        if key == "post_logout_redirect_uris" and uri == KEYCLOAK_SAME_AS_REDIRECTS and family == "keycloak":
            continue  # Keycloak: "the same as the redirect URIs", which are checked themselves
        if not uri.strip("*/"):
            continue  # nothing but a wildcard: DCR011 says all there is to say
        where = client.where_item(key, i)
        for rule, message in _check_redirect_uri(uri, native, family):
            if key == "post_logout_redirect_uris" and uri == KEYCLOAK_SAME_AS_REDIRECTS:
                message += (
                    " (`+` means \"the redirect URIs\" only on Keycloak: set `server.kind: keycloak` in "
                    "dcrsync.yaml)"
                )
            yield rule, where, f"{label} `{uri}` {message}"


def _private_scheme_advice(family: str | None) -> str:
    if family is None:
        return (
            "set `application_type: native`, or use https (Hydra and Keycloak cannot store "
            "`application_type`: with `server.kind` hydra or keycloak in dcrsync.yaml none is needed)"
        )
    return "set `application_type: native`, or use https"


def _check_redirect_uri(uri: str, native: bool, family: str | None) -> list[tuple[str, str]]:
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
                + _private_scheme_advice(family),
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


def dcr002_003_redirect_uris(client: ClientSpec, family: str | None) -> Iterator[Finding]:
    yield from _uri_findings(client, "redirect_uris", "redirect URI", family)
    yield from _uri_findings(client, "post_logout_redirect_uris", "post-logout redirect URI", family)


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


def dcr008_pkce(client: ClientSpec, family: str | None) -> Iterator[Finding]:
    if _auth_method(client) != "none" or "authorization_code" not in grant_types(client):
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


def dcr011_wildcards(client: ClientSpec, family: str | None) -> Iterator[Finding]:
    for key, label in (("redirect_uris", "redirect URI"), ("post_logout_redirect_uris", "post-logout redirect URI")):
        for i, uri in enumerate(_list(client, key)):
            if not isinstance(uri, str) or "*" not in uri:
                continue
            if family == "keycloak":
                why = "Keycloak matches `*` as a wildcard, so codes can be sent to any URI it matches"
            elif family is None:
                why = "servers compare redirect URIs exactly (Keycloak alone matches `*` as a wildcard)"
            else:
                why = "the server compares redirect URIs exactly, so `*` matches only itself"
            message = f"{label} `{uri}` has a wildcard: {why}; list each exact URI"
            yield "DCR011", client.where_item(key, i), message


def _origin(uri: str) -> tuple[str, str, str] | None:
    """(scheme, host, port) as Go's net/url gives them (host case and an explicit port kept), the way
    Hydra compares a post-logout redirect URI with the redirect URIs."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    netloc = parts.netloc.rpartition("@")[2]
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = netloc.partition(":")
    return parts.scheme.lower(), host, port


def _shown_origin(origin: tuple[str, str, str]) -> str:
    scheme, host, port = origin
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def dcr012_hydra_post_logout_origin(client: ClientSpec, family: str | None) -> Iterator[Finding]:
    if family != "hydra":
        return
    redirects = [o for u in _list(client, "redirect_uris") if isinstance(u, str) and (o := _origin(u))]
    allowed = set(redirects)
    for i, uri in enumerate(_list(client, "post_logout_redirect_uris")):
        if not isinstance(uri, str):
            continue
        origin = _origin(uri)
        if origin is None or not origin[0] or origin in allowed:
            continue  # no scheme: DCR002 says so
        if redirects:
            known = ", ".join(dict.fromkeys(_shown_origin(o) for o in redirects))
            fix = f"the redirect URIs are on {known}: use one of those, or add a redirect URI on it"
        else:
            fix = "the client has no redirect URI: add one on that origin"
        message = (
            f"post-logout redirect URI `{uri}` is on {_shown_origin(origin)}, and Hydra refuses one that "
            f"shares scheme, host and port with no redirect URI (400 at apply): {fix}"
        )
        yield "DCR012", client.where_item("post_logout_redirect_uris", i), message


def dcr013_family_cannot_hold(client: ClientSpec, family: str | None) -> Iterator[Finding]:
    if family == "keycloak":
        for path, why in keycloak_map.unsupported(client):
            yield "DCR013", client.where(path), f"Keycloak cannot hold `{path}`: {why}"
        if EXTENSIONS in client.fields:
            why = "Keycloak keeps extra metadata in `keycloak.attributes`: move it there"
            yield "DCR013", client.where(EXTENSIONS), f"Keycloak cannot hold `{EXTENSIONS}`: {why}"
        for path, attr in KEYCLOAK_NOT_MAPPED.items():
            if path in client.fields:
                why = f"dcrsync does not map it to Keycloak yet: set `keycloak.attributes.{attr}` instead"
                yield "DCR013", client.where(path), f"Keycloak cannot hold `{path}`: {why}"
        if "software_statement" in client.fields:
            why = "the admin API takes no software statement: it is for dynamic registration (server.kind: rfc7592)"
            yield "DCR013", client.where("software_statement"), f"Keycloak cannot hold `software_statement`: {why}"
    elif family == "hydra":
        for path, why in hydra_map.unsupported(client):
            yield "DCR013", client.where(path), f"Hydra cannot hold `{path}`: {why}"


Check = Callable[[ClientSpec, str | None], Iterator[Finding]]


def _any_family(check: Callable[[ClientSpec], Iterator[Finding]]) -> Check:
    def run(client: ClientSpec, family: str | None) -> Iterator[Finding]:
        return check(client)

    return run


CHECKS: tuple[Check, ...] = (
    _any_family(dcr001_redirect_uris_needed),
    dcr002_003_redirect_uris,
    _any_family(dcr004_public_client_credentials),
    _any_family(dcr005_keys),
    _any_family(dcr006_response_grant_agreement),
    _any_family(dcr007_implicit),
    dcr008_pkce,
    _any_family(dcr009_tls_subject),
    _any_family(dcr010_password),
    dcr011_wildcards,
    dcr012_hydra_post_logout_origin,
    dcr013_family_cannot_hold,
)


@dataclass(frozen=True)
class Suppressed:
    """A finding ignored on purpose: kept so that `validate` shows it, with the reason and where."""

    diagnostic: Diagnostic
    reason: str
    at: Location  # where the ignore is written (dcrsync.yaml or the client's file)
    scope: str  # "project" or "client"


@dataclass
class LintResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)


def family_of(kind: str | None) -> str | None:
    """The family lint checks for: a known `server.kind`, else None (any family)."""
    return kind if kind in FAMILIES else None


def run(
    clients: Sequence[ClientSpec],
    family: str | None = None,
    ignore: Mapping[str, Ignore] | None = None,
) -> LintResult:
    """Every finding of every rule for `family` (None: any), sorted by location; those ignored by
    the project (`ignore`) or by the client's own `lint.ignore` kept apart."""
    family = family_of(family)
    project = ignore or {}
    out = LintResult()
    for client in clients:
        for check in CHECKS:
            for rule, where, message in check(client, family):
                diagnostic = Diagnostic(where, RULES[rule].severity, rule, message)
                found = client.lint_ignore.get(rule)
                scope = "client"
                if found is None:
                    found, scope = project.get(rule), "project"
                if found is None or not RULES[rule].ignorable:
                    out.diagnostics.append(diagnostic)
                else:
                    out.suppressed.append(Suppressed(diagnostic, found.reason, found.at, scope))
    out.diagnostics.sort(key=lambda d: (d.location, d.rule))
    out.suppressed.sort(key=lambda s: (s.diagnostic.location, s.diagnostic.rule))
    return out


def lint(
    clients: Sequence[ClientSpec],
    family: str | None = None,
    ignore: Mapping[str, Ignore] | None = None,
) -> list[Diagnostic]:
    """The findings that are not ignored (see `run`)."""
    return run(clients, family, ignore).diagnostics


def rules_markdown() -> str:
    """The rule table for the README."""
    lines = ["| id | severity | rule | why |", "| --- | --- | --- | --- |"]
    for rule_id, rule in RULES.items():
        severity = rule.severity if rule.ignorable else f"{rule.severity} (cannot be ignored)"
        lines.append(f"| {rule_id} | {severity} | {rule.summary} | {rule.why} |")
    return "\n".join(lines)
