"""Against a real Hydra: the plan is the same with the client cache off, cold and warm, with changes in
git, on the server and none; drift still names undeclared hand edits from the slim sidecar."""

from __future__ import annotations

import json

import pytest

from tests.support.hydra_api import clients_of, put_client

pytestmark = pytest.mark.hydra

SVC = {"client_name": "Svc", "grant_types": ["client_credentials"], "scope": "openid"}


def _plan(p, monkeypatch, cache: str) -> dict:
    monkeypatch.setenv("DCRSYNC_CLIENT_CACHE", cache)
    r = p.run("plan", "--format", "json")
    assert r.exit_code == 0, r.output
    plan = json.loads(r.output)
    plan.pop("created_at", None)
    plan.pop("checksum", None)
    return plan


def test_the_plan_is_the_same_with_and_without_the_fast_paths(hydra_project, hydra, monkeypatch, tmp_path):
    p = hydra_project
    for name in ("a", "b", "c", "d"):
        p.write_client(name, SVC)
    assert p.run("apply", "--auto-approve").exit_code == 0
    cache = str(tmp_path / "cache")
    unchanged = [_plan(p, monkeypatch, c) for c in ("off", cache, cache)]
    assert unchanged[0] == unchanged[1] == unchanged[2]
    assert unchanged[0]["changes"] == [] and unchanged[0]["summary"]["unchanged"] == 4

    p.write_client("b", {**SVC, "scope": "openid api"})  # git
    target = next(c for c in clients_of(hydra.admin_url, p.owner) if c["metadata"]["dcrsync"]["name"] == "c")
    put_client(hydra.admin_url, {**target, "scope": "openid admin"})  # the server
    p.write_client("e", SVC)  # a new client
    plans = [_plan(p, monkeypatch, c) for c in (cache, cache, "off")]
    assert plans[0] == plans[1] == plans[2]
    assert sorted((c["name"], c["action"], c["cause"]) for c in plans[0]["changes"]) == [
        ("b", "update", "pending"), ("c", "update", "drift"), ("e", "create", "pending")]


def test_drift_names_an_undeclared_hand_edit_from_the_slim_sidecar(hydra_project, hydra):
    p = hydra_project
    p.write_client("a", SVC)
    p.write_client("b", SVC)
    assert p.run("apply", "--auto-approve").exit_code == 0
    sidecar = json.loads(p.state.with_name("dcrsync.state.applied.json").read_text())
    assert "observed_common" in sidecar and "observed_delta" in sidecar["clients"]["a"]
    target = next(c for c in clients_of(hydra.admin_url, p.owner) if c["metadata"]["dcrsync"]["name"] == "a")
    put_client(hydra.admin_url, {**target, "client_uri": "https://elsewhere.example.com"})
    r = p.run("drift", "--format", "json")
    data = json.loads(r.output)
    (client,) = data["undeclared"]
    assert client["name"] == "a" and [c["path"] for c in client["changes"]] == ["client_uri"]
