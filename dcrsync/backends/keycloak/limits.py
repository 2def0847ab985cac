"""What Keycloak cannot hold: declared fields it has no place for, `keycloak:` keys the server owns or
dcrsync does not manage, and declarations that contradict each other (a key a portable field also
writes would fight it forever). Refused before anything is sent (`KeycloakBackend.check_specs`) and
reported by lint (DCR013). Pure."""

from __future__ import annotations

from dcrsync.backends.keycloak.fields import (
    AUTHENTICATORS,
    GRANT_ATTRS,
    GRANT_FLAGS,
    MARKER_ATTRS,
    RESERVED_KEYS,
    UNMANAGED_KEYS,
    UNSUPPORTED,
)
from dcrsync.backends.keycloak.mapping import write
from dcrsync.backends.keycloak.objects import MAPPERS, PAIRWISE_MAPPER, SCOPE_KEYS
from dcrsync.model import ClientSpec


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
