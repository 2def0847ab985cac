"""`dcrsync audit` (read-only) against a real Ory Hydra: what its discovery document still offers,
and its live clients, in git or not, against the lint profile and the policy; text, JSON and
Markdown; exit 2 on findings. Keycloak's realm client policies: tests/test_audit_keycloak.py."""

from __future__ import annotations

import json

import pytest

from tests.servers.hydra import start_hydra
from tests.support.hydra_api import all_clients, create_client, get_client, put_client
from tests.support.project import make_project

pytestmark = pytest.mark.hydra

WEB = {
    "client_name": "Web", "grant_types": ["authorization_code"], "response_types": ["code"],
    "redirect_uris": ["https://web.example.com/cb"], "require_pkce": True, "labels": {"team": "web"},
}
POLICY = """\
version: 1
rules:
  - id: redirect-hosts
    redirect_hosts: {allow: ["*.example.com"]}
"""


@pytest.fixture
def hydra(tmp_path):
    """A Hydra of this test's own: audit reads every client on the server, not one owner's."""
    instance = start_hydra(tmp_path / "hydra")
    yield instance
    instance.stop()


@pytest.fixture
def project(tmp_path, hydra, age_key):
    p = make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": hydra.admin_url}, age_key, "audit-test")
    p.set_config(server={"kind": "hydra", "admin_url": hydra.admin_url, "public_url": hydra.public_url},
                 lint={"profile": "rfc9700"}, policy="policy.yaml")
    (p.root / "policy.yaml").write_text(POLICY)
    p.write_client("web", WEB)
    assert p.run_sub("apply", "--auto-approve").returncode == 0
    return p


def foreign(hydra, owner: str) -> str:
    """A client made by hand, outside git, with what the BCP forbids."""
    made = create_client(hydra.admin_url, {
        "client_name": "Legacy", "owner": owner + "-byhand", "grant_types": ["implicit", "password"],
        "response_types": ["token"], "redirect_uris": ["http://legacy.example.org/cb"],
    })
    return made["client_id"]


def test_hydra_audit_finds_the_posture_and_the_client_outside_git(project, hydra):
    p = project
    legacy = foreign(hydra, p.owner)
    before = {c["client_id"]: c for c in all_clients(hydra.admin_url)}
    r = p.run_sub("audit", "--format", "json")
    assert r.returncode == 2, r.stderr
    report = json.loads(r.stdout)
    posture = {c["check"]: c for c in report["posture"]}
    assert posture["pkce-plain"]["ok"] is False and "`plain`" in posture["pkce-plain"]["message"]
    assert posture["implicit"]["ok"] is False and "token" in posture["implicit"]["message"]
    clients = {c["client_id"]: c for c in report["clients"]}
    web = next(c for c in report["clients"] if c["name"] == "web")
    assert web["in_git"] is True and web["source"].startswith("clients/web.yaml:")
    assert web["findings"] == []  # its file says require_pkce (Hydra enforces PKCE server-wide)
    rules = sorted(f["rule"] for f in clients[legacy]["findings"])
    assert clients[legacy]["in_git"] is False
    assert rules == ["DCR003", "DCR007", "DCR010", "policy/redirect-hosts"]
    assert {c["client_id"]: c for c in all_clients(hydra.admin_url)} == before  # nothing written


def test_hydra_audit_text_and_markdown_and_exit_0_when_clean(project, hydra):
    p = project
    r = p.run_sub("audit")
    assert r.returncode == 2  # Hydra's discovery offers plain PKCE and implicit response types
    assert "FINDING  pkce-plain:" in r.stdout and "Clients: no findings." in r.stdout
    assert r.stdout.rstrip().splitlines()[-1] == (
        "Audit: 2 posture finding(s), 0 finding(s) on 0 of 1 live client(s) (1 in git, 0 not); 0 built-in client(s) "
        "not audited."
    )
    md = p.run_sub("audit", "--format", "markdown").stdout
    assert md.startswith("<!-- dcrsync-audit -->\n### dcrsync audit: <code>hydra</code>")
    assert "| ❌ | <code>pkce-plain</code> |" in md

    p.set_config(server={"kind": "hydra", "admin_url": hydra.admin_url})  # no public_url: no discovery
    r = p.run_sub("audit")
    assert r.returncode == 0, r.stdout
    assert "note: discovery: set server.public_url in dcrsync.yaml" in r.stdout


def test_a_client_in_git_changed_by_hand_is_judged_as_it_is_live_with_its_files_labels(project, hydra):
    p = project
    (p.root / "policy.yaml").write_text(
        POLICY + "  - id: web-scopes\n    when: {labels: {team: web}}\n    allowed_scopes: [openid]\n"
    )
    web_id = next(c["client_id"] for c in all_clients(hydra.admin_url, owner=p.owner))
    live = get_client(hydra.admin_url, web_id)
    put_client(hydra.admin_url, {**live, "scope": "openid email"})  # by hand, behind git's back
    r = p.run_sub("audit", "--format", "json")
    assert r.returncode == 2
    web = next(c for c in json.loads(r.stdout)["clients"] if c["name"] == "web")
    assert [(f["rule"], "`email`" in f["message"]) for f in web["findings"]] == [("policy/web-scopes", True)]
    assert p.run_sub("validate").returncode == 0  # git itself is fine: only the live client breaks the rule


def test_a_public_client_is_not_faulted_for_pkce_the_server_enforces(project, hydra):
    """`server.pkce_enforced` is read as the project's profile reads it (`lint.project_profile`): Hydra
    then requires PKCE of public clients itself, so a public client made by hand has no PKCE finding."""
    p = project
    spa = create_client(hydra.admin_url, {
        "client_name": "Spa", "owner": p.owner + "-byhand", "grant_types": ["authorization_code"],
        "response_types": ["code"], "redirect_uris": ["https://web.example.com/spa"],
        "token_endpoint_auth_method": "none",
    })["client_id"]

    def pkce_rules() -> list[str]:
        r = p.run_sub("audit", "--format", "json", "--profile", "rfc9700")
        assert r.returncode in (0, 2), r.stderr
        found = {c["client_id"]: c for c in json.loads(r.stdout)["clients"]}[spa]["findings"]
        return sorted(f["rule"] for f in found if "PKCE" in f["message"])

    assert pkce_rules() != []  # nothing says the server requires it
    for enforced in ("public", "all"):
        p.set_config(server={"kind": "hydra", "admin_url": hydra.admin_url, "pkce_enforced": enforced})
        assert pkce_rules() == [], enforced
