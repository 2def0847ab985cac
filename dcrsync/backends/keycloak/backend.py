"""Keycloak admin REST API (`/admin/realms/{realm}/clients`).

The field mapping lives in `mapping`; this module is the HTTP side: listing, create, the
GET-modify-PUT update, delete. Admin tokens are `auth`'s; client scopes and protocol mappers
`scopes`'; roles `roles`'; reading, regenerating (with a grace) and retiring a secret `secret`'s.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from dcrsync.backends.base import Backend, Fetched, Marker, Result
from dcrsync.backends.keycloak import mapping as kmap
from dcrsync.backends.keycloak import objects as kobj
from dcrsync.backends.keycloak import rotation as krot
from dcrsync.backends.keycloak.auth import AdminTokens, BearerAuth, detail
from dcrsync.backends.keycloak.fields import SHAPES
from dcrsync.backends.keycloak.limits import unsupported
from dcrsync.backends.keycloak.roles import KeycloakRoles
from dcrsync.backends.keycloak.scopes import KeycloakScopes
from dcrsync.backends.keycloak.secret import SECRET_AUTHENTICATORS, KeycloakSecret
from dcrsync.errors import BackendError, BadAnswer
from dcrsync.guards.answers import Shape, decode, inert, objects, odd_segment
from dcrsync.guards.trust import Trust
from dcrsync.model import ClientSpec, LiveClient
from dcrsync.net.http import limited_hint, make_client, unreachable
from dcrsync.net.ratelimit import Limiter
from dcrsync.state.records import ClientRecord

PAGE_SIZE = 500
#: the most clients a realm's listing may hold (Keycloak does not count them): past it, pages are broken
MAX_LISTED = 250_000
#: never kept in `raw`: secrets, and what only describes the caller's permissions
NOT_RAW = ("secret", "registrationAccessToken", "access")
#: the clients Keycloak makes in every realm: Keycloak's own, never dcrsync's to manage
BUILT_IN_CLIENTS = frozenset(
    {"account", "account-console", "admin-cli", "broker", "realm-management", "security-admin-console"}
)
def to_live(rep: dict[str, Any], realm_default: Iterable[str] = ()) -> LiveClient:
    raw = {k: v for k, v in rep.items() if k not in NOT_RAW}
    if "attributes" in raw:  # the secret rotation's bookkeeping holds the old secret in the clear
        raw["attributes"] = {k: v for k, v in (raw["attributes"] or {}).items() if not krot.is_rotation_attr(k)}
    name, owner = kmap.marker_of(raw)
    project, serial = kmap.marker_project(raw)
    return LiveClient(
        client_id=str(raw.get("clientId")),
        fields=kmap.to_fields(raw, realm_default),
        raw=raw,
        managed_name=name,
        owner=owner,
        project=project,
        serial=serial,
    )


class KeycloakBackend(KeycloakSecret, KeycloakScopes, KeycloakRoles, Backend):
    family: ClassVar[str] = "keycloak"
    lists: ClassVar[bool] = True
    fetch_reads_records: ClassVar[bool] = True  # the roles a record declares are read with the list
    chooses_client_id: ClassVar[bool] = True
    chooses_secret: ClassVar[bool] = True
    rotates_secret: ClassVar[bool] = True
    #: `GET .../client-secret` answers an admin with view-clients: import and recover read it
    reads_secret: ClassVar[bool] = True
    #: with a client policy whose profile has the secret-rotation executor (keycloak.rotation)
    keeps_old_secret: ClassVar[bool] = True
    #: its token endpoint takes client_id / client_secret in the body for either secret method
    token_auth_post: ClassVar[bool] = True
    #: Keycloak changes a clientId in place: the internal id, the secret and all else stay
    renames_client_id: ClassVar[bool] = True
    #: what `export` / `import` leave out: Keycloak's default, and what `scope` already says
    defaults: ClassVar[dict[str, Any]] = {
        "subject_type": "public",
        **{f"keycloak.{k}": v for k, v in kmap.KEYCLOAK_DEFAULTS.items()},
    }
    export_skip: ClassVar[frozenset[str]] = frozenset(
        {"keycloak.defaultClientScopes", "keycloak.optionalClientScopes"}
    )

    def __init__(self, server: dict[str, Any], *, parallelism: int = 4, trust: Trust | None = None) -> None:
        self.trust = trust
        self.base = str(server["url"]).rstrip("/")
        self.realm = str(server["realm"])
        self.admin_path = f"/admin/realms/{quote(self.realm)}"
        self.url = f"{self.base}{self.admin_path}"
        self.page_size = int(server.get("page_size", PAGE_SIZE))
        #: `name`: a new client's clientId is its name unless the file declares one; `uuid`: random
        self.client_ids = str(server.get("client_ids") or "name")
        timeout = float(server.get("timeout", 30))
        limiter = Limiter.for_server(server, parallelism)  # one for every request to this Keycloak
        self.token_http = make_client(
            self.base, timeout=timeout, max_connections=2, limiter=limiter, trust=trust
        )
        self.tokens = AdminTokens(self.base, dict(server.get("admin") or {}), self.token_http)
        admin_id = (server.get("admin") or {}).get("client_id")
        #: dcrsync's own admin client, when it lives in the realm dcrsync manages
        self.admin_client_id = str(admin_id) if admin_id and self.tokens.realm == self.realm else None
        self.http = make_client(
            self.url, timeout=timeout, max_connections=max(4, parallelism * 2), limiter=limiter, trust=trust
        )
        self.http.auth = BearerAuth(self.tokens)
        self._scopes_lock = threading.Lock()
        self._scope_ids: dict[str, str] | None = None
        self._realm_default: set[str] | None = None
        #: names and client_ids whose roles a plan compares (their files declare roles): read in fetch
        self._role_names: set[str] = set()
        self._role_ids: set[str] = set()

    # --- plumbing -------------------------------------------------------------------------
    def _call(self, method: str, path: str, what: str, ok: tuple[int, ...] = (), **kw: Any) -> httpx.Response:
        odd = odd_segment(path)  # ids in paths are Keycloak's: a hostile one must not climb out of the realm
        if odd is not None:
            raise BadAnswer(f"{self.url} gave an id that is not one URL path segment ({inert(odd)!r}), needed "
                            f"to {what}: nothing was sent; check the server")
        try:
            response = self.http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise unreachable(exc, self.base) from None
        if response.status_code >= 400 and response.status_code not in ok:
            raise self._error(response, what)
        return response

    def _json(self, method: str, path: str, what: str, shape: type = dict, **kw: Any) -> Any:
        """The JSON of an admin call's answer, which must be a `shape`; one-line `BadAnswer` otherwise."""
        return decode(self._call(method, path, what, **kw), what, shape)

    def _items(self, path: str, what: str, key: str = "name", shapes: dict[str, Shape] | None = None) -> list[dict]:
        """A GET that answers a list of objects each with a string `key` (a role, a scope, a client)."""
        response = self._call("GET", path, what)
        return objects(decode(response, what, list), key, response, what, shapes, noun="client" if shapes else "item")

    def _error(self, response: httpx.Response, what: str) -> BackendError:
        status = response.status_code
        hint = {
            401: f"the admin token was refused: check server.admin in dcrsync.yaml ({self.tokens.who})",
            403: (
                f"{self.tokens.who} lacks the realm-management roles view-clients and manage-clients "
                f"on realm {self.realm!r}"
            ),
            409: "a client with this client_id already exists in the realm",
        }.get(status, "") or limited_hint(response)
        if status == 403 and ("role" in what or "service account" in what):
            hint = (
                f"{self.tokens.who} lacks the realm-management roles view-users and manage-users on realm "
                f"{self.realm!r} (needed for keycloak.serviceAccountRoles and clientRoles)"
            )
        if status == 403 and "client polic" in what:
            hint = f"{self.tokens.who} lacks the realm-management role view-realm on realm {self.realm!r}"
        if status == 404 and "realm" in detail(response).lower():
            hint = f"realm {self.realm!r} does not exist: check server.realm in dcrsync.yaml"
        msg = f"keycloak refused to {what}: HTTP {status} {detail(response)}"
        return BackendError(f"{msg}; {hint}" if hint else msg, status=status)

    # --- reading --------------------------------------------------------------------------
    def fetch(self, records: Sequence[ClientRecord] = ()) -> Fetched:
        """Every client of the realm, page by page (`first` / `max`)."""
        self._scope_catalogue()  # `scope` is read against the realm's default client scopes
        out: list[LiveClient] = []
        seen: set[str] = set()
        first, requests = 0, 0
        what = f"list the clients of realm {self.realm}"
        while True:
            response = self._call("GET", "/clients", what, params={"first": first, "max": self.page_size})
            requests += 1
            page = objects(decode(response, what, list), "id", response, what, SHAPES)
            fresh = [c for c in page if c.get("id") not in seen]
            for rep in fresh:
                seen.add(rep["id"])
                out.append(self._live(rep))
            if len(page) < self.page_size or not fresh:
                break
            if len(out) > MAX_LISTED:
                raise BadAnswer(f"{self.url}/clients kept listing new clients past dcrsync's limit of {MAX_LISTED}: "
                                f"stopped after {requests} pages; the server's pagination is broken")
            first += len(page)
        role_paths = {f"keycloak.{k}" for k in kobj.ROLE_KEYS}
        names = self._role_names | {r.name for r in records if role_paths & set(r.desired)}
        ids = self._role_ids | {r.client_id for r in records if role_paths & set(r.desired)}
        for live in out:
            if live.managed_name in names or live.client_id in ids:
                self._with_roles(live)
        return Fetched(clients=out, requests=requests)

    def _by_client_id(self, client_id: str) -> dict[str, Any] | None:
        what = f"read client {client_id}"
        response = self._call("GET", "/clients", what, params={"clientId": client_id, "search": "false"})
        for rep in objects(decode(response, what, list), "id", response, what, SHAPES):
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

    def token_endpoint(self) -> str:
        """The realm's OIDC token endpoint (for checking a secret)."""
        return f"{self.base}/realms/{quote(self.realm)}/protocol/openid-connect/token"

    def discovery_url(self) -> str:
        return f"{self.base}/realms/{quote(self.realm)}/.well-known/openid-configuration"

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
        response = self._call("GET", f"/clients/{internal_id}", what)
        return objects([decode(response, what)], "id", response, what, SHAPES)[0]

    # --- checks ---------------------------------------------------------------------------
    def check_specs(self, specs: Sequence[ClientSpec]) -> None:
        """Refuse, before anything is sent, declared fields Keycloak cannot hold, and client scopes
        the realm does not have (or a `-scope` that is no realm default)."""
        lines = self._local_problems(specs) + self._scope_problems(specs)
        self._role_specs(specs)  # whose roles `fetch` reads; their names are checked by `check_plan`
        if lines:
            raise BackendError("\n".join(lines))

    def check_plan(self, specs: Sequence[ClientSpec], renames: Mapping[str, str]) -> None:
        """Roles granted on clients that do not exist, or on a client_id this plan renames away."""
        lines = self._role_problems(specs, renames)
        if lines:
            raise BackendError("\n".join(lines))

    def _local_problems(self, specs: Sequence[ClientSpec]) -> list[str]:
        lines = []
        for spec in specs:
            for path, why in unsupported(spec):
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
        kmap.set_marker(rep, marker.owner, marker.name, marker.project, marker.serial)
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
        calls += self._sync_mappers(spec, created["id"], created.get(kobj.MAPPERS) or [])
        if calls:
            created = self._read(created["id"], f"read client {spec.name}")
        live = self._live(created)
        if self._sync_roles(spec, created["id"], live.client_id):
            self._with_roles(live)
        given = {"client_secret": client_secret} if uses_secret else {}
        return Result(live=live, secrets=given)

    def restores(self, key: str) -> bool:
        return key not in kobj.SCOPE_KEYS  # assigned through their endpoints, from what `scope` declares

    def kept_when_unset(self, path: str) -> bool:
        return path in kmap.reset({}, [path])  # a `keycloak:` key whose default dcrsync does not know

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
        rep = {k: v for k, v in kobj.rebased(spec.baseline, live.raw).items() if k not in kobj.SCOPE_KEYS}
        rep.pop("protocolMappers", None)  # left as they are: a PUT without them keeps them
        kmap.write(rep, spec.fields, spec.block("keycloak"))
        kmap.reset(rep, spec.unset)
        kmap.set_marker(rep, marker.owner, marker.name, marker.project, marker.serial)
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
        self._sync_mappers(spec, internal_id, live.raw.get(kobj.MAPPERS) or [])
        rep_after = self._read(internal_id, f"read client {spec.name}")
        after = self._live(rep_after)
        if self._sync_roles(spec, internal_id, after.client_id):
            self._with_roles(after)
        else:  # untouched by this update: the roles read with `live` still hold
            after.fields.update({f"keycloak.{k}": live.fields[f"keycloak.{k}"] for k in kobj.ROLE_KEYS
                                 if f"keycloak.{k}" in live.fields})
        result = Result(live=after, secrets={"client_secret": new_secret} if new_secret else {})
        known = new_secret or (record.client_secret if record else None)
        held = rep_after.get("secret") if secret_now else None
        if known and isinstance(held, str) and held and held != known:
            # a realm secret-rotation policy regenerates the secret on an update near its expiry:
            # the new one exists only here, so it is kept, and the person applying is told
            result.secrets["client_secret"] = held
            result.notes.append(
                f"{spec.name}: Keycloak issued a new client secret during this update (its realm's "
                "secret-rotation policy); it is recorded in the state: give the app the new one "
                f"(`dcrsync state secret {spec.name}`)"
            )
        return result

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
