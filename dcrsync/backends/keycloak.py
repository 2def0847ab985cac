"""Keycloak admin REST API (`/admin/realms/{realm}/clients`).

The field mapping lives in `keycloak_map`; this module is the HTTP side: admin tokens (a service
account's client_credentials or a user's password grant on `admin-cli`), listing, create, the
GET-modify-PUT update, client-scope assignment, delete.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from dcrsync.backends import keycloak_map as kmap
from dcrsync.backends import keycloak_rotation as krot
from dcrsync.backends.base import Backend, Fetched, Marker, Result
from dcrsync.errors import BackendError
from dcrsync.http import error_detail, make_client, unreachable
from dcrsync.model import ClientSpec, LiveClient
from dcrsync.state import ClientRecord

PAGE_SIZE = 500
#: fetch a new admin token this many seconds before the old one expires
TOKEN_MARGIN = 15.0
#: never kept in `raw`: secrets, and what only describes the caller's permissions
NOT_RAW = ("secret", "registrationAccessToken", "access")
#: authenticators that check the client secret
SECRET_AUTHENTICATORS = ("client-secret", "client-secret-jwt")
#: the clients Keycloak makes in every realm: Keycloak's own, never dcrsync's to manage
BUILT_IN_CLIENTS = frozenset(
    {"account", "account-console", "admin-cli", "broker", "realm-management", "security-admin-console"}
)


def to_live(rep: dict[str, Any], realm_default: Iterable[str] = ()) -> LiveClient:
    raw = {k: v for k, v in rep.items() if k not in NOT_RAW}
    if "attributes" in raw:  # the secret rotation's bookkeeping holds the old secret in the clear
        raw["attributes"] = {k: v for k, v in (raw["attributes"] or {}).items() if not krot.is_rotation_attr(k)}
    name, owner = kmap.marker_of(raw)
    return LiveClient(
        client_id=str(raw.get("clientId")),
        fields=kmap.to_fields(raw, realm_default),
        raw=raw,
        managed_name=name,
        owner=owner,
    )


def _detail(response: httpx.Response) -> str:
    err, desc = error_detail(response)
    if err and desc and err != desc:
        return f"{err}: {desc}"
    return desc or err or response.reason_phrase


class AdminTokens:
    """One admin access token shared by every thread, fetched again before it expires."""

    def __init__(self, url: str, admin: dict[str, Any], http: httpx.Client) -> None:
        self.realm = str(admin.get("realm") or "master")
        self.endpoint = f"{url}/realms/{quote(self.realm)}/protocol/openid-connect/token"
        if admin.get("client_id") and admin.get("client_secret") is not None:
            self.form = {
                "grant_type": "client_credentials",
                "client_id": str(admin["client_id"]),
                "client_secret": str(admin["client_secret"]),
            }
            self.who = f"service account {admin['client_id']!r} of realm {self.realm!r}"
        elif admin.get("username"):
            self.form = {
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": str(admin["username"]),
                "password": str(admin.get("password") or ""),
            }
            self.who = f"user {admin['username']!r} of realm {self.realm!r}"
        else:
            raise BackendError(
                "server.admin needs either client_id and client_secret, or username and password"
            )
        self.http = http
        self.lock = threading.Lock()
        self.token: str | None = None
        self.expires = 0.0
        self.fetches = 0

    def get(self, stale: str | None = None) -> str:
        """The current token; a new one if it expires soon, or if `stale` (refused) is current."""
        with self.lock:
            if self.token and self.token != stale and time.monotonic() < self.expires:
                return self.token
            try:
                response = self.http.post(self.endpoint, data=self.form)
            except httpx.TransportError as exc:
                raise unreachable(exc, self.endpoint) from None
            self.fetches += 1
            if response.status_code != 200:
                hint = "check server.admin in dcrsync.yaml"
                if response.status_code == 404:
                    hint = f"realm {self.realm!r} does not exist: check server.admin.realm in dcrsync.yaml"
                raise BackendError(
                    f"keycloak refused the admin credentials ({self.who}): HTTP {response.status_code} "
                    f"{_detail(response)}; {hint}",
                    status=response.status_code,
                )
            body = response.json()
            self.token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 60)
            self.expires = time.monotonic() + max(lifetime - TOKEN_MARGIN, lifetime / 2)
            return self.token


class _BearerAuth(httpx.Auth):
    """Adds the admin token; on a 401 fetches a new one and sends the request once more."""

    def __init__(self, tokens: AdminTokens) -> None:
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.get()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.tokens.get(stale=token)}"
            yield request


class KeycloakBackend(Backend):
    family: ClassVar[str] = "keycloak"
    lists: ClassVar[bool] = True
    chooses_client_id: ClassVar[bool] = True
    chooses_secret: ClassVar[bool] = True
    rotates_secret: ClassVar[bool] = True
    #: with a client policy whose profile has the secret-rotation executor (keycloak_rotation)
    keeps_old_secret: ClassVar[bool] = True
    #: its token endpoint takes client_id / client_secret in the body for either secret method
    token_auth_post: ClassVar[bool] = True
    #: Keycloak changes a clientId in place: the internal id, the secret and all else stay
    renames_client_id: ClassVar[bool] = True
    #: what `export` / `import` leave out: Keycloak's default, and what `scope` already says
    defaults: ClassVar[dict[str, Any]] = {"subject_type": "public"}
    export_skip: ClassVar[frozenset[str]] = frozenset(
        {"keycloak.defaultClientScopes", "keycloak.optionalClientScopes"}
    )

    def __init__(self, server: dict[str, Any], *, parallelism: int = 4) -> None:
        self.base = str(server["url"]).rstrip("/")
        self.realm = str(server["realm"])
        self.admin_path = f"/admin/realms/{quote(self.realm)}"
        self.url = f"{self.base}{self.admin_path}"
        self.page_size = int(server.get("page_size", PAGE_SIZE))
        #: `name`: a new client's clientId is its name unless the file declares one; `uuid`: random
        self.client_ids = str(server.get("client_ids") or "name")
        timeout = float(server.get("timeout", 30))
        self.token_http = make_client(self.base, timeout=timeout, max_connections=2)
        self.tokens = AdminTokens(self.base, dict(server.get("admin") or {}), self.token_http)
        admin_id = (server.get("admin") or {}).get("client_id")
        #: dcrsync's own admin client, when it lives in the realm dcrsync manages
        self.admin_client_id = str(admin_id) if admin_id and self.tokens.realm == self.realm else None
        self.http = make_client(self.url, timeout=timeout, max_connections=max(4, parallelism * 2))
        self.http.auth = _BearerAuth(self.tokens)
        self._scopes_lock = threading.Lock()
        self._scope_ids: dict[str, str] | None = None
        self._realm_default: set[str] | None = None
        #: names and client_ids whose roles a plan compares (their files declare roles): read in fetch
        self._role_names: set[str] = set()
        self._role_ids: set[str] = set()

    # --- plumbing -------------------------------------------------------------------------
    def _call(self, method: str, path: str, what: str, ok: tuple[int, ...] = (), **kw: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise unreachable(exc, self.base) from None
        if response.status_code >= 400 and response.status_code not in ok:
            raise self._error(response, what)
        return response

    def _error(self, response: httpx.Response, what: str) -> BackendError:
        status = response.status_code
        hint = {
            401: f"the admin token was refused: check server.admin in dcrsync.yaml ({self.tokens.who})",
            403: (
                f"{self.tokens.who} lacks the realm-management roles view-clients and manage-clients "
                f"on realm {self.realm!r}"
            ),
            409: "a client with this client_id already exists in the realm",
        }.get(status, "")
        if status == 403 and ("role" in what or "service account" in what):
            hint = (
                f"{self.tokens.who} lacks the realm-management roles view-users and manage-users on realm "
                f"{self.realm!r} (needed for keycloak.serviceAccountRoles and clientRoles)"
            )
        if status == 403 and "client polic" in what:
            hint = f"{self.tokens.who} lacks the realm-management role view-realm on realm {self.realm!r}"
        if status == 404 and "realm" in _detail(response).lower():
            hint = f"realm {self.realm!r} does not exist: check server.realm in dcrsync.yaml"
        msg = f"keycloak refused to {what}: HTTP {status} {_detail(response)}"
        return BackendError(f"{msg}; {hint}" if hint else msg, status=status)

    # --- reading --------------------------------------------------------------------------
    def fetch(self, records: Sequence[ClientRecord] = ()) -> Fetched:
        """Every client of the realm, page by page (`first` / `max`)."""
        self._scope_catalogue()  # `scope` is read against the realm's default client scopes
        out: list[LiveClient] = []
        seen: set[str] = set()
        first, requests = 0, 0
        while True:
            response = self._call(
                "GET", "/clients", f"list the clients of realm {self.realm}",
                params={"first": first, "max": self.page_size},
            )
            requests += 1
            page = response.json() or []
            fresh = [c for c in page if c.get("id") not in seen]
            for rep in fresh:
                seen.add(rep["id"])
                out.append(self._live(rep))
            if len(page) < self.page_size or not fresh:
                break
            first += len(page)
        role_paths = {f"keycloak.{k}" for k in kmap.ROLE_KEYS}
        names = self._role_names | {r.name for r in records if role_paths & set(r.desired)}
        ids = self._role_ids | {r.client_id for r in records if role_paths & set(r.desired)}
        for live in out:
            if live.managed_name in names or live.client_id in ids:
                self._with_roles(live)
        return Fetched(clients=out, requests=requests)

    def _by_client_id(self, client_id: str) -> dict[str, Any] | None:
        response = self._call(
            "GET", "/clients", f"read client {client_id}", params={"clientId": client_id, "search": "false"}
        )
        for rep in response.json() or []:
            if rep.get("clientId") == client_id:
                return rep
        return None

    def get(self, client_id: str, record: ClientRecord | None = None) -> tuple[LiveClient | None, dict]:
        rep = self._by_client_id(client_id)
        if rep is None:
            return None, {}
        live = self._live(rep)
        try:
            self._with_roles(live)  # for `import`: what an admin without view-users cannot read stays out
        except BackendError as exc:
            if exc.status != 403 or client_id in self._role_ids:
                raise
        return live, {}

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

    def token_endpoint(self) -> str:
        """The realm's OIDC token endpoint (for checking a secret)."""
        return f"{self.base}/realms/{quote(self.realm)}/protocol/openid-connect/token"

    def reserved(self, live: LiveClient) -> str | None:
        """Why dcrsync must never manage this client (export leaves it out, import refuses it)."""
        if live.client_id == self.admin_client_id:
            return "it is dcrsync's own admin client (server.admin.client_id)"
        if live.client_id in BUILT_IN_CLIENTS:
            return "it is one of the clients Keycloak makes in every realm"
        name = live.raw.get("name")
        if "${" in live.client_id or (isinstance(name, str) and name.startswith("${")):
            return "it is a Keycloak built-in (its name is a message key)"
        if self.realm == "master" and live.client_id.endswith("-realm") and live.raw.get("bearerOnly"):
            return "it is the master realm's handle on another realm"
        return None

    def _read(self, internal_id: str, what: str) -> dict[str, Any]:
        return self._call("GET", f"/clients/{internal_id}", what).json()

    def client_secret(self, client_id: str) -> str | None:
        """The secret Keycloak holds (admin API). For tests; dcrsync itself reads it from state."""
        rep = self._by_client_id(client_id)
        if rep is None:
            return None
        body = self._call("GET", f"/clients/{rep['id']}/client-secret", f"read the secret of {client_id}").json()
        return body.get("value")

    # --- client scopes --------------------------------------------------------------------
    def _scope_catalogue(self) -> tuple[dict[str, str], set[str]]:
        """The realm's client scopes (name -> id) and the ones it makes default for new clients."""
        with self._scopes_lock:
            if self._scope_ids is None:
                scopes = self._call("GET", "/client-scopes", f"list the client scopes of realm {self.realm}").json()
                self._scope_ids = {s["name"]: s["id"] for s in scopes or [] if s.get("name")}
            if self._realm_default is None:
                response = self._call(
                    "GET", "/default-default-client-scopes", "read the realm's default client scopes", ok=(403,)
                )
                # without view-realm: every new scope becomes optional (what RFC 7591 `scope` means)
                names = [] if response.status_code == 403 else [
                    s.get("name") for s in response.json() or []
                    if s.get("protocol", "openid-connect") == "openid-connect"  # not the SAML ones
                ]
                self._realm_default = {n for n in names if n}
            return self._scope_ids, self._realm_default

    def _scope_targets(self, spec: ClientSpec, rep: dict[str, Any] | None) -> tuple[set[str], set[str]] | None:
        if "scope" not in spec.fields and not any(k in spec.block("keycloak") for k in kmap.SCOPE_KEYS):
            return None
        ids, realm_default = self._scope_catalogue()
        current = rep or {}
        planned = kmap.scope_plan(
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
            for name in sorted(have[kind] - want[kind] - kmap.SELF_MANAGED_SCOPES):
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

    # --- protocol mappers -----------------------------------------------------------------
    def _sync_mappers(self, spec: ClientSpec, internal_id: str, current: list[dict[str, Any]]) -> int:
        """Make the client's own mappers the declared ones (none when the block was removed):
        add, change in place (same id), delete what the file does not name."""
        if kmap.MAPPERS in spec.block("keycloak"):
            wanted = {str(m["name"]): kmap.mapper_body(m) for m in spec.block("keycloak")[kmap.MAPPERS]}
        elif f"keycloak.{kmap.MAPPERS}" in spec.unset:
            wanted = {}
        else:
            return 0
        have = {str(m.get("name")): m for m in current if m.get("protocolMapper") != kmap.PAIRWISE_MAPPER}
        base = f"/clients/{internal_id}/protocol-mappers/models"
        calls = 0
        for name in sorted(set(have) - set(wanted)):
            self._call("DELETE", f"{base}/{have[name]['id']}", f"delete protocol mapper {name}", ok=(404,))
            calls += 1
        for name, body in sorted(wanted.items()):
            if name not in have:
                self._call("POST", base, f"add protocol mapper {name} to {spec.name}", json=body)
            elif kmap.mapper_text(have[name]) != kmap.mapper_text(body):
                self._call("PUT", f"{base}/{have[name]['id']}", f"update protocol mapper {name}",
                           json={**body, "id": have[name]["id"]})
            else:
                continue
            calls += 1
        return calls

    # --- roles ----------------------------------------------------------------------------
    def _client_roles(self, internal_id: str) -> list[str]:
        body = self._call("GET", f"/clients/{internal_id}/roles", "read a client's roles").json()
        return sorted(str(r["name"]) for r in body or [])

    def _sa_user(self, internal_id: str) -> str | None:
        response = self._call(
            "GET", f"/clients/{internal_id}/service-account-user", "read a service account", ok=(400, 404)
        )
        return None if response.status_code >= 400 else str(response.json().get("id"))

    def _sa_roles(self, user_id: str) -> dict[str, Any]:
        body = self._call("GET", f"/users/{user_id}/role-mappings", "read a service account's roles").json() or {}
        realm = [r["name"] for r in body.get("realmMappings") or []]
        clients = {
            str(v.get("client") or k): [r["name"] for r in v.get("mappings") or []]
            for k, v in (body.get("clientMappings") or {}).items()
        }
        return kmap.sa_roles_text({"realm": realm, "clients": clients})

    def _with_roles(self, live: LiveClient) -> LiveClient:
        """`live` with its client roles and its service account's roles read (three calls at most)."""
        internal_id = str(live.raw["id"])
        live.fields[f"keycloak.{kmap.CLIENT_ROLES}"] = self._client_roles(internal_id)
        user = self._sa_user(internal_id) if live.raw.get("serviceAccountsEnabled") else None
        live.fields[f"keycloak.{kmap.SA_ROLES}"] = self._sa_roles(user) if user else {}
        return live

    def _role(self, path: str, what: str) -> dict[str, Any]:
        body = self._call("GET", path, f"read {what}").json()
        return {"id": body["id"], "name": body["name"]}

    def _sync_roles(self, spec: ClientSpec, internal_id: str, client_id: str) -> bool:
        """Make the client's roles and its service account's grants the declared ones."""
        kc, unset, touched = spec.block("keycloak"), spec.unset, False
        if kmap.CLIENT_ROLES in kc or f"keycloak.{kmap.CLIENT_ROLES}" in unset:
            touched = True
            want, have = set(kc.get(kmap.CLIENT_ROLES) or []), set(self._client_roles(internal_id))
            for name in sorted(want - have):
                self._call("POST", f"/clients/{internal_id}/roles", f"add client role {name}", json={"name": name})
            for name in sorted(have - want):
                self._call("DELETE", f"/clients/{internal_id}/roles/{quote(name, safe='')}",
                           f"delete client role {name}", ok=(404,))
        if kmap.SA_ROLES in kc or f"keycloak.{kmap.SA_ROLES}" in unset:
            touched = True
            want_sa = kmap.sa_roles_text(kc.get(kmap.SA_ROLES))
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

    def _role_problems(self, specs: Sequence[ClientSpec]) -> list[str]:
        """Roles a file grants that the realm does not have, each at its file:line."""
        role_specs = [s for s in specs if kmap.ROLE_KEYS & set(s.block("keycloak"))]
        self._role_names = {s.name for s in role_specs}
        self._role_ids = {i for s in role_specs for i in (s.client_id, self.default_client_id(s)) if i}
        if not role_specs:
            return []
        lines: list[str] = []
        realm_roles: set[str] | None = None
        # roles a client of this plan declares: there after its create, which apply runs first
        client_roles: dict[str, set[str] | None] = {
            i: set(s.block("keycloak")[kmap.CLIENT_ROLES] or [])
            for s in role_specs if kmap.CLIENT_ROLES in s.block("keycloak")
            for i in (s.client_id, self.default_client_id(s)) if i
        }
        for spec in role_specs:
            sa = spec.block("keycloak").get(kmap.SA_ROLES) or {}
            grants = spec.fields.get("grant_types")
            if sa and grants is not None and "client_credentials" not in grants:
                lines.append(f"{spec.where('grant_types')}: {spec.name}: keycloak.serviceAccountRoles need a "
                             "service account: add client_credentials to grant_types")
            for i, role in enumerate(sa.get("realm") or []):
                if realm_roles is None:
                    body = self._call("GET", "/roles", "list the realm's roles").json()
                    realm_roles = {str(r["name"]) for r in body or []}
                if role not in realm_roles:
                    lines.append(
                        f"{spec.where_item(f'keycloak.{kmap.SA_ROLES}.realm', i)}: {spec.name}: realm role "
                        f"{role!r} does not exist in realm {self.realm!r}; create it in Keycloak or remove it"
                    )
            for cid, roles in (sa.get("clients") or {}).items():
                if cid not in client_roles:
                    rep = self._by_client_id(cid)
                    client_roles[cid] = set(self._client_roles(rep["id"])) if rep else None
                names = client_roles[cid]
                for i, role in enumerate(roles or []):
                    where = spec.where_item(f"keycloak.{kmap.SA_ROLES}.clients.{cid}", i)
                    if names is None:
                        lines.append(f"{where}: {spec.name}: client {cid!r} does not exist in realm "
                                     f"{self.realm!r}, so it has no role {role!r}")
                        break
                    if role not in names:
                        lines.append(f"{where}: {spec.name}: client {cid!r} has no role {role!r} "
                                     f"(it has {', '.join(sorted(names)) or 'none'}); create it or remove it")
        return lines

    # --- checks ---------------------------------------------------------------------------
    def check_specs(self, specs: Sequence[ClientSpec]) -> None:
        """Refuse, before anything is sent, declared fields Keycloak cannot hold, and names the
        realm does not have (a `-scope` that is no realm default)."""
        lines = self._local_problems(specs)
        lines += self._role_problems(specs)
        if any("scope" in s.fields for s in specs):
            _, realm_default = self._scope_catalogue()
            for spec in specs:
                value = spec.fields.get("scope")
                tokens = value.split() if isinstance(value, str) else list(value or [])
                for token in tokens:
                    if token.startswith("-") and token[1:] not in realm_default:
                        lines.append(
                            f"{spec.where('scope')}: {spec.name}: `{token}` removes a realm default client scope, "
                            f"but {token[1:]!r} is not one (realm {self.realm!r} defaults: "
                            f"{', '.join(sorted(realm_default)) or 'none'}); remove it"
                        )
        if lines:
            raise BackendError("\n".join(lines))

    def _local_problems(self, specs: Sequence[ClientSpec]) -> list[str]:
        lines = []
        for spec in specs:
            for path, why in kmap.unsupported(spec):
                lines.append(f"{spec.where(path)}: {spec.name}: keycloak cannot hold `{path}`: {why}")
            for attr in spec.block("keycloak").get("attributes") or {}:
                if krot.is_rotation_attr(str(attr)):
                    lines.append(f"{spec.where(f'keycloak.attributes.{attr}')}: {spec.name}: `{attr}` is Keycloak's "
                                 "secret-rotation bookkeeping, the server's own; remove it")
        return lines

    def _check_local(self, spec: ClientSpec) -> None:
        lines = self._local_problems([spec])
        if lines:
            raise BackendError("\n".join(lines))

    def create_after(self, spec: ClientSpec) -> set[str]:
        """The clients whose roles this client's service account is granted."""
        return set(kmap.sa_roles_text(spec.block("keycloak").get(kmap.SA_ROLES)).get("clients") or {})

    def default_client_id(self, spec: ClientSpec) -> str | None:
        """The client's name, as every client made in the Keycloak console reads (`client_ids: uuid`:
        none, a random UUID is chosen at apply)."""
        return spec.name if self.client_ids == "name" else None

    # --- writing --------------------------------------------------------------------------
    def create(
        self, spec: ClientSpec, marker: Marker, client_id: str | None, client_secret: str | None
    ) -> Result:
        self._check_local(spec)
        # RFC 7591's default is client_secret_basic; Keycloak's varies with the body (sending
        # `protocol` alone makes a public client): say it, unless the YAML does
        rep: dict[str, Any] = {
            "clientId": client_id or self.new_client_id(),
            "protocol": "openid-connect",
            "publicClient": False,
            "clientAuthenticatorType": "client-secret",
        }
        kmap.write(rep, spec.fields, spec.block("keycloak"))
        attrs = rep["attributes"]
        if spec.fields.get("token_endpoint_auth_method") == "none" and rep.get("standardFlowEnabled", True):
            attrs.setdefault("pkce.code.challenge.method", "S256")  # unless the keycloak: block says
        targets = self._scope_targets(spec, None)
        if targets is not None:
            default = set(targets[0])
            if rep.get("serviceAccountsEnabled") and "service_account" in self._scope_catalogue()[0]:
                default.add("service_account")  # what Keycloak gives a service client (client_id claim…)
            rep["defaultClientScopes"], rep["optionalClientScopes"] = sorted(default), sorted(targets[1])
        kmap.set_marker(rep, marker.owner, marker.name)
        uses_secret = not rep.get("publicClient") and rep.get("clientAuthenticatorType") in SECRET_AUTHENTICATORS
        if uses_secret:
            # ours when apply chose it (journaled already), else made here: returned once, like a server's
            client_secret = client_secret or secrets.token_urlsafe(32)
            rep["secret"] = client_secret
        response = self._call("POST", "/clients", f"create client {spec.name}", json=rep)
        location = response.headers.get("Location", "")
        internal_id = location.rstrip("/").rsplit("/", 1)[-1] if location else None
        created = self._read(internal_id, f"read client {spec.name}") if internal_id else None
        if created is None:
            created = self._by_client_id(rep["clientId"])
        if created is None:
            raise BackendError(f"keycloak created client {spec.name} but cannot find it")
        calls = self._assign_scopes(created["id"], created, targets) if targets is not None else 0
        calls += self._sync_mappers(spec, created["id"], created.get(kmap.MAPPERS) or [])
        if calls:
            created = self._read(created["id"], f"read client {spec.name}")
        live = self._live(created)
        if self._sync_roles(spec, created["id"], live.client_id):
            self._with_roles(live)
        given = {"client_secret": client_secret} if uses_secret else {}
        return Result(live=live, secrets=given)

    def update(
        self,
        spec: ClientSpec,
        marker: Marker,
        live: LiveClient,
        record: ClientRecord | None,
        new_secret: str | None = None,
    ) -> Result:
        self._check_local(spec)
        internal_id = str(live.raw["id"])
        rep = {k: v for k, v in live.raw.items() if k not in kmap.SCOPE_KEYS}
        rep.pop("protocolMappers", None)  # left as they are: a PUT without them keeps them
        kmap.write(rep, spec.fields, spec.block("keycloak"))
        kmap.reset(rep, spec.unset)
        kmap.set_marker(rep, marker.owner, marker.name)
        rep["id"], rep["clientId"] = internal_id, spec.client_id or live.client_id  # renamed in place
        secret_now = rep.get("clientAuthenticatorType") in SECRET_AUTHENTICATORS and not rep.get("publicClient")
        secret_before = live.raw.get("clientAuthenticatorType") in SECRET_AUTHENTICATORS and not live.raw.get(
            "publicClient"
        )
        if secret_now and not secret_before and not new_secret:
            new_secret = secrets.token_urlsafe(32)  # turned confidential: it needs a secret we know
        if new_secret:
            rep["secret"] = new_secret
        self._call("PUT", f"/clients/{internal_id}", f"update client {spec.name}", json=rep)
        targets = self._scope_targets(spec, live.raw)
        if targets is not None:
            self._assign_scopes(internal_id, live.raw, targets)
        self._sync_mappers(spec, internal_id, live.raw.get(kmap.MAPPERS) or [])
        after = self._live(self._read(internal_id, f"read client {spec.name}"))
        if self._sync_roles(spec, internal_id, after.client_id):
            self._with_roles(after)
        else:  # untouched by this update: the roles read with `live` still hold
            after.fields.update({f"keycloak.{k}": live.fields[f"keycloak.{k}"] for k in kmap.ROLE_KEYS
                                 if f"keycloak.{k}" in live.fields})
        return Result(live=after, secrets={"client_secret": new_secret} if new_secret else {})

    def rotate_with_grace(self, live: LiveClient, record: ClientRecord | None, grace: int) -> tuple[Result, int]:
        """Regenerate the secret (the only call after which Keycloak keeps the old one), once a
        client policy is seen to keep the old one at least `grace` seconds; returns (the new secret,
        when the old one expires; 0: Keycloak did not keep it after all)."""
        internal_id = str(live.raw["id"])
        what = "read the realm's client policies"
        policies = self._call("GET", "/client-policies/policies", what, params={"include-global-policies": "true"}).json()
        profiles = self._call("GET", "/client-policies/profiles", what, params={"include-global-profiles": "true"}).json()
        policies, profiles = policies or {}, profiles or {}
        verdict = krot.coverage(
            [*(policies.get("policies") or []), *(policies.get("globalPolicies") or [])],
            [*(profiles.get("profiles") or []), *(profiles.get("globalProfiles") or [])],
            live.raw,
        )
        why = krot.refusal(verdict, grace, live.client_id)
        if why:
            raise BackendError(why)
        body = self._call("POST", f"/clients/{internal_id}/client-secret", f"regenerate the secret of {live.client_id}")
        secret = str(body.json()["value"])
        rep = self._read(internal_id, f"read client {live.client_id}")
        attrs = rep.get("attributes") or {}
        kept = attrs.get(krot.ROTATED_EXPIRY_ATTR) if attrs.get(krot.ROTATED_SECRET_ATTR) else None
        return Result(live=self._live(rep), secrets={"client_secret": secret}), int(kept or 0)

    def delete(self, live: LiveClient, record: ClientRecord | None) -> None:
        internal_id = live.raw.get("id")
        if not internal_id:
            rep = self._by_client_id(live.client_id)
            if rep is None:
                return
            internal_id = rep["id"]
        self._call("DELETE", f"/clients/{internal_id}", f"delete client {live.client_id}", ok=(404,))

    #: raw representation -> LiveClient: lets `drift` tell which raw keys are declared fields

    def _live(self, rep: dict[str, Any]) -> LiveClient:
        return to_live(rep, self._scope_catalogue()[1])

    def normalise(self, path: str, value: Any) -> Any:
        realm_default = self._scope_catalogue()[1] if path == "scope" else ()
        return kmap.normalise(path, value, realm_default)

    def live_of(self, raw: dict[str, Any]) -> LiveClient:
        return self._live(raw)

    def close(self) -> None:
        self.http.close()
        self.token_http.close()
