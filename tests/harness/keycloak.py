"""Keycloak for the behaviour suite: one real Keycloak per test session, a fresh realm per env.

    for label, factory in envs():
        with factory() as env:        # tests.harness.base.BackendEnv
            env.server                # the `server:` block: a service account of the realm

The realm's admin is a service-account client holding only realm-management's view-clients,
manage-clients and view-realm roles: what a careful operator would give dcrsync.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dcrsync.backends.keycloak import mapping as kmap
from tests.harness.base import BackendEnv, Ref

ADMIN_CLIENT = "dcrsync-admin"
ADMIN_ROLES = ("view-clients", "manage-clients", "view-realm")
SCOPES = ("openid", "profile", "email", "offline_access")
#: the clients Keycloak puts in every new realm
REALM_DEFAULT_CLIENTS = frozenset(
    {"account", "account-console", "admin-cli", "broker", "realm-management", "security-admin-console"}
)

_lock = threading.Lock()
_instance: Any = None


def shared_keycloak():
    """The session's Keycloak, started on first use (~20 s) and stopped at interpreter exit."""
    global _instance
    with _lock:
        if _instance is None:
            from tests.servers.keycloak import start_keycloak

            workdir = Path(tempfile.mkdtemp(prefix="dcrsync-keycloak-"))
            _instance = start_keycloak(workdir)
            atexit.register(_instance.stop)
        return _instance


@dataclass
class KeycloakAdmin:
    """Direct admin REST calls as the bootstrap admin: to check dcrsync's work and to go behind its back."""

    url: str
    user: str
    password: str
    realm: str

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self._token: str | None = None

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            r = self.http.post(
                "/realms/master/protocol/openid-connect/token",
                data={"grant_type": "password", "client_id": "admin-cli", "username": self.user,
                      "password": self.password},
            )
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        if not path.startswith("/admin/realms"):
            path = f"/admin/realms/{self.realm}{path}"
        r = self.http.request(method, path, headers=self._auth(), **kw)
        if r.status_code == 401:  # the admin token lives 60 s
            self._token = None
            r = self.http.request(method, path, headers=self._auth(), **kw)
        return r

    def drop_realm(self) -> None:
        """Delete this (throwaway) realm and close the connection."""
        with contextlib.suppress(httpx.HTTPError):
            self.call("DELETE", f"/admin/realms/{self.realm}")
        self.http.close()

    def backend_env(
        self, label: str, server: dict[str, Any], create_unmanaged: Callable[[], str], *,
        scopes: tuple[str, ...], cannot: dict[str, str],
    ) -> BackendEnv:
        """A behaviour-suite env whose checks and out-of-band changes go through this admin API,
        whatever API dcrsync itself is configured to use (`server`)."""
        return BackendEnv(
            label=label,
            server=server,
            token_works=self.token_works,
            read=lambda ref: self.read(ref.client_id),
            change_out_of_band=lambda ref, field, value: self.change(ref.client_id, field, value),
            delete_out_of_band=lambda ref: self.delete(ref.client_id),
            create_unmanaged=create_unmanaged,
            list_ids=lambda: [c["clientId"] for c in self.clients()],
            scopes=scopes,
            cannot=cannot,
        )

    def clients(self) -> list[dict[str, Any]]:
        r = self.call("GET", "/clients")
        r.raise_for_status()
        return r.json()

    def client(self, client_id: str) -> dict[str, Any] | None:
        r = self.call("GET", "/clients", params={"clientId": client_id})
        r.raise_for_status()
        found = [c for c in r.json() if c["clientId"] == client_id]
        return found[0] if found else None

    def managed(self, owner: str) -> dict[str, dict[str, Any]]:
        """dcrsync name -> representation, for clients carrying `owner`'s marker."""
        out = {}
        for c in self.clients():
            name, who = kmap.marker_of(c)
            if name and who == owner:
                out[name] = c
        return out

    def put(self, rep: dict[str, Any]) -> None:
        body = {k: v for k, v in rep.items() if k not in ("secret", "access")}
        self.call("PUT", f"/clients/{rep['id']}", json=body).raise_for_status()

    def create(self, rep: dict[str, Any]) -> str:
        r = self.call("POST", "/clients", json=rep)
        r.raise_for_status()
        return r.headers["Location"].rsplit("/", 1)[-1]

    def delete(self, client_id: str) -> None:
        rep = self.client(client_id)
        if rep is not None:
            self.call("DELETE", f"/clients/{rep['id']}").raise_for_status()

    def secret(self, client_id: str) -> str | None:
        rep = self.client(client_id)
        if rep is None:
            return None
        r = self.call("GET", f"/clients/{rep['id']}/client-secret")
        r.raise_for_status()
        return r.json().get("value")

    def token_works(self, client_id: str, secret: str) -> bool:
        r = self.http.post(
            f"/realms/{self.realm}/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        )
        return r.status_code == 200 and "access_token" in r.json()

    def token_claims(self, client_id: str, secret: str, scope: str | None = None) -> dict[str, Any]:
        """The claims of a client_credentials access token, decoded (the server signed it; the
        signature is not what these tests check)."""
        data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        r = self.http.post(f"/realms/{self.realm}/protocol/openid-connect/token", data=data, auth=(client_id, secret))
        assert r.status_code == 200, r.text
        return decode_jwt(r.json()["access_token"])

    def console_edits(self, client_id: str) -> None:
        """What an admin does in the console to fields dcrsync's files rarely declare: CORS `*`, consent,
        an access-token lifespan attribute, and a hard-coded `admin` claim mapper."""
        rep = self.client(client_id)
        assert rep is not None, client_id
        rep["webOrigins"], rep["consentRequired"] = ["*"], True
        rep["attributes"] = {**rep.get("attributes", {}), "access.token.lifespan": "86400"}
        self.put(rep)
        self.call(
            "POST", f"/clients/{rep['id']}/protocol-mappers/models",
            json={"name": "is-admin", "protocol": "openid-connect", "protocolMapper": "oidc-hardcoded-claim-mapper",
                  "config": {"claim.name": "admin", "claim.value": "true", "access.token.claim": "true",
                             "jsonType.label": "String"}},
        ).raise_for_status()

    def grant_user_roles(self) -> None:
        """What the README asks of dcrsync's service account for roles: view-users and manage-users."""
        internal = self.client(ADMIN_CLIENT)["id"]
        user = self.call("GET", f"/clients/{internal}/service-account-user").json()
        rm = self.client("realm-management")
        roles = [self.call("GET", f"/clients/{rm['id']}/roles/{r}").json() for r in ("view-users", "manage-users")]
        self.call("POST", f"/users/{user['id']}/role-mappings/clients/{rm['id']}", json=roles).raise_for_status()

    def scope_ids(self) -> dict[str, str]:
        return {s["name"]: s["id"] for s in self.call("GET", "/client-scopes").json()}

    # --- out-of-band edits, the way an admin does them in the console ---------------------
    def change(self, client_id: str, field: str, value: Any) -> None:
        rep = self.client(client_id)
        assert rep is not None, client_id
        attrs = dict(rep.get("attributes") or {})
        direct = {"client_name": "name", "redirect_uris": "redirectUris", "client_uri": "baseUrl"}
        if field in direct:
            rep[direct[field]] = value
        elif field in kmap.ATTR_FIELDS:
            attrs[kmap.ATTR_FIELDS[field]] = value
        elif field in kmap.LIST_ATTR_FIELDS:
            attrs[kmap.LIST_ATTR_FIELDS[field]] = "##".join(value)
        elif field == "scope":
            self._set_scopes(rep, set(str(value).split()) - {"openid"})
            return
        elif field.startswith("keycloak.attributes."):
            attrs[field.removeprefix("keycloak.attributes.")] = value
        elif field.startswith("keycloak."):
            rep[field.removeprefix("keycloak.")] = value
        else:
            kmap.write(rep, {field: value}, {})
            attrs = rep["attributes"]
        rep["attributes"] = attrs
        self.put(rep)

    def _set_scopes(self, rep: dict[str, Any], wanted: set[str]) -> None:
        ids = {s["name"]: s["id"] for s in self.call("GET", "/client-scopes").json()}
        for kind, key in (("default", "defaultClientScopes"), ("optional", "optionalClientScopes")):
            for name in set(rep.get(key) or []) - wanted - kmap.SELF_MANAGED_SCOPES:
                self.call("DELETE", f"/clients/{rep['id']}/{kind}-client-scopes/{ids[name]}").raise_for_status()
        have = set(rep.get("defaultClientScopes") or []) | set(rep.get("optionalClientScopes") or [])
        for name in wanted - have:
            self.call("PUT", f"/clients/{rep['id']}/optional-client-scopes/{ids[name]}").raise_for_status()

    def read(self, client_id: str) -> dict[str, Any] | None:
        """The client in RFC 7591 names (portable fields only), as dcrsync's mapping reads it."""
        rep = self.client(client_id)
        if rep is None:
            return None
        fields = kmap.to_fields(rep)
        out = {k: v for k, v in fields.items() if not k.startswith("keycloak.") and v not in (None, [])}
        out["client_id"] = rep["clientId"]
        return out


def decode_jwt(token: str) -> dict[str, Any]:
    """The payload of a JWS compact token."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def open_realm(instance, realm: str) -> KeycloakAdmin:
    """A new realm on `instance`, and the bootstrap admin's handle on it (`drop_realm()` when done)."""
    from tests.servers.keycloak import create_realm

    create_realm(instance, realm)
    return KeycloakAdmin(instance.url, instance.admin_user, instance.admin_password, realm)


def make_realm(instance, realm: str) -> tuple[KeycloakAdmin, dict[str, Any]]:
    """A new realm with a least-privilege service account for dcrsync; (admin helper, server block)."""
    admin = open_realm(instance, realm)
    secret = secrets.token_urlsafe(24)
    internal = admin.create(
        {"clientId": ADMIN_CLIENT, "secret": secret, "publicClient": False, "serviceAccountsEnabled": True,
         "standardFlowEnabled": False, "directAccessGrantsEnabled": False}
    )
    user = admin.call("GET", f"/clients/{internal}/service-account-user").json()
    rm = admin.client("realm-management")
    assert rm is not None
    roles = [admin.call("GET", f"/clients/{rm['id']}/roles/{r}").json() for r in ADMIN_ROLES]
    admin.call("POST", f"/users/{user['id']}/role-mappings/clients/{rm['id']}", json=roles).raise_for_status()
    server = {
        "kind": "keycloak",
        "url": instance.url,
        "realm": realm,
        # several owners share one realm in the suites, and their names repeat: random clientIds
        # (test_keycloak_admin sets `name`, the default, to test readable ids)
        "client_ids": "uuid",
        "admin": {"client_id": ADMIN_CLIENT, "client_secret": secret, "realm": realm},
    }
    return admin, server


@contextlib.contextmanager
def throwaway_realm(prefix: str, *, readable_ids: bool = False) -> Iterator[tuple[KeycloakAdmin, dict[str, Any]]]:
    """`make_realm` on the session's Keycloak, dropped afterwards. `readable_ids`: the server block
    leaves `client_ids` at dcrsync's default (the client's name), for tests of that default."""
    admin, server = make_realm(shared_keycloak(), realm_name(prefix))
    if readable_ids:
        server = {k: v for k, v in server.items() if k != "client_ids"}
    try:
        yield admin, server
    finally:
        admin.drop_realm()


def project_in_realm(root: Path, realm: tuple[KeycloakAdmin, dict[str, Any]], age_key: Any, owner: str) -> Any:
    """A dcrsync project on `realm` (from `throwaway_realm`), its admin handle as `.admin`."""
    from tests.support.project import make_project

    admin, server = realm
    project = make_project(root, server, age_key, owner)
    project.admin = admin
    return project


def realm_name(prefix: str = "r") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@contextlib.contextmanager
def keycloak_env() -> Iterator[BackendEnv]:
    instance = shared_keycloak()
    realm = realm_name("suite")
    admin, server = make_realm(instance, realm)

    def create_unmanaged() -> str:
        client_id = f"unmanaged-{secrets.token_hex(4)}"
        admin.create({"clientId": client_id, "publicClient": False, "serviceAccountsEnabled": True,
                      "standardFlowEnabled": False, "secret": secrets.token_urlsafe(16)})
        return client_id

    try:
        yield admin.backend_env("keycloak", server, create_unmanaged, scopes=SCOPES, cannot={})
    finally:
        admin.drop_realm()


def envs() -> list[tuple[str, Callable[[], contextlib.AbstractContextManager[BackendEnv]]]]:
    return [("keycloak", keycloak_env)]


__all__ = [
    "KeycloakAdmin", "Ref", "envs", "make_realm", "open_realm", "project_in_realm", "realm_name", "shared_keycloak",
    "throwaway_realm",
]
