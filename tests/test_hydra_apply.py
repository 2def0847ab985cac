"""plan / apply / state against a real Ory Hydra admin API."""

from __future__ import annotations

import json

import pytest

from tests.support.clients import WEB
from tests.support.hydra_api import clients_of, create_client, get_client, put_client, token_works

pytestmark = pytest.mark.hydra

SERVICE = {"client_name": "Reports job", "grant_types": ["client_credentials"], "scope": "openid"}


def test_create_sets_hydra_owner_and_hydra_fills_the_rest(hydra_project, hydra):
    """Create -> empty plan on every family is tests/test_behaviour.py; here what is Hydra's own:
    the `owner` column, and the fields Hydra fills in for a client that declares two."""
    p = hydra_project
    p.write_client("billing-web", WEB)
    p.write_client("reports-job", SERVICE)  # declares three fields only: Hydra fills the rest
    p.write_client("tiny", {"client_name": "Tiny", "grant_types": ["client_credentials"]})
    assert p.run("apply", "--auto-approve").exit_code == 0

    live = {c["metadata"]["dcrsync"]["name"]: c for c in clients_of(hydra.admin_url, p.owner)}
    assert set(live) == {"billing-web", "reports-job", "tiny"}
    assert all(c["owner"] == p.owner for c in live.values())
    assert sorted(live["billing-web"]["redirect_uris"]) == sorted(WEB["redirect_uris"])
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_order_of_sets_and_scope_is_not_a_change(hydra_project, hydra):
    p = hydra_project
    p.write_client("web", WEB)
    assert p.run("apply", "--auto-approve").exit_code == 0
    shuffled = dict(WEB, redirect_uris=list(reversed(WEB["redirect_uris"])), scope="offline_access openid",
                    grant_types=["refresh_token", "authorization_code"])
    p.write_client("web", shuffled)
    r = p.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output


def test_update_keeps_hydra_fields_and_writes_the_metadata_marker(hydra_project, hydra):
    """Hydra's own undeclared fields (audience) survive the full-replace PUT; the marker is in metadata.
    (An update keeping an undeclared portable field, on every family: tests/test_behaviour.py.)"""
    p = hydra_project
    p.write_client("web", WEB)
    assert p.run("apply", "--auto-approve").exit_code == 0
    (client,) = clients_of(hydra.admin_url, p.owner)
    # someone sets fields the YAML does not declare
    client.update(audience=["https://api.example.com"], contacts=["ops@example.com"])
    put_client(hydra.admin_url, client)

    p.write_client("web", dict(WEB, client_name="Billing Web v2"))
    (change,) = json.loads(p.run("plan", "--format", "json").output)["changes"]
    assert [f["path"] for f in change["fields"] if f["kind"] == "change"] == ["client_name"]
    # audience, contacts: not declared; the apply keeps them, and says so in this change (issue 17 item 7)
    assert sorted(f["path"] for f in change["fields"] if f["kind"] == "accept") == ["audience", "contacts"]
    assert p.run("apply", "--auto-approve").exit_code == 0
    after = get_client(hydra.admin_url, client["client_id"])
    assert after["client_name"] == "Billing Web v2"
    assert after["audience"] == ["https://api.example.com"]
    assert after["contacts"] == ["ops@example.com"]
    # the marker: owner, this project's identity, and the serial of the state this apply committed
    assert after["metadata"]["dcrsync"] == {"name": "web", "owner": p.owner, "project": p.owner, "serial": 2}
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_server_change_is_drift_and_is_restored(hydra_project, hydra):
    p = hydra_project
    p.write_client("web", WEB)
    assert p.run("apply", "--auto-approve").exit_code == 0
    (client,) = clients_of(hydra.admin_url, p.owner)
    client["redirect_uris"] = ["https://evil.example.net/cb"]
    put_client(hydra.admin_url, client)

    data = json.loads(p.run("plan", "--format", "json").output)
    (change,) = data["changes"]
    assert change["cause"] == "drift"
    assert change["fields"][0]["path"] == "redirect_uris"
    assert change["fields"][0]["before"] == ["https://evil.example.net/cb"]

    assert p.run("apply", "--auto-approve").exit_code == 0
    assert sorted(get_client(hydra.admin_url, client["client_id"])["redirect_uris"]) == sorted(WEB["redirect_uris"])


def test_saved_plan_is_refused_when_stale(hydra_project, hydra):
    p = hydra_project
    p.write_client("web", WEB)
    assert p.run("apply", "--auto-approve").exit_code == 0
    p.write_client("web", dict(WEB, client_name="Renamed"))
    planfile = p.root / "plan.json"
    assert p.run("plan", "--out", str(planfile)).exit_code == 0

    (client,) = clients_of(hydra.admin_url, p.owner)
    client["logo_uri"] = "https://example.com/logo.png"  # an out-of-band edit of a touched client
    put_client(hydra.admin_url, client)

    r = p.run_sub("apply", str(planfile))
    assert r.returncode == 1
    assert "stale" in r.stderr and "web" in r.stderr
    assert "Traceback" not in r.stderr
    assert get_client(hydra.admin_url, client["client_id"])["client_name"] == "Billing Web"


def test_saved_plan_applies_exactly(hydra_project, hydra):
    p = hydra_project
    p.write_client("web", WEB)
    planfile = p.root / "plan.json"
    assert p.run("plan", "--out", str(planfile)).exit_code == 0
    p.write_client("web", dict(WEB, client_name="Edited after the plan"))  # not in the reviewed plan
    r = p.run("apply", str(planfile))
    assert r.exit_code == 0, r.output
    (client,) = clients_of(hydra.admin_url, p.owner)
    assert client["client_name"] == "Billing Web"

    tampered = json.loads(planfile.read_text())
    tampered["changes"][0]["desired"]["client_name"] = "sneaky"
    planfile.write_text(json.dumps(tampered))
    r = p.run_sub("apply", str(planfile))
    assert r.returncode == 1 and "checksum" in r.stderr


def test_safety_threshold_and_force(hydra_project, hydra):
    p = hydra_project
    for i in range(10):
        p.write_client(f"c{i}", dict(SERVICE, client_name=f"C {i}"))
    assert p.run("apply", "--auto-approve").exit_code == 0
    for i in range(4):
        p.write_client(f"c{i}", dict(SERVICE, client_name=f"C {i} renamed"))
    refused = p.run_sub("apply", "--auto-approve")
    assert refused.returncode == 1
    assert "4 of 10" in refused.stderr and "--force" in refused.stderr
    assert {c["client_name"] for c in clients_of(hydra.admin_url, p.owner)} == {f"C {i}" for i in range(10)}
    forced = p.run("apply", "--auto-approve", "--force")
    assert forced.exit_code == 0, forced.output
    assert sum(c["client_name"].endswith("renamed") for c in clients_of(hydra.admin_url, p.owner)) == 4


def test_prune_spares_a_client_with_our_owner_string_but_no_marker(hydra_project, hydra):
    """Hydra's `owner` is a free string anyone can set: only the metadata marker makes a client ours.
    (Prune on every family, with a stranger that has no owner at all: tests/test_behaviour.py.)"""
    p = hydra_project
    p.write_client("keep", SERVICE)
    p.write_client("leave", dict(SERVICE, client_name="Leaving"))
    assert p.run("apply", "--auto-approve").exit_code == 0
    # a client someone else made, with the same owner string but without our marker
    stranger = create_client(hydra.admin_url, {"client_name": "stranger", "owner": p.owner,
                                                "grant_types": ["client_credentials"]})
    p.remove_client("leave")
    p.set_config(prune=True)
    data = json.loads(p.run("plan", "--format", "json").output)
    assert [(c["action"], c["name"]) for c in data["changes"]] == [("delete", "leave")]
    # 1 delete of the 2 clients this project owns: above the delete threshold, however small the state
    refused = p.run("apply", "--auto-approve")
    assert refused.exit_code == 1 and "1 of 2 clients this project owns" in refused.output
    assert p.run("apply", "--auto-approve", "--force").exit_code == 0
    names = {c["client_name"] for c in clients_of(hydra.admin_url, p.owner)}
    assert names == {SERVICE["client_name"], "stranger"}
    assert get_client(hydra.admin_url, stranger["client_id"])["client_name"] == "stranger"
    assert "leave" not in p.state_doc()["clients"]


def test_target_limits_the_plan(hydra_project):
    p = hydra_project
    p.write_client("a", SERVICE)
    p.write_client("b", SERVICE)
    data = json.loads(p.run("plan", "--format", "json", "--target", "a").output)
    assert [c["name"] for c in data["changes"]] == ["a"]
    r = p.run_sub("plan", "--target", "nope")
    assert r.returncode == 1 and "nope" in r.stderr


def test_plan_json_follows_the_published_schema(hydra_project, hydra):
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).parent.parent / "schemas" / "plan.schema.json").read_text())
    p = hydra_project
    p.write_client("web", WEB)
    p.write_client("svc", SERVICE)
    assert p.run("apply", "--auto-approve").exit_code == 0
    p.write_client("web", dict(WEB, client_name="Renamed"))
    p.remove_client("svc")
    p.set_config(prune=True)
    p.write_client("new", dict(SERVICE, client_name="New"))  # not the removed one's twin (a rename)
    data = json.loads(p.run("plan", "--format", "json").output)
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["summary"] == {"create": 1, "update": 1, "move": 0, "rotate": 0, "replace": 0, "delete": 1,
                               "unchanged": 0}
    assert p.secret("web") not in json.dumps(data)


def test_changing_a_declared_client_id_replaces_the_client(hydra_project, hydra):
    import httpx

    p = hydra_project
    suffix = p.owner[-12:]
    p.write_client("svc", dict(SERVICE, client_id=f"svc-one-{suffix}"))
    assert p.run("apply", "--auto-approve").exit_code == 0
    p.write_client("svc", dict(SERVICE, client_id=f"svc-two-{suffix}"))
    data = json.loads(p.run("plan", "--format", "json").output)
    assert [(c["action"], c["client_id"]) for c in data["changes"]] == [("replace", f"svc-one-{suffix}")]
    assert p.run("apply", "--auto-approve").exit_code == 1  # a replace deletes: the project's only client
    assert p.run("apply", "--auto-approve", "--force").exit_code == 0
    assert httpx.get(f"{hydra.admin_url}/admin/clients/svc-one-{suffix}").status_code == 404
    assert p.state_doc()["clients"]["svc"]["client_id"] == f"svc-two-{suffix}"
    assert token_works(hydra.public_url, f"svc-two-{suffix}", p.secret("svc"))
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
