"""RFC 7591 / OpenID Connect client metadata <-> Keycloak's ClientRepresentation, both ways.

Pure: no I/O. `to_fields` reads a representation into dcrsync's flat path namespace (portable
names plus `keycloak.<key>` and `keycloak.attributes.<attribute>`); `write` puts declared fields
into a representation (a fresh one for a create, the live one for an update), touching nothing
undeclared. What Keycloak cannot hold is `limits`' (it probes `write`). The tables of which
field lives where are `fields`'; client scopes, protocol mappers and roles, which Keycloak
assigns through their own endpoints, are `objects`'.

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

from dcrsync.backends.keycloak.fields import (
    ATTR_FIELDS,
    AUTH_METHODS,
    AUTHENTICATORS,
    BOOL_ATTR_FIELDS,
    GRANT_ATTRS,
    GRANT_FLAGS,
    KEYCLOAK_DEFAULTS,
    LIST_ATTR_FIELDS,
    MARKER_ATTRS,
    MARKER_NAME,
    MARKER_OWNER,
    MARKER_PROJECT,
    MARKER_SERIAL,
    PKCE_ATTR,
    PKCE_FIELD,
    PORTABLE_DEFAULTS,
    REFRESH_ATTR,
    RESERVED_KEYS,
)
from dcrsync.backends.keycloak.objects import (
    CLIENT_ROLES,
    ENDPOINT_KEYS,
    MAPPERS,
    PAIRWISE_MAPPER,
    SA_ROLES,
    SELF_MANAGED_SCOPES,
    attr_text,
    is_true,
    mapper_text,
    mappers_of,
    sa_roles_text,
    scope_text,
    scope_tokens,
    split_list,
)
from dcrsync.model import SECRET_FIELDS, SET_FIELDS, normalise_value


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
    fields[PKCE_FIELD] = True if attrs.get(PKCE_ATTR) == "S256" else None
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


def marker_of(rep: dict[str, Any]) -> tuple[str | None, str | None]:
    attrs = rep.get("attributes") or {}
    return attrs.get(MARKER_NAME) or None, attrs.get(MARKER_OWNER) or None


def marker_project(rep: dict[str, Any]) -> tuple[str | None, int | None]:
    """The marker's project identity and the serial of the apply that wrote it (absent: None)."""
    attrs = rep.get("attributes") or {}
    serial = str(attrs.get(MARKER_SERIAL) or "")
    return attrs.get(MARKER_PROJECT) or None, int(serial) if serial.isdigit() else None


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
        elif path == PKCE_FIELD:
            attrs[PKCE_ATTR] = "S256" if value else ""
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
        elif path == PKCE_FIELD:
            attrs[PKCE_ATTR] = ""
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


def set_marker(
    rep: dict[str, Any], owner: str, name: str, project: str | None = None, serial: int | None = None
) -> None:
    attrs = dict(rep.get("attributes") or {})
    attrs[MARKER_NAME] = name
    attrs[MARKER_OWNER] = owner
    if project is not None:
        attrs[MARKER_PROJECT] = project
    if serial is not None:
        attrs[MARKER_SERIAL] = str(serial)
    rep["attributes"] = attrs


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
    if path == PKCE_FIELD:
        return value is True  # read back as true only for S256; absent, "", plain: false
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
