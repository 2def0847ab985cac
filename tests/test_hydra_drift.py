"""`dcrsync drift` against a real Hydra: changed, deleted and unmanaged clients; pending is not drift."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.hydra_api import clients_of, create_client, put_client

pytestmark = pytest.mark.hydra

SVC = {"client_name": "Svc", "grant_types": ["client_credentials"], "scope": "openid"}


def test_clean_server_exits_0_and_pending_git_change_is_not_drift(hydra_project):
    p = hydra_project
    p.write_client("a", SVC)
    assert p.run("apply", "--auto-approve").exit_code == 0
    clean = p.run("drift")
    assert clean.exit_code == 0, clean.output
    assert "No drift" in clean.output
    p.write_client("a", dict(SVC, client_name="Renamed in git"))
    pending = p.run("drift", "--format", "json")
    assert pending.exit_code == 0, pending.output
    data = json.loads(pending.output)
    assert (data["drift"], data["pending"], data["pending_names"]) == (0, 1, ["a"])


def test_field_changed_with_the_admin_api_is_drift(hydra_project, hydra):
    p = hydra_project
    p.write_client("a", SVC)
    p.write_client("b", SVC)
    assert p.run("apply", "--auto-approve").exit_code == 0
    target = next(c for c in clients_of(hydra.admin_url, p.owner) if c["metadata"]["dcrsync"]["name"] == "a")
    target["scope"] = "openid admin"
    updated = put_client(hydra.admin_url, target)

    r = p.run("drift", "--format", "json")
    assert r.exit_code == 2, r.output
    data = json.loads(r.output)
    (client,) = data["clients"]
    assert (client["name"], client["kind"], client["client_id"]) == ("a", "changed", target["client_id"])
    assert client["fields"] == [{"path": "scope", "before": ["openid"], "after": ["admin", "openid"]}]
    assert client["updated_at"] == updated["updated_at"]

    text = p.run("drift")
    assert text.exit_code == 2 and "changed a" in text.output and "scope" in text.output
    md = p.run("drift", "--format", "markdown")
    assert md.output.startswith("<!-- dcrsync-drift -->") and "<code>a</code>" in md.output

    plan = json.loads(p.run("plan", "--format", "json").output)
    assert [(c["name"], c["cause"]) for c in plan["changes"]] == [("a", "drift")]


def test_deleted_and_unmanaged_clients_are_drift(hydra_project, hydra):
    p = hydra_project
    p.write_client("a", SVC)
    assert p.run("apply", "--auto-approve").exit_code == 0
    (client,) = clients_of(hydra.admin_url, p.owner)
    httpx.delete(f"{hydra.admin_url}/admin/clients/{client['client_id']}").raise_for_status()
    intruder = create_client(hydra.admin_url, {
        "client_name": "made by hand", "owner": p.owner, "grant_types": ["client_credentials"],
        "metadata": {"dcrsync": {"name": "ghost", "owner": p.owner, "project": p.owner}},
    })
    data = json.loads(p.run("drift", "--format", "json").output)
    kinds = {(c["name"], c["kind"], c["client_id"]) for c in data["clients"]}
    assert kinds == {("a", "deleted", client["client_id"]), ("ghost", "unmanaged", intruder["client_id"])}
    assert p.run("drift").exit_code == 2


def test_drift_with_a_broken_config_is_exit_1(hydra_project):
    p = hydra_project
    p.config.write_text("server: {kind: nope}\n")
    r = p.run_sub("drift")
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.strip()
