"""A declared rotation on a real Keycloak 26 (issue 18 item 7): approved in a saved plan, delivered,
and finished, with the app's delivered secret working throughout. Keycloak keeps the old secret
valid beside the new one under a realm client policy with the secret-rotation executor, so the
rotation is two-phase: the old secret is retired only once every delivery holds the new one."""

from __future__ import annotations

import pyrage
import pytest
import yaml

from tests.harness.keycloak import throwaway_realm
from tests.support.project import AgeKey, make_project
from tests.test_deliver import opened, sops_decrypt
from tests.test_keycloak_rotation import TWO_DAYS, rotation_policy

SERVICE = {"client_name": "Billing", "grant_types": ["client_credentials"], "scope": "openid"}


@pytest.fixture(scope="module")
def realm():
    with throwaway_realm("dlv-rot", readable_ids=True) as (admin, server):
        rotation_policy(admin, TWO_DAYS, {"condition": "client-access-type", "configuration": {"type": ["confidential"]}})
        yield admin, server


def billing(token: str) -> dict:
    return {**SERVICE, "rotation": token, "rotate": {"grace": "24h"}, "deliver": [{
        "target": "kubernetes-secret", "path": "deploy/billing/oauth.sops.yaml", "recipients": "billing-team",
        "namespace": "billing", "keys": {"CLIENT_ID": "client_id", "CLIENT_SECRET": "client_secret", "ISSUER": "issuer"},
    }]}


def test_a_declared_rotation_is_reviewed_delivered_and_finished_without_downtime(realm, tmp_path, age_key):
    admin, server = realm
    identity = pyrage.x25519.Identity.generate()
    (tmp_path / "team.txt").write_text(f"{identity}\n")
    team = AgeKey(tmp_path / "team.txt", str(identity.to_public()))
    p = make_project(tmp_path / "proj", server, age_key, "dlv-kc", delivery={
        "roots": ["deploy/"], "recipients": {"billing-team": {"age": [team.recipient]}}})
    name = "dlv-kc-billing"
    p.write_client("billing", {"name": name, **billing("2026-q1")})
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output

    def delivered() -> dict:
        return opened(p, "billing", team)["stringData"]

    first = delivered()
    assert first["CLIENT_SECRET"] == admin.secret(name) and admin.token_works(name, first["CLIENT_SECRET"])
    assert first["ISSUER"].endswith(f"/realms/{server['realm']}")

    # the pull request: a new rotation token; its plan shows the rotation and where it is delivered
    p.write_client("billing", {"name": name, **billing("2026-q2")})
    plan = p.run("plan", "--out", str(p.root / "plan.json"), "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "! rotate" in plan.output and "two-phase" in plan.output and "'2026-q1' -> '2026-q2'" in plan.output
    assert "→ deliver dlv-kc-billing: kubernetes-secret deploy/billing/oauth.sops.yaml (rotated secret)" in plan.output
    md = p.run("plan", "--format", "markdown")
    assert "rotate" in md.output and "Deliveries" in md.output

    # merged: the reviewed plan is applied exactly; the app's old secret still works beside the new
    r = p.run_sub("apply", str(p.root / "plan.json"))
    assert r.returncode == 0, r.stdout + r.stderr
    second = delivered()
    assert second["CLIENT_SECRET"] != first["CLIENT_SECRET"]
    assert second["CLIENT_SECRET"] == p.secret(name) == admin.secret(name)
    assert admin.token_works(name, first["CLIENT_SECRET"]) and admin.token_works(name, second["CLIENT_SECRET"])
    assert p.run("plan", "--detailed-exitcode").exit_code == 0  # the token is recorded: no second rotation
    assert p.run_sub("deliver", "--check").returncode == 0

    # finishing waits for every delivery to be current
    manifest = p.root / "deploy" / "billing" / "oauth.sops.yaml"
    manifest.unlink()
    refused = p.run_sub("rotate-secret", name, "--finish")
    assert refused.returncode == 1 and "not current" in refused.stderr, refused.stdout + refused.stderr
    assert admin.token_works(name, first["CLIENT_SECRET"])
    assert p.run_sub("deliver").returncode == 0
    done = p.run_sub("rotate-secret", name, "--finish")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not admin.token_works(name, first["CLIENT_SECRET"])  # the old one is retired
    assert admin.token_works(name, delivered()["CLIENT_SECRET"])  # the app's delivered one works
    assert "rotating" not in yaml.safe_load((p.root / "dcrsync.state.applied.json").read_text())["clients"][name]
    assert sops_decrypt(manifest, age_key).returncode != 0  # the state's key cannot open the team's manifest
