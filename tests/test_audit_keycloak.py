"""`dcrsync audit` against a real Keycloak 26 realm, without and with client policies: the posture
(pkce-enforcer, secure-redirect-uris-enforcer; discovery that offers plain PKCE, implicit response
types and the password grant, and whether a policy closes them for every client) and the live clients
(a client made in the console, outside git, judged as it is; one a pkce-enforcer policy covers meets
PKCE). The realm's built-in clients are left out. Nothing is written."""

from __future__ import annotations

import json

import pytest

from tests.harness.keycloak import REALM_DEFAULT_CLIENTS, project_in_realm, throwaway_realm

SPA = {  # made in the console: a public client with the standard flow and no PKCE attribute
    "clientId": "console-spa", "publicClient": True, "standardFlowEnabled": True,
    "directAccessGrantsEnabled": True, "redirectUris": ["https://spa.example.com/cb"],
}
#: what a realm's admins configure: the BCP's executors for every client
EXECUTORS = ["pkce-enforcer", "secure-redirect-uris-enforcer", "reject-implicit-grant", "reject-ropc-grant"]


def bcp_policies(admin) -> None:
    admin.call("PUT", "/client-policies/profiles", json={"profiles": [{
        "name": "bcp", "description": "RFC 9700",
        # the console writes each executor's configuration: without `auto-configure`, pkce-enforcer and
        # reject-implicit-grant fail every client write with a 500 in Keycloak 26.7 (a null Boolean); with
        # `false`, pkce-enforcer refuses to create a client that does not ask for S256 itself, a service
        # client included (400 code_challenge_method)
        "executors": [{"executor": e, "configuration": {"auto-configure": "true"}} for e in EXECUTORS],
    }]}).raise_for_status()
    admin.call("PUT", "/client-policies/policies", json={"policies": [{
        "name": "bcp-everywhere", "description": "", "enabled": True,
        "conditions": [{"condition": "any-client", "configuration": {}}], "profiles": ["bcp"],
    }]}).raise_for_status()


@pytest.fixture(scope="module")
def realms():
    with throwaway_realm("audit-bare", readable_ids=True) as bare, \
            throwaway_realm("audit-bcp", readable_ids=True) as guarded:
        for admin, _ in (bare, guarded):
            admin.create(SPA)
        bcp_policies(guarded[0])
        guarded[0].call("PUT", "", json={"revokeRefreshToken": True, "refreshTokenMaxReuse": 0}).raise_for_status()
        yield {"bare": bare, "bcp": guarded}


def audit(realms, label, tmp_path, age_key):
    p = project_in_realm(tmp_path / "proj", realms[label], age_key, "audit-kc")
    p.set_config(lint={"profile": "rfc9700"})
    p.write_client("orders-worker", {"client_name": "Orders", "grant_types": ["client_credentials"],
                                     "labels": {"team": "orders"}})
    assert p.run_sub("apply", "--auto-approve").returncode == 0
    before = p.admin.call("GET", "/clients").json()
    r = p.run_sub("audit", "--format", "json")
    assert p.admin.call("GET", "/clients").json() == before  # read-only
    return p, r, json.loads(r.stdout)


def test_a_realm_without_client_policies(realms, tmp_path, age_key):
    p, r, report = audit(realms, "bare", tmp_path, age_key)
    assert r.returncode == 2, r.stderr
    posture = {c["check"]: c["ok"] for c in report["posture"]}
    assert posture == {
        "pkce-plain": False, "implicit": False, "password-grant": False,
        "pkce-enforcer": False, "secure-redirect-uris-enforcer": False,
    }
    clients = {c["name"]: c for c in report["clients"]}
    assert set(clients) == {"orders-worker", "console-spa"}
    assert clients["orders-worker"]["in_git"] and clients["orders-worker"]["findings"] == []
    assert not clients["console-spa"]["in_git"]
    assert sorted(f["rule"] for f in clients["console-spa"]["findings"]) == ["DCR008", "DCR010", "DCR016"]
    skipped = {s["name"] for s in report["skipped"]}
    assert REALM_DEFAULT_CLIENTS <= skipped
    md = p.run_sub("audit", "--format", "markdown").stdout
    assert "| ❌ | <code>pkce-enforcer</code> | realm audit-bare-" in md
    assert "| <code>console-spa</code> | <code>console-spa</code> | not in git | <code>DCR008</code> |" in md


def test_a_realm_whose_client_policies_enforce_the_bcp(realms, tmp_path, age_key):
    p, r, report = audit(realms, "bcp", tmp_path, age_key)
    assert r.returncode == 0, r.stdout
    posture = {c["check"]: c for c in report["posture"]}
    assert all(c["ok"] for c in posture.values()), posture
    assert "client policy `bcp-everywhere` (pkce-enforcer) refuses it for every client" in posture["pkce-plain"]["message"]
    spa = next(c for c in report["clients"] if c["name"] == "console-spa")
    # the policy enforces PKCE and refuses the password grant for it; the realm rotates refresh tokens
    assert spa["findings"] == []
    text = p.run_sub("audit").stdout
    assert "ok   pkce-enforcer: realm audit-bcp-" in text and "Clients: no findings." in text
