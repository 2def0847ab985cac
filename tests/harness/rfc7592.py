"""RFC 7591 / 7592 family for the behaviour suite: node oidc-provider (RAT rotation on and off) and
Hydra's `/oauth2/register`.

Out-of-band changes go through what an admin of each server has, never through the client's own
registration token (which a test must not rotate or spend behind dcrsync's back):

- oidc-provider has no admin API: server.mjs's test-only hook (`DCRSYNC_TEST_ADMIN=1`,
  `/__test_admin__/…`) edits, deletes and lists the provider's own store.
- Hydra: the admin API. A JSON PATCH keeps the client's registration token (checked in
  tests/test_rfc7592.py); an admin PUT clears it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.harness.base import BackendEnv, Ref
from tests.support.http import http

TIMEOUT = 30


@dataclasses.dataclass
class Rfc7592Env(BackendEnv):
    """A BackendEnv plus what only this family's tests need."""

    #: make the client's registration access token stop working, the way an admin of the server can
    revoke_token: Callable[[Ref], None] | None = None
    #: the stored client's `client_name` -> client_id, for counting orphans (None: cannot tell)
    client_name_of: Callable[[str], str | None] | None = None
OIDC_SCOPES = ("openid", "offline_access", "api:read", "api:write")
CANNOT = {
    "rotate_secret": "RFC 7592 has no standard way to ask the server for a new client secret",
    "marker": "RFC 7591 servers drop unknown metadata: no ownership marker on the server, state is the only proof",
    "adopt": "no list API: a client not in state cannot be found, only registered again",
    "list_unmanaged": "no list API: unmanaged clients are invisible to dcrsync",
    "choose_client_id": "the server chooses client_id (RFC 7591)",
    "recreate_deleted": "a deleted client answers 401 like a dead token (RFC 7592 §2.1): dcrsync advises "
    "`dcrsync state rm` instead (test_rfc7592.py::test_dead_token_is_one_clear_line)",
}


def token_works(token_url: str) -> Callable[[str, str], bool]:
    def works(client_id: str, secret: str) -> bool:
        r = http.post(token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=TIMEOUT)
        return r.status_code == 200 and "access_token" in r.json()

    return works


def register(registration_url: str, body: dict[str, Any], initial_access_token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {initial_access_token}"} if initial_access_token else {}
    r = http.post(registration_url, json=body, headers=headers, timeout=TIMEOUT)
    r.raise_for_status()
    return r.json()


# --- oidc-provider --------------------------------------------------------------------------


class OidcProviderAdmin:
    """The test-only hook over oidc-provider's store (see tests/servers/oidc-provider/server.mjs)."""

    def __init__(self, admin_url: str) -> None:
        self.url = admin_url

    def list_ids(self) -> list[str]:
        r = http.get(f"{self.url}/clients", timeout=TIMEOUT)
        r.raise_for_status()
        return list(r.json()["client_ids"])

    def read(self, client_id: str) -> dict[str, Any] | None:
        r = http.get(f"{self.url}/clients/{client_id}", timeout=TIMEOUT)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()

    def patch(self, client_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        r = http.patch(f"{self.url}/clients/{client_id}", json=changes, timeout=TIMEOUT)
        r.raise_for_status()
        return r.json()

    def delete(self, client_id: str) -> None:
        http.delete(f"{self.url}/clients/{client_id}", timeout=TIMEOUT).raise_for_status()

    def new_token(self, client_id: str) -> str:
        """An admin hands the client a new registration token; every older one stops working."""
        r = http.post(f"{self.url}/rat/{client_id}", timeout=TIMEOUT)
        r.raise_for_status()
        return r.json()["registration_access_token"]


def oidc_provider_env(label: str, instance, initial_access_token: str | None) -> BackendEnv:
    admin = OidcProviderAdmin(instance.test_admin_url)
    server: dict[str, Any] = {"kind": "rfc7592", "registration_url": instance.registration_url}
    if initial_access_token:
        server["initial_access_token"] = initial_access_token

    def read(ref: Ref) -> dict[str, Any] | None:
        stored = admin.read(ref.client_id)
        if stored is None:
            return None
        return {k: v for k, v in stored.items() if k != "client_secret"}

    def unmanaged() -> str:
        body = {"client_name": "someone else", "grant_types": ["client_credentials"], "response_types": []}
        return register(instance.registration_url, body, initial_access_token)["client_id"]

    return Rfc7592Env(
        label=label,
        server=server,
        token_works=token_works(instance.token_url),
        read=read,
        change_out_of_band=lambda ref, path, value: admin.patch(ref.client_id, {path: value}) and None,
        delete_out_of_band=lambda ref: admin.delete(ref.client_id),
        create_unmanaged=unmanaged,
        list_ids=admin.list_ids,
        scopes=OIDC_SCOPES,
        cannot=dict(CANNOT),
        revoke_token=lambda ref: admin.new_token(ref.client_id) and None,
        client_name_of=lambda cid: (admin.read(cid) or {}).get("client_name"),
    )


def oidc_provider_factory(label: str, *, rotate: bool, iat: bool):
    @contextlib.contextmanager
    def factory(workdir: Path) -> Iterator[BackendEnv]:
        from tests.servers.oidc_provider import start_oidc_provider

        token = "iat-" + secrets.token_urlsafe(24) if iat else None
        instance = start_oidc_provider(workdir, rotate_rat=rotate, initial_access_token=token)
        try:
            yield oidc_provider_env(label, instance, token)
        finally:
            instance.stop()

    return factory


# --- Hydra's /oauth2/register ---------------------------------------------------------------


def hydra_dcr_env(label: str, hydra) -> BackendEnv:
    admin = hydra.admin_url

    def read(ref: Ref) -> dict[str, Any] | None:
        r = http.get(f"{admin}/admin/clients/{ref.client_id}", timeout=TIMEOUT)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()

    def change(ref: Ref, path: str, value: Any) -> None:
        # JSON PATCH keeps the registration token; an admin PUT would clear it
        op = [{"op": "add", "path": f"/{path}", "value": value}]
        http.patch(f"{admin}/admin/clients/{ref.client_id}", json=op, timeout=TIMEOUT).raise_for_status()

    def delete(ref: Ref) -> None:
        http.delete(f"{admin}/admin/clients/{ref.client_id}", timeout=TIMEOUT).raise_for_status()

    def unmanaged() -> str:
        body = {"client_name": "someone else", "grant_types": ["client_credentials"]}
        return register(f"{hydra.public_url}/oauth2/register", body)["client_id"]

    def revoke(ref: Ref) -> None:
        # an admin PUT replaces the client and clears its registration token (a PATCH keeps it)
        current = read(ref) or {}
        body = {k: v for k, v in current.items() if k not in ("created_at", "updated_at", "client_secret")}
        http.put(f"{admin}/admin/clients/{ref.client_id}", json=body, timeout=TIMEOUT).raise_for_status()

    def list_ids() -> list[str]:
        ids: list[str] = []
        params: dict[str, Any] = {"page_size": 500}
        while True:
            r = http.get(f"{admin}/admin/clients", params=params, timeout=TIMEOUT)
            r.raise_for_status()
            page = r.json()
            ids.extend(c["client_id"] for c in page)
            nxt = r.links.get("next", {}).get("url")
            if not page or not nxt:
                return ids
            params = {"page_size": 500, "page_token": httpx.URL(nxt).params.get("page_token")}

    return Rfc7592Env(
        label=label,
        server={"kind": "rfc7592", "registration_url": f"{hydra.public_url}/oauth2/register"},
        token_works=token_works(f"{hydra.public_url}/oauth2/token"),
        read=read,
        change_out_of_band=change,
        delete_out_of_band=delete,
        create_unmanaged=unmanaged,
        list_ids=list_ids,
        scopes=("openid", "offline_access", "api:read", "api:write"),
        cannot=dict(CANNOT),
        revoke_token=revoke,
        client_name_of=lambda cid: (read(Ref(cid)) or {}).get("client_name"),
    )


@contextlib.contextmanager
def hydra_dcr_factory(workdir: Path) -> Iterator[BackendEnv]:
    from tests.servers.hydra import start_hydra

    instance = start_hydra(workdir, dynamic_registration=True)
    try:
        yield hydra_dcr_env("hydra-dcr", instance)
    finally:
        instance.stop()


def envs() -> list[tuple[str, Callable[[Path], contextlib.AbstractContextManager[BackendEnv]]]]:
    """RAT rotation on (with an initial access token) and off (open registration), and Hydra's DCR."""
    return [
        ("oidc-provider-rotate", oidc_provider_factory("oidc-provider-rotate", rotate=True, iat=True)),
        ("oidc-provider-static", oidc_provider_factory("oidc-provider-static", rotate=False, iat=False)),
        ("hydra-dcr", hydra_dcr_factory),
    ]
