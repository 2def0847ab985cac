"""Day-2 edits on a real Hydra: renames, removed lines, a lost state, missing recipients, saved plans.

Each test is an everyday change a team makes after the first apply; before this suite, each one
either took a client down, rotated a production secret, or silently did nothing.
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.support.hydra_api import clients_of, get_client, put_client, token_works

pytestmark = pytest.mark.hydra

SERVICE = {"client_name": "Svc", "grant_types": ["client_credentials"], "scope": "openid",
           "token_endpoint_auth_method": "client_secret_basic"}



def apply_ok(p, *args: str):
    r = p.run("apply", "--auto-approve", *args)
    assert r.exit_code == 0, r.output + (r.stderr or "")
    return r


def state_names(p) -> dict[str, str]:
    return {n: c["client_id"] for n, c in (p.state_doc().get("clients") or {}).items()}


def plan_json(p) -> dict:
    r = p.run("plan", "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def applied_then_removed(p) -> tuple[str, str]:
    """svc-1 applied with prune on, then its file removed: (its client_id, its secret)."""
    p.set_config(prune=True)
    p.write_client("svc-1", SERVICE)
    apply_ok(p)
    cid = state_names(p)["svc-1"]
    secret = p.secret("svc-1")
    p.remove_client("svc-1")
    return cid, secret


# --- 1. renames are moves -------------------------------------------------------------------------


def test_rename_with_pinned_client_id_moves_and_keeps_client_and_secret(hydra_project, hydra):
    p = hydra_project
    cid, secret = applied_then_removed(p)
    # the file as `export` / `import` write it: client_id pinned; then the team renames it
    p.write_client("billing", {**SERVICE, "client_id": cid})

    plan = plan_json(p)
    assert [(c["action"], c["name"], c.get("moved_from")) for c in plan["changes"]] == [("move", "billing", "svc-1")]
    text = p.run("plan").output
    assert "move billing" in text and "delete" not in text.split("Plan:")[0].replace("to delete", "")

    r = apply_ok(p)
    assert "1 moved" in r.output and "0 deleted" in r.output
    live = get_client(hydra.admin_url, cid)  # still there: not deleted, not re-created
    assert live["metadata"]["dcrsync"]["name"] == "billing"
    assert state_names(p) == {"billing": cid}
    assert p.secret("billing") == secret  # no rotation
    assert token_works(hydra.public_url, cid, secret)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_unpinned_rename_hints_then_state_mv_makes_it_a_move(hydra_project, hydra):
    p = hydra_project
    cid, secret = applied_then_removed(p)
    p.write_client("billing", SERVICE)

    r = p.run("plan")  # with prune on, a create and a delete that look like a rename are a conflict
    assert r.exit_code == 1 and "looks like a rename" in r.output and "moved_from: svc-1" in r.output

    moved = p.run("state", "mv", "svc-1", "billing")
    assert moved.exit_code == 0, moved.output
    plan = plan_json(p)
    assert [(c["action"], c.get("moved_from")) for c in plan["changes"]] == [("move", "svc-1")]
    apply_ok(p)
    assert get_client(hydra.admin_url, cid)["metadata"]["dcrsync"]["name"] == "billing"
    assert token_works(hydra.public_url, cid, secret)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    # a wrong name is one line, exit 1
    bad = p.run("state", "mv", "nope", "other")
    assert bad.exit_code == 1 and "nope is not in" in bad.output


# --- 2. missing recipients touch nothing ----------------------------------------------------------


def test_no_recipients_fails_before_any_server_write(tmp_path, hydra, age_key):
    from tests.support.project import make_project

    p = make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": hydra.admin_url}, age_key, "t-norecip")
    cfg = yaml.safe_load(p.config.read_text())
    del cfg["sops"]
    p.config.write_text(yaml.safe_dump(cfg))
    p.write_client("a", SERVICE)
    p.write_client("b", SERVICE)
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "recipients" in r.stderr
    assert clients_of(hydra.admin_url, "t-norecip") == []  # nothing was created
    assert not p.state.exists()


# --- 3. a lost state is an error, a rotation is its own action -----------------------------------


def test_missing_state_is_an_error_that_points_to_recover(hydra_project, hydra):
    p = hydra_project
    for n in ("a", "b"):
        p.write_client(n, SERVICE)
    apply_ok(p)
    secrets = {n: p.secret(n) for n in ("a", "b")}
    ids = state_names(p)
    shutil.move(p.state, p.root / "elsewhere.sops.yaml")

    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 1 and "state recover" in r.stderr and "Traceback" not in r.stderr, r.stderr
    plan = p.run_sub("plan")
    assert plan.returncode == 1 and "state recover" in plan.stderr
    # nothing rotated: the old secrets still work
    for n in ("a", "b"):
        assert token_works(hydra.public_url, ids[n], secrets[n])


def test_adopting_a_marked_client_is_a_rotate_in_every_format(hydra_project, hydra):
    p = hydra_project
    for n in ("a", "b"):
        p.write_client(n, SERVICE)
    apply_ok(p)
    assert p.run("state", "rm", "b").exit_code == 0
    plan = plan_json(p)
    assert [(c["action"], c["name"]) for c in plan["changes"]] == [("rotate", "b")]
    assert plan["summary"]["rotate"] == 1
    text = p.run("plan").output
    assert "! rotate b" in text and "the app must be given the new secret" in text
    md = p.run("plan", "--format", "markdown").output
    assert "rotate" in md and "the app must be given the new secret" in md
    r = apply_ok(p)
    assert "1 rotated" in r.output
    assert token_works(hydra.public_url, state_names(p)["b"], p.secret("b"))


# --- 4/5. a removed line resets the field; a new one is pending -----------------------------------


def test_removed_lines_reset_fields_and_new_ones_are_pending(hydra_project, hydra):
    p = hydra_project
    web = {**SERVICE, "contacts": ["ops@example.com"], "hydra": {"skip_consent": True}}
    p.write_client("a", web)
    apply_ok(p)
    cid = state_names(p)["a"]
    assert get_client(hydra.admin_url, cid)["skip_consent"] is True

    p.write_client("a", SERVICE)  # contacts and hydra.skip_consent removed from git
    r = p.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    assert '- contacts: ["ops@example.com"] -> (unset)' in r.output
    assert "- hydra.skip_consent: true -> (unset)" in r.output
    apply_ok(p)
    live = get_client(hydra.admin_url, cid)
    assert not live.get("contacts") and live["skip_consent"] is False
    assert p.run("plan", "--detailed-exitcode").exit_code == 0  # no longer managed
    drift = p.run("drift")
    assert drift.exit_code == 0, drift.output

    p.write_client("a", {**SERVICE, "client_uri": "https://svc.example.com"})
    plan = plan_json(p)
    (change,) = plan["changes"]
    assert change["cause"] == "pending"
    assert [(f["path"], f["kind"]) for f in change["fields"]] == [("client_uri", "declare")]
    assert "(server default" in p.run("plan").output


# --- 6. saved plans go stale only for what they touch ---------------------------------------------


def test_saved_plan_survives_an_unrelated_apply_and_not_a_related_change(hydra_project, hydra):
    p = hydra_project
    p.write_client("a", SERVICE)
    p.write_client("b", SERVICE)
    apply_ok(p)
    p.write_client("a", {**SERVICE, "client_name": "A2"})
    saved = p.root / "a.plan.json"
    assert p.run("plan", "--out", str(saved)).exit_code == 0

    # another pull request merges first and applies a change to b only
    p.write_client("a", SERVICE)
    p.write_client("b", {**SERVICE, "client_name": "B2"})
    apply_ok(p)
    r = p.run("apply", str(saved))
    assert r.exit_code == 0, r.output
    assert get_client(hydra.admin_url, state_names(p)["a"])["client_name"] == "A2"

    # but a change to the client the plan touches makes it stale
    p.write_client("a", {**SERVICE, "client_name": "A3"})
    assert p.run("plan", "--out", str(saved)).exit_code == 0
    live = get_client(hydra.admin_url, state_names(p)["a"])
    put_client(hydra.admin_url, {**live, "client_uri": "https://changed.example.com"})
    r = p.run("apply", str(saved))
    assert r.exit_code == 1 and "stale" in r.output


# --- apply's log outside a terminal ---------------------------------------------------------------


def test_apply_outside_a_terminal_prints_one_line_per_client_with_its_id(hydra_project):
    p = hydra_project
    p.write_client("a", SERVICE)
    p.write_client("b", SERVICE)
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 0, r.stderr
    ids = state_names(p)
    for name, cid in ids.items():
        assert f"{name}: created [client_id={cid}]" in r.stdout
