"""The vault-kv2 delivery target against a real Vault dev server (built from its Go module) and the
real Hydra: the bundle lands in KV v2 and authenticates, an ExternalSecret maps it, `--check` sees
a version someone else wrote since, and `deliver` puts the state's bundle back."""

from __future__ import annotations

import os

import hvac
import pytest
import yaml

from tests.support.hydra_api import token_works

pytestmark = pytest.mark.hydra
KEYS = {"client_id": "client_id", "client_secret": "client_secret", "token_url": "token_endpoint"}


@pytest.fixture(scope="module")
def vault(tmp_path_factory):
    from tests.servers.vault import start_vault

    instance = start_vault(tmp_path_factory.mktemp("vault"))
    os.environ["DCRSYNC_TEST_VAULT_TOKEN"] = instance.token
    yield instance
    os.environ.pop("DCRSYNC_TEST_VAULT_TOKEN", None)
    instance.stop()


def test_the_bundle_goes_to_vault_kv2_and_an_external_secret_maps_it(hydra_project, hydra, vault):
    p = hydra_project
    p.set_config(
        server={"kind": "hydra", "admin_url": hydra.admin_url, "public_url": hydra.public_url},
        delivery={"roots": ["deploy/"], "vault": {"address": vault.address, "token_env": "DCRSYNC_TEST_VAULT_TOKEN"}},
    )
    p.write_client("orders", {"grant_types": ["client_credentials"], "response_types": [], "scope": "openid",
                              "deliver": [
                                  {"target": "vault-kv2", "path": "oauth/orders", "keys": KEYS},
                                  {"target": "external-secret", "path": "deploy/orders/oauth.yaml", "namespace": "orders",
                                   "store": {"name": "vault", "kind": "ClusterSecretStore"},
                                   "remote_key": "oauth/orders", "keys": KEYS},
                              ]})
    plan = p.run("plan")
    assert "→ deliver orders: vault-kv2 secret/oauth/orders (new client)" in plan.output, plan.output
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    client = hvac.Client(url=vault.address, token=vault.token)
    stored = client.secrets.kv.v2.read_secret_version(path="oauth/orders", mount_point="secret")["data"]["data"]
    assert stored["client_secret"] == p.secret("orders") and stored["token_url"] == f"{hydra.public_url}/oauth2/token"
    assert token_works(hydra.public_url, stored["client_id"], stored["client_secret"])
    ext = yaml.safe_load((p.root / "deploy" / "orders" / "oauth.yaml").read_text())
    assert {d["remoteRef"]["property"] for d in ext["spec"]["data"]} == set(stored)
    assert p.run_sub("deliver", "--check").returncode == 0

    client.secrets.kv.v2.create_or_update_secret(path="oauth/orders", secret={"client_secret": "overwritten"},
                                                 mount_point="secret")
    check = p.run_sub("deliver", "--check")
    assert check.returncode == 2 and "stale: orders: vault-kv2 secret/oauth/orders" in check.stdout, check.stdout
    assert p.secret("orders") not in check.stdout + check.stderr
    assert p.run_sub("deliver").returncode == 0
    again = client.secrets.kv.v2.read_secret_version(path="oauth/orders", mount_point="secret")["data"]["data"]
    assert again == stored and p.run_sub("deliver", "--check").returncode == 0

    os.environ["DCRSYNC_TEST_VAULT_TOKEN"], token = "not-a-token", os.environ["DCRSYNC_TEST_VAULT_TOKEN"]
    try:
        failed = p.run_sub("deliver")
    finally:
        os.environ["DCRSYNC_TEST_VAULT_TOKEN"] = token
    assert failed.returncode == 1 and "error: delivery orders: vault-kv2 secret/oauth/orders" in failed.stderr
    assert "Traceback" not in failed.stderr and p.secret("orders") not in failed.stderr
