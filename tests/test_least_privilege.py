"""Issue 16 item 10: a pull request's plan runs without the age key and with read-only credentials.

Every plan here runs as a pull-request job would: a real `dcrsync` process whose environment holds
no age key (no SOPS_AGE_KEY_FILE, no SOPS_AGE_KEY, an empty config folder for sops's default key
file). The writes (apply) run as the protected job, with the key.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.harness.rfc7592 import OidcProviderAdmin
from tests.support.project import Project, make_project

SERVICE = {"client_name": "Reports job", "grant_types": ["client_credentials"], "scope": "openid"}


def without_key(p: Project, *args: str, tmp: Path, **env: str) -> subprocess.CompletedProcess:
    """`dcrsync ARGS` as a pull-request job runs it: no age key anywhere it could be found."""
    environ = {k: v for k, v in os.environ.items() if k not in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY")}
    (tmp / "empty-config").mkdir(exist_ok=True)
    environ.update(XDG_CONFIG_HOME=str(tmp / "empty-config"), **env)
    head = 2 if args[0] == "state" else 1
    argv = [*args[:head], "--config", str(p.config), *args[head:]]
    return subprocess.run([sys.executable, "-m", "dcrsync", *argv], capture_output=True, text=True,
                          timeout=300, cwd=p.root, env=environ)


def applied(p: Project) -> None:
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_hydra_plan_needs_no_age_key(hydra_project, tmp_path):
    p = hydra_project
    p.write_client("reports", SERVICE)
    applied(p)
    assert without_key(p, "state", "secret", "reports", tmp=tmp_path).returncode == 1  # the key is really absent
    p.write_client("reports", {**SERVICE, "client_name": "Reports job v2"})
    r = without_key(p, "plan", "--detailed-exitcode", "--format", "json", tmp=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    (change,) = json.loads(r.stdout)["changes"]
    assert (change["action"], change["fields"][0]["after"]) == ("update", "Reports job v2")
    assert "refreshed" not in json.loads(r.stdout)  # Hydra is read: the plan is as fresh as ever
    r = without_key(p, "plan", "--refresh=false", tmp=tmp_path)
    assert r.returncode == 1 and "--refresh=false is for RFC 7591/7592 servers" in r.stderr, r.stderr


def test_a_keycloak_plan_with_a_view_clients_service_account_and_no_key(tmp_path, age_key, monkeypatch):
    from tests.harness.keycloak import project_in_realm, throwaway_realm

    with throwaway_realm("ro") as realm:
        admin, server = realm
        p = project_in_realm(tmp_path / "proj", realm, age_key, "t-ro")
        p.write_client("reports", SERVICE)
        applied(p)  # the protected job: the write-capable service account and the key
        reader, reader_secret = "dcrsync-plan", secrets.token_urlsafe(24)
        internal = admin.create({"clientId": reader, "secret": reader_secret, "publicClient": False,
                                 "serviceAccountsEnabled": True, "standardFlowEnabled": False})
        user = admin.call("GET", f"/clients/{internal}/service-account-user").json()
        rm = admin.client("realm-management")
        view = admin.call("GET", f"/clients/{rm['id']}/roles/view-clients").json()
        admin.call("POST", f"/users/{user['id']}/role-mappings/clients/{rm['id']}", json=[view]).raise_for_status()
        granted = admin.call("GET", f"/users/{user['id']}/role-mappings/clients/{rm['id']}/composite").json()
        assert {r["name"] for r in granted} <= {"view-clients", "query-clients"}  # nothing else, nothing to write

        p.set_config(server={**server, "admin": {"client_id": reader, "client_secret": "${env:KC_READER_SECRET}",
                                                 "realm": server["admin"]["realm"]}})
        p.write_client("reports", {**SERVICE, "client_name": "Reports job v2"})
        r = without_key(p, "plan", "--detailed-exitcode", "--format", "json", tmp=tmp_path,
                        KC_READER_SECRET=reader_secret)
        assert r.returncode == 2, r.stdout + r.stderr
        changes = json.loads(r.stdout)["changes"]
        assert [(c["action"], c["name"]) for c in changes] == [("update", "reports")], changes
        # the same credentials cannot write: an apply with them (and the key) changes nothing
        monkeypatch.setenv("KC_READER_SECRET", reader_secret)
        r = p.run_sub("apply", "--auto-approve", "--parallelism", "1")
        assert r.returncode == 1 and "HTTP 403" in r.stdout + r.stderr, r.stdout + r.stderr
        assert admin.read(p.state_doc()["clients"]["reports"]["client_id"])["client_name"] == "Reports job"


@pytest.fixture
def provider(tmp_path):
    from tests.servers.oidc_provider import start_oidc_provider

    op = start_oidc_provider(tmp_path / "op", rotate_rat=True)
    yield op
    op.stop()


def served(op) -> list[str]:
    r = httpx.get(f"{op.test_admin_url}/requests", timeout=30)
    r.raise_for_status()
    return list(r.json()["requests"])


def test_an_rfc7592_plan_with_refresh_false_sends_nothing_and_says_so(provider, tmp_path, age_key):
    op = provider
    p = make_project(tmp_path / "proj", {"kind": "rfc7592", "registration_url": op.registration_url}, age_key, "t-nr")
    p.write_client("reports", {**SERVICE, "response_types": []})
    p.write_client("batch", {**SERVICE, "client_name": "Batch", "response_types": []})
    applied(p)
    p.write_client("reports", {**SERVICE, "client_name": "Reports job v2", "response_types": []})
    p.remove_client("batch")
    p.set_config(prune=True)

    # without the key a live plan cannot read the clients: their tokens are secrets in the state
    r = without_key(p, "plan", tmp=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr

    before = len(served(op))
    outputs = {}
    for fmt in ("text", "markdown", "json"):
        r = without_key(p, "plan", "--refresh=false", "--format", fmt, "--out", f"plan-{fmt}.json", tmp=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        outputs[fmt] = r.stdout
    assert served(op)[before:] == []  # not one request: not the clients, not the metadata

    plan = json.loads(outputs["json"])
    assert plan["refreshed"] is False
    assert sorted((c["action"], c["name"]) for c in plan["changes"]) == [("delete", "batch"), ("update", "reports")]
    assert "note: planned from the last-applied state without reading the server (--refresh=false)" in outputs["text"]
    assert "> [!NOTE]\n> Planned from the last-applied state without reading the server (--refresh=false)" in outputs["markdown"]

    # the protected job applies it, reading the server with the key: the server now matches git
    r = p.run_sub("apply", "plan-json.json", "--force")  # the delete is 1 of the project's 2 clients
    assert r.returncode == 0, r.stdout + r.stderr
    assert p.run_sub("plan", "--detailed-exitcode").returncode == 0
    assert OidcProviderAdmin(op.test_admin_url).read(p.state_doc()["clients"]["reports"]["client_id"])[
        "client_name"] == "Reports job v2"


def test_a_refresh_false_plan_of_a_client_changed_on_the_server_is_refused_at_apply(provider, tmp_path, age_key):
    op = provider
    p = make_project(tmp_path / "proj", {"kind": "rfc7592", "registration_url": op.registration_url}, age_key, "t-nr2")
    p.write_client("reports", {**SERVICE, "response_types": []})
    applied(p)
    p.write_client("reports", {**SERVICE, "client_name": "Reports job v2", "response_types": []})
    r = without_key(p, "plan", "--refresh=false", "--out", "plan.json", tmp=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    client_id = p.state_doc()["clients"]["reports"]["client_id"]
    OidcProviderAdmin(op.test_admin_url).patch(client_id, {"client_name": "Edited by hand"})
    r = p.run_sub("apply", "plan.json")
    assert r.returncode == 1 and "the plan is stale: reports (changed on the server since)" in r.stderr, r.stderr
    assert OidcProviderAdmin(op.test_admin_url).read(client_id)["client_name"] == "Edited by hand"


def test_refresh_false_needs_the_registration_url(provider, tmp_path, age_key):
    p = make_project(tmp_path / "proj", {"kind": "rfc7592", "issuer": provider.issuer}, age_key, "t-nr3")
    before = len(served(provider))
    r = without_key(p, "plan", "--refresh=false", tmp=tmp_path)
    assert r.returncode == 1 and "set server.registration_url" in r.stderr, r.stderr
    assert served(provider)[before:] == []
