"""The real servers start, answer, and do one real round trip each.

These prove the launchers in tests/servers/ (and the install scripts behind them) work on
this machine. Hydra and Keycloak are the session's own (tests/conftest.py, tests/harness/keycloak.py),
which every backend test uses too: no second JVM for a smoke test.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pyrage
import pytest
import yaml

from tests.harness.keycloak import realm_name, shared_keycloak
from tests.servers.keycloak import create_realm
from tests.servers.launch import sops_binary
from tests.servers.oidc_provider import start_oidc_provider


@pytest.fixture
def hydra_server(hydra):
    return hydra


@pytest.fixture(scope="module")
def oidc_provider_server(tmp_path_factory: pytest.TempPathFactory):
    instance = start_oidc_provider(tmp_path_factory.mktemp("smoke-oidc-provider"))
    yield instance
    instance.stop()


@pytest.fixture
def keycloak_server():
    return shared_keycloak()


# --- Hydra ---------------------------------------------------------------------------------


def test_hydra_admin_client_and_client_credentials_token(hydra_server):
    with httpx.Client(timeout=30) as http:
        created = http.post(
            f"{hydra_server.admin_url}/admin/clients",
            json={
                "client_id": "smoke-svc",
                "client_secret": "smoke-secret-123",
                "grant_types": ["client_credentials"],
                "scope": "api:read",
                "owner": "dcrsync-smoke",
                "metadata": {"dcrsync": {"name": "smoke-svc"}},
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["client_id"] == "smoke-svc" and body["client_secret"] == "smoke-secret-123"
        assert body["owner"] == "dcrsync-smoke" and body["metadata"] == {"dcrsync": {"name": "smoke-svc"}}

        token = http.post(
            f"{hydra_server.public_url}/oauth2/token",
            auth=("smoke-svc", "smoke-secret-123"),
            data={"grant_type": "client_credentials", "scope": "api:read"},
        )
        assert token.status_code == 200, token.text
        assert token.json()["token_type"].lower() == "bearer"

        # A PUT without client_secret keeps the secret (the backend relies on it).
        live = http.get(f"{hydra_server.admin_url}/admin/clients/smoke-svc").json()
        assert "client_secret" not in live
        updated = http.put(
            f"{hydra_server.admin_url}/admin/clients/smoke-svc", json={**live, "client_name": "Smoke"}
        )
        assert updated.status_code == 200, updated.text
        again = http.post(
            f"{hydra_server.public_url}/oauth2/token",
            auth=("smoke-svc", "smoke-secret-123"),
            data={"grant_type": "client_credentials"},
        )
        assert again.status_code == 200, again.text


def test_hydra_dynamic_registration_round_trip(hydra_server):
    with httpx.Client(timeout=30) as http:
        reg = http.post(
            f"{hydra_server.public_url}/oauth2/register",
            json={
                "client_name": "smoke-dcr",
                "grant_types": ["client_credentials"],
                "scope": "api:read",
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
        assert reg.status_code == 201, reg.text
        body = reg.json()
        rat, uri = body["registration_access_token"], body["registration_client_uri"]
        assert uri == f"{hydra_server.public_url}/oauth2/register/{body['client_id']}"
        read = http.get(uri, headers={"Authorization": f"Bearer {rat}"})
        assert read.status_code == 200, read.text
        assert read.json()["client_name"] == "smoke-dcr"
        assert http.get(uri, headers={"Authorization": "Bearer wrong"}).status_code == 401


# --- node oidc-provider --------------------------------------------------------------------


def test_oidc_provider_register_read_and_token(oidc_provider_server):
    op = oidc_provider_server
    with httpx.Client(timeout=30) as http:
        reg = http.post(
            op.registration_url,
            json={
                "client_name": "smoke",
                "grant_types": ["client_credentials"],
                "response_types": [],
                "redirect_uris": [],
                "scope": "api:read api:write",
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
        assert reg.status_code == 201, reg.text
        body = reg.json()
        assert body["registration_client_uri"] == f"{op.registration_url}/{body['client_id']}"
        read = http.get(
            body["registration_client_uri"],
            headers={"Authorization": f"Bearer {body['registration_access_token']}"},
        )
        assert read.status_code == 200, read.text
        assert read.json()["scope"] == "api:read api:write"
        token = http.post(
            op.token_url,
            auth=(body["client_id"], body["client_secret"]),
            data={"grant_type": "client_credentials", "scope": "api:read"},
        )
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "api:read"


def test_oidc_provider_store_is_unbounded(oidc_provider_server):
    """The library's default store drops clients after ~1000 entries; ours must not."""
    op = oidc_provider_server
    with httpx.Client(timeout=30) as http:
        first = http.post(
            op.registration_url,
            json={"grant_types": ["client_credentials"], "response_types": [], "redirect_uris": []},
        ).json()
        for _ in range(1100):
            r = http.post(
                op.registration_url,
                json={"grant_types": ["client_credentials"], "response_types": [], "redirect_uris": []},
            )
            assert r.status_code == 201
        read = http.get(
            first["registration_client_uri"],
            headers={"Authorization": f"Bearer {first['registration_access_token']}"},
        )
        assert read.status_code == 200, read.text


def test_oidc_provider_initial_access_token_and_rotation_off(tmp_path: Path):
    op = start_oidc_provider(tmp_path, rotate_rat=False, initial_access_token="iat-smoke")
    try:
        meta = {"grant_types": ["client_credentials"], "response_types": [], "redirect_uris": []}
        with httpx.Client(timeout=30) as http:
            assert http.post(op.registration_url, json=meta).status_code in (400, 401)
            reg = http.post(op.registration_url, json=meta, headers={"Authorization": "Bearer iat-smoke"})
            assert reg.status_code == 201, reg.text
            body = reg.json()
            rat = body["registration_access_token"]
            update = {
                k: v
                for k, v in body.items()
                if k
                not in (
                    "registration_access_token",
                    "registration_client_uri",
                    "client_id_issued_at",
                    "client_secret_expires_at",
                )
            }
            put = http.put(
                body["registration_client_uri"],
                json={**update, "client_name": "renamed"},
                headers={"Authorization": f"Bearer {rat}"},
            )
            assert put.status_code == 200, put.text
            # rotation off: the same token keeps working after an update
            assert put.json().get("registration_access_token", rat) == rat
            read = http.get(body["registration_client_uri"], headers={"Authorization": f"Bearer {rat}"})
            assert read.status_code == 200 and read.json()["client_name"] == "renamed"
    finally:
        op.stop()


# --- Keycloak ------------------------------------------------------------------------------


def test_keycloak_realm_and_client(keycloak_server):
    kc = keycloak_server
    realm = realm_name("smoke")
    token = create_realm(kc, realm, default_keys=True)  # as Keycloak makes a realm: RSA keys, RS256
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30) as http:
        created = http.post(
            f"{kc.url}/admin/realms/{realm}/clients",
            headers=auth,
            json={
                "clientId": "smoke-svc",
                "protocol": "openid-connect",
                "publicClient": False,
                "serviceAccountsEnabled": True,
                "standardFlowEnabled": False,
                "attributes": {"dcrsync.owner": "dcrsync-smoke"},
            },
        )
        assert created.status_code == 201, created.text
        internal_id = created.headers["Location"].rsplit("/", 1)[1]
        client = http.get(f"{kc.url}/admin/realms/{realm}/clients/{internal_id}", headers=auth).json()
        assert client["clientId"] == "smoke-svc"
        assert client["attributes"]["dcrsync.owner"] == "dcrsync-smoke"
        secret = http.get(
            f"{kc.url}/admin/realms/{realm}/clients/{internal_id}/client-secret", headers=auth
        ).json()
        token_resp = http.post(
            f"{kc.url}/realms/{realm}/protocol/openid-connect/token",
            auth=("smoke-svc", secret["value"]),
            data={"grant_type": "client_credentials"},
        )
        assert token_resp.status_code == 200, token_resp.text


# --- sops ----------------------------------------------------------------------------------


def test_sops_encrypts_only_secret_fields(tmp_path: Path):
    sops = sops_binary()
    identity = pyrage.x25519.Identity.generate()
    key_file = tmp_path / "age.key"
    key_file.write_text(f"{identity}\n")
    key_file.chmod(0o600)
    env = {**os.environ, "SOPS_DISABLE_VERSION_CHECK": "1", "SOPS_AGE_KEY_FILE": str(key_file)}
    plain = {
        "clients": {
            "billing-web": {
                "client_id": "cid-123",
                "client_secret": "s3cr3t-value",
                "registration_access_token": "rat-value",
                "digest": "sha256:abc",
            }
        }
    }
    enc = subprocess.run(
        [
            str(sops),
            "encrypt",
            "--age",
            str(identity.to_public()),
            "--encrypted-regex",
            "^(client_secret|registration_access_token)$",
            "--filename-override",
            "x.yaml",
        ],  # no file argument: sops reads stdin
        input=yaml.safe_dump(plain),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert enc.returncode == 0, enc.stderr
    state = tmp_path / "state.sops.yaml"
    state.write_text(enc.stdout)
    doc = yaml.safe_load(enc.stdout)
    entry = doc["clients"]["billing-web"]
    assert entry["client_id"] == "cid-123" and entry["digest"] == "sha256:abc"
    assert entry["client_secret"].startswith("ENC[") and entry["registration_access_token"].startswith("ENC[")
    assert "s3cr3t-value" not in enc.stdout and "rat-value" not in enc.stdout
    assert doc["sops"]["encrypted_regex"] == "^(client_secret|registration_access_token)$"

    dec = subprocess.run(
        [str(sops), "decrypt", str(state)], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path
    )
    assert dec.returncode == 0, dec.stderr
    assert yaml.safe_load(dec.stdout) == plain
