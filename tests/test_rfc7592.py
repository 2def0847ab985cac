"""The RFC 7591 / 7592 backend against real servers: node oidc-provider (RAT rotation on, with an
initial access token; rotation off, open registration) and Hydra's `/oauth2/register`."""

from __future__ import annotations

import json
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.harness.base import Ref
from tests.harness.rfc7592 import OidcProviderAdmin, envs, oidc_provider_factory
from tests.support.clients import WEB
from tests.support.crash import kill_when, start_apply
from tests.support.project import make_project
from tests.support.secrets_scan import files_containing

ENVS = dict(envs())
ROTATES = {"oidc-provider-rotate": True, "oidc-provider-static": False, "hydra-dcr": True}



def service(env, name: str = "Reports job") -> dict:
    """A backend service that leaves `response_types` out: dcrsync sends [] (RFC 7591's default,
    [code], would make the server demand a redirect URI), and compares only what is declared."""
    return {"client_name": name, "grant_types": ["client_credentials"], "scope": "openid api:read",
            "token_endpoint_auth_method": "client_secret_basic"}


@pytest.fixture(scope="module", params=sorted(ENVS))
def env(request, tmp_path_factory):
    with ENVS[request.param](tmp_path_factory.mktemp(request.param)) as e:
        yield e


@pytest.fixture
def project(env, tmp_path, age_key):
    return make_project(tmp_path / "proj", env.server, age_key, "t-rfc7592")


def apply_ok(p):
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    return r


def secret(p, name: str, field: str = "client_secret") -> str:
    r = p.run("state", "secret", name, "--field", field)
    assert r.exit_code == 0, r.output
    return r.output.strip()


def record(p, name: str) -> dict:
    return p.state_doc()["clients"][name]


def ref(p, name: str) -> Ref:
    rec = record(p, name)
    return Ref(rec["client_id"], None, rec.get("registration_client_uri"))


def test_registration_records_a_sealed_token_and_invents_no_redirect_uri(project, env):
    """Create -> empty plan, working secrets and nothing in plaintext on every family are
    tests/test_behaviour.py; here what RFC 7591/7592 adds: the registration access token and URI."""
    p = project
    p.write_client("web", WEB)
    p.write_client("svc", service(env))
    apply_ok(p)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0

    recs = p.state_doc()["clients"]
    assert set(recs) == {"web", "svc"}
    for name, rec in recs.items():
        assert rec["registration_access_token"].startswith("ENC[AES256_GCM"), name
        assert rec["registration_client_uri"].endswith(rec["client_id"])
        assert env.read(ref(p, name))["client_name"] == (WEB if name == "web" else service(env))["client_name"]
    svc = env.read(ref(p, "svc"))  # registered without an invented redirect URI
    assert not svc.get("redirect_uris") and not svc.get("response_types"), svc


def test_update_journals_a_rotated_token_and_keeps_the_secret(project, env):
    """(That an update keeps undeclared fields, on every family: tests/test_behaviour.py.)"""
    p = project
    p.write_client("svc", service(env))
    apply_ok(p)
    r = ref(p, "svc")
    rat_before, secret_before = secret(p, "svc", "registration_access_token"), secret(p, "svc")

    p.write_client("svc", service(env, "Reports job v2"))
    apply_ok(p)
    assert env.read(r)["client_name"] == "Reports job v2"
    rat_after = secret(p, "svc", "registration_access_token")
    assert (rat_after != rat_before) == ROTATES[env.label]
    assert secret(p, "svc") == secret_before and env.token_works(r.client_id, secret_before)
    # the new token (journaled, folded into the state) is what the next plan reads with
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    p.write_client("svc", service(env, "Reports job v3"))
    apply_ok(p)
    assert env.read(r)["client_name"] == "Reports job v3"
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_server_change_is_drift_and_restored(project, env):
    p = project
    p.write_client("web", WEB)
    apply_ok(p)
    r = ref(p, "web")
    env.change_out_of_band(r, "redirect_uris", ["https://evil.example.net/cb"])
    data = json.loads(p.run("plan", "--format", "json").output)
    (change,) = data["changes"]
    assert change["cause"] == "drift" and change["fields"][0]["path"] == "redirect_uris"
    apply_ok(p)
    assert sorted(env.read(r)["redirect_uris"]) == sorted(WEB["redirect_uris"])
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_dead_token_is_one_clear_line(project, env):
    p = project
    p.write_client("svc", service(env))
    p.write_client("other", service(env, "Other"))
    apply_ok(p)
    r = ref(p, "svc")
    env.revoke_token(r)  # an admin gave it a new token, or (Hydra) an admin PUT cleared it

    plan = p.run_sub("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr  # the other client is fine; svc is a warning
    assert "svc (" in plan.stdout and "dcrsync state rm svc" in plan.stdout and r.client_id in plan.stdout

    p.write_client("other", service(env, "Other v2"))
    applied = p.run_sub("apply", "--auto-approve")
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "Traceback" not in applied.stderr
    errors = [ln for ln in applied.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "svc.yaml:1: svc:" in errors[0] and "dcrsync state rm svc" in errors[0], errors
    assert "1 updated" in applied.stdout  # the readable client was still applied

    # a client deleted out of band answers 401 too (RFC 7592 §2.1): the same advice
    env.delete_out_of_band(ref(p, "other"))
    assert "dcrsync state rm other" in p.run_sub("plan").stdout


def test_rfc7591_error_shows_description_and_location(project, env):
    p = project
    if env.label.startswith("oidc-provider"):
        # a scope it does not offer: its metadata lists scopes, so plan only warns (servers may leave
        # scopes out); the server refuses at registration. (A pairwise subject_type is caught earlier,
        # at plan, against its subject_types_supported.)
        bad = dict(service(env, "Bad"), scope="openid not-offered-here")
    else:
        bad = dict(service(env, "Bad"), subject_type="pairwise")  # Hydra publishes no metadata here
    path = p.write_client("bad", bad)
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert f"{path.relative_to(p.root)}:1" in line or f"{path}:1" in line, line
    assert "invalid_client_metadata" in line and "HTTP 400" in line, line
    assert "create bad" in line
    if env.label.startswith("oidc-provider"):
        assert "scope must only contain Authorization Server supported scope values" in line, line
    # the server answered: nothing was created, so no "orphan may exist" warning follows
    assert "bad" not in (p.state_doc().get("clients") or {}) if p.state.exists() else True
    again = p.run("plan")
    assert again.exit_code == 0 and "orphan" not in again.output, again.output


def test_a_subject_type_the_server_does_not_list_stops_the_plan_at_its_line(project, env):
    if not env.label.startswith("oidc-provider"):
        pytest.skip("only oidc-provider publishes its metadata in this suite")
    p = project
    path = p.write_client("pw", dict(service(env, "Pw"), subject_type="pairwise"))
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert f"{path.relative_to(p.root)}:" in line and "does not support subject_type `pairwise`" in line, line
    assert "public" in line  # what it does list
    assert not p.state.exists() or "pw" not in (p.state_doc().get("clients") or {})


# --- crash safety on a server that chooses client ids ----------------------------------------

N = 100


ORPHAN = re.compile(r"^warning: (\S+) \(.*an orphan client may exist", re.M)


def test_sigkill_converges_and_every_orphan_is_reported(tmp_path, age_key):
    factory = oidc_provider_factory("oidc-provider-rotate", rotate=True, iat=True)
    with factory(tmp_path / "server") as e:
        p = make_project(tmp_path / "proj", e.server, age_key, "t-crash")
        for i in range(N):
            p.write_client(f"svc-{i:03d}", service(e, f"Service {i:03d}"))
        journal = p.state.with_name(p.state.name + ".journal")

        def batches() -> int:
            return len([f for f in journal.iterdir() if not f.name.startswith(".")]) if journal.is_dir() else 0

        def count() -> int:
            return len(e.list_ids())

        base = count()
        points = [
            ("right after the create intents are journaled", lambda: batches() >= 1),
            ("a few creates in", lambda: count() >= base + 10),
            ("half-way", lambda: count() >= base + N // 2 + 10),
            ("near the end of the creates", lambda: count() >= base + N),  # orphans count too
        ]
        killed, reported = [], set()
        for i, (label, ready) in enumerate(points):
            log = p.root / f"apply-{i}.log"
            proc = start_apply(p, log, extra=("--all-warnings",))
            if kill_when(proc, ready):
                killed.append(label)
            out = log.read_text()
            assert "Traceback" not in out, out
            reported |= set(ORPHAN.findall(out))
        assert len(killed) >= 3, killed

        final = p.run_sub("apply", "--auto-approve", "--all-warnings")  # each orphan by name
        assert final.returncode == 0, final.stdout + final.stderr
        reported |= set(ORPHAN.findall(final.stdout + final.stderr))
        assert p.run("plan", "--detailed-exitcode").exit_code == 0
        assert not journal.exists()

        from dcrsync.state.sops import Sops
        from dcrsync.state.store import FileStore

        state = FileStore(p.state, Sops()).read()
        assert set(state.clients) == {f"svc-{i:03d}" for i in range(N)}
        ids = [r.client_id for r in state.clients.values()]
        assert len(set(ids)) == N and all(ids)
        assert all(not r.pending and r.client_secret and r.registration_access_token for r in state.clients.values())

        with ThreadPoolExecutor(8) as pool:
            ok = list(pool.map(lambda r: e.token_works(r.client_id, r.client_secret), state.clients.values()))
        assert all(ok), f"{ok.count(False)} recorded secrets do not authenticate"
        # every recorded token reads its client (the empty plan above read each one with it)

        on_server = set(e.list_ids())
        orphans = on_server - set(ids)
        assert set(ids) <= on_server
        orphan_names = {f"svc-{e.client_name_of(cid).split()[-1]}" for cid in orphans}
        assert orphan_names <= reported, f"orphans not reported: {sorted(orphan_names - reported)}"
        print(f"\nRFC7592-CRASH: killed at {killed}; {len(orphans)} orphan client(s) on the server, "
              f"{len(reported)} name(s) reported as possible orphans")
        secrets_ = {r.client_secret for r in state.clients.values()} | {
            r.registration_access_token for r in state.clients.values()}
        assert files_containing(secrets_, [p.root, Path(tempfile.gettempdir())]) == []


# --- the server's published metadata, checked at plan time -----------------------------------

#: oidc-provider with the JWT client authentications switched off (and so left out of discovery)
NO_JWT_AUTH = ("client_secret_basic", "client_secret_post", "none")
JWT_CLIENT = """\
name: signer
client_name: Signer
grant_types: [client_credentials]
response_types: []
token_endpoint_auth_method: client_secret_jwt
"""


def served(op) -> list[str]:
    """Every request the provider served, in order (its own log, kept by server.mjs's test hook)."""
    r = httpx.get(f"{op.test_admin_url}/requests", timeout=30)
    r.raise_for_status()
    return list(r.json()["requests"])


@pytest.fixture
def no_jwt_provider(tmp_path):
    from tests.servers.oidc_provider import start_oidc_provider

    op = start_oidc_provider(tmp_path / "server", rotate_rat=False, client_auth_methods=NO_JWT_AUTH)
    try:
        yield op
    finally:
        op.stop()


def test_plan_refuses_an_auth_method_the_server_does_not_enable(no_jwt_provider, tmp_path, age_key):
    op = no_jwt_provider
    p = make_project(tmp_path / "proj", {"kind": "rfc7592", "registration_url": op.registration_url}, age_key, "t-disc")
    p.write_client("reports-job", {"client_name": "Reports job", "grant_types": ["client_credentials"],
                                   "token_endpoint_auth_method": "client_secret_basic"})
    path = p.write_client("signer", JWT_CLIENT)
    before = len(served(op))  # the launcher's readiness probes
    for command in (("plan",), ("apply", "--auto-approve")):
        r = p.run_sub(*command)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "Traceback" not in r.stderr
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, r.stderr
        assert f"{path}:5:" in errors[0] or f"{path.relative_to(p.root)}:5:" in errors[0], errors[0]
        assert "signer: the server does not support token_endpoint_auth_method `client_secret_jwt`" in errors[0]
        assert "client_secret_basic, client_secret_post, none" in errors[0]
    # nothing but the discovery document was asked for (once per run): no registration was sent
    assert served(op)[before:] == ["GET /.well-known/openid-configuration"] * 2
    assert OidcProviderAdmin(op.test_admin_url).list_ids() == []

    p.write_client("signer", JWT_CLIENT.replace("client_secret_jwt", "client_secret_post"))
    apply_ok(p)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    assert len(OidcProviderAdmin(op.test_admin_url).list_ids()) == 2


def test_issuer_alone_finds_the_registration_endpoint(no_jwt_provider, tmp_path, age_key):
    op = no_jwt_provider
    p = make_project(tmp_path / "proj", {"kind": "rfc7592", "issuer": op.issuer}, age_key, "t-issuer")
    p.write_client("reports-job", {"client_name": "Reports job", "grant_types": ["client_credentials"],
                                   "response_types": [], "token_endpoint_auth_method": "client_secret_basic"})
    apply_ok(p)
    rec = record(p, "reports-job")
    assert rec["registration_client_uri"] == f"{op.registration_url}/{rec['client_id']}"
    assert "POST /reg" in served(op)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    # a scope the server does not advertise is a warning at its line, not a refusal
    p.write_client("reports-job", JWT_CLIENT.replace("signer", "reports-job").replace(
        "client_secret_jwt", "client_secret_basic\nscope: openid api:admin"))
    plan = p.run_sub("plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    (warning,) = [ln for ln in plan.stdout.splitlines() if "advertise" in ln]
    assert "reports-job.yaml:6:" in warning and "does not advertise scope `api:admin`" in warning, warning


def test_a_server_that_publishes_nothing_is_planned_as_before(tmp_path, age_key):
    """Hydra publishes discovery but no registration_endpoint in it: with only registration_url,
    its document is not taken for this endpoint's (a custom scope Hydra does not advertise passes)."""
    factory = ENVS["hydra-dcr"]
    with factory(tmp_path / "server") as e:
        p = make_project(tmp_path / "proj", e.server, age_key, "t-nothing")
        p.write_client("svc", service(e))  # scope `api:read`: not in Hydra's scopes_supported
        plan = p.run_sub("plan")
        assert plan.returncode == 0 and "advertise" not in plan.stdout + plan.stderr, plan.stdout + plan.stderr
