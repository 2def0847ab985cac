"""Client scopes and protocol mappers of a Keycloak client: the parts a client PUT does not carry,
assigned through their own admin endpoints. Mixed into `KeycloakBackend`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from dcrsync.backends.keycloak import objects as kobj
from dcrsync.errors import BackendError
from dcrsync.guards.answers import decode, objects
from dcrsync.model import ClientSpec


class KeycloakScopes:
    """The realm's client-scope catalogue, a client's default / optional scopes, its own mappers.

    Uses the backend's `_call` (one admin request) and `realm`."""

    realm: str
    _call: Callable[..., httpx.Response]
    _items: Callable[..., list[dict[str, Any]]]
    _scopes_lock: threading.Lock
    _scope_ids: dict[str, str] | None
    _realm_default: set[str] | None

    def _scope_catalogue(self) -> tuple[dict[str, str], set[str]]:
        """The realm's client scopes (name -> id) and the ones it makes default for new clients."""
        with self._scopes_lock:
            if self._scope_ids is None:
                scopes = self._items("/client-scopes", f"list the client scopes of realm {self.realm}")
                self._scope_ids = {s["name"]: str(s.get("id")) for s in scopes}
            if self._realm_default is None:
                what = "read the realm's default client scopes"
                response = self._call("GET", "/default-default-client-scopes", what, ok=(403,))
                # without view-realm: every new scope becomes optional (what RFC 7591 `scope` means)
                names = [] if response.status_code == 403 else [
                    s["name"] for s in objects(decode(response, what, list), "name", response, what, noun="item")
                    if s.get("protocol", "openid-connect") == "openid-connect"  # not the SAML ones
                ]
                self._realm_default = {n for n in names if n}
            return self._scope_ids, self._realm_default

    def _scope_problems(self, specs: Sequence[ClientSpec]) -> list[str]:
        """Each client scope a file names that the realm lacks, and each `-name` that removes no realm
        default, at its file:line: found at plan, never half way through an apply."""
        declaring = [s for s in specs if "scope" in s.fields or any(k in s.block("keycloak") for k in kobj.SCOPE_KEYS)]
        if not declaring:
            return []
        ids, realm_default = self._scope_catalogue()
        have = f"realm {self.realm!r} has {', '.join(sorted(ids)) or 'none'}"
        lines: list[str] = []
        for spec in declaring:
            for where, name in _named_scopes(spec):
                if name.startswith("-") and name[1:] not in realm_default:
                    lines.append(
                        f"{where}: {spec.name}: `{name}` removes a realm default client scope, but {name[1:]!r} "
                        f"is not one (realm {self.realm!r} defaults: {', '.join(sorted(realm_default)) or 'none'}); "
                        "remove it"
                    )
                elif not name.startswith("-") and name not in ids:
                    lines.append(f"{where}: {spec.name}: {name!r} is not a client scope ({have}); "
                                 "create it in Keycloak or remove it")
        return lines

    def _scope_targets(self, spec: ClientSpec, rep: dict[str, Any] | None) -> tuple[set[str], set[str]] | None:
        if "scope" not in spec.fields and not any(k in spec.block("keycloak") for k in kobj.SCOPE_KEYS):
            return None
        ids, realm_default = self._scope_catalogue()
        current = rep or {}
        planned = kobj.scope_plan(
            spec, current.get("defaultClientScopes") or [], current.get("optionalClientScopes") or [],
            realm_default,
        )
        if planned is None:
            return None
        unknown = sorted((planned[0] | planned[1]) - set(ids))
        if unknown:
            raise BackendError(
                f"{spec.where('scope' if 'scope' in spec.fields else 'keycloak')}: {spec.name}: "
                f"{', '.join(unknown)} {'is not a client scope' if len(unknown) == 1 else 'are not client scopes'} "
                f"of realm {self.realm!r} (it has {', '.join(sorted(ids))}); create it in Keycloak or remove it"
            )
        return planned

    def _assign_scopes(self, internal_id: str, rep: dict[str, Any], targets: tuple[set[str], set[str]]) -> int:
        """Move the client's default / optional scopes to `targets`: removals first, then additions."""
        ids, _ = self._scope_catalogue()
        have = {
            "default": set(rep.get("defaultClientScopes") or []),
            "optional": set(rep.get("optionalClientScopes") or []),
        }
        want = {"default": targets[0], "optional": targets[1]}
        calls = 0
        for kind in ("default", "optional"):
            for name in sorted(have[kind] - want[kind] - kobj.SELF_MANAGED_SCOPES):
                self._call(
                    "DELETE", f"/clients/{internal_id}/{kind}-client-scopes/{ids[name]}",
                    f"remove {kind} client scope {name}", ok=(404,),
                )
                calls += 1
        for kind in ("default", "optional"):
            for name in sorted(want[kind] - have[kind]):
                self._call(
                    "PUT", f"/clients/{internal_id}/{kind}-client-scopes/{ids[name]}",
                    f"add {kind} client scope {name}",
                )
                calls += 1
        return calls

    def _sync_mappers(self, spec: ClientSpec, internal_id: str, current: list[dict[str, Any]]) -> int:
        """Make the client's own mappers the declared ones (none when the block was removed):
        add, change in place (same id), delete what the file does not name."""
        if kobj.MAPPERS in spec.block("keycloak"):
            wanted = {str(m["name"]): kobj.mapper_body(m) for m in spec.block("keycloak")[kobj.MAPPERS]}
        elif f"keycloak.{kobj.MAPPERS}" in spec.unset:
            wanted = {}
        elif spec.baseline is not None and kobj.mappers_of(spec.baseline) != kobj.mappers_of({kobj.MAPPERS: current}):
            wanted = {str(m["name"]): kobj.mapper_body(m) for m in kobj.mappers_of(spec.baseline)}  # strict
        else:
            return 0
        have = {str(m.get("name")): m for m in current if m.get("protocolMapper") != kobj.PAIRWISE_MAPPER}
        base = f"/clients/{internal_id}/protocol-mappers/models"
        calls = 0
        for name in sorted(set(have) - set(wanted)):
            self._call("DELETE", f"{base}/{have[name]['id']}", f"delete protocol mapper {name}", ok=(404,))
            calls += 1
        for name, body in sorted(wanted.items()):
            if name not in have:
                self._call("POST", base, f"add protocol mapper {name} to {spec.name}", json=body)
            elif kobj.mapper_text(have[name]) != kobj.mapper_text(body):
                self._call("PUT", f"{base}/{have[name]['id']}", f"update protocol mapper {name}",
                           json={**body, "id": have[name]["id"]})
            else:
                continue
            calls += 1
        return calls


def _named_scopes(spec: ClientSpec) -> list[tuple[str, str]]:
    """(where, client scope) for each scope the file names: `scope` tokens (`-name` kept as written)
    and the items of `keycloak.defaultClientScopes` / `optionalClientScopes`; `openid` and the scopes
    Keycloak manages itself left out."""
    skip = kobj.IMPLICIT_SCOPES | kobj.SELF_MANAGED_SCOPES
    out: list[tuple[str, str]] = []
    value = spec.fields.get("scope")
    tokens = value.split() if isinstance(value, str) else list(value or [])
    out += [(str(spec.where("scope")), str(t)) for t in tokens if str(t).lstrip("-") not in skip]
    for key in kobj.SCOPE_KEYS:
        for i, name in enumerate(spec.block("keycloak").get(key) or []):
            if name not in skip:
                out.append((str(spec.where_item(f"keycloak.{key}", i)), str(name)))
    return out
