"""Many teams, one server (issue 17), as a platform team meets it on a real Hydra: two projects with
one owner, a branch behind main, a hand delete, a lost state, a rename, a protected client.

Each test is the user's steps; before this suite each one deleted another project's or main's
clients, re-created a client under a new id, or reported drift nobody made.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.hydra_api import clients_of, get_client, put_client, token_works
from tests.support.project import Project, make_project

pytestmark = pytest.mark.hydra
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

SERVICE = {"client_name": "Svc", "grant_types": ["client_credentials"], "scope": "openid",
           "token_endpoint_auth_method": "client_secret_basic"}
SPA = {"client_name": "SPA", "grant_types": ["authorization_code"], "response_types": ["code"],
       "redirect_uris": ["https://spa.example.com/cb"], "scope": "openid", "token_endpoint_auth_method": "none"}


def ok(p: Project, *args: str):
    r = p.run(*args)
    assert r.exit_code == 0, r.output
    return r


def plan_json(p: Project) -> dict:
    return json.loads(ok(p, "plan", "--format", "json").output)


def ids(p: Project) -> dict[str, str]:
    return {n: c["client_id"] for n, c in (p.state_doc().get("clients") or {}).items()}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(cwd), *args],
                   check=True, capture_output=True)


def in_repo(p: Project, remote: str) -> Project:
    """The project as a git repository with a remote, and no `project:`: its identity is the default."""
    cfg = yaml.safe_load(p.config.read_text())
    del cfg["project"]
    p.config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    (p.root / ".gitignore").write_text("*.lock\n*.journal/\n")
    git(p.root, "init", "-q", "-b", "main")
    git(p.root, "remote", "add", "origin", remote)
    return p


def commit(p: Project, message: str) -> None:
    git(p.root, "add", "-A")
    git(p.root, "commit", "-q", "-m", message)


# --- 1. a project owns only its own clients -------------------------------------------------------


@needs_git
def test_two_projects_with_one_owner_on_one_hydra_never_touch_each_other(tmp_path, hydra, age_key):
    owner = f"platform-{uuid.uuid4().hex[:8]}"  # both teams kept the owner the platform docs suggest
    server = {"kind": "hydra", "admin_url": hydra.admin_url}
    pay = in_repo(make_project(tmp_path / "payments", server, age_key, owner, prune=True),
                  "git@github.com:acme/payments.git")
    shop = in_repo(make_project(tmp_path / "checkout", server, age_key, owner, prune=True),
                   "https://github.com/acme/checkout.git")
    pay.write_client("api", SERVICE)
    pay.write_client("worker", dict(SERVICE, client_name="Worker"))
    ok(pay, "apply", "--auto-approve")

    # the second team starts: its state is empty while the server holds the first team's clients
    shop.write_client("web", dict(SERVICE, client_name="Web"))
    plan = plan_json(shop)
    assert [(c["action"], c["name"]) for c in plan["changes"]] == [("create", "web")] and not plan["conflicts"]
    ok(shop, "apply", "--auto-approve")

    markers = {c["metadata"]["dcrsync"]["name"]: c["metadata"]["dcrsync"]["project"] for c in clients_of(hydra.admin_url, owner)}
    assert markers == {"api": "github.com/acme/payments", "worker": "github.com/acme/payments",
                       "web": "github.com/acme/checkout"}
    # prune is on in both, and neither plans a delete of the other's clients
    for p in (pay, shop):
        assert p.run("plan", "--detailed-exitcode").exit_code == 0

    # payments loses its state: the check and recover see only payments' clients
    shutil.move(pay.state, tmp_path / "lost.sops.yaml")
    lost = pay.run("plan")
    assert lost.exit_code == 1 and "2 client(s)" in lost.output and "state recover" in lost.output
    recovered = ok(pay, "state", "recover")
    assert "Recovered 2 client(s)" in recovered.output and sorted(ids(pay)) == ["api", "worker"]
    assert pay.run("plan", "--detailed-exitcode").exit_code == 0

    # import by owner in the other project leaves payments' clients alone
    imported = shop.run("import", "--owner", owner)
    assert imported.exit_code == 0 and "another dcrsync project" in imported.output
    assert sorted(ids(shop)) == ["web"]

    # the delete threshold counts the clients this project owns, however few: 1 of 2 needs --force
    pay.remove_client("worker")
    refused = pay.run("apply", "--auto-approve")
    assert refused.exit_code == 1 and "1 of 2 clients this project owns" in refused.output
    ok(pay, "apply", "--auto-approve", "--force")
    assert sorted(c["metadata"]["dcrsync"]["name"] for c in clients_of(hydra.admin_url, owner)) == ["api", "web"]


def test_markers_of_an_older_dcrsync_gain_the_identity_without_a_delete(hydra_project, hydra):
    p = hydra_project
    p.set_config(prune=True, safety={"min_existing": 1})  # every update counted, as in a large project
    for n in ("a", "b", "c"):
        p.write_client(n, dict(SERVICE, client_name=n.upper()))
    ok(p, "apply", "--auto-approve")
    secrets = {n: p.secret(n) for n in ids(p)}
    # as a dcrsync before project identities wrote them: owner and name only
    for client in clients_of(hydra.admin_url, p.owner):
        client["metadata"]["dcrsync"] = {"name": client["metadata"]["dcrsync"]["name"], "owner": p.owner}
        put_client(hydra.admin_url, client)
    # another project of the same owner, made by that older dcrsync: never ours to delete or adopt
    other = httpx.post(f"{hydra.admin_url}/admin/clients", json={
        "client_name": "Theirs", "owner": p.owner, "grant_types": ["client_credentials"],
        "metadata": {"dcrsync": {"name": "theirs", "owner": p.owner}}}).json()

    assert p.run("drift").exit_code == 0  # a legacy marker on a recorded client is not drift
    plan = plan_json(p)
    assert sorted((c["action"], c["name"]) for c in plan["changes"]) == [("update", "a"), ("update", "b"), ("update", "c")]
    for change in plan["changes"]:
        assert change["marker"]["after"]["project"] == p.owner and "project" not in change["marker"]["before"]
        assert "gains this project's identity" in change["reason"] and change["cause"] == "pending"
    ok(p, "apply", "--auto-approve")  # 3 of 3 markers: not counted by the update threshold
    for client in clients_of(hydra.admin_url, p.owner):
        if client["client_id"] != other["client_id"]:
            assert client["metadata"]["dcrsync"]["project"] == p.owner
    assert get_client(hydra.admin_url, other["client_id"])["client_name"] == "Theirs"
    assert all(token_works(hydra.public_url, cid, secrets[n]) for n, cid in ids(p).items())
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


# --- 2. a branch behind main ---------------------------------------------------------------------


@needs_git
def test_a_branch_behind_main_never_deletes_what_main_created(tmp_path, hydra, age_key):
    owner = f"t-behind-{uuid.uuid4().hex[:8]}"
    main = in_repo(make_project(tmp_path / "repo", {"kind": "hydra", "admin_url": hydra.admin_url}, age_key, owner,
                                prune=True), "https://github.com/acme/oauth.git")
    main.write_client("a", SERVICE)
    ok(main, "apply", "--auto-approve")
    commit(main, "a")
    git(main.root, "branch", "old")  # a pull request cut here
    # another pull request is merged and applied on main, its state committed back
    main.write_client("b", dict(SERVICE, client_name="B"))
    ok(main, "apply", "--auto-approve")
    commit(main, "b")
    b_id = ids(main)["b"]

    old = Project(tmp_path / "old", owner)
    git(main.root, "worktree", "add", "-q", str(old.root), "old")
    old.write_client("a", dict(SERVICE, client_name="A renamed"))  # the branch's own change
    plan = plan_json(old)
    assert [(c["action"], c["name"]) for c in plan["changes"]] == [("update", "a")]
    behind = [w for w in plan["warnings"] if "this branch's state is behind: merge the base branch" in w]
    assert behind and "b" in behind[0]
    assert "this branch's state is behind: merge the base branch" in ok(old, "plan").output
    assert "this branch's state is behind" in ok(old, "plan", "--format", "markdown").output

    ok(old, "apply", "--auto-approve")  # a local apply from the branch
    assert get_client(hydra.admin_url, b_id)["client_name"] == "B"  # main's client is still there
    again = plan_json(old)  # even with the branch's serial caught up, b is never deleted
    assert again["changes"] == [] and any("never deletes them" in w or "behind" in w for w in again["warnings"])

    # main's state merged into the branch: nothing to plan but the branch's own change, applied already
    git(old.root, "checkout", "-q", "main", "--", "dcrsync.state.sops.yaml", "dcrsync.state.applied.json", "clients/b.yaml")
    assert not any("behind" in w for w in plan_json(old)["warnings"])


# --- 4. a hand delete ----------------------------------------------------------------------------


def test_a_client_deleted_by_hand_comes_back_as_itself(hydra_project, hydra):
    p = hydra_project
    p.write_client("spa", SPA)
    p.write_client("svc", SERVICE)
    ok(p, "apply", "--auto-approve")
    before, secret = ids(p), p.secret("svc")
    for cid in before.values():  # an admin cleans up in the console
        httpx.delete(f"{hydra.admin_url}/admin/clients/{cid}").raise_for_status()

    plan = plan_json(p)
    assert sorted((c["action"], c["name"], c["client_id"], c["cause"]) for c in plan["changes"]) == [
        ("create", "spa", before["spa"], "drift"), ("create", "svc", before["svc"], "drift")]
    assert all("created again under its recorded client_id" in c["reason"] for c in plan["changes"])
    assert not any(c["new_client_id"] for c in plan["changes"])
    ok(p, "apply", "--auto-approve")
    assert ids(p) == before  # the SPA's compiled-in client_id works again
    assert get_client(hydra.admin_url, before["spa"])["redirect_uris"] == SPA["redirect_uris"]
    assert token_works(hydra.public_url, before["svc"], secret)  # and the service's secret too
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


# --- 6. recover then drift; refresh --------------------------------------------------------------


def test_recover_then_drift_and_plan_agree_and_refresh_accepts_the_server(hydra_project, hydra):
    p = hydra_project
    p.write_client("web", dict(SPA, hydra={"skip_consent": True, "metadata": {"team": "web"}}))
    p.write_client("svc", dict(SERVICE, hydra={"audience": ["https://api.example.com"]}))
    ok(p, "apply", "--auto-approve")
    p.state.unlink()
    Path(str(p.state).replace(".sops.yaml", ".applied.json")).unlink()
    ok(p, "state", "recover")
    assert p.run("drift").exit_code == 0
    assert p.run("plan", "--detailed-exitcode").exit_code == 0

    # someone adds a redirect URI and a CORS origin by hand; the team decides to keep them
    cid = ids(p)["web"]
    client = get_client(hydra.admin_url, cid)
    client["redirect_uris"] += ["https://spa.example.com/cb2"]
    client["allowed_cors_origins"] = ["https://spa.example.com"]
    put_client(hydra.admin_url, client)
    assert p.run("drift").exit_code == 2
    shown = ok(p, "state", "refresh", "web", "--auto-approve").output
    assert "redirect_uris" in shown and "allowed_cors_origins (not declared)" in shown
    assert p.run("drift").exit_code == 0
    # git still declares one URI: plan shows it as a pending change, not drift
    (change,) = plan_json(p)["changes"]
    assert (change["name"], change["cause"]) == ("web", "pending")
    assert [f["path"] for f in change["fields"]] == ["redirect_uris"]
    # a refresh with nothing to accept says so and writes nothing
    assert "Nothing to accept" in ok(p, "state", "refresh", "--auto-approve").output
    bad = p.run("state", "refresh", "nope", "--auto-approve")
    assert bad.exit_code == 1 and "not in the state: nope" in bad.output


# --- 9. drift without its state ------------------------------------------------------------------


def test_drift_without_its_state_is_the_plans_one_line_error(hydra_project):
    p = hydra_project
    p.write_client("a", SERVICE)
    ok(p, "apply", "--auto-approve")
    shutil.move(p.state, p.root / "elsewhere.sops.yaml")
    drift, plan = p.run_sub("drift"), p.run_sub("plan")
    assert drift.returncode == plan.returncode == 1, drift.stdout + drift.stderr
    assert drift.stderr == plan.stderr and len(drift.stderr.strip().splitlines()) == 1
    assert "state recover" in drift.stderr and "Traceback" not in drift.stderr


# --- 10. renames ----------------------------------------------------------------------------------


def test_an_unrecognised_rename_is_a_conflict_until_the_file_says_moved_from(hydra_project, hydra):
    p = hydra_project
    p.set_config(prune=True)
    p.write_client("svc-1", SERVICE)
    ok(p, "apply", "--auto-approve")
    cid, secret = ids(p)["svc-1"], p.secret("svc-1")
    p.remove_client("svc-1")
    p.write_client("billing", SERVICE)  # renamed, no client_id pinned

    refused = p.run("apply", "--auto-approve", "--force")
    assert refused.exit_code == 1 and "looks like a rename" in refused.output
    assert get_client(hydra.admin_url, cid)["client_name"] == "Svc"  # nothing was sent
    r = p.run("plan", "--format", "json")
    assert r.exit_code == 1
    data = json.loads(r.output[: r.output.rindex("}") + 1])
    (delete,) = [c for c in data["changes"] if c["action"] == "delete"]
    assert "moved_from: svc-1" in delete["reason"] and data["conflicts"]
    text = p.run("plan").output
    delete_box = text[text.index("- delete svc-1"):text.index("Plan:")]
    assert "looks like a rename to billing" in delete_box and "moved_from: svc-1" in delete_box
    md = p.run("plan", "--format", "markdown").output
    box = md[md.index("<b>svc-1</b>"):]
    assert "moved_from: svc-1" in box[:box.index("</details>")]

    p.write_client("billing", dict(SERVICE, moved_from="svc-1"))
    (move,) = plan_json(p)["changes"]
    assert (move["action"], move["client_id"], move["moved_from"]) == ("move", cid, "svc-1")
    ok(p, "apply", "--auto-approve")
    assert ids(p) == {"billing": cid} and p.secret("billing") == secret
    assert get_client(hydra.admin_url, cid)["metadata"]["dcrsync"]["name"] == "billing"
    assert token_works(hydra.public_url, cid, secret)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0  # moved_from may stay in the file


# --- 12. delete protection ------------------------------------------------------------------------


def test_a_protected_client_is_deleted_or_replaced_only_when_the_apply_names_it(hydra_project, hydra):
    p = hydra_project
    p.set_config(prune=True)
    p.write_client("keep", dict(SERVICE, client_name="Keep"))
    p.write_client("prod", dict(SERVICE, client_id=f"prod-{p.owner[-12:]}"))
    ok(p, "apply", "--auto-approve")
    # protection added later is recorded in the state, so removing the file cannot drop it unseen
    p.write_client("prod", dict(SERVICE, client_id=f"prod-{p.owner[-12:]}", protected=True))
    (change,) = plan_json(p)["changes"]
    assert change["records_only"] and change["protected"] and "recorded in the state" in change["reason"]
    ok(p, "apply", "--auto-approve")
    assert p.run("plan", "--detailed-exitcode").exit_code == 0

    p.write_client("prod", dict(SERVICE, client_id=f"prod2-{p.owner[-12:]}", protected=True))  # a replace
    refused = p.run("apply", "--auto-approve", "--force")
    assert refused.exit_code == 1 and "prod: protected" in refused.output and "--allow-destroy prod" in refused.output
    p.write_client("prod", dict(SERVICE, client_id=f"prod-{p.owner[-12:]}", protected=True))

    cid = ids(p)["prod"]
    p.remove_client("prod")  # the file goes, the protection stays
    (delete,) = plan_json(p)["changes"]
    assert delete["action"] == "delete" and delete["protected"] and "--allow-destroy prod" in delete["reason"]
    refused = p.run("apply", "--auto-approve", "--force")
    assert refused.exit_code == 1 and "nothing was sent to the server" in refused.output
    assert get_client(hydra.admin_url, cid)
    assert p.run("apply", "--auto-approve", "--force", "--allow-destroy", "keep").exit_code == 1  # another name
    ok(p, "apply", "--auto-approve", "--force", "--allow-destroy", "prod")
    assert httpx.get(f"{hydra.admin_url}/admin/clients/{cid}").status_code == 404
