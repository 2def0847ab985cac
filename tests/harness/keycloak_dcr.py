"""Keycloak's own RFC 7591 / 7592 endpoint for the behaviour suite (`keycloak-dcr`).

dcrsync is configured as a user of any RFC 7592 server would configure it: `kind: rfc7592` with the
realm's issuer alone (the registration endpoint, `/realms/{realm}/clients-registrations/openid-connect`,
comes from its discovery document) and an initial access token, which the test makes through the
admin API (`POST /admin/realms/{realm}/clients-initial-access`), as a realm admin would hand it out.

Out-of-band changes and checks go through the admin REST API (tests.harness.keycloak.KeycloakAdmin),
never through a client's registration token, which the test must not spend behind dcrsync's back.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.harness.base import BackendEnv
from tests.harness.keycloak import KeycloakAdmin, open_realm, realm_name, shared_keycloak
from tests.harness.rfc7592 import CANNOT, register


@dataclass
class KeycloakDcr:
    admin: KeycloakAdmin
    issuer: str
    registration_url: str
    initial_access_token: str

    @property
    def server(self) -> dict[str, Any]:
        return {"kind": "rfc7592", "issuer": self.issuer, "initial_access_token": self.initial_access_token}


@contextlib.contextmanager
def keycloak_dcr_realm(prefix: str = "dcr") -> Iterator[KeycloakDcr]:
    """A fresh realm on the session's Keycloak, with an initial access token for registration."""
    instance = shared_keycloak()
    admin = open_realm(instance, realm_name(prefix))
    realm = admin.realm
    try:
        r = admin.call("POST", "/clients-initial-access", json={"count": 100_000, "expiration": 86_400})
        r.raise_for_status()
        yield KeycloakDcr(
            admin=admin,
            issuer=f"{instance.url}/realms/{realm}",
            registration_url=f"{instance.url}/realms/{realm}/clients-registrations/openid-connect",
            initial_access_token=r.json()["token"],
        )
    finally:
        admin.drop_realm()


@contextlib.contextmanager
def keycloak_dcr_env() -> Iterator[BackendEnv]:
    with keycloak_dcr_realm("suite-dcr") as kc:

        def create_unmanaged() -> str:
            body = {"client_name": f"someone else {secrets.token_hex(3)}", "grant_types": ["client_credentials"],
                    "response_types": []}
            return register(kc.registration_url, body, kc.initial_access_token)["client_id"]

        yield kc.admin.backend_env("keycloak-dcr", kc.server, create_unmanaged, scopes=("openid",),
                                   cannot=dict(CANNOT))


def envs() -> list[tuple[str, Callable[[], contextlib.AbstractContextManager[BackendEnv]]]]:
    return [("keycloak-dcr", keycloak_dcr_env)]
