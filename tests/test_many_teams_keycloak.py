"""Many teams, one server (issue 17) on a real Keycloak 26: a lost state recovered exactly, the
server's values accepted as the baseline, a client deleted in the console coming back as itself,
and two projects of one owner in one realm."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.harness.keycloak import project_in_realm, throwaway_realm

SERVICE = {"client_name": "Reports job", "grant_types": ["client_credentials"], "scope": "openid"}


@pytest.fixture(scope="module")
def realm():
    with throwaway_realm("teams") as made:
        made[0].grant_user_roles()  # what the README asks for keycloak.serviceAccountRoles
        yield made


@pytest.fixture
def kc_project(tmp_path, realm, age_key, request):
    return project_in_realm(tmp_path / "proj", realm, age_key, "t-" + request.node.name.replace("_", "-")[:40])


def ok(p, *args: str):
    r = p.run(*args)
    assert r.exit_code == 0, r.output
    return r


def ids(p) -> dict[str, str]:
    return {n: c["client_id"] for n, c in (p.state_doc().get("clients") or {}).items()}


def test_a_lost_state_recovered_then_drift_reports_nothing_and_refresh_accepts_a_console_edit(kc_project):
    p, admin = kc_project, kc_project.admin
    admin.call("POST", "/roles", json={"name": f"{p.owner[:30]}-reader"}).raise_for_status()
    role = f"{p.owner[:30]}-reader"
    p.write_client("reports", dict(SERVICE, keycloak={"serviceAccountRoles": {"realm": [role]}}))
    p.write_client("web", {"client_name": "Web", "grant_types": ["authorization_code"], "response_types": ["code"],
                           "redirect_uris": ["https://web.example.com/cb"], "scope": "openid"})
    ok(p, "apply", "--auto-approve")
    before = ids(p)

    p.state.unlink()  # the state is lost
    p.state.with_name("dcrsync.state.applied.json").unlink()
    assert p.run("drift").exit_code == 1  # as plan: the state is missing, not "every client drifted"
    ok(p, "state", "recover")
    assert ids(p) == before
    drift = p.run("drift")
    assert drift.exit_code == 0, drift.output  # nobody changed anything
    assert p.run("plan", "--detailed-exitcode").exit_code == 0

    # in the console someone adds a web origin and a redirect URI; the team accepts the server's values
    rep = admin.client(before["web"])
    rep["redirectUris"] = [*rep["redirectUris"], "https://web.example.com/cb2"]
    rep["webOrigins"] = ["https://partner.example.com"]
    admin.put(rep)
    assert p.run("drift").exit_code == 2
    shown = ok(p, "state", "refresh", "web", "--auto-approve").output
    assert "redirect_uris" in shown and "webOrigins (not declared)" in shown
    assert p.run("drift", "--fail-on-undeclared").exit_code == 0
    data = json.loads(ok(p, "plan", "--format", "json").output)
    (change,) = data["changes"]  # git still declares one redirect URI: pending, for the next apply
    assert (change["name"], change["cause"], [f["path"] for f in change["fields"]]) == ("web", "pending", ["redirect_uris"])


def test_a_client_deleted_in_the_console_comes_back_under_its_client_id_and_secret(kc_project):
    p, admin = kc_project, kc_project.admin  # the realm's dcrsync makes random (uuid) client_ids
    p.write_client("job", SERVICE)
    ok(p, "apply", "--auto-approve")
    cid, secret = ids(p)["job"], p.secret("job")
    admin.delete(cid)
    data = json.loads(ok(p, "plan", "--format", "json").output)
    (change,) = data["changes"]
    assert (change["action"], change["client_id"], change["new_client_id"]) == ("create", cid, False)
    assert "created again under its recorded client_id" in change["reason"]
    ok(p, "apply", "--auto-approve")
    assert ids(p) == {"job": cid} and admin.token_works(cid, secret)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_two_projects_of_one_owner_in_one_realm_prune_and_recover_only_their_own(tmp_path, realm, age_key):
    from tests.support.project import make_project

    _, server = realm
    owner = "platform"
    a = make_project(tmp_path / "a", server, age_key, owner, project="acme/payments", prune=True)
    b = make_project(tmp_path / "b", server, age_key, owner, project="acme/checkout", prune=True)
    a.write_client("api", SERVICE)
    ok(a, "apply", "--auto-approve")
    b.write_client("web", dict(SERVICE, client_name="Web"))
    assert b.run("plan", "--detailed-exitcode").exit_code == 2  # a create, not "your state is lost"
    ok(b, "apply", "--auto-approve")
    assert a.run("plan", "--detailed-exitcode").exit_code == 0 and b.run("plan", "--detailed-exitcode").exit_code == 0
    shutil.move(b.state, tmp_path / "b-lost.sops.yaml")
    b.state.with_name("dcrsync.state.applied.json").unlink()
    assert "Recovered 1 client(s)" in ok(b, "state", "recover").output and list(ids(b)) == ["web"]
