"""The rest of the standard client metadata (PAR, DPoP, mTLS-bound tokens, JARM, signed request
objects, logout session flags) round-trips on real servers: node oidc-provider with the matching
features on, and Hydra for the logout flags; what Hydra cannot hold stops `plan` at its file:line."""

from __future__ import annotations

import pytest

from tests.harness.base import Ref
from tests.harness.rfc7592 import oidc_provider_factory
from tests.support.project import make_project

#: an RSA public key (encryption use) for JARM encryption and private_key_jwt
ENC_KEY = {
    "kty": "RSA", "use": "enc", "kid": "e1", "e": "AQAB",
    "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1h"
         "GzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw"
         "_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMk"
         "Epk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
}
FAPI = {
    "client_name": "Payments API client",
    "redirect_uris": ["https://pay.example.com/cb"],
    "token_endpoint_auth_method": "private_key_jwt",
    "jwks": {"keys": [ENC_KEY]},
    "require_pushed_authorization_requests": True,
    "dpop_bound_access_tokens": True,
    "authorization_signed_response_alg": "RS256",
    "authorization_encrypted_response_alg": "RSA-OAEP",
    "authorization_encrypted_response_enc": "A128GCM",
    "require_signed_request_object": True,
    "backchannel_logout_uri": "https://pay.example.com/logout",
    "backchannel_logout_session_required": True,
}
#: one proof of possession at a time: certificate-bound tokens on a client of their own
MTLS = {
    "client_name": "Ledger mTLS client",
    "redirect_uris": ["https://ledger.example.com/cb"],
    "token_endpoint_auth_method": "private_key_jwt",
    "jwks": {"keys": [ENC_KEY]},
    "tls_client_certificate_bound_access_tokens": True,
}


@pytest.fixture(scope="module")
def op(tmp_path_factory):
    with oidc_provider_factory("oidc-provider-static", rotate=False, iat=False)(tmp_path_factory.mktemp("op")) as env:
        yield env


def ok(result):
    assert result.exit_code == 0, result.output
    return result.output


def test_standard_metadata_round_trips_on_oidc_provider(op, tmp_path, age_key):
    p = make_project(tmp_path / "proj", op.server, age_key, "t-metadata")
    p.write_client("payments", FAPI)
    p.write_client("ledger", MTLS)
    out = ok(p.run("plan"))
    assert "+ dpop_bound_access_tokens: true" in out and "+ require_pushed_authorization_requests: true" in out
    ok(p.run("apply", "--auto-approve"))
    records = p.state_doc()["clients"]
    stored = op.read(Ref(records["payments"]["client_id"]))
    for key in FAPI.keys() - {"jwks"}:
        assert stored[key] == FAPI[key], key
    assert op.read(Ref(records["ledger"]["client_id"]))["tls_client_certificate_bound_access_tokens"] is True
    assert "No changes." in ok(p.run("plan"))

    p.write_client("payments", {**FAPI, "authorization_encrypted_response_enc": "A256GCM", "dpop_bound_access_tokens": False})
    out = ok(p.run("plan"))
    assert '~ authorization_encrypted_response_enc: "A128GCM" -> "A256GCM"' in out
    assert "~ dpop_bound_access_tokens: true -> false" in out
    ok(p.run("apply", "--auto-approve"))
    stored = op.read(Ref(records["payments"]["client_id"]))
    assert stored["authorization_encrypted_response_enc"] == "A256GCM" and stored["dpop_bound_access_tokens"] is False
    assert "No changes." in ok(p.run("plan"))


def test_logout_session_flags_are_standard_fields_on_hydra(hydra_project, hydra):
    import httpx

    p = hydra_project
    body = {"client_name": "Portal", "grant_types": ["authorization_code"], "redirect_uris": ["https://portal.example.com/cb"],
            "frontchannel_logout_session_required": True, "backchannel_logout_session_required": True,
            "backchannel_logout_uri": "https://portal.example.com/bc"}
    p.write_client("portal", body)
    ok(p.run("apply", "--auto-approve"))
    cid = p.state_doc()["clients"]["portal"]["client_id"]
    raw = httpx.get(f"{hydra.admin_url}/admin/clients/{cid}").json()
    assert raw["frontchannel_logout_session_required"] is True and raw["backchannel_logout_session_required"] is True
    assert "No changes." in ok(p.run("plan"))
    p.write_client("portal", {**body, "frontchannel_logout_session_required": False})
    assert "~ frontchannel_logout_session_required: true -> false" in ok(p.run("plan"))
    ok(p.run("apply", "--auto-approve"))
    assert not httpx.get(f"{hydra.admin_url}/admin/clients/{cid}").json().get("frontchannel_logout_session_required")
    assert "No changes." in ok(p.run("plan"))


def test_hydra_refuses_at_plan_time_what_it_cannot_hold(hydra_project, hydra):
    import httpx

    p = hydra_project
    p.write_client("spa", "name: spa\nclient_name: SPA\nredirect_uris: [https://spa.example.com/cb]\n"
                          "application_type: web\ndpop_bound_access_tokens: true\n")
    before = httpx.get(f"{hydra.admin_url}/admin/clients").json()
    r = p.run("plan")
    assert r.exit_code == 1
    assert "spa.yaml:4:19" in r.output and "`application_type`" in r.output
    assert "spa.yaml:5:27" in r.output and "`dpop_bound_access_tokens`" in r.output and "DPoP" in r.output
    assert "Traceback" not in r.output
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 1
    assert httpx.get(f"{hydra.admin_url}/admin/clients").json() == before  # nothing was sent


# --- vendor metadata: the `extensions:` block ------------------------------------------------------

VENDOR = {
    "client_name": "Partner Portal",
    "grant_types": ["authorization_code"],
    "redirect_uris": ["https://partners.example.com/cb"],
    "token_endpoint_auth_method": "client_secret_basic",
    "extensions": {"access_policy_id": "pol-partners-mfa", "enforce_pkce": True,
                   "entitlements": ["partner-portal-users"], "identity_providers": ["corporate-sso"]},
}


def test_vendor_metadata_is_sent_stored_and_compared_per_key_on_oidc_provider(op, tmp_path, age_key):
    p = make_project(tmp_path / "proj", op.server, age_key, "t-vendor")
    p.write_client("portal", VENDOR)
    out = ok(p.run("plan"))
    assert '+ extensions.access_policy_id: "pol-partners-mfa"' in out
    ok(p.run("apply", "--auto-approve"))
    ref = Ref(p.state_doc()["clients"]["portal"]["client_id"])
    stored = op.read(ref)
    for key, value in VENDOR["extensions"].items():
        assert stored[key] == value, key  # flat, as the server's own metadata
    assert "extensions" not in stored
    assert "No changes." in ok(p.run("plan"))

    # changed on the server behind dcrsync's back: drift on that key, at its own path
    op.change_out_of_band(ref, "access_policy_id", "pol-open")
    out = ok(p.run("plan"))
    assert '~ extensions.access_policy_id: "pol-open" -> "pol-partners-mfa"' in out
    # a list of vendor values changes item by item
    ext = {**VENDOR["extensions"], "identity_providers": ["corporate-sso", "partner-federation"]}
    p.write_client("portal", {**VENDOR, "extensions": ext})
    out = ok(p.run("plan"))
    assert "~ extensions.identity_providers:" in out or '+ extensions.identity_providers[1]: "partner-federation"' in out
    ok(p.run("apply", "--auto-approve"))
    stored = op.read(ref)
    assert stored["identity_providers"] == ["corporate-sso", "partner-federation"]
    assert stored["access_policy_id"] == "pol-partners-mfa"
    assert "No changes." in ok(p.run("plan"))

    # a key no longer declared is left out of the full-replace PUT: the server drops it
    p.write_client("portal", {**VENDOR, "extensions": {k: v for k, v in ext.items() if k != "enforce_pkce"}})
    assert "- extensions.enforce_pkce: true -> (unset)" in ok(p.run("plan"))
    ok(p.run("apply", "--auto-approve"))
    assert "enforce_pkce" not in op.read(ref)
    assert "No changes." in ok(p.run("plan"))


def test_vendor_metadata_the_server_does_not_know_is_warned_about(op, tmp_path, age_key):
    p = make_project(tmp_path / "proj", op.server, age_key, "t-vendor-unknown")
    p.write_client("portal", {**VENDOR, "extensions": {"tenant_tier": "gold"}})
    out = ok(p.run("apply", "--auto-approve"))
    assert "extensions.tenant_tier" in out and "instead of 'gold'" in out  # oidc-provider strips it


@pytest.mark.parametrize("key", ["client_secret", "registration_access_token", "redirect_uris", "client_id"])
def test_extensions_never_smuggle_a_reserved_field(tmp_path, age_key, key):
    p = make_project(tmp_path / "proj", {"kind": "rfc7592", "registration_url": "http://127.0.0.1:9/reg"},
                     age_key, "t-vendor-reserved")
    p.write_client("portal", f"name: portal\nclient_name: P\nextensions:\n  tier: gold\n  {key}: x\n")
    r = p.run("validate")
    assert r.exit_code == 1
    assert "portal.yaml:5:3" in r.output and "standard or reserved field" in r.output, r.output
    r = p.run("plan")  # nothing is sent: the server in the config does not even exist
    assert r.exit_code == 1 and "standard or reserved field" in r.output and "Traceback" not in r.output


def test_hydra_and_keycloak_point_to_their_own_blocks(tmp_path, age_key):
    for kind, server, block in (
        ("hydra", {"kind": "hydra", "admin_url": "http://127.0.0.1:9"}, "hydra.metadata"),
        ("keycloak", {"kind": "keycloak", "url": "http://127.0.0.1:9", "realm": "r",
                      "admin": {"client_id": "a", "client_secret": "s"}}, "keycloak.attributes"),
    ):
        p = make_project(tmp_path / kind, server, age_key, "t-vendor-family")
        p.write_client("portal", "name: portal\ngrant_types: [client_credentials]\nextensions:\n  tier: gold\n")
        r = p.run("validate")
        assert r.exit_code == 1 and "portal.yaml:4:3: error[DCR013]" in r.output and block in r.output, r.output


# --- software_statement (RFC 7591 §2.3) ---------------------------------------------------------


def _jwt(claims: dict) -> str:
    import base64
    import json

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'RS256', 'typ': 'JWT', 'kid': 'issuer-1'})}.{b64(claims)}.c2lnbmF0dXJl"


STATEMENT = {"iss": "https://software-registry.example.com", "software_id": "4NRB1-0XZABZI9E6-5SM3R",
             "client_name": "Registry Portal", "redirect_uris": ["https://registry.example.com/cb"]}


def test_software_statement_is_sent_and_its_claims_are_shown_decoded(op, tmp_path, age_key):
    p = make_project(tmp_path / "proj", op.server, age_key, "t-statement")
    (p.root / "clients").mkdir(exist_ok=True)
    (p.root / "clients" / "portal.jwt").write_text(_jwt(STATEMENT) + "\n")
    body = ("name: portal\nclient_name: Registry Portal\ngrant_types: [authorization_code]\n"
            "redirect_uris: [https://registry.example.com/cb]\nsoftware_statement: {file: portal.jwt}\n")
    p.write_client("portal", body)
    out = ok(p.run("plan"))
    assert '+ software_statement: {"claims": {"client_name": "Registry Portal"' in out
    assert '"software_id": "4NRB1-0XZABZI9E6-5SM3R"' in out and "not verified by dcrsync" in out
    assert "c2lnbmF0dXJl" not in out  # the token itself is not printed, its claims are
    ok(p.run("apply", "--auto-approve"))
    assert "No changes." in ok(p.run("plan"))  # the server does not return it: compared with git's last

    (p.root / "clients" / "portal.jwt").write_text(_jwt({**STATEMENT, "software_version": "2.0"}))
    out = ok(p.run("plan"))
    assert '+ software_statement.claims.software_version: "2.0"' in out
    assert "https://software-registry.example.com" not in out  # the unchanged claims are not repeated

    (p.root / "clients" / "portal.jwt").write_text("not a jwt")
    r = p.run("plan")
    assert r.exit_code == 1 and "portal.yaml:5:21" in r.output and "not a JWT" in r.output, r.output
    (p.root / "clients" / "portal.jwt").unlink()
    r = p.run("plan")
    assert r.exit_code == 1 and "`portal.jwt` cannot be read" in r.output, r.output


def test_software_statement_from_the_environment(op, tmp_path, age_key, monkeypatch):
    """Read from a variable dcrsync.yaml lists for client files: shown by the variable's name only."""
    monkeypatch.setenv("PORTAL_STATEMENT", _jwt(STATEMENT))
    p = make_project(tmp_path / "proj", op.server, age_key, "t-statement-env", client_env=["PORTAL_STATEMENT"])
    p.write_client("portal", "name: portal\ngrant_types: [authorization_code]\n"
                             "redirect_uris: [https://registry.example.com/cb]\nsoftware_statement: ${env:PORTAL_STATEMENT}\n")
    out = ok(p.run("plan"))
    assert '+ software_statement: "(from env:PORTAL_STATEMENT)"' in out and "software-registry" not in out


def test_keycloak_flag_of_another_shape_stops_validate_with_the_attribute_to_use(tmp_path, age_key):
    server = {"kind": "keycloak", "url": "http://127.0.0.1:9", "realm": "r", "admin": {"client_id": "a", "client_secret": "s"}}
    p = make_project(tmp_path / "kc", server, age_key, "t-kc-flags")
    p.write_client("svc", "name: svc\ngrant_types: [client_credentials]\nrequire_signed_request_object: true\n")
    r = p.run("validate")
    assert r.exit_code == 1 and "svc.yaml:3:32: error[DCR013]" in r.output
    assert "keycloak.attributes.request.object.required" in r.output


def test_the_vendor_metadata_example_validates(monkeypatch):
    from pathlib import Path

    from click.testing import CliRunner

    from dcrsync.cli import cli

    monkeypatch.chdir(Path(__file__).resolve().parents[1] / "examples" / "registration")
    r = CliRunner().invoke(cli, ["validate"], catch_exceptions=False)
    assert r.exit_code == 0 and "0 errors, 0 warnings" in r.output, r.output
