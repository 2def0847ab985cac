"""One behaviour suite, the same scenarios on every server family and configuration.

Families come from tests/harness/*: Hydra's admin API, RFC 7591/7592 (node oidc-provider with
registration token rotation on and off, with and without an initial access token; Hydra's
/oauth2/register; Keycloak's own registration endpoint, configured with its issuer alone) and
Keycloak's admin API. A family that cannot do a scenario says why in its harness
(`BackendEnv.cannot`), and the test is skipped with that reason.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.harness import hydra as hydra_h
from tests.harness.base import BackendEnv, Ref
from tests.support.crash import journal_batches, kill_when, start_apply
from tests.support.project import make_project
from tests.support.secrets_scan import files_containing


def _families():
    out = list(hydra_h.envs())
    from tests.harness import rfc7592 as rfc_h

    out += rfc_h.envs()
    from tests.harness import keycloak as kc_h

    out += kc_h.envs()
    from tests.harness import keycloak_dcr as kc_dcr_h

    out += kc_dcr_h.envs()
    return out


FAMILIES = _families()


@pytest.fixture(scope="module", params=[label for label, _ in FAMILIES])
def env(request, tmp_path_factory):
    factory = dict(FAMILIES)[request.param]
    takes_dir = bool(inspect.signature(factory).parameters)
    workdir = tmp_path_factory.mktemp(request.param)
    with (factory(workdir) if takes_dir else factory()) as e:
        yield e


@pytest.fixture
def project(env: BackendEnv, tmp_path, age_key, request):
    owner = f"b-{request.node.originalname.replace('_', '-')[5:30]}-{os.getpid() % 1000}-{time.monotonic_ns() % 10**6}"
    return make_project(tmp_path / "proj", env.server, age_key, owner)


def service(env: BackendEnv, name: str, **extra) -> dict:
    """The backend service the OpenID Connect registration guides recommend (issue 10): the same
    plain YAML on every family, no redirect URI and no response type."""
    return {"client_name": name, "grant_types": ["client_credentials"], "response_types": [],
            "token_endpoint_auth_method": "client_secret_basic", **extra}


def skip_unless(env: BackendEnv, scenario: str) -> None:
    if scenario in env.cannot:
        pytest.skip(f"{env.label} cannot {scenario}: {env.cannot[scenario]}")


def records(p) -> dict[str, dict]:
    from dcrsync.state.sops import Sops
    from dcrsync.state.store import FileStore

    state = FileStore(p.state, Sops()).read()
    return {n: {"client_id": r.client_id, "client_secret": r.client_secret,
                "registration_access_token": r.registration_access_token,
                "registration_client_uri": r.registration_client_uri} for n, r in state.clients.items()}


def ref(rec: dict) -> Ref:
    return Ref(rec["client_id"], rec.get("registration_access_token"), rec.get("registration_client_uri"))


def apply_ok(p, *args):
    r = p.run("apply", "--auto-approve", *args)
    assert r.exit_code == 0, r.output
    return r


def test_create_then_second_plan_is_empty(env, project):
    p = project
    p.write_client("svc-a", service(env, "Service A"))
    p.write_client("svc-b", service(env, "Service B"))
    first = p.run("plan", "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    assert "2 to create" in first.output
    assert "2 created" in apply_ok(p).output
    again = p.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.output
    recs = records(p)
    assert set(recs) == {"svc-a", "svc-b"}
    for rec in recs.values():
        assert env.read(ref(rec)) is not None
    listed = p.run("state", "list")
    assert {ln.split("\t")[0] for ln in listed.output.splitlines()} == set(recs)
    # names and client ids are readable in the state file; the secrets are not
    text = p.state.read_text()
    for name, rec in recs.items():
        assert rec["client_id"] in text
        secret = p.secret(name)
        assert len(secret) >= 20 and secret not in text


def test_every_recorded_secret_authenticates(env, project):
    p = project
    for i in range(4):
        p.write_client(f"svc-{i}", service(env, f"Service {i}"))
    apply_ok(p, "--parallelism", "8")  # the creates run at once
    recs = records(p)
    assert len(recs) == 4
    sealed = p.state_doc()["clients"]
    for name, rec in recs.items():
        assert rec["client_secret"], f"{name}: no secret recorded"
        assert sealed[name]["client_secret"].startswith("ENC[AES256_GCM"), name
        assert env.token_works(rec["client_id"], rec["client_secret"]), name
    assert not env.token_works(recs["svc-0"]["client_id"], "not-the-secret-at-all")


def test_update_keeps_undeclared_fields(env, project):
    p = project
    p.write_client("svc", service(env, "Service"))
    apply_ok(p)
    rec = records(p)["svc"]
    env.change_out_of_band(ref(rec), "client_uri", "https://svc.example.com/about")
    rec = records(p)["svc"]
    p.write_client("svc", service(env, "Service renamed"))
    data = yaml.safe_load(p.run("plan", "--format", "json").output)
    assert data["summary"]["update"] == 1, data
    (change,) = data["changes"]
    assert [f["path"] for f in change["fields"] if f["kind"] == "change"] == ["client_name"], change
    assert change["cause"] == "pending", change  # an undeclared field changed by hand is not drift
    # … but the apply keeps it as the new baseline, and the change says so (issue 17 item 7)
    kept = [f["after"] for f in change["fields"] if f["kind"] == "accept"]
    assert kept == ["https://svc.example.com/about"], change
    apply_ok(p)
    live = env.read(ref(records(p)["svc"]))
    assert live["client_name"] == "Service renamed"
    assert live.get("client_uri") == "https://svc.example.com/about"
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_field_changed_out_of_band_is_drift(env, project):
    p = project
    p.write_client("svc", service(env, "Service"))
    apply_ok(p)
    env.change_out_of_band(ref(records(p)["svc"]), "client_name", "Renamed by hand")
    drift = p.run("drift", "--format", "json")
    assert drift.exit_code == 2, drift.output
    report = yaml.safe_load(drift.output)
    (client,) = report["clients"]
    assert client["name"] == "svc" and client["kind"] == "changed"
    assert client["fields"] == [{"path": "client_name", "before": "Service", "after": "Renamed by hand"}]
    plan = yaml.safe_load(p.run("plan", "--format", "json").output)
    assert [(c["name"], c["cause"]) for c in plan["changes"]] == [("svc", "drift")]
    apply_ok(p)
    assert env.read(ref(records(p)["svc"]))["client_name"] == "Service"
    assert p.run("drift").exit_code == 0


def test_removed_line_resets_the_field_then_lets_it_go(env, project):
    p = project
    p.write_client("svc", service(env, "Service", client_uri="https://svc.example.com/about"))
    apply_ok(p)
    assert env.read(ref(records(p)["svc"])).get("client_uri") == "https://svc.example.com/about"
    p.write_client("svc", service(env, "Service"))  # the line is deleted from git
    plan = p.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2 and '- client_uri: "https://svc.example.com/about" -> (unset)' in plan.output
    apply_ok(p)
    assert not env.read(ref(records(p)["svc"])).get("client_uri")
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    assert p.run("drift").exit_code == 0


def test_state_mv_renames_without_a_new_client_or_secret(env, project):
    p = project
    p.set_config(prune=True)
    p.write_client("old-name", service(env, "Service"))
    apply_ok(p)
    before = records(p)["old-name"]
    p.remove_client("old-name")
    p.write_client("new-name", service(env, "Service"))
    assert p.run("state", "mv", "old-name", "new-name").exit_code == 0
    plan = yaml.safe_load(p.run("plan", "--format", "json").output)
    assert [c["action"] for c in plan["changes"]] in ([], ["move"]), plan  # a move where a marker follows
    apply_ok(p)
    after = records(p)
    assert set(after) == {"new-name"} and after["new-name"]["client_id"] == before["client_id"]
    rec = after["new-name"]
    assert env.read(ref(rec)) is not None
    assert env.token_works(rec["client_id"], rec["client_secret"] or before["client_secret"])
    if env.list_ids is not None:
        assert before["client_id"] in env.list_ids()
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_prune_deletes_only_managed_clients(env, project):
    p = project
    p.write_client("keep", service(env, "Keep"))
    p.write_client("leave", service(env, "Leave"))
    apply_ok(p)
    stranger = env.create_unmanaged()
    leaving = records(p)["leave"]
    before = set(env.list_ids()) if env.list_ids else set()
    p.remove_client("leave")
    kept = p.run("plan")  # prune is off: a warning, nothing deleted
    assert "no longer in git" in kept.output and "prune" in kept.output and "No changes" in kept.output
    p.set_config(prune=True)
    plan = yaml.safe_load(p.run("plan", "--format", "json").output)
    assert [(c["action"], c["name"]) for c in plan["changes"]] == [("delete", "leave")]
    refused = p.run("apply", "--auto-approve")  # 1 of the 2 clients this project owns: above 30%
    assert refused.exit_code == 1 and "1 of 2 clients this project owns" in refused.output, refused.output
    assert "1 deleted" in apply_ok(p, "--force").output
    assert env.read(ref(leaving)) is None
    assert env.read(Ref(stranger)) is not None, "a client dcrsync does not manage was deleted"
    if env.list_ids is not None:  # nothing else went: the server's own clients, the admin's, others'
        assert set(env.list_ids()) == before - {leaving["client_id"]}
    assert set(records(p)) == {"keep"}
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_sigkilled_apply_converges_without_duplicates_or_lost_tokens(env, project):
    p = project
    n = 40
    for i in range(n):
        p.write_client(f"c-{i:02d}", service(env, f"Crash client {i:02d}"))
    before = set(env.list_ids()) if env.list_ids else set()
    killed = 0
    for wanted in (1, 3):
        log = p.root / f"apply-{wanted}.log"
        proc = start_apply(p, log)
        killed += kill_when(proc, lambda w=wanted: journal_batches(p.state) >= w)
        assert "Traceback" not in log.read_text()
    final = p.run_sub("apply", "--auto-approve")
    assert final.returncode == 0, final.stdout + final.stderr
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    recs = records(p)
    assert set(recs) == {f"c-{i:02d}" for i in range(n)}
    ids = [r["client_id"] for r in recs.values()]
    assert len(set(ids)) == n, "two names share a client"
    for name, rec in recs.items():
        assert env.read(ref(rec)) is not None, f"{name}: recorded client missing on the server"
        assert rec["client_secret"] and env.token_works(rec["client_id"], rec["client_secret"]), name
    if env.list_ids is not None:
        extra = set(env.list_ids()) - before - set(ids)
        if "choose_client_id" in env.cannot:
            # the server picks ids: a create whose answer died with the process leaves an orphan,
            # which dcrsync cannot see without a list API; it must have warned about each one
            assert len(extra) <= killed * 4  # at most one per request in flight (parallelism 4)
            if extra:
                assert "orphan" in final.stdout + final.stderr
        else:
            assert extra == set(), f"duplicates or orphans on the server: {sorted(extra)[:5]}"


def test_no_plaintext_secret_on_disk(env, project):
    p = project
    for i in range(3):
        p.write_client(f"svc-{i}", service(env, f"Service {i}"))
    apply_ok(p)
    p.write_client("svc-0", service(env, "Service 0 renamed"))
    apply_ok(p)
    secrets = set()
    for rec in records(p).values():
        secrets |= {v for k, v in rec.items() if k in ("client_secret", "registration_access_token") and v}
    assert secrets
    leaks = files_containing(secrets, [p.root, Path(tempfile.gettempdir())])
    assert leaks == [], leaks[:3]


def test_rotate_secret_issues_a_working_secret_and_kills_the_old(env, project):
    skip_unless(env, "rotate_secret")
    p = project
    p.write_client("svc", service(env, "Service"))
    apply_ok(p)
    old = records(p)["svc"]
    r = p.run("rotate-secret", "svc", "--yes")
    assert r.exit_code == 0, r.output
    new = records(p)["svc"]
    assert new["client_secret"] and new["client_secret"] != old["client_secret"]
    assert env.token_works(new["client_id"], new["client_secret"])
    assert not env.token_works(old["client_id"], old["client_secret"])
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_recover_after_the_state_is_lost_plans_empty(env, project):
    """A lost state is an error (never an adoption that rotates secrets); `state recover` rebuilds it
    from the markers, and `rotate-secret` issues the secrets the server would not hand back."""
    skip_unless(env, "adopt")
    p = project
    p.write_client("svc-a", service(env, "Service A"))
    p.write_client("svc-b", service(env, "Service B"))
    apply_ok(p)
    ids = {n: r["client_id"] for n, r in records(p).items()}
    old = records(p)["svc-a"]["client_secret"]
    p.state.unlink()
    p.state.with_name("dcrsync.state.applied.json").unlink()
    for cmd in (("plan",), ("apply", "--auto-approve")):
        refused = p.run(*cmd)
        assert refused.exit_code == 1 and "state recover" in refused.output, refused.output
    assert env.token_works(ids["svc-a"], old)  # nothing was touched
    r = p.run("state", "recover")
    assert r.exit_code == 0, r.output
    assert "Recovered 2 client(s)" in r.output
    if env.label == "keycloak":  # its admin API hands each secret back: nothing to rotate (issue 17 item 5)
        assert "Read the secrets of 2 client(s)" in r.output and records(p)["svc-a"]["client_secret"] == old
    else:
        assert "rotate-secret" in r.output
    assert {n: r["client_id"] for n, r in records(p).items()} == ids
    plan = p.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    if "rotate_secret" in env.cannot:
        return
    assert p.run("rotate-secret", "svc-a", "--yes").exit_code == 0
    new = records(p)["svc-a"]["client_secret"]
    assert new and new != old
    assert env.token_works(ids["svc-a"], new) and not env.token_works(ids["svc-a"], old)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_client_deleted_out_of_band_is_recreated_as_drift(env, project):
    skip_unless(env, "recreate_deleted")
    p = project
    p.write_client("svc", service(env, "Service"))
    apply_ok(p)
    gone = records(p)["svc"]
    env.delete_out_of_band(ref(gone))
    (change,) = yaml.safe_load(p.run("plan", "--format", "json").output)["changes"]
    assert (change["action"], change["cause"]) == ("create", "drift")
    apply_ok(p)
    rec = records(p)["svc"]
    assert env.read(ref(rec)) is not None
    assert rec["client_secret"] and env.token_works(rec["client_id"], rec["client_secret"])
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_import_then_plan_is_empty(env, project):
    skip_unless(env, "adopt")
    p = project
    client_id = env.create_unmanaged()
    r = p.run("import", "adopted", client_id, "--rotate-secret")
    assert r.exit_code == 0, r.output
    assert (p.root / "clients" / "adopted.yaml").exists()
    plan = p.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    rec = records(p)["adopted"]
    assert rec["client_id"] == client_id
    assert rec["client_secret"] and env.token_works(client_id, rec["client_secret"])
