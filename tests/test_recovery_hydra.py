"""Issue 17 on a real Ory Hydra, as a platform team meets it: what import and recover say of secrets
Hydra never gives back (item 5), and the papercuts of item 14 (lifespans, the PKCE note,
set-secret without client_credentials, export and import --match)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from dcrsync.state.store import sidecar_path
from tests.support.hydra_api import create_client, get_client, put_client, token_works

pytestmark = pytest.mark.hydra


def drift_json(project) -> tuple[int, dict]:
    r = project.run("drift", "--format", "json")
    return r.exit_code, json.loads(r.output)

SERVICE = {"grant_types": ["client_credentials"], "scope": "openid", "response_types": []}
WEB = {"grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "scope": "openid"}


# --- item 5: which families cannot give a secret back -------------------------------------------
def test_hydra_import_and_recover_say_the_secret_cannot_be_read_back(hydra_project, hydra):
    p = hydra_project
    svc = create_client(hydra.admin_url, {**SERVICE, "client_name": "Svc", "owner": "legacy"})
    r = p.run("import", "svc", svc["client_id"])
    assert r.exit_code == 0, r.output
    assert "secret unknown to dcrsync" in r.output
    assert "hydra never gives a client's secret back; Keycloak is the family that does" in r.output
    assert p.run("state", "secret", "svc").exit_code == 1

    p.state.unlink()
    sidecar_path(p.state).unlink()
    r = p.run("state", "recover")
    assert r.exit_code == 0, r.output
    assert "Secrets unknown for 1 client(s) (hydra never gives a client's secret back" in r.output
    assert "`dcrsync state set-secret NAME`" in r.output and "Read the secrets" not in r.output


# --- item 7: hand edits to undeclared fields are a visible decision -------------------------------------
def hand_edit(hydra, client_id: str, **fields) -> None:
    """What an admin does in Hydra's admin API behind dcrsync's back."""
    put_client(hydra.admin_url, {**get_client(hydra.admin_url, client_id), **fields})


def test_a_hand_edit_kept_by_an_unrelated_apply_is_a_row_of_that_clients_change(hydra_project, hydra):
    p = hydra_project
    p.write_client("web", {**WEB, "client_name": "Web", "redirect_uris": ["https://web.example.com/cb"]})
    p.write_client("svc", {**SERVICE, "client_name": "Svc"})
    assert p.run("apply", "--auto-approve").exit_code == 0
    web = p.state_doc()["clients"]["web"]["client_id"]
    hand_edit(hydra, web, skip_consent=True, allowed_cors_origins=["https://*.example.com"])
    assert p.run("plan", "--detailed-exitcode").exit_code == 0  # nothing rewrites web: nothing is decided

    # an unrelated change to web: the apply would take both hand edits as the new baseline
    p.write_client("web", {**WEB, "client_name": "Web 2", "redirect_uris": ["https://web.example.com/cb"]})
    plan = json.loads(p.run("plan", "--format", "json").output)
    (change,) = plan["changes"]
    rows = {f["path"]: (f["kind"], f["before"], f["after"]) for f in change["fields"]}
    assert rows == {"client_name": ("change", "Web", "Web 2"), "skip_consent": ("accept", False, True),
                    "allowed_cors_origins": ("accept", [], ["https://*.example.com"])}, rows
    assert not [w for w in plan["warnings"] if "outside dcrsync" in w]
    text = p.run("plan").output
    assert '= allowed_cors_origins: [] -> ["https://*.example.com"]  # changed on the server outside dcrsync: this apply keeps it' in text
    md = p.run("plan", "--format", "markdown").output
    section = md[md.index("<b>web</b>"):]
    section = section[: section.index("</details>")]  # the row is inside web's own section
    assert "| <code>skip_consent</code> <sub>changed by hand, not declared: kept as the new baseline</sub> |" in section, md
    tail = md[md.rindex("</details>"):]
    assert "skip_consent" not in tail and "outside dcrsync" not in tail  # nothing at the bottom
    assert p.run("apply", "--auto-approve").exit_code == 0
    assert get_client(hydra.admin_url, web)["skip_consent"] is True  # kept, as the plan said
    _, drift = drift_json(p)
    assert drift["undeclared"] == []  # the baseline now


def test_strict_puts_hand_edits_back_as_changes_of_their_own(hydra_project, hydra):
    p = hydra_project
    p.set_config(strict=True)
    p.write_client("web", {**WEB, "client_name": "Web", "redirect_uris": ["https://web.example.com/cb"]})
    p.write_client("legacy", {**SERVICE, "client_name": "Legacy", "strict": False})  # the file's word wins
    assert p.run("apply", "--auto-approve").exit_code == 0
    ids = {n: r["client_id"] for n, r in p.state_doc()["clients"].items()}
    assert "strict" not in get_client(hydra.admin_url, ids["legacy"])  # dcrsync's, never sent
    for client_id in ids.values():
        hand_edit(hydra, client_id, skip_consent=True, allowed_cors_origins=["https://*.example.com"],
                  client_credentials_grant_access_token_lifespan="720h0m0s")

    r = p.run("plan", "--out", str(p.root / "plan.json"), "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    plan = json.loads((p.root / "plan.json").read_text())
    (change,) = plan["changes"]  # legacy is not strict: its edits wait for its next change
    assert (change["name"], change["action"], change["cause"]) == ("web", "update", "drift")
    rows = {f["path"]: (f["kind"], f["before"], f["after"]) for f in change["fields"]}
    assert rows == {"skip_consent": ("reset", True, False), "allowed_cors_origins": ("reset", ["https://*.example.com"], []),
                    "client_credentials_grant_access_token_lifespan": ("reset", "720h", None)}, rows
    assert "~ skip_consent: true -> false  # changed on the server outside dcrsync: put back" in r.output
    r = p.run("apply", str(p.root / "plan.json"))  # the reviewed plan, as CI applies it
    assert r.exit_code == 0, r.output
    back = get_client(hydra.admin_url, ids["web"])
    assert (back["skip_consent"], back["allowed_cors_origins"]) == (False, [])
    assert back.get("client_credentials_grant_access_token_lifespan") in (None, "")
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    _, drift = drift_json(p)
    assert [u["name"] for u in drift["undeclared"]] == ["legacy"]


# --- item 14: papercuts ------------------------------------------------------------------------------
LIFESPAN = "client_credentials_grant_access_token_lifespan"


def test_lifespans_read_the_same_in_plan_drift_and_yaml(hydra_project, hydra):
    p = hydra_project
    p.write_client("svc", {**SERVICE, "client_name": "Svc", "hydra": {LIFESPAN: "5m"}})
    assert p.run("apply", "--auto-approve").exit_code == 0
    client_id = p.state_doc()["clients"]["svc"]["client_id"]
    assert get_client(hydra.admin_url, client_id)[LIFESPAN] == "5m0s"  # Hydra's own form
    hand_edit(hydra, client_id, **{LIFESPAN: "90m"})

    drift = p.run("drift")
    assert f'~ hydra.{LIFESPAN}: "5m" -> "1h30m"' in drift.output, drift.output
    _, data = drift_json(p)
    (field,) = data["clients"][0]["fields"]
    assert (field["before"], field["after"]) == ("5m", "1h30m")
    plan = p.run("plan")
    assert f'~ hydra.{LIFESPAN}: "1h30m" -> "5m"' in plan.output, plan.output
    md = p.run("plan", "--format", "markdown").output
    assert "<code>&quot;1h30m&quot;</code>" in md or '<code>"1h30m"</code>' in md, md
    r = p.run("export", "--out", str(p.root / "exported"), "--owner", p.owner)
    assert r.exit_code == 0, r.output
    assert f"  {LIFESPAN}: 1h30m\n" in (p.root / "exported" / "svc.yaml").read_text()
    assert "300.0" not in drift.output + plan.output + md and "5400" not in drift.output + plan.output + md


def test_set_secret_verifies_a_client_without_client_credentials(hydra_project, hydra):
    """A web app's secret is checked with an authorization-code exchange of a made-up code: Hydra says
    `invalid_client` to a wrong secret and `invalid_grant` (the code) to the right one."""
    p = hydra_project
    p.set_config(server={"kind": "hydra", "admin_url": hydra.admin_url, "public_url": hydra.public_url})
    web = create_client(hydra.admin_url, {**WEB, "client_name": "Web", "redirect_uris": ["https://w.example.com/cb"]})
    assert p.run("import", "web", web["client_id"]).exit_code == 0

    wrong = p.run_sub_input("state", "set-secret", "web", input="not-" + web["client_secret"] + "\n")
    assert wrong.returncode == 1, wrong.stdout
    assert "refused this secret" in wrong.stderr and "invalid_client" in wrong.stderr and "nothing was recorded" in wrong.stderr
    assert web["client_secret"] not in wrong.stdout + wrong.stderr
    assert p.run("state", "secret", "web").exit_code == 1

    right = p.run_sub_input("state", "set-secret", "web", input=web["client_secret"] + "\n")
    assert right.returncode == 0, right.stderr
    assert "the token endpoint accepted it (it authenticated the client, then refused a made-up " \
           "authorization_code grant)" in right.stdout
    assert "NOT VERIFIED" not in right.stdout and web["client_secret"] not in right.stdout + right.stderr
    assert p.secret("web") == web["client_secret"]


def on_a_terminal(p, *args: str, answer: str) -> subprocess.CompletedProcess:
    """The CLI with a terminal as its stdin (a pseudo-terminal), answering a question with `answer`."""
    main, term = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "dcrsync", *p._argv(args)], stdin=term,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=p.root)
        os.write(main, answer.encode() + b"\n")
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(main)
        os.close(term)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_rotate_secret_asks_before_breaking_the_app_unless_yes(hydra_project, hydra):
    p = hydra_project
    p.write_client("svc", {**SERVICE, "client_name": "Svc"})
    assert p.run("apply", "--auto-approve").exit_code == 0
    client_id, old = p.state_doc()["clients"]["svc"]["client_id"], p.secret("svc")

    piped = p.run_sub("rotate-secret", "svc")  # a pipeline: nobody to ask
    assert piped.returncode == 1 and "Traceback" not in piped.stderr
    assert "stops working at once" in piped.stderr and "rerun with --yes" in piped.stderr and "nothing was rotated" in piped.stderr
    no = on_a_terminal(p, "rotate-secret", "svc", answer="n")
    assert no.returncode == 1 and "Rotate? the old secret of svc" in no.stderr and "nothing was rotated" in no.stderr
    assert p.secret("svc") == old and token_works(hydra.public_url, client_id, old)

    yes = on_a_terminal(p, "rotate-secret", "svc", answer="y")
    assert yes.returncode == 0 and "Rotated the secret of svc; the old one no longer works" in yes.stdout, yes.stderr
    new = p.secret("svc")
    assert new != old and token_works(hydra.public_url, client_id, new) and not token_works(hydra.public_url, client_id, old)
    assert p.run_sub("rotate-secret", "svc", "--yes").returncode == 0 and p.secret("svc") != new


def test_import_match_adopts_the_clients_that_pass_and_reports_the_one_that_fails_lint(hydra_project, hydra):
    p = hydra_project
    tag = p.owner[-12:]
    ok_ids = [create_client(hydra.admin_url, {**SERVICE, "client_name": f"billing-{tag}-{i}"})["client_id"]
              for i in range(2)]
    # authorization_code without redirect_uris: Hydra takes it, dcrsync's lint (DCR001) does not
    bad = create_client(hydra.admin_url, {"client_name": f"billing-{tag}-web", "grant_types": ["authorization_code"],
                                          "response_types": ["code"]})
    r = p.run_sub("import", "--match", f"billing-{tag}-*")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    bad_file = f"billing-{tag}-web.yaml"
    (error,) = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert f"client {bad['client_id']}) was not imported: " in error and bad_file in error and "DCR001" in error
    assert "the file is kept: fix it" in error and "`dcrsync import --all`" in error
    assert "Imported 2 client(s) in one state write. 1 failed." in r.stdout
    assert sorted(rec["client_id"] for rec in p.state_doc()["clients"].values()) == sorted(ok_ids)
    assert "dcrsync" not in (get_client(hydra.admin_url, bad["client_id"]).get("metadata") or {})
    assert (p.root / "clients" / bad_file).exists()


def test_export_unmanaged_into_the_clients_folder_writes_only_what_no_file_declares(hydra_project, hydra):
    """The clients folder holds the project's files: export adds the hand-made clients beside them,
    never over a file, never a second file for a declared client, and import --all adopts the new ones."""
    p = hydra_project
    tag = p.owner[-12:]
    p.write_client("orders", {**SERVICE, "client_name": f"orders-{tag}"})  # dcrsync's own (marked)
    assert p.run("apply", "--auto-approve").exit_code == 0
    legacy = create_client(hydra.admin_url, {**SERVICE, "client_name": "orders", "owner": tag})  # a name taken here
    pinned = create_client(hydra.admin_url, {**SERVICE, "client_name": f"pinned-{tag}", "owner": tag})
    p.write_client("pinned", {**SERVICE, "client_id": pinned["client_id"], "client_name": f"pinned-{tag}"})
    before = {f.name: f.read_text() for f in (p.root / "clients").glob("*.yaml")}

    r = p.run("export", "--unmanaged", "--owner", tag, "--out", str(p.root / "clients"))
    assert r.exit_code == 0, r.output
    assert "Skipped 1 client(s) a file in" in r.output and "pinned.yaml" in r.output
    after = {f.name: f.read_text() for f in (p.root / "clients").glob("*.yaml")}
    assert {k: after[k] for k in before} == before  # no file was overwritten
    (new,) = set(after) - set(before)
    assert new == "orders-2.yaml" and f"client_id: {legacy['client_id']}" in after[new]

    mine = p.run("export", "--unmanaged", "--out", str(p.root / "mine"))  # only clients nobody manages
    exported = "".join(f.read_text() for f in (p.root / "mine").glob("*.yaml"))
    assert mine.exit_code == 0 and legacy["client_id"] in exported
    assert p.state_doc()["clients"]["orders"]["client_id"] not in exported

    r = p.run("import", "--all")
    assert r.exit_code == 0 and "Imported 2 client(s)" in r.output, r.output
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def gh_cli(*args: str):
    from click.testing import CliRunner

    from dcrsync.cli import cli

    return CliRunner().invoke(cli, ["github", *args], catch_exceptions=False)


@pytest.fixture
def github(monkeypatch):
    """The GitHub stub (tests/support/github_stub.py) as a workflow step sees GitHub."""
    from tests.support.github_stub import GitHubStub

    stub = GitHubStub().start()
    for key, value in {"GITHUB_API_URL": stub.url, "GITHUB_TOKEN": stub.token, "GITHUB_REPOSITORY": stub.repo}.items():
        monkeypatch.setenv(key, value)
    for key in ("GH_TOKEN", "DCRSYNC_DETAILS_URL", "GITHUB_SERVER_URL", "GITHUB_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    yield stub
    stub.stop()


def test_plan_comment_names_deleted_apps_and_whether_this_pr_removed_their_file(hydra_project, hydra, github):
    p = hydra_project
    p.write_client("old-app", {**SERVICE, "client_name": "Old App"})
    p.write_client("gone-earlier", {**SERVICE, "client_name": "Gone Earlier"})
    p.write_client("keep", {**SERVICE, "client_name": "Keep"})
    assert p.run("apply", "--auto-approve").exit_code == 0
    p.remove_client("gone-earlier")  # an earlier pull request, merged while prune was off
    assert p.run("apply", "--auto-approve").exit_code == 0
    p.set_config(prune=True)

    # this pull request removes old-app.yaml
    old_text = (p.root / "clients" / "old-app.yaml").read_text()
    p.remove_client("old-app")
    pr = github.add_pull("retire the old app", removed={"clients/old-app.yaml": old_text})
    r = p.run("plan", "--out", str(p.root / "plan.json"))
    assert r.exit_code == 0 and '# client_name "Old App"' in r.output, r.output
    r = gh_cli("comment", "--plan", str(p.root / "plan.json"), "--pr", str(pr))
    assert r.exit_code == 0, r.output
    (comment,) = github.comments[pr]
    body = comment["body"]
    old = body[body.index("<b>old-app</b>"):]
    old = old[: old.index("</details>")]
    assert "client_name <code>&quot;Old App&quot;</code>" in old or 'client_name <code>"Old App"</code>' in old, old
    assert "Its file <code>clients/old-app.yaml</code> is removed in this pull request." in old
    earlier = body[body.index("<b>gone-earlier</b>"):]
    earlier = earlier[: earlier.index("</details>")]
    assert "Gone Earlier" in earlier and "No file of this pull request that declares it is removed" in earlier
    # the server by kind, not by its internal URL, unless asked
    assert "<code>hydra</code> server" in body and hydra.admin_url not in body and "127.0.0.1" not in body
    r = gh_cli("comment", "--plan", str(p.root / "plan.json"), "--pr", str(pr), "--show-server-url")
    assert r.exit_code == 0 and hydra.admin_url.replace("://", "&#58;//") in github.comments[pr][0]["body"]
