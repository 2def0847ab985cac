"""Delivering secrets (issue 18) on the real Hydra and the real sops: three clients deliver to two
teams' sops-encrypted manifests and a dotenv pipe; each manifest opens with its own team's key only,
decrypts to a valid v1/Secret, and its secret gets tokens; `deliver --check` finds what is missing
or stale; a kill -9 between a create and its delivery converges on the next apply."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pyrage
import pytest
import yaml

from dcrsync.state.sops import find_sops
from tests.support.crash import kill_when, start_apply
from tests.support.hydra_api import token_works
from tests.support.project import AgeKey
from tests.support.secrets_scan import files_containing

pytestmark = pytest.mark.hydra
ROOT = Path(__file__).resolve().parent.parent
SERVICE = {"grant_types": ["client_credentials"], "response_types": [], "scope": "openid"}


def team_key(folder: Path, name: str) -> AgeKey:
    identity = pyrage.x25519.Identity.generate()
    path = folder / f"{name}.txt"
    path.write_text(f"{identity}\n")
    path.chmod(0o600)
    return AgeKey(path, str(identity.to_public()))


def sops_decrypt(path: Path, key: AgeKey) -> subprocess.CompletedProcess:
    """The manifest decrypted with one age key alone, as Flux or KSOPS would with theirs."""
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(key.secret_file), "SOPS_DISABLE_VERSION_CHECK": "1"}
    return subprocess.run([find_sops(), "--decrypt", str(path)], capture_output=True, text=True,
                          env=env, cwd=path.parent, timeout=60)


@pytest.fixture
def teams(tmp_path):
    return {"billing": team_key(tmp_path, "billing"), "orders": team_key(tmp_path, "orders")}


@pytest.fixture
def project(hydra_project, hydra, teams):
    p = hydra_project
    p.set_config(
        server={"kind": "hydra", "admin_url": hydra.admin_url, "public_url": hydra.public_url},
        delivery={"roots": ["deploy/"], "recipients": {
            "billing-team": {"age": [teams["billing"].recipient]},
            "orders-team": {"age": [teams["orders"].recipient]},
        }},
    )
    p.write_client("billing", {**SERVICE, "deliver": [{
        "target": "kubernetes-secret", "path": "deploy/billing/oauth.sops.yaml", "recipients": "billing-team",
        "namespace": "billing", "secret_name": "billing-oauth", "labels": {"app.kubernetes.io/name": "billing"},
        "keys": {"CLIENT_ID": "client_id", "CLIENT_SECRET": "client_secret", "ISSUER": "issuer",
                 "TOKEN_URL": "token_endpoint"},
    }]})
    p.write_client("orders", {**SERVICE, "deliver": [{
        "target": "kubernetes-secret", "path": "deploy/orders/oauth.sops.yaml", "recipients": ["orders-team"],
        "namespace": "orders", "preset": "oauth2-proxy",
    }]})
    p.write_client("reports", {**SERVICE, "deliver": [{"target": "stdout", "preset": "dotenv"}]})
    return p


def manifest(p, team: str) -> Path:
    return p.root / "deploy" / team / "oauth.sops.yaml"


def opened(p, team: str, key: AgeKey) -> dict:
    r = sops_decrypt(manifest(p, team), key)
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def test_three_clients_deliver_to_two_teams_and_a_pipe(project, teams, hydra, age_key):
    p = project
    plan = p.run("plan")
    assert plan.exit_code == 0, plan.output
    assert "→ deliver billing: kubernetes-secret deploy/billing/oauth.sops.yaml (new client)" in plan.output
    assert "→ deliver orders: kubernetes-secret deploy/orders/oauth.sops.yaml (new client)" in plan.output
    assert "reports: " not in plan.output.split("→ deliver", 1)[1]  # a pipe is read on demand, not written
    doc = json.loads(p.run("plan", "--format", "json").output)
    jsonschema.validate(doc, json.loads((ROOT / "schemas" / "plan.schema.json").read_text()))
    assert {(d["name"], d["target"], d["where"]) for d in doc["deliveries"]} == {
        ("billing", "kubernetes-secret", "deploy/billing/oauth.sops.yaml"),
        ("orders", "kubernetes-secret", "deploy/orders/oauth.sops.yaml")}
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert "delivered billing: kubernetes-secret deploy/billing/oauth.sops.yaml" in r.output

    billing = opened(p, "billing", teams["billing"])
    kubernetes_validate.validate(billing, kubernetes_validate.latest_version(), strict=True)
    assert billing["kind"] == "Secret" and billing["metadata"]["namespace"] == "billing"
    assert billing["metadata"]["name"] == "billing-oauth"
    data = billing["stringData"]
    assert data["CLIENT_SECRET"] == p.secret("billing") and data["ISSUER"] == hydra.issuer
    assert data["TOKEN_URL"] == f"{hydra.public_url}/oauth2/token"
    assert token_works(hydra.public_url, data["CLIENT_ID"], data["CLIENT_SECRET"])

    orders = opened(p, "orders", teams["orders"])
    kubernetes_validate.validate(orders, kubernetes_validate.latest_version(), strict=True)
    assert set(orders["stringData"]) == {"OAUTH2_PROXY_CLIENT_ID", "OAUTH2_PROXY_CLIENT_SECRET",
                                          "OAUTH2_PROXY_OIDC_ISSUER_URL"}
    # each team's key opens its own manifest and nothing else; not even the state's key opens them
    for team, other in (("billing", "orders"), ("orders", "billing")):
        refused = sops_decrypt(manifest(p, team), teams[other])
        assert refused.returncode != 0 and p.secret(team) not in refused.stdout + refused.stderr
        assert sops_decrypt(manifest(p, team), age_key).returncode != 0
    # only data/stringData are encrypted: the rest reads as it is (Flux, KSOPS)
    raw = yaml.safe_load(manifest(p, "billing").read_text())
    assert raw["metadata"]["name"] == "billing-oauth" and raw["sops"]["encrypted_regex"] == "^(data|stringData)$"
    assert all(v.startswith("ENC[") for v in raw["stringData"].values())

    pipe = p.run_sub("deliver", "--stdout", "reports")
    assert pipe.returncode == 0, pipe.stderr
    env = {k: json.loads(v) if v.startswith('"') else v for k, v in (ln.split("=", 1) for ln in pipe.stdout.splitlines())}
    assert set(env) == {"OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_ISSUER", "OAUTH_TOKEN_ENDPOINT"}
    assert token_works(hydra.public_url, env["OAUTH_CLIENT_ID"], env["OAUTH_CLIENT_SECRET"])

    check = p.run_sub("deliver", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "2 current" in check.stdout
    secrets = {p.secret(n) for n in ("billing", "orders", "reports")}
    assert not [s for s in secrets if s in plan.output + r.output + check.stdout + check.stderr]
    assert files_containing(secrets, [p.root]) == []  # no plaintext secret on disk
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_check_finds_missing_and_stale_copies_and_deliver_rewrites_them(project, teams, hydra):
    p = project
    assert p.run("apply", "--auto-approve").exit_code == 0
    manifest(p, "orders").unlink()
    r = p.run_sub("deliver", "--check")
    assert r.returncode == 2 and "missing: orders: kubernetes-secret deploy/orders/oauth.sops.yaml" in r.stdout, r.stdout
    drift = p.run_sub("drift")
    assert drift.returncode == 2 and "orders" in drift.stdout and "missing" in drift.stdout, drift.stdout
    # a new secret (rotate-secret) is delivered at once; a stale copy put back is found
    old = manifest(p, "billing").read_bytes()
    rot = p.run_sub("rotate-secret", "billing", "--yes")
    assert rot.returncode == 0 and "delivered billing" in rot.stdout, rot.stdout + rot.stderr
    assert opened(p, "billing", teams["billing"])["stringData"]["CLIENT_SECRET"] == p.secret("billing")
    manifest(p, "billing").write_bytes(old)
    r = p.run_sub("deliver", "--check")
    assert r.returncode == 2 and "stale: billing" in r.stdout, r.stdout
    assert p.secret("billing") not in r.stdout + r.stderr
    w = p.run_sub("deliver")
    assert w.returncode == 0, w.stdout + w.stderr
    assert p.run_sub("deliver", "--check").returncode == 0
    data = opened(p, "billing", teams["billing"])["stringData"]
    assert token_works(hydra.public_url, data["CLIENT_ID"], data["CLIENT_SECRET"])
    # the same content re-encrypted for another team (a hand `sops` run) is not the delivery
    plain = sops_decrypt(manifest(p, "billing"), teams["billing"]).stdout
    env = {**os.environ, "SOPS_DISABLE_VERSION_CHECK": "1"}
    rekeyed = subprocess.run(
        [find_sops(), "--encrypt", "--age", teams["orders"].recipient, "--encrypted-regex", "^(data|stringData)$",
         "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"],
        input=plain, capture_output=True, text=True, env=env, check=True).stdout
    manifest(p, "billing").write_text(rekeyed)
    r = p.run_sub("deliver", "--check")
    assert r.returncode == 2 and "encrypted for other recipients" in r.stdout, r.stdout
    # a copy that cannot be read is an error: exit 1
    manifest(p, "orders").unlink()
    manifest(p, "orders").mkdir()
    r = p.run_sub("deliver", "--check")
    assert r.returncode == 1 and "error: orders" in r.stdout, r.stdout + r.stderr


def test_outside_the_roots_or_without_recipients_is_refused_before_anything_is_sent(project, hydra):
    p = project
    p.write_client("billing", {**SERVICE, "deliver": [{
        "target": "kubernetes-secret", "path": "../elsewhere/oauth.sops.yaml", "recipients": "billing-team",
        "namespace": "billing", "preset": "dotenv"}]})
    r = p.run_sub("plan")
    assert r.returncode == 1 and "outside the delivery roots (deploy)" in r.stderr, r.stderr
    assert "billing.yaml:" in r.stderr and "Traceback" not in r.stderr
    p.set_config(delivery={"roots": ["deploy/"], "recipients": {"billing-team": {"age": []}}})
    p.write_client("billing", {**SERVICE, "deliver": [{
        "target": "kubernetes-secret", "path": "deploy/b.sops.yaml", "recipients": "billing-team",
        "namespace": "billing", "preset": "dotenv"}]})
    r = p.run_sub("validate")
    assert r.returncode == 1 and "recipients" in r.stdout + r.stderr, r.stdout + r.stderr
    assert not (p.root / "deploy").exists()


def test_state_secret_prints_a_bundle_to_a_pipe_and_refuses_a_terminal(project, hydra):
    p = project
    assert p.run("apply", "--auto-approve").exit_code == 0
    r = p.run_sub("state", "secret", "billing", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["issuer"] == hydra.issuer and doc["discovery_url"].endswith("/.well-known/openid-configuration")
    assert token_works(hydra.public_url, doc["client_id"], doc["client_secret"])
    for argv in (["state", "secret", "billing", "--format", "dotenv"], ["deliver", "--stdout", "reports"]):
        out = on_a_terminal(p, argv)
        assert out[0] == 1 and "refusing to print secrets to a terminal" in out[1], out
        assert p.secret("billing") not in out[1] and p.secret("reports") not in out[1]


def on_a_terminal(p, argv: list[str]) -> tuple[int, str]:
    """Run dcrsync with its stdout on a pseudo-terminal, as a person at a shell."""
    main, side = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "dcrsync", *p._argv(tuple(argv))], stdout=side,
                            stderr=subprocess.PIPE, cwd=p.root)
    os.close(side)
    _, err = proc.communicate(timeout=120)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return proc.returncode, err.decode() + b"".join(chunks).decode(errors="replace")


GATE = """
import json, os, sys, time
bundle = json.load(sys.stdin)
out, gate, reached = sys.argv[1:4]
if not os.path.exists(gate):
    open(reached, "w").close()
    time.sleep(120)
with open(out, "w") as fh:
    json.dump(bundle, fh)
"""


def test_kill_between_a_create_and_its_delivery_then_apply_delivers_a_working_secret(project, teams, hydra):
    """The secret is in the journal before the delivery starts; the delivery's record only after it
    is done: a SIGKILL in between leaves a delivery the next apply carries out."""
    p = project
    script = p.root / "gate.py"
    script.write_text(GATE)
    out, gate, reached = (p.root / "deploy" / n for n in ("handed.json", "gate", "reached"))
    (p.root / "deploy").mkdir()
    p.write_client("billing", {**SERVICE, "deliver": [
        {"target": "exec", "command": [sys.executable, str(script), str(out), str(gate), str(reached)],
         "keys": {"id": "client_id", "secret": "client_secret"}},
        {"target": "kubernetes-secret", "path": "deploy/billing/oauth.sops.yaml", "recipients": "billing-team",
         "namespace": "billing", "keys": {"CLIENT_ID": "client_id", "CLIENT_SECRET": "client_secret"}},
    ]})
    proc = start_apply(p, p.root / "apply.log")
    assert kill_when(proc, reached.exists), (p.root / "apply.log").read_text()
    assert not manifest(p, "billing").exists() and not out.exists()
    gate.touch()
    plan = p.run("plan")
    assert "→ deliver billing: exec" in plan.output, plan.output
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Recovered an interrupted apply" in r.stderr
    data = opened(p, "billing", teams["billing"])["stringData"]
    handed = yaml.safe_load(out.read_text())
    assert data["CLIENT_SECRET"] == handed["secret"] == p.secret("billing")
    assert token_works(hydra.public_url, data["CLIENT_ID"], data["CLIENT_SECRET"])
    assert p.run_sub("deliver", "--check").returncode == 0
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_failed_delivery_is_reported_per_client_and_retried(project, teams, hydra):
    p = project
    p.write_client("reports", {**SERVICE, "deliver": [
        {"target": "exec", "command": [sys.executable, "-c", "import sys; sys.exit('store offline')"],
         "keys": {"id": "client_id", "secret": "client_secret"}}]})
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "error: delivery reports: exec" in r.stderr and "store offline" in r.stderr
    assert manifest(p, "billing").exists()  # the other clients were delivered
    assert "→ deliver reports: exec" in p.run("plan").output
    p.write_client("reports", {**SERVICE, "deliver": [
        {"target": "exec", "command": [sys.executable, "-c", "import sys, json; json.load(sys.stdin)"],
         "keys": {"id": "client_id", "secret": "client_secret"}}]})
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 0 and "delivered reports: exec" in r.stdout, r.stdout + r.stderr


def test_max_age_rotation_is_planned_approved_and_delivered_on_hydra(project, teams, hydra):
    """Hydra keeps one secret: the plan says the old one stops at once; the new one is delivered."""
    p = project
    body = yaml.safe_load((p.root / "clients" / "billing.yaml").read_text())
    body["rotate"] = {"max_age": "1s", "grace": "1h"}
    (p.root / "clients" / "billing.yaml").write_text(yaml.safe_dump(body))
    assert p.run("apply", "--auto-approve").exit_code == 0
    old = opened(p, "billing", teams["billing"])["stringData"]["CLIENT_SECRET"]
    import time

    time.sleep(2)
    plan = p.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "! rotate billing" in plan.output and "past rotate.max_age 1s" in plan.output
    assert "hydra keeps one secret: the old one stops working at once" in plan.output
    assert "rotate.grace needs a family that keeps two secrets" in plan.output
    assert "→ deliver billing: kubernetes-secret deploy/billing/oauth.sops.yaml (rotated secret)" in plan.output
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    data = opened(p, "billing", teams["billing"])["stringData"]
    assert data["CLIENT_SECRET"] != old and data["CLIENT_SECRET"] == p.secret("billing")
    assert token_works(hydra.public_url, data["CLIENT_ID"], data["CLIENT_SECRET"])
    assert not token_works(hydra.public_url, data["CLIENT_ID"], old)


def test_defaults_per_environment_and_an_external_secret(hydra_project, hydra, teams):
    """`delivery.defaults` (with `{name}`) reach every client without a `deliver:` of its own; an
    environment overlays its own; an ExternalSecret carries no secret."""
    p = hydra_project
    p.set_config(
        server={"kind": "hydra", "admin_url": hydra.admin_url, "public_url": hydra.public_url},
        delivery={"roots": ["deploy/"], "recipients": {"flux": {"age": [teams["billing"].recipient]}},
                  "defaults": [{"target": "kubernetes-secret", "path": "deploy/base/{name}.sops.yaml",
                                "recipients": "flux", "namespace": "apps", "secret_name": "{name}-oauth",
                                "preset": "dotenv"}]},
        environments={"staging": {"delivery": {"defaults": [{
            "target": "external-secret", "path": "deploy/staging/{name}.yaml", "namespace": "apps",
            "store": {"name": "vault", "kind": "ClusterSecretStore"}, "remote_key": "oauth/{name}",
            "preset": "dotenv"}]}}},
    )
    p.write_client("web", SERVICE)
    p.write_client("quiet", {**SERVICE, "deliver": []})
    assert p.run("apply", "--auto-approve").exit_code == 0
    doc = yaml.safe_load(sops_decrypt(p.root / "deploy" / "base" / "web.sops.yaml", teams["billing"]).stdout)
    assert doc["metadata"]["name"] == "web-oauth" and doc["stringData"]["OAUTH_CLIENT_SECRET"] == p.secret("web")
    assert not (p.root / "deploy" / "base" / "quiet.sops.yaml").exists()
    r = p.run_sub("deliver", "--env", "staging")
    assert r.returncode == 0, r.stdout + r.stderr
    ext = yaml.safe_load((p.root / "deploy" / "staging" / "web.yaml").read_text())
    kubernetes_validate.validate(  # its metadata and shape as Kubernetes takes any object's
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": ext["metadata"]}, kubernetes_validate.latest_version())
    assert ext["kind"] == "ExternalSecret" and ext["spec"]["secretStoreRef"]["kind"] == "ClusterSecretStore"
    assert {d["secretKey"] for d in ext["spec"]["data"]} == {"OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET",
                                                            "OAUTH_ISSUER", "OAUTH_TOKEN_ENDPOINT"}
    assert all(d["remoteRef"] == {"key": "oauth/web", "property": d["secretKey"]} for d in ext["spec"]["data"])
    assert p.secret("web") not in (p.root / "deploy" / "staging" / "web.yaml").read_text()
