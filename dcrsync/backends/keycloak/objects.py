"""Client scopes, protocol mappers and roles of a Keycloak client, as dcrsync declares and compares
them, and the string forms Keycloak keeps attributes and mapper config in. Pure: no I/O.

These parts are not in the representation Keycloak updates on PUT: `scope_plan` says which client
scopes a client should have as default and optional, `mappers_of` / `mapper_body` read and write
mappers, `sa_roles_text` is the compared form of service-account roles; the backend assigns them
through their own endpoints (`scopes`, `roles`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from dcrsync.model import ClientSpec

PAIRWISE_MAPPER = "oidc-sha256-pairwise-sub-mapper"
#: client scopes Keycloak assigns and removes by itself (service_account follows serviceAccountsEnabled)
SELF_MANAGED_SCOPES = frozenset({"service_account"})
#: `openid` is no client scope in Keycloak: every OIDC client may ask for it
IMPLICIT_SCOPES = frozenset({"openid"})
#: `keycloak:` keys that are assigned through their own endpoints
SCOPE_KEYS = ("defaultClientScopes", "optionalClientScopes")
MAPPERS = "protocolMappers"
#: roles the client's service account is granted, and the client roles the client defines
SA_ROLES = "serviceAccountRoles"
CLIENT_ROLES = "clientRoles"
ROLE_KEYS = frozenset({SA_ROLES, CLIENT_ROLES})
#: `keycloak:` keys the backend writes through their own endpoints, never in the representation
ENDPOINT_KEYS = frozenset({*SCOPE_KEYS, MAPPERS, *ROLE_KEYS})


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


def rebased(baseline: dict[str, Any] | None, live: dict[str, Any]) -> dict[str, Any]:
    """What an update builds on: the live representation, or a strict apply's `baseline` (hand edits put
    back) with each attribute only the live client has set to "": Keycloak keeps one a PUT leaves out."""
    if baseline is None:
        return live
    attrs = dict(baseline.get("attributes") or {})
    attrs.update({k: "" for k in live.get("attributes") or {} if k not in attrs})
    return {**baseline, "attributes": attrs}


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
