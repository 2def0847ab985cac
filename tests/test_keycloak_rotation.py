"""`rotate-secret --grace` against a real Keycloak 26 (started with the client-secret-rotation
feature): the old secret keeps getting tokens beside the new one only under a realm client policy
that keeps rotated secrets; without one, or on Hydra, nothing rotates."""

from __future__ import annotations

import time

import pytest

from tests.harness.keycloak import throwaway_realm
from tests.support.hydra_api import token_works
from tests.support.project import make_project

SERVICE = {"client_name": "Nightly export", "grant_types": ["client_credentials"], "scope": "openid"}
TWO_DAYS = 2 * 86400


def rotation_policy(admin, rotated_period: int, condition: dict) -> None:
    """A profile with the secret-rotation executor and a policy applying it, as an admin sets them up."""
    admin.call("PUT", "/client-policies/profiles", json={"profiles": [{
        "name": "keep-old-secrets", "description": "rotated secrets stay valid a while",
        "executors": [{"executor": "secret-rotation", "configuration": {
            "expiration-period": str(30 * 86400), "rotated-expiration-period": str(rotated_period),
            "remaining-rotation-period": str(5 * 86400)}}],
    }]}).raise_for_status()
    admin.call("PUT", "/client-policies/policies", json={"policies": [{
        "name": "service-clients", "description": "", "enabled": True,
        "conditions": [condition], "profiles": ["keep-old-secrets"],
    }]}).raise_for_status()


@pytest.fixture(scope="module")
def realms():
    """Two realms: one whose confidential clients keep rotated secrets two days, one without policy."""
    with throwaway_realm("rot-policy", readable_ids=True) as policy, \
            throwaway_realm("rot-bare", readable_ids=True) as bare:
        rotation_policy(policy[0], TWO_DAYS,
                        {"condition": "client-access-type", "configuration": {"type": ["confidential"]}})
        yield {"policy": policy, "bare": bare}


def refused(r) -> str:
    """The one line a refused rotation prints (exit 1, no traceback)."""
    err = r.stderr.strip()
    assert r.returncode == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, r.stdout + r.stderr
    return err


def project_in(realms, label, tmp_path, age_key, request):
    admin, server = realms[label]
    owner = "r-" + request.node.name.replace("_", "-")[:40]
    p = make_project(tmp_path / "proj", server, age_key, owner)
    name = f"{owner[:24]}-export"
    p.write_client(name, SERVICE)
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    return p, admin, name


def test_grace_keeps_the_old_secret_beside_the_new_one(realms, tmp_path, age_key, request):
    p, admin, name = project_in(realms, "policy", tmp_path, age_key, request)
    old = p.secret(name)
    r = p.run_sub("rotate-secret", name, "--grace", "24h")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stays valid until" in r.stdout and " UTC" in r.stdout, r.stdout
    new = p.secret(name)
    assert new != old and new not in r.stdout + r.stderr and old not in r.stdout + r.stderr
    assert admin.secret(name) == new  # the state holds what Keycloak holds
    assert admin.token_works(name, old) and admin.token_works(name, new)  # both, at the token endpoint
    internal = admin.client(name)["id"]
    assert admin.call("GET", f"/clients/{internal}/client-secret/rotated").json()["value"] == old
    # the rotation's bookkeeping (the old secret in a client attribute) is no drift, no field, no file
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    assert p.run("drift").exit_code == 0
    assert old not in p.state.read_text()
    r = p.run("export", "--owner", p.owner, "--out", str(p.root / "exported"))
    assert r.exit_code == 0, r.output
    text = (p.root / "exported" / f"{name}.yaml").read_text()
    assert old not in text and "client.secret" not in text, text
    # once the old secret is invalidated on the server, only the recorded one works
    admin.call("DELETE", f"/clients/{internal}/client-secret/rotated").raise_for_status()
    assert not admin.token_works(name, old) and admin.token_works(name, p.secret(name))


def test_a_second_grace_rotation_while_the_first_old_secret_is_kept_is_refused(realms, tmp_path, age_key, request):
    """Keycloak keeps one old secret: a second rotation would end the first one's grace at once."""
    p, admin, name = project_in(realms, "policy", tmp_path, age_key, request)
    old = p.secret(name)
    assert p.run_sub("rotate-secret", name, "--grace", "24h").returncode == 0
    new = p.secret(name)
    err = refused(p.run_sub("rotate-secret", name, "--grace", "24h"))
    assert "keeps its old secret valid until" in err and "nothing was rotated" in err
    assert p.secret(name) == new == admin.secret(name)
    assert admin.token_works(name, old) and admin.token_works(name, new)  # both still, as promised
    internal = admin.client(name)["id"]
    admin.call("DELETE", f"/clients/{internal}/client-secret/rotated").raise_for_status()
    assert p.run_sub("rotate-secret", name, "--grace", "24h").returncode == 0  # once it is ended, it can


def test_grace_longer_than_the_policy_keeps_is_refused(realms, tmp_path, age_key, request):
    p, admin, name = project_in(realms, "policy", tmp_path, age_key, request)
    old = p.secret(name)
    err = refused(p.run_sub("rotate-secret", name, "--grace", "3d"))
    assert "'service-clients'" in err and "rotated-expiration-period" in err and "2d" in err, err
    assert "nothing was rotated" in err
    assert p.secret(name) == old == admin.secret(name) and admin.token_works(name, old)


def test_without_a_rotation_policy_grace_is_refused_and_the_old_secret_works(realms, tmp_path, age_key, request):
    p, admin, name = project_in(realms, "bare", tmp_path, age_key, request)
    old = p.secret(name)
    err = refused(p.run_sub("rotate-secret", name, "--grace", "24h"))
    assert "no client policy" in err and "secret-rotation" in err and "client-secret-rotation" in err, err
    assert p.secret(name) == old == admin.secret(name)
    assert admin.token_works(name, old)
    # without --grace the rotation is the plain one: the old secret dies at once
    r = p.run_sub("rotate-secret", name, "--yes")
    assert r.returncode == 0 and "no longer works" in r.stdout, r.stdout + r.stderr
    assert not admin.token_works(name, old) and admin.token_works(name, p.secret(name))


def test_hydra_cannot_keep_an_old_secret_so_grace_is_refused(hydra_project, hydra):
    p = hydra_project
    p.write_client("job", {"grant_types": ["client_credentials"], "response_types": [], "scope": "openid"})
    assert p.run("apply", "--auto-approve").exit_code == 0
    old = p.secret("job")
    client_id = p.state_doc()["clients"]["job"]["client_id"]
    err = refused(p.run_sub("rotate-secret", "job", "--grace", "24h"))
    assert "hydra cannot keep an old client secret" in err, err
    assert "nothing was rotated" in err and "Traceback" not in err
    assert p.secret("job") == old and token_works(hydra.public_url, client_id, old)
    bad = p.run_sub("rotate-secret", "job", "--grace", "soon")
    assert bad.returncode == 1 and "no duration" in bad.stderr, bad.stderr  # usage errors exit 1 here


def test_a_secret_keycloak_rotates_during_an_update_is_recorded_and_announced(tmp_path, age_key, request):
    """A realm policy whose secrets expire: Keycloak makes a new one on the first admin update after
    the expiry. The apply that triggers it must keep it, or it would exist nowhere else."""
    with throwaway_realm("rot-upd", readable_ids=True) as (admin, server):
        admin.call("PUT", "/client-policies/profiles", json={"profiles": [{
            "name": "short-lived", "executors": [{"executor": "secret-rotation", "configuration": {
                "expiration-period": "2", "rotated-expiration-period": "2",
                "remaining-rotation-period": "1"}}],
        }]}).raise_for_status()
        admin.call("PUT", "/client-policies/policies", json={"policies": [{
            "name": "all-confidential", "enabled": True, "profiles": ["short-lived"],
            "conditions": [{"condition": "client-access-type", "configuration": {"type": ["confidential"]}}],
        }]}).raise_for_status()
        p = make_project(tmp_path / "proj", server, age_key, "upd-" + request.node.name[:20].replace("_", "-"))
        name = p.owner[:24] + "-job"
        p.write_client(name, SERVICE)
        assert p.run("apply", "--auto-approve").exit_code == 0
        first = p.secret(name)
        assert admin.secret(name) == first

        time.sleep(3)  # the secret expires
        p.write_client(name, dict(SERVICE, client_name="Nightly export v2"))
        r = p.run("apply", "--auto-approve")
        assert r.exit_code == 0, r.output
        held = admin.secret(name)
        assert held != first, "the policy did not rotate on update: the scenario needs it"
        assert p.secret(name) == held and admin.token_works(name, p.secret(name))
        assert "Keycloak issued a new client secret during this update" in r.output
        assert held not in r.output
