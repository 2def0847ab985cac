"""Roles of a Keycloak client: the client roles it defines and the realm and client roles its
service account is granted, read, synced and checked at plan time. Mixed into `KeycloakBackend`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx

from dcrsync.backends.keycloak import objects as kobj
from dcrsync.errors import BackendError, BadAnswer
from dcrsync.guards.answers import ID, OBJECTS, decode, kind_of, misfit, objects, where
from dcrsync.model import ClientSpec, LiveClient


class KeycloakRoles:
    """Uses the backend's `_call`, `_by_client_id`, `default_client_id` and `realm`; `_role_names` /
    `_role_ids` are the clients whose roles a plan compares (set by `check_specs`, read by `fetch`)."""

    realm: str
    _call: Callable[..., httpx.Response]
    _json: Callable[..., Any]
    _items: Callable[..., list[dict[str, Any]]]
    _by_client_id: Callable[[str], dict[str, Any] | None]
    default_client_id: Callable[[ClientSpec], str | None]
    _role_names: set[str]
    _role_ids: set[str]

    def _client_roles(self, internal_id: str) -> list[str]:
        return sorted(r["name"] for r in self._items(f"/clients/{internal_id}/roles", "read a client's roles"))

    def _sa_user(self, internal_id: str) -> str | None:
        response = self._call(
            "GET", f"/clients/{internal_id}/service-account-user", "read a service account", ok=(400, 404)
        )
        if response.status_code >= 400:
            return None
        return objects([decode(response, "read a service account")], "id", response, "read a service account",
                       noun="user")[0]["id"]

    def _sa_roles(self, user_id: str) -> dict[str, Any]:
        what = "read a service account's roles"
        response = self._call("GET", f"/users/{user_id}/role-mappings", what)
        body = decode(response, what)
        mappings = body.get("clientMappings") or {}
        groups = list(mappings.values()) if isinstance(mappings, dict) else [mappings]
        wrong = misfit(body, {"realmMappings": OBJECTS}) or next(
            (f"a client's roles are {kind_of(v)}" for v in groups if not isinstance(v, dict) or misfit(v, {"mappings": OBJECTS})),
            None,
        )
        if wrong:
            raise BadAnswer(f"{where(response)} answered role mappings dcrsync cannot read to `{what}`: {wrong}")

        def names(roles: list[dict[str, Any]] | None) -> list[str]:
            return [r["name"] for r in objects(roles or [], "name", response, what, noun="role")]

        realm = names(body.get("realmMappings"))
        clients = {str(v.get("client") or k): names(v.get("mappings")) for k, v in mappings.items()}
        return kobj.sa_roles_text({"realm": realm, "clients": clients})

    def _with_roles(self, live: LiveClient) -> LiveClient:
        """`live` with its client roles and its service account's roles read (three calls at most)."""
        internal_id = str(live.raw["id"])
        live.fields[f"keycloak.{kobj.CLIENT_ROLES}"] = self._client_roles(internal_id)
        user = self._sa_user(internal_id) if live.raw.get("serviceAccountsEnabled") else None
        live.fields[f"keycloak.{kobj.SA_ROLES}"] = self._sa_roles(user) if user else {}
        return live

    def _role(self, path: str, what: str) -> dict[str, Any]:
        response = self._call("GET", path, f"read {what}")
        body = objects([decode(response, f"read {what}")], "id", response, f"read {what}", {"name": ID}, noun="role")[0]
        return {"id": body["id"], "name": body["name"]}

    def _sync_roles(self, spec: ClientSpec, internal_id: str, client_id: str) -> bool:
        """Make the client's roles and its service account's grants the declared ones."""
        kc, unset, touched = spec.block("keycloak"), spec.unset, False
        if kobj.CLIENT_ROLES in kc or f"keycloak.{kobj.CLIENT_ROLES}" in unset:
            touched = True
            want, have = set(kc.get(kobj.CLIENT_ROLES) or []), set(self._client_roles(internal_id))
            for name in sorted(want - have):
                self._call("POST", f"/clients/{internal_id}/roles", f"add client role {name}", json={"name": name})
            for name in sorted(have - want):
                self._call("DELETE", f"/clients/{internal_id}/roles/{quote(name, safe='')}",
                           f"delete client role {name}", ok=(404,))
        if kobj.SA_ROLES in kc or f"keycloak.{kobj.SA_ROLES}" in unset:
            touched = True
            want_sa = kobj.sa_roles_text(kc.get(kobj.SA_ROLES))
            user = self._sa_user(internal_id)
            if user is None:
                if want_sa:
                    raise BackendError(
                        f"{spec.where('keycloak')}: {spec.name}: serviceAccountRoles need a service account: "
                        "add client_credentials to grant_types"
                    )
                return touched
            have_sa = self._sa_roles(user)
            base = f"/users/{user}/role-mappings"
            want_r, have_r = set(want_sa.get("realm", [])), set(have_sa.get("realm", []))
            if want_r - have_r:
                roles = [self._role(f"/roles/{quote(n, safe='')}", f"realm role {n}") for n in sorted(want_r - have_r)]
                self._call("POST", f"{base}/realm", f"grant realm roles to {spec.name}", json=roles)
            if have_r - want_r:
                roles = [self._role(f"/roles/{quote(n, safe='')}", f"realm role {n}") for n in sorted(have_r - want_r)]
                self._call("DELETE", f"{base}/realm", f"revoke realm roles of {spec.name}", json=roles)
            want_c, have_c = want_sa.get("clients", {}), have_sa.get("clients", {})
            for cid in sorted(set(want_c) | set(have_c)):
                w, h = set(want_c.get(cid, [])), set(have_c.get(cid, []))
                if w == h:
                    continue
                other = internal_id if cid == client_id else (self._by_client_id(cid) or {}).get("id")
                if other is None:
                    raise BackendError(f"{spec.where('keycloak')}: {spec.name}: client {cid} does not exist")
                for method, names in (("POST", w - h), ("DELETE", h - w)):
                    if names:
                        roles = [self._role(f"/clients/{other}/roles/{quote(n, safe='')}", f"role {n} of {cid}")
                                 for n in sorted(names)]
                        self._call(method, f"{base}/clients/{other}", f"change {cid} roles of {spec.name}", json=roles)
        return touched

    def _role_specs(self, specs: Sequence[ClientSpec]) -> list[ClientSpec]:
        """The specs that declare roles; `fetch` reads the roles of their clients."""
        role_specs = [s for s in specs if kobj.ROLE_KEYS & set(s.block("keycloak"))]
        self._role_names = {s.name for s in role_specs}
        self._role_ids = {i for s in role_specs for i in (s.client_id, self.default_client_id(s)) if i}
        return role_specs

    def _role_problems(self, specs: Sequence[ClientSpec], renames: Mapping[str, str] | None = None) -> list[str]:
        """Roles a file grants that the realm does not have, each at its file:line; and grants that
        name a client by the client_id this plan renames away (`renames`: old -> new), which apply
        could only half do (the rename lands, the grant then finds no client)."""
        role_specs = self._role_specs(specs)
        if not role_specs:
            return []
        renames = renames or {}
        by_new_id = {s.client_id: s for s in specs if s.client_id in set(renames.values())}
        lines: list[str] = []
        realm_roles: set[str] | None = None
        # roles a client of this plan declares: there after its create, which apply runs first
        client_roles: dict[str, set[str] | None] = {
            i: set(s.block("keycloak")[kobj.CLIENT_ROLES] or [])
            for s in role_specs if kobj.CLIENT_ROLES in s.block("keycloak")
            for i in (s.client_id, self.default_client_id(s)) if i
        }
        for spec in role_specs:
            sa = spec.block("keycloak").get(kobj.SA_ROLES) or {}
            grants = spec.fields.get("grant_types")
            if sa and grants is not None and "client_credentials" not in grants:
                lines.append(f"{spec.where('grant_types')}: {spec.name}: keycloak.serviceAccountRoles need a "
                             "service account: add client_credentials to grant_types")
            for i, role in enumerate(sa.get("realm") or []):
                if realm_roles is None:
                    realm_roles = {r["name"] for r in self._items("/roles", "list the realm's roles")}
                if role not in realm_roles:
                    lines.append(
                        f"{spec.where_item(f'keycloak.{kobj.SA_ROLES}.realm', i)}: {spec.name}: realm role "
                        f"{role!r} does not exist in realm {self.realm!r}; create it in Keycloak or remove it"
                    )
            for cid, roles in (sa.get("clients") or {}).items():
                where = spec.where_item(f"keycloak.{kobj.SA_ROLES}.clients.{cid}", 0)
                if cid in renames:
                    new = renames[cid]
                    lines.append(
                        f"{where}: {spec.name}: client {cid!r} is renamed to {new!r} by this plan "
                        f"({by_new_id[new].where('client_id')}): name it {new!r} here too, or the apply would "
                        "rename it and then find no client to grant these roles on"
                    )
                    continue
                lines += self._client_role_problems(spec, cid, roles or [], client_roles, renames)
        return lines

    def _client_role_problems(
        self, spec: ClientSpec, cid: str, roles: list[str], known: dict[str, set[str] | None],
        renames: Mapping[str, str],
    ) -> list[str]:
        """Roles granted on client `cid` that it does not have (its new id after a rename included)."""
        if cid not in known:
            old = next((o for o, n in renames.items() if n == cid), cid)
            rep = self._by_client_id(old)
            known[cid] = set(self._client_roles(rep["id"])) if rep else None
        names = known[cid]
        lines: list[str] = []
        for i, role in enumerate(roles):
            where = spec.where_item(f"keycloak.{kobj.SA_ROLES}.clients.{cid}", i)
            if names is None:
                lines.append(f"{where}: {spec.name}: client {cid!r} does not exist in realm "
                             f"{self.realm!r}, so it has no role {role!r}")
                break
            if role not in names:
                lines.append(f"{where}: {spec.name}: client {cid!r} has no role {role!r} "
                             f"(it has {', '.join(sorted(names)) or 'none'}); create it or remove it")
        return lines

    def with_details(self, clients: Sequence[LiveClient]) -> list[LiveClient]:
        """Each client with its roles and its service account's roles (two or three calls each, four
        clients at a time); an admin without view-users gets them without (as `get` does)."""
        def read(live: LiveClient) -> LiveClient:
            try:
                return self._with_roles(live)
            except BackendError as exc:
                if exc.status != 403:
                    raise
                return live

        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="dcrsync-roles") as pool:
            return list(pool.map(read, clients))

    def create_after(self, spec: ClientSpec) -> set[str]:
        """The clients whose roles this client's service account is granted."""
        return set(kobj.sa_roles_text(spec.block("keycloak").get(kobj.SA_ROLES)).get("clients") or {})
