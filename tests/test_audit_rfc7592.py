"""`dcrsync audit` on a server without a list API (RFC 7591/7592: node oidc-provider, real): it reads
the clients the state knows through their registration tokens, judges each as it is live (a hand
edit included), reads the server's posture from its discovery document, and writes nothing."""

from __future__ import annotations

import json

from tests.harness.base import Ref
from tests.harness.rfc7592 import oidc_provider_factory
from tests.support.project import make_project

POLICY = """\
version: 1
rules:
  - id: redirect-hosts
    redirect_hosts: {allow: ["*.example.com"]}
"""
SERVICE = {"client_name": "Reports job", "grant_types": ["client_credentials"], "scope": "openid",
           "token_endpoint_auth_method": "client_secret_basic"}
WEB = {"client_name": "Web", "grant_types": ["authorization_code"], "response_types": ["code"],
       "redirect_uris": ["https://web.example.com/cb"], "token_endpoint_auth_method": "client_secret_basic",
       "scope": "openid", "require_pkce": True}


def test_rfc7592_audit_reads_the_clients_the_state_knows_as_they_are_live(tmp_path, age_key):
    with oidc_provider_factory("oidc-provider-static", rotate=False, iat=False)(tmp_path / "server") as e:
        p = make_project(tmp_path / "proj", e.server, age_key, "t-audit-7592")
        p.set_config(lint={"profile": "rfc9700"}, policy="policy.yaml")
        (p.root / "policy.yaml").write_text(POLICY)
        p.write_client("reports", SERVICE)
        p.write_client("web", WEB)
        applied = p.run_sub("apply", "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        ids = {n: r["client_id"] for n, r in p.state_doc()["clients"].items()}

        clean = p.run_sub("audit", "--format", "json")
        assert "Traceback" not in clean.stderr and clean.returncode == 2, clean.stderr  # the posture below
        report = json.loads(clean.stdout)
        posture = {c["check"]: c["ok"] for c in report["posture"]}  # from its discovery document
        assert report["server"]["kind"] == "rfc7592" and posture["implicit"] is False and posture["pkce-plain"]
        clients = {c["name"]: c for c in report["clients"]}
        assert set(clients) == {"reports", "web"}  # no list API: the clients the state knows
        assert all(c["in_git"] for c in clients.values()) and clients["web"]["findings"] == []
        assert clients["web"]["client_id"] == ids["web"]

        # an admin points web's redirect at a host the policy does not allow, over plain http
        e.change_out_of_band(Ref(ids["web"]), "redirect_uris", ["http://evil.example.org/cb"])
        state_before, server_before = p.state.read_bytes(), e.read(Ref(ids["web"]))
        r = p.run_sub("audit", "--format", "json")
        assert r.returncode == 2, r.stdout + r.stderr
        web = {c["name"]: c for c in json.loads(r.stdout)["clients"]}["web"]
        rules = {f["rule"] for f in web["findings"]}
        assert rules == {"DCR003", "policy/redirect-hosts"}, rules  # the http redirect, the host
        assert web["source"].startswith("clients/web.yaml:")  # judged as it is live, named by its file
        assert p.state.read_bytes() == state_before and e.read(Ref(ids["web"])) == server_before  # nothing written
