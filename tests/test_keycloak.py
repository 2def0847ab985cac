"""plan / apply / drift / prune against a real Keycloak 26: one start per session, one realm per module."""

from __future__ import annotations

import json
import time

import pytest

from dcrsync.backends.base import Marker
from dcrsync.backends.keycloak.backend import KeycloakBackend
from dcrsync.errors import BackendError
from dcrsync.model import ClientSpec, Location
from tests.harness.base import Ref
from tests.harness.keycloak import (
    REALM_DEFAULT_CLIENTS,
    envs,
    project_in_realm,
    shared_keycloak,
    throwaway_realm,
)
from tests.support import clients
from tests.support.project import make_project

WEB = {**clients.WEB, "scope": "openid offline_access profile"}
#: the client scopes a Keycloak 26 realm makes default for every new client
REALM_DEFAULT_SCOPES = {"acr", "basic", "email", "profile", "roles", "web-origins"}
SERVICE = {"client_name": "Reports job", "grant_types": ["client_credentials"], "scope": "openid"}
#: every portable field the Keycloak backend maps, with a value Keycloak keeps
EVERYTHING = {
    "client_name": "Everything",
    "client_uri": "https://app.example.com",
    "redirect_uris": ["https://app.example.com/cb"],
    "grant_types": [
        "authorization_code", "refresh_token", "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange",
    ],
    "response_types": ["code"],
    "scope": "openid email offline_access",
    "token_endpoint_auth_method": "client_secret_post",
    "post_logout_redirect_uris": ["https://app.example.com/bye", "https://app.example.com/bye2"],
    "logo_uri": "https://app.example.com/logo.png",
    "policy_uri": "https://app.example.com/privacy",
    "tos_uri": "https://app.example.com/tos",
    "contacts": ["ops@example.com", "sec@example.com"],
    "jwks_uri": "https://app.example.com/jwks.json",
    "backchannel_logout_uri": "https://app.example.com/bc-logout",
    "frontchannel_logout_uri": "https://app.example.com/fc-logout",
    "id_token_signed_response_alg": "ES256",
    "userinfo_signed_response_alg": "RS256",
    "request_object_signing_alg": "RS256",
    "default_acr_values": ["gold", "silver"],  # names from the realm's ACR-to-LoA map
    "request_uris": ["https://app.example.com/req"],
    "software_id": "billing",
    "software_version": "2.1.0",
    "subject_type": "public",
}


@pytest.fixture(scope="session")
def keycloak():
    return shared_keycloak()


@pytest.fixture(scope="module")
def realm(keycloak):
    """One realm for the module (creating one costs 2-5 s): tests tell their clients apart by owner."""
    with throwaway_realm("t") as made:
        yield made


@pytest.fixture
def kc_project(tmp_path, realm, age_key, request):
    return project_in_realm(tmp_path / "proj", realm, age_key, "t-" + request.node.name.replace("_", "-")[:40])



def state_client_id(project, name: str) -> str:
    return project.state_doc()["clients"][name]["client_id"]


def test_create_maps_flows_and_scopes_and_leaves_the_realm_alone(kc_project):
    """Create -> empty plan on every family is tests/test_behaviour.py; here what is Keycloak's own:
    grants as flow switches, `scope` on top of the realm's default scopes, the realm's clients."""
    p, admin = kc_project, kc_project.admin
    p.write_client("billing-web", WEB)
    p.write_client("reports-job", SERVICE)  # three fields only: Keycloak fills in the rest
    p.write_client("tiny", {"client_name": "Tiny", "grant_types": ["client_credentials"]})
    applied = p.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output

    live = admin.managed(p.owner)
    assert set(live) == {"billing-web", "reports-job", "tiny"}
    web = live["billing-web"]
    assert sorted(web["redirectUris"]) == sorted(WEB["redirect_uris"])
    assert web["standardFlowEnabled"] and not web["serviceAccountsEnabled"] and not web["publicClient"]
    # `scope` adds to the realm's default client scopes, which every client keeps
    assert REALM_DEFAULT_SCOPES <= set(web["defaultClientScopes"])
    assert set(web["defaultClientScopes"]) | set(web["optionalClientScopes"]) == REALM_DEFAULT_SCOPES | {"offline_access"}
    assert live["reports-job"]["serviceAccountsEnabled"] and not live["reports-job"]["standardFlowEnabled"]

    again = p.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    drift = p.run("drift")
    assert drift.exit_code == 0, drift.output

    # realm defaults stay as they were, unmanaged
    names = {c["clientId"] for c in admin.clients()}
    assert REALM_DEFAULT_CLIENTS <= names
    for name, rep in live.items():  # the recorded secret is the one Keycloak holds
        assert admin.secret(rep["clientId"]) == p.secret(name)


def test_every_mapped_field_round_trips_on_the_server(kc_project):
    p, admin = kc_project, kc_project.admin
    # Keycloak takes default ACR values only from the realm's ACR-to-LoA map
    admin.call("PUT", "", json={"attributes": {"acr.loa.map": json.dumps({"gold": 1, "silver": 2})}}).raise_for_status()
    p.write_client("everything", {**EVERYTHING, "keycloak": {
        "fullScopeAllowed": False, "attributes": {"access.token.lifespan": 300, "pkce.code.challenge.method": "S256"},
    }})
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert "instead of" not in r.output  # no field stored differently
    again = p.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output

    rep = admin.client(state_client_id(p, "everything"))
    attrs = rep["attributes"]
    assert rep["name"] == "Everything" and rep["baseUrl"] == "https://app.example.com"
    assert rep["fullScopeAllowed"] is False
    assert attrs["access.token.lifespan"] == "300"
    assert attrs["post.logout.redirect.uris"].split("##") == EVERYTHING["post_logout_redirect_uris"]
    assert attrs["jwks.url"] == EVERYTHING["jwks_uri"] and attrs["use.jwks.url"] == "true"
    assert attrs["oauth2.device.authorization.grant.enabled"] == "true"
    assert attrs["standard.token.exchange.enabled"] == "true"
    assert attrs["id.token.signed.response.alg"] == "ES256"
    assert attrs["frontchannel.logout.url"] == EVERYTHING["frontchannel_logout_uri"] and rep["frontchannelLogout"]
    assert attrs["dcrsync.name"] == "everything" and attrs["dcrsync.owner"] == p.owner
    read = admin.read(rep["clientId"])
    for field in ("logo_uri", "policy_uri", "tos_uri", "backchannel_logout_uri", "request_object_signing_alg",
                  "userinfo_signed_response_alg", "software_id", "software_version"):
        assert read[field] == EVERYTHING[field], field
    for field in ("contacts", "default_acr_values", "request_uris", "grant_types"):
        assert sorted(read[field]) == sorted(EVERYTHING[field]), field
    assert admin.token_works(rep["clientId"], p.secret("everything"))


def test_public_client_gets_pkce_and_no_secret(kc_project):
    p, admin = kc_project, kc_project.admin
    p.write_client("spa", {
        "client_name": "SPA", "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
        "redirect_uris": ["https://spa.example.com/cb"],
    })
    assert p.run("apply", "--auto-approve").exit_code == 0
    rep = admin.client(state_client_id(p, "spa"))
    assert rep["publicClient"] is True
    assert rep["attributes"]["pkce.code.challenge.method"] == "S256"
    assert "client_secret" not in p.state_doc()["clients"]["spa"]
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_update_keeps_console_settings_scopes_and_secret(kc_project):
    """What an admin sets in Keycloak's console and no portable field names survives an update.
    (An undeclared portable field, on every family: tests/test_behaviour.py.)"""
    p, admin = kc_project, kc_project.admin
    p.write_client("web", WEB)
    assert p.run("apply", "--auto-approve").exit_code == 0
    cid = state_client_id(p, "web")
    rep = admin.client(cid)
    rep.update(description="set in the console", rootUrl="https://billing.example.com",
               webOrigins=["https://billing.example.com"], consentRequired=True)
    rep["attributes"]["access.token.lifespan"] = "120"
    rep["attributes"]["logoUri"] = "https://billing.example.com/logo.png"
    admin.put(rep)

    p.write_client("web", dict(WEB, client_name="Billing Web v2"))
    (change,) = json.loads(p.run("plan", "--format", "json").output)["changes"]
    assert [f["path"] for f in change["fields"] if f["kind"] == "change"] == ["client_name"]
    # console settings: not declared; the apply keeps them, and the change says so (issue 17 item 7)
    assert sorted(f["path"] for f in change["fields"] if f["kind"] == "accept") == [
        "attributes.access.token.lifespan", "attributes.logoUri", "consentRequired", "description", "rootUrl",
    ]  # (webOrigins: Keycloak had made it the redirect URI's origin already)

    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    after = admin.client(cid)
    assert after["name"] == "Billing Web v2"
    assert after["description"] == "set in the console" and after["rootUrl"] == "https://billing.example.com"
    assert after["webOrigins"] == ["https://billing.example.com"] and after["consentRequired"] is True
    assert after["attributes"]["access.token.lifespan"] == "120"
    assert after["attributes"]["logoUri"] == "https://billing.example.com/logo.png"
    assert after["attributes"]["dcrsync.name"] == "web"
    assert set(after["defaultClientScopes"]) | set(after["optionalClientScopes"]) == REALM_DEFAULT_SCOPES | {"offline_access"}
    assert admin.secret(cid) == p.secret("web")
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_server_change_is_drift_and_is_restored(kc_project):
    p, admin = kc_project, kc_project.admin
    p.write_client("web", {**WEB, "keycloak": {"attributes": {"access.token.lifespan": "300"}}})
    assert p.run("apply", "--auto-approve").exit_code == 0
    cid = state_client_id(p, "web")
    admin.change(cid, "redirect_uris", ["https://evil.example.net/cb"])
    admin.change(cid, "keycloak.attributes.access.token.lifespan", "9999")
    admin.change(cid, "scope", "openid offline_access profile email")

    data = json.loads(p.run("plan", "--format", "json").output)
    (change,) = data["changes"]
    assert change["cause"] == "drift"
    paths = {f["path"]: f for f in change["fields"]}
    assert set(paths) == {"redirect_uris", "keycloak.attributes.access.token.lifespan", "scope"}
    assert paths["redirect_uris"]["before"] == ["https://evil.example.net/cb"]
    assert p.run("drift").exit_code == 2

    assert p.run("apply", "--auto-approve").exit_code == 0
    rep = admin.client(cid)
    assert sorted(rep["redirectUris"]) == sorted(WEB["redirect_uris"])
    assert rep["attributes"]["access.token.lifespan"] == "300"
    assert set(rep["defaultClientScopes"]) | set(rep["optionalClientScopes"]) == REALM_DEFAULT_SCOPES | {"offline_access"}
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_scope_and_grant_changes_in_git(kc_project):
    p, admin = kc_project, kc_project.admin
    p.write_client("svc", SERVICE)
    assert p.run("apply", "--auto-approve").exit_code == 0
    cid = state_client_id(p, "svc")
    p.write_client("svc", dict(SERVICE, scope="openid address phone",
                               grant_types=["client_credentials", "refresh_token"]))
    data = json.loads(p.run("plan", "--format", "json").output)
    assert sorted(f["path"] for f in data["changes"][0]["fields"]) == ["grant_types", "scope"]
    assert p.run("apply", "--auto-approve").exit_code == 0
    rep = admin.client(cid)
    assert {"address", "phone"} <= set(rep["optionalClientScopes"])
    assert REALM_DEFAULT_SCOPES <= set(rep["defaultClientScopes"])
    assert rep["attributes"]["use.refresh.tokens"] == "true"
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    assert admin.token_works(cid, p.secret("svc"))


def test_user_admin_credentials_work(tmp_path, keycloak, realm, age_key):
    admin, server = realm
    server = dict(server, admin={"username": keycloak.admin_user, "password": keycloak.admin_password})
    p = make_project(tmp_path / "proj", server, age_key, "user-admin")
    p.write_client("svc", SERVICE)
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert set(admin.managed("user-admin")) == {"svc"}


@pytest.mark.parametrize(
    ("admin_block", "expect"),
    [
        ({"username": "admin", "password": "wrong"}, "keycloak refused the admin credentials (user 'admin'"),
        ({"client_id": "dcrsync-admin", "client_secret": "wrong", "realm": "REALM"}, "service account 'dcrsync-admin'"),
    ],
)
def test_bad_credentials_one_clear_line(tmp_path, realm, age_key, admin_block, expect):
    admin, server = realm
    block = {k: (admin.realm if v == "REALM" else v) for k, v in admin_block.items()}
    p = make_project(tmp_path / "proj", dict(server, admin=block), age_key, "bad")
    p.write_client("svc", SERVICE)
    r = p.run_sub("plan")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0] and "server.admin" in lines[0], r.stderr


def test_missing_roles_and_realm_are_explained(tmp_path, keycloak, realm, age_key):
    admin, server = realm
    # a service account without realm-management roles
    admin.create({"clientId": "weak", "secret": "weak-secret-123", "publicClient": False,
                  "serviceAccountsEnabled": True})
    weak = dict(server, admin={"client_id": "weak", "client_secret": "weak-secret-123", "realm": admin.realm})
    p = make_project(tmp_path / "weak", weak, age_key, "weak")
    p.write_client("svc", SERVICE)
    r = p.run_sub("plan")
    assert r.returncode == 1 and "HTTP 403" in r.stderr and "manage-clients" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

    nowhere = dict(server, realm="no-such-realm")
    p2 = make_project(tmp_path / "nowhere", nowhere, age_key, "x")
    p2.write_client("svc", SERVICE)
    r = p2.run_sub("plan")
    assert r.returncode == 1 and "no-such-realm" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_fields_keycloak_cannot_hold_fail_the_plan(kc_project):
    p = kc_project
    path = p.write_client("native", {**SERVICE, "application_type": "native"})
    r = p.run_sub("plan")
    assert r.returncode == 1
    assert f"{path.name}:" in r.stderr and "`application_type`" in r.stderr and "Traceback" not in r.stderr
    p.write_client("native", {**SERVICE, "scope": "openid no-such-scope"})
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 1 and "no-such-scope" in r.stderr and "not a client scope" in r.stderr, r.stderr
    assert not p.admin.managed(p.owner)


def test_admin_token_is_fetched_again_when_refused_or_expired(realm):
    admin, server = realm
    backend = KeycloakBackend(server)
    try:
        backend.fetch()
        assert backend.tokens.fetches == 1
        backend.tokens.token = "not-a-token"  # refused: one new token, the call goes through
        assert backend.fetch().clients
        assert backend.tokens.fetches == 2
        backend.tokens.expires = time.monotonic() - 1  # expired: fetched before the call
        backend.fetch()
        assert backend.tokens.fetches == 3
        backend.fetch()
        assert backend.tokens.fetches == 3
    finally:
        backend.close()


def test_backend_create_conflict_and_delete(realm):
    admin, server = realm
    backend = KeycloakBackend(server)
    spec = ClientSpec("dup", dict(SERVICE), Location("x.yaml", 1, 1))
    try:
        made = backend.create(spec, Marker("o", "dup"), "dup-client", "s3cret-s3cret")
        assert made.live.client_id == "dup-client" and "secret" not in made.live.raw
        assert made.live.managed_name == "dup" and made.live.owner == "o"
        assert "s3cret-s3cret" not in json.dumps([made.live.fields, made.live.raw])
        with pytest.raises(BackendError) as err:
            backend.create(spec, Marker("o", "dup"), "dup-client", "s3cret-s3cret")
        assert err.value.status == 409
        live, _ = backend.get("dup-client", None)
        assert live is not None and live.raw["id"] == made.live.raw["id"]
        backend.delete(live, None)
        backend.delete(live, None)  # already gone is fine
        assert backend.get("dup-client", None)[0] is None
    finally:
        backend.close()


def test_fetch_pages(realm):
    admin, server = realm
    for i in range(5):
        admin.create({"clientId": f"page-{i}"})
    backend = KeycloakBackend(dict(server, page_size=3))
    try:
        fetched = backend.fetch()
        ids = [c.client_id for c in fetched.clients]
        assert len(ids) == len(set(ids)) == len(admin.clients())
        assert fetched.requests == -(-len(ids) // 3) + (1 if len(ids) % 3 == 0 else 0)
    finally:
        backend.close()


def test_harness_env(keycloak):
    ((label, factory),) = envs()
    assert label == "keycloak"
    with factory() as env:
        unmanaged = env.create_unmanaged()
        assert unmanaged in env.list_ids()
        assert env.read(Ref(unmanaged))["client_id"] == unmanaged
