"""Adopting hand-made clients: export, bulk import, the previous owner, known secrets, public clients.

Against a real Ory Hydra (and, for what Keycloak export must leave out, a real Keycloak).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import pytest
import yaml

from tests.support.hydra_api import create_client, get_client, token_works
from tests.support.project import make_project

pytestmark = pytest.mark.hydra

SERVICE = {"grant_types": ["client_credentials"], "scope": "openid", "response_types": []}
WEB = {"grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "scope": "openid"}
PUBLIC = {**WEB, "token_endpoint_auth_method": "none"}


def hand_made(admin_url: str, owner: str, n: int) -> list[dict]:
    """`n` clients made in Hydra's admin API by hand, as a team would have before dcrsync."""
    made = []
    for i in range(n):
        kind = (SERVICE, WEB, PUBLIC)[i % 3]
        body = {**kind, "client_name": f"Legacy {i:02d}", "owner": owner}
        if kind is not SERVICE:
            body["redirect_uris"] = [f"https://legacy{i}.example.com/callback"]
        if i == 7:
            body["client_name"] = "Legacy ${team} 07"  # a literal `${` must survive export -> import
        made.append(create_client(admin_url, body))
    return made


def run_sub(p, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """The CLI as a real process with `input` on its stdin (a secret never goes on the command line)."""
    return subprocess.run(
        [sys.executable, "-m", "dcrsync", *p._argv(args)],
        input=input, capture_output=True, text=True, timeout=300, cwd=p.root,
    )


def with_public_url(p, hydra) -> None:
    p.set_config(server={"kind": "hydra", "admin_url": hydra.admin_url, "public_url": hydra.public_url})


def state_serial(p) -> int:
    return int(p.state_doc()["serial"])


def test_export_then_bulk_import_of_30_hand_made_clients_then_plan_is_empty(hydra_project, hydra):
    p = hydra_project
    legacy = "legacy-" + p.owner
    made = hand_made(hydra.admin_url, legacy, 30)
    public = {c["client_id"] for c in made if c["token_endpoint_auth_method"] == "none"}

    r = p.run("export", "--owner", legacy, "--out", str(p.root / "clients"))
    assert r.exit_code == 0, r.output
    assert "Wrote 30 client file(s)" in r.output and "warning" not in r.output
    assert p.run("validate").exit_code == 0

    r = p.run("import", "--all")
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("imported ")]
    assert len(lines) == 30, r.output
    assert "Imported 30 client(s) in one state write." in r.output
    assert state_serial(p) == 1  # one state write for all of them, not thirty
    assert not (p.root / "dcrsync.state.sops.yaml.journal").exists()

    # the owner Hydra had is kept and said
    for c in made:
        live = get_client(hydra.admin_url, c["client_id"])
        assert live["owner"] == p.owner
        assert live["metadata"]["dcrsync"]["previous_owner"] == legacy
    assert all(f"owner was {legacy!r}" in line for line in lines)
    # public clients are never offered a secret they cannot have
    names = {yaml.safe_load(f.read_text())["client_id"]: yaml.safe_load(f.read_text())["name"]
             for f in (p.root / "clients").glob("*.yaml")}
    advice = next(line for line in r.output.splitlines() if "rotate-secret" in line)
    assert "state set-secret" in advice and advice.startswith(f"{30 - len(public)} secret(s) unknown")
    for cid in public:
        assert names[cid] not in advice.split("(", 1)[1].split(")", 1)[0].split(", ")
        assert f"imported {names[cid]} " in r.output and "no secret: public client" in r.output

    plan = p.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    # the escaped `${` came back as the server's own value, so nothing changed
    assert get_client(hydra.admin_url, made[7]["client_id"])["client_name"] == "Legacy ${team} 07"

    # a second run finds nothing left to adopt, and writes no state
    again = p.run("import", "--all")
    assert again.exit_code == 0 and "Nothing to import" in again.output
    assert state_serial(p) == 1


def test_import_by_owner_uses_existing_files_writes_the_rest_and_never_pushes_a_file(hydra_project, hydra):
    p = hydra_project
    team = "team-" + p.owner
    alpha = create_client(hydra.admin_url, {**SERVICE, "client_name": "Alpha", "owner": team})
    beta = create_client(hydra.admin_url, {**SERVICE, "client_name": "Beta", "owner": team})
    theirs = create_client(hydra.admin_url, {**SERVICE, "client_name": "Theirs", "owner": team,
                                            "metadata": {"dcrsync": {"name": "x", "owner": "another-repo"}}})
    create_client(hydra.admin_url, {**SERVICE, "client_name": "Elsewhere", "owner": "someone-" + p.owner})
    # a file written by hand for beta, declaring something the server does not have
    p.write_client("beta-job", {"client_id": beta["client_id"], "client_name": "Beta",
                                "grant_types": ["client_credentials"], "scope": "openid",
                                "contacts": ["ops@example.com"]})

    r = p.run("import", "--owner", team)
    assert r.exit_code == 0, r.output
    assert "Imported 2 client(s)" in r.output
    assert f"imported alpha (client {alpha['client_id']}), wrote " in r.output
    assert f"imported beta-job (client {beta['client_id']}), from " in r.output
    assert "differs from the server in contacts" in r.output
    assert f"left alone: client {theirs['client_id']}" in r.output and "another-repo" in r.output
    assert (p.root / "clients" / "alpha.yaml").exists()
    assert get_client(hydra.admin_url, beta["client_id"]).get("contacts") in (None, [])  # not pushed
    assert get_client(hydra.admin_url, theirs["client_id"])["owner"] == team  # not touched

    plan = p.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2 and "beta-job" in plan.output and "alpha" not in plan.output, plan.output
    assert p.run("apply", "--auto-approve").exit_code == 0
    assert get_client(hydra.admin_url, beta["client_id"])["contacts"] == ["ops@example.com"]


def test_import_by_match_on_name_or_id(hydra_project, hydra):
    p = hydra_project
    tag = secrets.token_hex(3)
    a = create_client(hydra.admin_url, {**SERVICE, "client_name": f"Payroll {tag} A"})
    b = create_client(hydra.admin_url, {**SERVICE, "client_id": f"payroll-{tag}-b", "client_name": "Batch"})
    other = create_client(hydra.admin_url, {**SERVICE, "client_name": f"Billing {tag}"})
    r = p.run("import", "--match", f"[Pp]ayroll*{tag}*")
    assert r.exit_code == 0, r.output
    ids = {rec["client_id"] for rec in p.state_doc()["clients"].values()}
    assert ids == {a["client_id"], b["client_id"]} and other["client_id"] not in ids
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_client_that_fails_lint_is_left_out_and_the_others_are_adopted(hydra_project, hydra):
    p = hydra_project
    team = "team-" + p.owner
    good = create_client(hydra.admin_url, {**SERVICE, "client_name": "Good", "owner": team})
    # authorization_code without redirect_uris: Hydra accepts it, dcrsync's lint (DCR001) does not
    broken = create_client(hydra.admin_url, {"client_name": "Broken", "owner": team,
                                             "grant_types": ["authorization_code"], "response_types": ["code"]})
    r = p.run_sub("import", "--owner", team)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "DCR001" in r.stderr and "broken.yaml" in r.stderr and "import --all" in r.stderr
    assert "imported good" in r.stdout and "Imported 1 client(s) in one state write. 1 failed." in r.stdout
    assert [r["client_id"] for r in p.state_doc()["clients"].values()] == [good["client_id"]]
    live = get_client(hydra.admin_url, broken["client_id"])  # the one that failed lint: untouched
    assert live["owner"] == team and "dcrsync" not in (live.get("metadata") or {})

    # fix the file as the message says; import --all takes the files as they are now
    path = p.root / "clients" / "broken.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["redirect_uris"] = ["https://broken.example.com/callback"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = p.run("import", "--all")
    assert r.exit_code == 0, r.output
    assert "Imported 1 client(s)" in r.output and "differs from the server in redirect_uris" in r.output
    assert get_client(hydra.admin_url, broken["client_id"]).get("redirect_uris") in (None, [])
    assert p.run("plan", "--detailed-exitcode").exit_code == 2


def test_single_import_uses_the_exported_file_and_names_a_mismatch(hydra_project, hydra):
    p = hydra_project
    team = "team-" + p.owner
    c = create_client(hydra.admin_url, {**WEB, "client_name": "Shop", "owner": team,
                                        "redirect_uris": ["https://shop.example.com/cb"]})
    assert p.run("export", "--owner", team, "--out", str(p.root / "clients")).exit_code == 0
    wrong = p.run_sub("import", "storefront", c["client_id"])
    assert wrong.returncode == 1 and "declared there as shop" in wrong.stderr and "shop.yaml" in wrong.stderr
    r = p.run("import", "shop", c["client_id"])
    assert r.exit_code == 0, r.output
    assert "from " in r.output and "shop.yaml" in r.output
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_public_client_is_not_offered_a_secret_and_rotate_secret_refuses(hydra_project, hydra):
    p = hydra_project
    c = create_client(hydra.admin_url, {**PUBLIC, "client_name": "SPA", "redirect_uris": ["https://spa.example.com/cb"]})
    r = p.run("import", "spa", c["client_id"])
    assert r.exit_code == 0, r.output
    assert "rotate-secret" not in r.output and "set-secret" not in r.output and "no secret: public client" in r.output
    before = get_client(hydra.admin_url, c["client_id"])["updated_at"]
    rot = p.run_sub("rotate-secret", "spa")
    assert rot.returncode == 1 and "Traceback" not in rot.stderr
    assert rot.stderr.strip().count("\n") == 0 and "public client" in rot.stderr and "no client secret" in rot.stderr
    assert get_client(hydra.admin_url, c["client_id"])["updated_at"] == before


def test_set_secret_records_a_known_secret_only_when_the_server_accepts_it(hydra_project, hydra):
    p = hydra_project
    with_public_url(p, hydra)
    svc = create_client(hydra.admin_url, {**SERVICE, "client_name": "Svc"})
    known = svc["client_secret"]
    assert p.run("import", "svc", svc["client_id"]).exit_code == 0

    wrong = run_sub(p, "state", "set-secret", "svc", input="not-" + known + "\n")
    assert wrong.returncode == 1 and "refused" in wrong.stderr and "nothing was recorded" in wrong.stderr
    assert known not in wrong.stderr + wrong.stdout
    assert p.run("state", "secret", "svc").exit_code == 1  # still unknown

    right = run_sub(p, "state", "set-secret", "svc", input=known + "\n")
    assert right.returncode == 0, right.stderr
    assert "accepted" in right.stdout and known not in right.stdout + right.stderr
    recorded = p.run("state", "secret", "svc").output.strip()
    assert recorded == known and token_works(hydra.public_url, svc["client_id"], recorded)
    assert known not in p.state.read_text()  # encrypted at rest
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_set_secret_that_cannot_be_checked_is_recorded_with_a_note(hydra_project, hydra):
    p = hydra_project
    web = create_client(hydra.admin_url, {**WEB, "client_name": "Web", "redirect_uris": ["https://w.example.com/cb"]})
    svc = create_client(hydra.admin_url, {**SERVICE, "client_name": "Svc2"})
    spa = create_client(hydra.admin_url, {**PUBLIC, "client_name": "Spa2", "redirect_uris": ["https://s.example.com/cb"]})
    for name, c in (("web", web), ("svc", svc), ("spa", spa)):
        assert p.run("import", name, c["client_id"]).exit_code == 0
    # no public_url: the made-up code exchange that checks a web app's secret cannot be sent
    r = p.run("state", "set-secret", "web", input=web["client_secret"] + "\n")
    assert r.exit_code == 0 and "NOT VERIFIED" in r.output and "server.public_url" in r.output
    assert p.run("state", "secret", "web").output.strip() == web["client_secret"]
    # no public_url: dcrsync cannot reach Hydra's token endpoint, and says how to fix that
    r = p.run("state", "set-secret", "svc", input=svc["client_secret"])
    assert r.exit_code == 0 and "NOT VERIFIED" in r.output and "server.public_url" in r.output
    # a public client has no secret to record
    r = run_sub(p, "state", "set-secret", "spa", input="anything\n")
    assert r.returncode == 1 and "public client" in r.stderr
    empty = run_sub(p, "state", "set-secret", "svc", input="")
    assert empty.returncode == 1 and "no secret on stdin" in empty.stderr


def test_export_of_everything_on_a_hydra_validates(tmp_path, age_key):
    """A fresh Hydra with what teams make by hand, native app included: every exported file validates."""
    from tests.servers.hydra import Hydra

    with Hydra(tmp_path / "hydra") as h:
        bodies = [
            {**SERVICE, "client_name": "Job", "audience": ["https://api.example.com"]},
            {**WEB, "client_name": "Web", "redirect_uris": ["https://web.example.com/cb"],
             "post_logout_redirect_uris": ["https://web.example.com/bye"]},
            {**PUBLIC, "client_name": "SPA", "redirect_uris": ["https://spa.example.com/cb"],
             "allowed_cors_origins": ["https://spa.example.com"]},
            {**PUBLIC, "client_name": "Mobile", "redirect_uris": ["com.example.app:/callback"]},
            {**PUBLIC, "client_name": "CLI", "redirect_uris": ["http://127.0.0.1:8400/cb"]},
            {**SERVICE, "client_name": "Cost ${center}", "metadata": {"template": "${x}"},
             "client_credentials_grant_access_token_lifespan": "30m"},
        ]
        for body in bodies:
            create_client(h.admin_url, body)
        p = make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": h.admin_url}, age_key, "exporter")
        r = p.run("export", "--out", str(p.root / "clients"))
        assert r.exit_code == 0, r.output
        files = sorted((p.root / "clients").glob("*.yaml"))
        assert len(files) == len(bodies)
        cost = yaml.safe_load((p.root / "clients" / "cost-center.yaml").read_text())
        assert cost["client_name"] == "Cost $${center}" and cost["hydra"]["metadata"] == {"template": "$${x}"}
        assert p.run("validate", str(p.root / "clients" / "cost-center.yaml")).exit_code == 0

        result = p.run("validate", "--format", "json")
        found = json.loads(result.output)
        # Hydra stores no application_type: lint for the hydra family does not demand it of a native app
        assert [d for d in found["diagnostics"] if d["severity"] == "error"] == []
        assert result.exit_code == 0, result.output


def test_keycloak_export_leaves_out_builtins_and_our_admin_then_import_and_set_secret(tmp_path, age_key):
    """A fresh realm: its built-in clients and dcrsync's admin are never exported; the rest round-trips."""
    from tests.harness.keycloak import (
        ADMIN_CLIENT,
        REALM_DEFAULT_CLIENTS,
        make_realm,
        realm_name,
        shared_keycloak,
    )

    admin, server = make_realm(shared_keycloak(), realm_name("adopt"))
    try:
        job_secret = secrets.token_urlsafe(24)
        admin.create({"clientId": "reports-job", "name": "Reports job", "publicClient": False,
                      "secret": job_secret, "serviceAccountsEnabled": True, "standardFlowEnabled": False,
                      "directAccessGrantsEnabled": False})
        admin.create({"clientId": "shop-spa", "name": "Shop", "publicClient": True, "standardFlowEnabled": True,
                      "directAccessGrantsEnabled": False, "redirectUris": ["https://shop.example.com/cb"],
                      "attributes": {"pkce.code.challenge.method": "S256"}})
        p = make_project(tmp_path / "proj", server, age_key, "kc-adopter")
        r = p.run("export", "--out", str(p.root / "clients"))
        assert r.exit_code == 0, r.output
        exported = {yaml.safe_load(f.read_text())["client_id"] for f in (p.root / "clients").glob("*.yaml")}
        assert exported == {"reports-job", "shop-spa"}
        assert f"Left out {len(REALM_DEFAULT_CLIENTS) + 1} client(s)" in r.output and ADMIN_CLIENT in r.output
        valid = p.run("validate")
        assert valid.exit_code == 0, valid.output

        r = p.run("import", "--all")
        assert r.exit_code == 0, r.output
        assert "Imported 2 client(s)" in r.output
        plan = p.run("plan", "--detailed-exitcode")
        assert plan.exit_code == 0, plan.output
        direct = p.run_sub("import", "admin", ADMIN_CLIENT)
        assert direct.returncode == 1 and "dcrsync's own admin client" in direct.stderr

        name = next(n for n, rec in p.state_doc()["clients"].items() if rec["client_id"] == "reports-job")
        wrong = run_sub(p, "state", "set-secret", name, input="not-the-secret\n")
        assert wrong.returncode == 1 and "refused" in wrong.stderr
        right = run_sub(p, "state", "set-secret", name, input=job_secret + "\n")
        assert right.returncode == 0 and "accepted" in right.stdout, right.stderr
        assert admin.token_works("reports-job", p.run("state", "secret", name).output.strip())
    finally:
        admin.drop_realm()
