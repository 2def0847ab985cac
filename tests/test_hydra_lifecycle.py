"""import, export, state recover, rotate-secret and environments against a real Hydra."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.support.hydra_api import clients_of, create_client, get_client, token_works

pytestmark = pytest.mark.hydra

SVC = {"client_name": "Svc", "grant_types": ["client_credentials"], "scope": "openid"}



def test_export_then_plan_names_the_unmanaged_clients_and_fails(hydra_project, hydra):
    p = hydra_project
    made = [
        create_client(hydra.admin_url, {"client_name": "Legacy API", "owner": p.owner,
                                        "grant_types": ["client_credentials"], "scope": "api.read",
                                        "audience": ["https://api.example.com"]}),
        create_client(hydra.admin_url, {"client_name": "Legacy Web", "owner": p.owner,
                                        "grant_types": ["authorization_code"], "response_types": ["code"],
                                        "redirect_uris": ["https://legacy.example.com/cb"]}),
    ]
    r = p.run("export", "--owner", p.owner, "--out", str(p.root / "clients"))
    assert r.exit_code == 0, r.output
    docs = {d["client_id"]: d for d in (yaml.safe_load(f.read_text()) for f in (p.root / "clients").glob("*.yaml"))}
    assert set(docs) == {c["client_id"] for c in made}
    api = docs[made[0]["client_id"]]
    assert api["name"] == "legacy-api" and api["scope"] == "api.read"
    assert api["hydra"] == {"audience": ["https://api.example.com"]}
    assert "subject_type" not in api and "client_secret" not in api  # defaults and secrets left out
    assert p.run("validate").exit_code == 0
    # declared but not managed: Terraform's "already exists, import it", not a silent "No changes"
    plan = p.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 1, plan.output
    for c in made:
        assert f"client {c['client_id']} already exists on the server" in plan.output
    assert "dcrsync import" in plan.output
    refused = p.run("apply", "--auto-approve")
    assert refused.exit_code == 1 and "conflict(s) stop the apply" in refused.output
    assert all(not c.get("metadata") for c in (get_client(hydra.admin_url, m["client_id"]) for m in made))


def test_import_then_plan_is_empty_and_rotated_secret_works(hydra_project, hydra):
    p = hydra_project
    legacy = create_client(hydra.admin_url, {"client_name": "Old job", "grant_types": ["client_credentials"],
                                             "scope": "openid", "contacts": ["ops@example.com"]})
    r = p.run("import", "old-job", legacy["client_id"], "--rotate-secret")
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load((p.root / "clients" / "old-job.yaml").read_text())
    assert doc["client_id"] == legacy["client_id"] and doc["contacts"] == ["ops@example.com"]
    live = get_client(hydra.admin_url, legacy["client_id"])
    assert live["metadata"]["dcrsync"] == {"name": "old-job", "owner": p.owner, "project": p.owner, "serial": 1}
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    new = p.secret("old-job")
    assert token_works(hydra.public_url, legacy["client_id"], new)
    assert not token_works(hydra.public_url, legacy["client_id"], legacy["client_secret"])
    again = p.run_sub("import", "old-job", legacy["client_id"])
    assert again.returncode == 1 and "exists" in again.stderr and "Traceback" not in again.stderr


def test_recover_refuses_to_overwrite_a_state(hydra_project):
    p = hydra_project
    p.write_client("a", SVC)
    assert p.run("apply", "--auto-approve").exit_code == 0
    r = p.run_sub("state", "recover")
    assert r.returncode == 1 and "exists" in r.stderr


def test_environments_share_clients_with_their_own_state_and_vars(hydra_project, hydra):
    p = hydra_project
    p.write_client("web", """\
        name: web
        client_name: Web
        grant_types: [authorization_code]
        response_types: [code]
        redirect_uris: ["https://web.${var:domain}/callback"]
        """)
    p.set_config(
        vars={"domain": "example.com"},
        environments={
            "staging": {"state": "state/staging.sops.yaml", "vars": {"domain": "staging.example.com"},
                        "owner": p.owner + "-stg"},
            "broken": {"state": "state/broken.sops.yaml", "vars": {"other": "x"}},
        },
    )
    assert p.run("apply", "--auto-approve").exit_code == 0
    assert p.run("apply", "--auto-approve", "--env", "staging").exit_code == 0
    prod = {c["redirect_uris"][0] for c in clients_of(hydra.admin_url, p.owner)}
    stg = {c["redirect_uris"][0] for c in clients_of(hydra.admin_url, p.owner + "-stg")}
    assert (prod, stg) == ({"https://web.example.com/callback"}, {"https://web.staging.example.com/callback"})
    assert (p.root / "state" / "staging.sops.yaml").exists() and p.state.exists()
    assert p.run("plan", "--detailed-exitcode", "--env", "staging").exit_code == 0
    listed = json.loads(p.run("state", "list", "--format", "json", "--env", "staging").output)
    assert [c["name"] for c in listed] == ["web"]


def test_undefined_var_in_an_environment_is_an_error_at_its_line(hydra_project):
    p = hydra_project
    p.write_client("web", """\
        name: web
        client_name: Web
        grant_types: [authorization_code]
        response_types: [code]
        redirect_uris: ["https://web.${var:region}.example.com/callback"]
        """)
    p.set_config(environments={"eu": {"vars": {"region": "eu"}}, "us": {"vars": {}}})
    assert p.run("validate", "--env", "eu").exit_code == 0
    r = p.run_sub("plan", "--env", "us")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "web.yaml:5:" in r.stderr and "region" in r.stderr
