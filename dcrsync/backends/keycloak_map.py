"""RFC 7591 / OpenID Connect client metadata <-> Keycloak's ClientRepresentation, both ways.

Pure: no I/O. `to_fields` reads a representation into dcrsync's flat path namespace (portable
names plus `keycloak.<key>` and `keycloak.attributes.<attribute>`); `write` puts declared fields
into a representation (a fresh one for a create, the live one for an update), touching nothing
undeclared. `unsupported` names the declared fields Keycloak cannot hold.

Client scopes and protocol mappers are not part of the representation Keycloak updates on PUT:
`scope_plan` says which client scopes a client should have as default and optional, `mappers_of` /
`mapper_body` read and write mappers, and the backend assigns both through their own endpoints.

`scope` is additive, the way a client made in the console is: the realm's default client scopes
(`acr`, `basic`, `profile`, `email`, `roles`, `web-origins`: what puts `aud`, `realm_access`,
`resource_access`, `acr` in a token) stay default scopes of every client, and `scope` names the
client scopes it gets besides them (optional, or default where it already had them so). A realm
default the client must not have is written `-name`; read back, a client lacking one shows it so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from dcrsync.model import SECRET_FIELDS, SET_FIELDS, ClientSpec, normalise_value

MARKER_NAME = "dcrsync.name"
MARKER_OWNER = "dcrsync.owner"
MARKER_ATTRS = (MARKER_NAME, MARKER_OWNER)

#: portable field -> Keycloak client attribute holding it as a plain string
ATTR_FIELDS: dict[str, str] = {
    "logo_uri": "logoUri",
    "policy_uri": "policyUri",
    "tos_uri": "tosUri",
    "backchannel_logout_uri": "backchannel.logout.url",
    "token_endpoint_auth_signing_alg": "token.endpoint.auth.signing.alg",
    "id_token_signed_response_alg": "id.token.signed.response.alg",
    "id_token_encrypted_response_alg": "id.token.encrypted.response.alg",
    "id_token_encrypted_response_enc": "id.token.encrypted.response.enc",
    "userinfo_signed_response_alg": "user.info.response.signature.alg",
    "userinfo_encrypted_response_alg": "user.info.encrypted.response.alg",
    "userinfo_encrypted_response_enc": "user.info.encrypted.response.enc",
    "request_object_signing_alg": "request.object.signature.alg",
    "request_object_encryption_alg": "request.object.encryption.alg",
    "request_object_encryption_enc": "request.object.encryption.enc",
    "tls_client_auth_subject_dn": "x509.subjectdn",
    # JARM (Keycloak's OIDC advanced settings: authorization response signature / encryption)
    "authorization_signed_response_alg": "authorization.signed.response.alg",
    "authorization_encrypted_response_alg": "authorization.encrypted.response.alg",
    "authorization_encrypted_response_enc": "authorization.encrypted.response.enc",
    # informational metadata: Keycloak keeps it as an attribute, as given
    "software_id": "software_id",
    "software_version": "software_version",
}

#: portable boolean field -> the client attribute Keycloak keeps it in, as "true"/"false"
BOOL_ATTR_FIELDS: dict[str, str] = {
    "require_pushed_authorization_requests": "require.pushed.authorization.requests",
    "dpop_bound_access_tokens": "dpop.bound.access.tokens",
    "tls_client_certificate_bound_access_tokens": "tls.client.certificate.bound.access.tokens",
    "backchannel_logout_session_required": "backchannel.logout.session.required",
    "frontchannel_logout_session_required": "frontchannel.logout.session.required",
}

#: portable list field -> attribute holding it `##`-separated (Keycloak's own list encoding)
LIST_ATTR_FIELDS: dict[str, str] = {
    "post_logout_redirect_uris": "post.logout.redirect.uris",
    "request_uris": "request.uris",
    "default_acr_values": "default.acr.values",
    "contacts": "contacts",
}

#: grant type -> the top-level switch that enables it
GRANT_FLAGS: dict[str, str] = {
    "authorization_code": "standardFlowEnabled",
    "implicit": "implicitFlowEnabled",
    "password": "directAccessGrantsEnabled",
    "client_credentials": "serviceAccountsEnabled",
}
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
CIBA = "urn:openid:params:grant-type:ciba"
#: grant type -> the attribute that enables it ("true"/"false"; absent means false)
GRANT_ATTRS: dict[str, str] = {
    DEVICE_CODE: "oauth2.device.authorization.grant.enabled",
    TOKEN_EXCHANGE: "standard.token.exchange.enabled",
    CIBA: "oidc.ciba.grant.enabled",
}
#: refresh tokens are on unless this attribute says "false"
REFRESH_ATTR = "use.refresh.tokens"

#: token_endpoint_auth_method -> clientAuthenticatorType (`none` is `publicClient: true`)
AUTHENTICATORS: dict[str, str] = {
    "client_secret_basic": "client-secret",
    "client_secret_post": "client-secret",
    "client_secret_jwt": "client-secret-jwt",
    "private_key_jwt": "client-jwt",
    "tls_client_auth": "client-x509",
}
AUTH_METHODS: dict[str, str] = {
    "client-secret": "client_secret_basic",  # Keycloak's client-secret takes basic and post alike
    "client-secret-jwt": "client_secret_jwt",
    "client-jwt": "private_key_jwt",
    "client-x509": "tls_client_auth",
}

PAIRWISE_MAPPER = "oidc-sha256-pairwise-sub-mapper"
#: client scopes Keycloak assigns and removes by itself (service_account follows serviceAccountsEnabled)
SELF_MANAGED_SCOPES = frozenset({"service_account"})
#: `openid` is no client scope in Keycloak: every OIDC client may ask for it
IMPLICIT_SCOPES = frozenset({"openid"})

#: declared fields Keycloak has nothing to hold in, with what to do instead
UNSUPPORTED: dict[str, str] = {
    "application_type": "Keycloak has no application type; remove it",
    "sector_identifier_uri": "Keycloak keeps it in a pairwise protocol mapper, which dcrsync does not manage",
    "default_max_age": "Keycloak has no per-client default max_age; remove it",
    "require_auth_time": "Keycloak has no per-client require_auth_time; remove it",
    "initiate_login_uri": "Keycloak has no initiate_login_uri; remove it",
    "tls_client_auth_san_dns": "Keycloak matches only the subject DN: use tls_client_auth_subject_dn",
    "tls_client_auth_san_uri": "Keycloak matches only the subject DN: use tls_client_auth_subject_dn",
    "tls_client_auth_san_ip": "Keycloak matches only the subject DN: use tls_client_auth_subject_dn",
    "tls_client_auth_san_email": "Keycloak matches only the subject DN: use tls_client_auth_subject_dn",
}

#: representation keys never read into fields nor accepted in the `keycloak:` block
RESERVED_KEYS = frozenset({"id", "clientId", "secret", "registrationAccessToken", "access"})
#: representation keys Keycloak does not take in a client PUT: refused in the `keycloak:` block
UNMANAGED_KEYS = {
    "authorizationSettings": "authorization services have their own admin endpoints, which dcrsync does not manage",
}
#: `keycloak:` keys that are assigned through their own endpoints
SCOPE_KEYS = ("defaultClientScopes", "optionalClientScopes")
MAPPERS = "protocolMappers"
#: roles the client's service account is granted, and the client roles the client defines
SA_ROLES = "serviceAccountRoles"
CLIENT_ROLES = "clientRoles"
ROLE_KEYS = frozenset({SA_ROLES, CLIENT_ROLES})
#: `keycloak:` keys the backend writes through their own endpoints, never in the representation
ENDPOINT_KEYS = frozenset({*SCOPE_KEYS, MAPPERS, *ROLE_KEYS})


# --- small helpers ------------------------------------------------------------------------
def attr_text(value: Any) -> str | None:
    """Keycloak attributes are strings: YAML booleans and numbers are written as Keycloak does."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "##".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def split_list(value: Any) -> list[str]:
    if not value:
        return []
    return [v for v in str(value).split("##") if v]


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def response_capabilities(value: Any) -> list[str] | None:
    """What a list of response types asks of Keycloak: `code` (standard flow), `implicit`, or both.

    Keycloak switches flows, not single response types: `[code]` and `[code, none]` are the same
    client there, and so are `[id_token]` and `[id_token, "id_token token"]`."""
    if value is None:
        return None
    caps: set[str] = set()
    for rt in value:
        parts = set(str(rt).split())
        if "code" in parts:
            caps.add("code")
        if parts & {"token", "id_token"}:
            caps.add("implicit")
    return sorted(caps)


def scope_tokens(value: Any, realm_default: Iterable[str] = ()) -> list[str] | None:
    """The client scopes a `scope` value names beyond the realm's defaults (and `-name` for a realm
    default it removes), sorted: `openid`, `service_account` and kept realm defaults fold away."""
    if value is None:
        return None
    tokens = set(value.split() if isinstance(value, str) else list(value))
    realm = set(realm_default)
    removed = {t for t in tokens if t.startswith("-") and t[1:] in realm}
    return sorted(tokens - IMPLICIT_SCOPES - SELF_MANAGED_SCOPES - realm - {"-" + t for t in SELF_MANAGED_SCOPES}
                  | removed)


def scope_text(rep: dict[str, Any], realm_default: Iterable[str] = ()) -> str:
    """A client's `scope` as dcrsync declares it: `openid`, the client scopes beyond the realm's
    defaults, and `-name` for each realm default the client lacks as a default scope."""
    default = set(rep.get("defaultClientScopes") or [])
    optional = set(rep.get("optionalClientScopes") or [])
    realm = set(realm_default)
    extra = sorted((default | optional) - SELF_MANAGED_SCOPES - (realm & default))
    missing = sorted("-" + s for s in realm - default)
    return " ".join(["openid", *extra, *missing])


# --- reading ------------------------------------------------------------------------------
def grant_types_of(rep: dict[str, Any]) -> list[str]:
    attrs = rep.get("attributes") or {}
    grants = [g for g, flag in GRANT_FLAGS.items() if rep.get(flag)]
    grants += [g for g, attr in GRANT_ATTRS.items() if is_true(attrs.get(attr))]
    if str(attrs.get(REFRESH_ATTR, "true")).lower() != "false":
        grants.append("refresh_token")
    return sorted(grants)


def response_types_of(rep: dict[str, Any]) -> list[str]:
    out: list[str] = []
    standard, implicit = bool(rep.get("standardFlowEnabled")), bool(rep.get("implicitFlowEnabled"))
    if standard:
        out.append("code")
    if implicit:
        out += ["id_token", "id_token token", "token"]
    if standard and implicit:
        out += ["code id_token", "code id_token token", "code token"]
    return out


def auth_method_of(rep: dict[str, Any]) -> str | None:
    if rep.get("publicClient"):
        return "none"
    kind = rep.get("clientAuthenticatorType")
    return AUTH_METHODS.get(kind, kind) if kind else None


def to_fields(rep: dict[str, Any], realm_default: Iterable[str] = ()) -> dict[str, Any]:
    """Every field dcrsync can compare, in its flat path namespace (portable + `keycloak.`);
    `realm_default`: the realm's default client scopes, which `scope` leaves out (see `scope_text`)."""
    attrs: dict[str, Any] = dict(rep.get("attributes") or {})
    fields: dict[str, Any] = {
        "client_name": rep.get("name"),
        "redirect_uris": list(rep.get("redirectUris") or []),
        "client_uri": rep.get("baseUrl") or None,
        "grant_types": grant_types_of(rep),
        "response_types": response_types_of(rep),
        "token_endpoint_auth_method": auth_method_of(rep),
    }
    fields["scope"] = scope_text(rep, realm_default)
    for path, attr in ATTR_FIELDS.items():
        fields[path] = attrs.get(attr) or None
    for path, attr in LIST_ATTR_FIELDS.items():
        fields[path] = split_list(attrs.get(attr))
    for path, attr in BOOL_ATTR_FIELDS.items():
        fields[path] = is_true(attrs[attr]) if attrs.get(attr) else None
    fields["jwks_uri"] = (attrs.get("jwks.url") or None) if is_true(attrs.get("use.jwks.url")) else None
    jwks = None
    if is_true(attrs.get("use.jwks.string")) and attrs.get("jwks.string"):
        try:
            jwks = json.loads(attrs["jwks.string"])
        except ValueError:
            jwks = attrs["jwks.string"]
    fields["jwks"] = jwks
    fields["frontchannel_logout_uri"] = (
        (attrs.get("frontchannel.logout.url") or None) if rep.get("frontchannelLogout") else None
    )
    mappers = rep.get("protocolMappers") or []
    pairwise = any(m.get("protocolMapper") == PAIRWISE_MAPPER for m in mappers)
    fields["subject_type"] = "pairwise" if pairwise else "public"
    for key, value in rep.items():
        if key in RESERVED_KEYS or key == "attributes":
            continue
        fields[f"keycloak.{key}"] = value
    fields[f"keycloak.{MAPPERS}"] = mappers_of(rep)
    for key, value in attrs.items():
        if key not in MARKER_ATTRS:
            fields[f"keycloak.attributes.{key}"] = value
    return fields


#: config Keycloak adds to a mapper of this type when the body leaves it out: folded away both ways
MAPPER_DEFAULTS: dict[str, dict[str, str]] = {
    "oidc-group-membership-mapper": {"multivalued": "true"},
    "oidc-usermodel-realm-role-mapper": {"multivalued": "true"},
    "oidc-usermodel-client-role-mapper": {"multivalued": "true"},
}


def mapper_text(mapper: dict[str, Any]) -> dict[str, Any]:
    """A protocol mapper as a file declares it: name, type, config (strings, as Keycloak keeps
    them); `protocol` only when it is not openid-connect. Ids and the rest are the server's."""
    out: dict[str, Any] = {"name": mapper.get("name"), "protocolMapper": mapper.get("protocolMapper")}
    if mapper.get("protocol") not in (None, "openid-connect"):
        out["protocol"] = mapper["protocol"]
    config = {k: attr_text(v) for k, v in (mapper.get("config") or {}).items()}
    added = MAPPER_DEFAULTS.get(str(mapper.get("protocolMapper")), {})
    out["config"] = {k: v for k, v in sorted(config.items()) if v not in (None, "") and added.get(k) != v}
    return out


def mappers_of(rep: dict[str, Any]) -> list[dict[str, Any]]:
    """The client's own protocol mappers (not its client scopes'), by name; pairwise is `subject_type`."""
    mappers = [m for m in rep.get(MAPPERS) or [] if m.get("protocolMapper") != PAIRWISE_MAPPER]
    return sorted((mapper_text(m) for m in mappers), key=lambda m: str(m["name"]))


def mapper_body(mapper: dict[str, Any]) -> dict[str, Any]:
    """The admin API body for a declared mapper."""
    text = mapper_text(mapper)
    return {**text, "protocol": text.get("protocol", "openid-connect")}


def is_default_role(name: str) -> bool:
    """`default-roles-<realm>`: Keycloak gives it to every user, service accounts included."""
    return name.startswith("default-roles-")


def sa_roles_text(value: Any) -> dict[str, Any]:
    """Service-account roles as a file declares them and dcrsync compares them: `realm` (sorted,
    without the realm's default role, which Keycloak manages) and `clients` (clientId -> sorted
    roles; none empty)."""
    value = value if isinstance(value, dict) else {}
    out: dict[str, Any] = {}
    realm = sorted({str(r) for r in value.get("realm") or [] if not is_default_role(str(r))})
    if realm:
        out["realm"] = realm
    clients = {str(c): sorted({str(r) for r in roles or []}) for c, roles in (value.get("clients") or {}).items()}
    clients = {c: r for c, r in sorted(clients.items()) if r}
    if clients:
        out["clients"] = clients
    return out


def marker_of(rep: dict[str, Any]) -> tuple[str | None, str | None]:
    attrs = rep.get("attributes") or {}
    return attrs.get(MARKER_NAME) or None, attrs.get(MARKER_OWNER) or None


# --- writing ------------------------------------------------------------------------------
def _set_attr(attrs: dict[str, Any], key: str, value: Any) -> None:
    text = attr_text(value)
    if text in (None, ""):
        attrs.pop(key, None)  # Keycloak drops empty attributes itself
    else:
        attrs[key] = text


def _write_grants(rep: dict[str, Any], attrs: dict[str, Any], wanted: set[str]) -> None:
    """The flow switches and grant attributes for exactly the `wanted` grant types."""
    for grant, flag in GRANT_FLAGS.items():
        rep[flag] = grant in wanted
    for grant, attr in GRANT_ATTRS.items():
        if grant in wanted:
            attrs[attr] = "true"
        elif attr in attrs:
            attrs[attr] = "false"
    attrs[REFRESH_ATTR] = "true" if "refresh_token" in wanted else "false"


def write(rep: dict[str, Any], fields: dict[str, Any], keycloak: dict[str, Any]) -> dict[str, Any]:
    """`rep` with every declared portable field and `keycloak:` key written into it (in place).

    Nothing undeclared changes: a field left out of the YAML keeps whatever the server has."""
    attrs: dict[str, Any] = dict(rep.get("attributes") or {})
    grants = fields.get("grant_types")
    for path, value in fields.items():
        if path == "client_name":
            rep["name"] = value
        elif path == "redirect_uris":
            rep["redirectUris"] = list(value)
        elif path == "client_uri":
            rep["baseUrl"] = value
        elif path == "grant_types":
            _write_grants(rep, attrs, set(value))
        elif path == "response_types":
            if grants is None:  # the grants decide the flows when both are declared (lint DCR006)
                caps = response_capabilities(value) or []
                rep["standardFlowEnabled"] = "code" in caps
                rep["implicitFlowEnabled"] = "implicit" in caps
        elif path == "token_endpoint_auth_method":
            if value == "none":
                rep["publicClient"] = True
            elif value in AUTHENTICATORS:  # any other is refused by `unsupported`
                rep["publicClient"] = False
                rep["clientAuthenticatorType"] = AUTHENTICATORS[value]
        elif path in ATTR_FIELDS:
            _set_attr(attrs, ATTR_FIELDS[path], value)
        elif path in LIST_ATTR_FIELDS:
            _set_attr(attrs, LIST_ATTR_FIELDS[path], list(value))
        elif path in BOOL_ATTR_FIELDS:
            attrs[BOOL_ATTR_FIELDS[path]] = "true" if value else "false"
        elif path == "jwks_uri":
            attrs["jwks.url"] = value
            attrs["use.jwks.url"] = "true"
            if "jwks" not in fields:
                attrs["use.jwks.string"] = "false"
        elif path == "jwks":
            attrs["jwks.string"] = json.dumps(value, separators=(",", ":"))
            attrs["use.jwks.string"] = "true"
            if "jwks_uri" not in fields:
                attrs["use.jwks.url"] = "false"
        elif path == "frontchannel_logout_uri":
            rep["frontchannelLogout"] = True
            attrs["frontchannel.logout.url"] = value
        # scope: assigned through the client-scope endpoints (scope_plan);
        # subject_type `public` needs nothing; the rest is refused by `unsupported`
    for key, value in keycloak.items():
        if key == "attributes":
            for attr, attr_value in (value or {}).items():
                _set_attr(attrs, attr, attr_value)
        elif key not in ENDPOINT_KEYS:
            rep[key] = value
    rep["attributes"] = attrs
    return rep


#: a new client's value of top-level keys a `keycloak:` block may set (for a removed line)
KEYCLOAK_DEFAULTS: dict[str, Any] = {
    "consentRequired": False,
    "fullScopeAllowed": True,
    "bearerOnly": False,
    "surrogateAuthRequired": False,
    "alwaysDisplayInConsole": False,
    "frontchannelLogout": True,
    "webOrigins": [],
    "rootUrl": "",
    "adminUrl": "",
    "description": "",
    "notBefore": 0,
    "nodeReRegistrationTimeout": -1,
}
#: RFC 7591's defaults, where resetting a portable field means writing a value
PORTABLE_DEFAULTS: dict[str, Any] = {
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_basic",
}


def reset(rep: dict[str, Any], paths: Iterable[str]) -> list[str]:
    """Reset fields no longer declared to the server's default (in place); returns the paths it
    cannot reset (a `keycloak:` key whose default dcrsync does not know: left as it is)."""
    attrs: dict[str, Any] = dict(rep.get("attributes") or {})
    left: list[str] = []
    portable: dict[str, Any] = {}
    for path in sorted(paths):
        if path.startswith("keycloak.attributes."):
            attrs[path.removeprefix("keycloak.attributes.")] = ""
        elif path.startswith("keycloak."):
            key = path.removeprefix("keycloak.")
            if key in ENDPOINT_KEYS:
                continue  # the backend resets them through their endpoints
            if key in KEYCLOAK_DEFAULTS:
                rep[key] = KEYCLOAK_DEFAULTS[key]
            else:
                left.append(path)
        elif path == "client_name":
            rep["name"] = ""
        elif path == "redirect_uris":
            rep["redirectUris"] = []
        elif path == "client_uri":
            rep["baseUrl"] = ""
        elif path in ATTR_FIELDS:
            attrs[ATTR_FIELDS[path]] = ""
        elif path in LIST_ATTR_FIELDS:
            attrs[LIST_ATTR_FIELDS[path]] = ""
        elif path in BOOL_ATTR_FIELDS:
            attrs[BOOL_ATTR_FIELDS[path]] = "false"
        elif path in ("jwks", "jwks_uri"):
            attrs.update({"jwks.string": "", "jwks.url": "", "use.jwks.string": "false", "use.jwks.url": "false"})
        elif path == "frontchannel_logout_uri":
            attrs["frontchannel.logout.url"] = ""
        elif path in PORTABLE_DEFAULTS:
            portable[path] = PORTABLE_DEFAULTS[path]
        elif path != "scope":  # scope: the scope endpoints, from the declared fields
            left.append(path)
    rep["attributes"] = attrs
    if portable:
        write(rep, portable, {})
    return left


def set_marker(rep: dict[str, Any], owner: str, name: str) -> None:
    attrs = dict(rep.get("attributes") or {})
    attrs[MARKER_NAME] = name
    attrs[MARKER_OWNER] = owner
    rep["attributes"] = attrs


def scope_plan(
    spec: ClientSpec,
    current_default: Iterable[str],
    current_optional: Iterable[str],
    realm_default: Iterable[str],
) -> tuple[set[str], set[str]] | None:
    """(default, optional) client scopes the client should have, or None when none is declared.

    With `scope`: every realm default client scope (less those written `-name`) is a default
    scope, and so is a named one the client already has as default; the other named ones are
    optional. `keycloak.defaultClientScopes` / `optionalClientScopes` say both lists exactly."""
    kc = spec.block("keycloak")
    current_default, current_optional = set(current_default), set(current_optional)
    realm = set(realm_default)
    if "scope" in spec.fields:
        value = spec.fields["scope"]
        tokens = set(value.split() if isinstance(value, str) else value)
        removed = {t[1:] for t in tokens if t.startswith("-")}
        wanted = set(scope_tokens([t for t in tokens if not t.startswith("-")]) or [])
        default = (realm - removed) | (wanted & current_default)
        optional = wanted - default
    elif any(k in kc for k in SCOPE_KEYS):
        default = set(kc.get("defaultClientScopes", current_default)) - SELF_MANAGED_SCOPES
        optional = set(kc.get("optionalClientScopes", current_optional)) - SELF_MANAGED_SCOPES
    else:
        return None
    keep = SELF_MANAGED_SCOPES
    return default | (current_default & keep), optional | (current_optional & keep)


# --- what cannot be held ------------------------------------------------------------------
def unsupported(spec: ClientSpec) -> list[tuple[str, str]]:
    """(path, why) for every declared field Keycloak cannot hold or that contradicts another."""
    out: list[tuple[str, str]] = []
    fields, kc = spec.fields, spec.block("keycloak")
    for path in fields:
        if path in UNSUPPORTED:
            out.append((path, UNSUPPORTED[path]))
    if fields.get("subject_type", "public") != "public":
        out.append(("subject_type", "pairwise subjects need a Keycloak protocol mapper, which dcrsync does not manage"))
    method = fields.get("token_endpoint_auth_method")
    if method is not None and method != "none" and method not in AUTHENTICATORS:
        out.append(("token_endpoint_auth_method", f"Keycloak has no client authenticator for `{method}`"))
    known = set(GRANT_FLAGS) | set(GRANT_ATTRS) | {"refresh_token"}
    for grant in fields.get("grant_types") or []:
        if grant not in known:
            out.append(("grant_types", f"Keycloak cannot enable grant `{grant}` per client"))
    for rt in fields.get("response_types") or []:
        if not set(str(rt).split()) <= {"code", "token", "id_token", "none"}:
            out.append(("response_types", f"Keycloak has no response type `{rt}`"))
    for key in kc:
        if key in RESERVED_KEYS:
            why = {
                "clientId": "write client_id at the top level",
                "secret": "secrets never go in git: dcrsync sets and keeps them",
            }.get(key, "the server owns it")
            out.append((f"keycloak.{key}", why))
        elif key in UNMANAGED_KEYS:
            out.append((f"keycloak.{key}", UNMANAGED_KEYS[key]))
    attrs = kc.get("attributes") or {}
    if not isinstance(attrs, dict):
        out.append(("keycloak.attributes", "must be a mapping of attribute names to values"))
        attrs = {}
    for attr in attrs:
        if attr in MARKER_ATTRS:
            out.append((f"keycloak.attributes.{attr}", "is dcrsync's ownership marker; remove it"))
    mappers = kc.get(MAPPERS)
    if mappers is not None:
        names = [m.get("name") for m in mappers if isinstance(m, dict)]
        if len(names) != len(mappers) or not all(isinstance(m.get("protocolMapper"), str) for m in mappers):
            out.append((f"keycloak.{MAPPERS}", "each mapper needs a `name` and a `protocolMapper` (its type)"))
        dup = sorted({str(n) for n in names if names.count(n) > 1})
        if dup:
            out.append((f"keycloak.{MAPPERS}", f"mapper names must be unique on a client: {', '.join(dup)}"))
        if any(m.get("protocolMapper") == PAIRWISE_MAPPER for m in mappers if isinstance(m, dict)):
            out.append((f"keycloak.{MAPPERS}", "pairwise subjects are `subject_type`, which Keycloak cannot take here"))
    if "scope" in fields and any(k in kc for k in SCOPE_KEYS):
        out.append(("scope", "declare either scope or keycloak.defaultClientScopes / optionalClientScopes"))
    # a `keycloak:` key that a declared portable field also writes would fight it forever
    portable = {p: v for p, v in fields.items() if p not in UNSUPPORTED}
    probe = write({}, portable, {})
    touched_attrs = set(probe.get("attributes") or {})
    touched_keys = set(probe) - {"attributes"}
    for key in kc:
        if key in touched_keys:
            out.append((f"keycloak.{key}", "is also set by a portable field declared here: keep one"))
    for attr in attrs:
        if attr in touched_attrs:
            out.append((f"keycloak.attributes.{attr}", "is also set by a portable field declared here: keep one"))
    return out


# --- comparison ---------------------------------------------------------------------------
def normalise(path: str, value: Any, realm_default: Iterable[str] = ()) -> Any:
    """The canonical form two values are compared in: Keycloak's quirks folded away."""
    if path in SECRET_FIELDS:
        return None
    if path == "scope":
        return scope_tokens(value, realm_default)
    if path == "response_types":
        return response_capabilities(value)
    if path == "token_endpoint_auth_method":
        return "client_secret_basic" if value == "client_secret_post" else value
    if path == "subject_type":
        return value or "public"
    if path == "jwks" and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if path.startswith("keycloak.attributes."):
        text = attr_text(value)
        return text or None
    if path == f"keycloak.{MAPPERS}":
        return sorted((mapper_text(m) for m in value or [] if m.get("protocolMapper") != PAIRWISE_MAPPER),
                      key=lambda m: str(m["name"]))
    if path == f"keycloak.{SA_ROLES}":
        return sa_roles_text(value)
    if path == f"keycloak.{CLIENT_ROLES}":
        return sorted({str(r) for r in value or []})
    if path in ("keycloak.defaultClientScopes", "keycloak.optionalClientScopes"):
        return sorted(set(value or []) - SELF_MANAGED_SCOPES)
    if path in ("keycloak.redirectUris", "keycloak.webOrigins"):
        return sorted(set(value or []))
    if path in ATTR_FIELDS or path in ("client_uri", "client_name", "jwks_uri", "frontchannel_logout_uri"):
        return value or None
    if path in SET_FIELDS and value is None:
        return []
    return normalise_value(path, value)
