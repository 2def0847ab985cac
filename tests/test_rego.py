"""The Rego library in examples/policy/ under a real `opa` (built from its Go module): its own unit
tests, and the same RFC 9700 findings as dcrsync's `lint: {profile: rfc9700}` on the JSON that
`validate --format json` and `plan --format json` give (the documented OPA input)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dcrsync.cli import cli
from tests.servers.opa import run_opa
from tests.support.unit_helpers import write

ROOT = Path(__file__).resolve().parent.parent
#: the rules the library implements (DCR003: its plain-http part)
LIBRARY_RULES = {"DCR003", "DCR007", "DCR008", "DCR010", "DCR011", "DCR014", "DCR015", "DCR016"}
CLIENTS = {
    "web": "grant_types: [authorization_code]\nredirect_uris: ['https://web.example.com/cb']\n",
    "pkce-web": "grant_types: [authorization_code]\nredirect_uris: ['https://web.example.com/cb']\nrequire_pkce: true\n",
    "spa": (
        "grant_types: [authorization_code, refresh_token]\nredirect_uris: ['http://localhost:5173/cb', "
        "'https://*.example.com/cb']\ntoken_endpoint_auth_method: none\n"
    ),
    "kiosk": "grant_types: [password]\n",
    "legacy": "grant_types: [implicit]\nresponse_types: [token]\nredirect_uris: ['http://legacy.example.com/cb']\n",
    "native": (
        "grant_types: [authorization_code, refresh_token]\nredirect_uris: ['http://127.0.0.1/cb', 'http://[::1]/cb']\n"
        "token_endpoint_auth_method: none\nrequire_pkce: true\ndpop_bound_access_tokens: true\n"
    ),
    "service": "grant_types: [client_credentials]\n",
}


def deny(input_text: str) -> set[str]:
    r = run_opa("eval", "-d", "examples/policy", "-I", "--format", "json", "data.dcrsync.rfc9700.deny", input=input_text)
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stdout)["result"][0]["expressions"][0]["value"])


def pairs(denials: set[str]) -> set[tuple[str, str]]:
    return {(m[1], m[2]) for d in denials if (m := re.match(r"(DCR\d{3}) (\S+) ", d))}


def test_opa_test_passes_the_librarys_own_tests():
    r = run_opa("test", "examples/policy", "-v")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^PASS: (\d+)/\1$", r.stdout, re.M), r.stdout


def test_opa_fmt_finds_the_library_formatted():
    r = run_opa("fmt", "--list", "--fail", "examples/policy")
    assert r.returncode == 0 and r.stdout == "", r.stdout


@pytest.mark.parametrize("kind", ["keycloak", "hydra"])
def test_rego_and_the_rfc9700_profile_find_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DCRSYNC_CONFIG", raising=False)
    server = "{kind: keycloak, url: http://x, realm: r, admin: {client_id: a, client_secret: b}}" if kind == "keycloak" \
        else "{kind: hydra, admin_url: http://x}"
    write(tmp_path, "dcrsync.yaml", f"server: {server}\nlint: {{profile: rfc9700}}\n")
    for name, body in CLIENTS.items():
        write(tmp_path, f"clients/{name}.yaml", f"name: {name}\n{body}")
    result = CliRunner().invoke(cli, ["validate", "--format", "json"])
    body = json.loads(result.stdout)
    ours = {(d["rule"], d["file"].split("/")[-1][:-5]) for d in body["diagnostics"] if d["rule"] in LIBRARY_RULES}
    assert pairs(deny(result.stdout)) == ours
    expected = {
        ("DCR014", "web"), ("DCR015", "spa"), ("DCR011", "spa"), ("DCR008", "spa"), ("DCR010", "kiosk"),
        ("DCR007", "legacy"), ("DCR003", "legacy"),
    }
    if kind != "hydra":  # Hydra rotates every refresh token
        expected.add(("DCR016", "spa"))
    assert ours == expected


def test_rego_reads_a_real_plan(hydra_project):
    p = hydra_project
    p.set_config(lint={"profile": "rfc9700", "ignore": {"DCR014": "checked by OPA in this test"}})
    p.write_client("web", {"client_name": "Web", "grant_types": ["authorization_code"],
                           "redirect_uris": ["https://web.example.com/cb"], "labels": {"team": "web"}})
    r = p.run_sub("plan", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["changes"][0]["labels"] == {"team": "web"}
    assert pairs(deny(r.stdout)) == {("DCR014", "web")}
