"""What a Keycloak administrator expects, against a real Keycloak 26: readable client ids, renames
in place, client scopes that add to the realm's defaults (checked in decoded tokens)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.harness.keycloak import project_in_realm, throwaway_realm

SERVICE = {"client_name": "Reports job", "grant_types": ["client_credentials"], "scope": "openid"}
#: what the realm's default client scopes put in a client_credentials token
REALM_DEFAULT_CLAIMS = {"aud", "realm_access", "resource_access", "acr", "azp", "scope"}


@pytest.fixture(scope="module")
def realm():
    with throwaway_realm("adm", readable_ids=True) as (admin, server):
        admin.grant_user_roles()  # what the README asks for roles, besides the clients' roles
        yield admin, server


@pytest.fixture
def kc_project(tmp_path, realm, age_key, request):
    return project_in_realm(tmp_path / "proj", realm, age_key, "a-" + request.node.name.replace("_", "-")[:40])



def plan_json(project) -> dict:
    r = project.run("plan", "--format", "json")
    return json.loads(r.output)


def console_client(admin, client_id: str) -> str:
    """A confidential service client made the way the console makes one: Keycloak picks its scopes."""
    secret = "console-secret-" + client_id
    admin.create({"clientId": client_id, "secret": secret, "publicClient": False, "serviceAccountsEnabled": True,
                  "standardFlowEnabled": False})
    return secret


# --- readable client ids and renames in place ----------------------------------------------
def test_client_id_is_the_name_and_kcadm_finds_it(kc_project):
    p, admin = kc_project, kc_project.admin
    name = f"{p.owner[:20]}-billing-api"
    p.write_client(name, SERVICE)
    (change,) = plan_json(p)["changes"]
    assert (change["action"], change["client_id"]) == ("create", name)  # the plan says it up front
    assert p.run("apply", "--auto-approve").exit_code == 0
    # `kcadm get clients -q clientId=<name>`
    found = admin.call("GET", "/clients", params={"clientId": name}).json()
    assert [c["clientId"] for c in found] == [name]
    assert p.state_doc()["clients"][name]["client_id"] == name
    assert admin.token_works(name, p.secret(name))
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_name_taken_by_a_console_client_is_a_conflict_at_plan(kc_project):
    p, admin = kc_project, kc_project.admin
    name = f"{p.owner[:20]}-taken"
    console_client(admin, name)
    p.write_client(name, SERVICE)
    r = p.run_sub("plan")
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert f"client_id {name}" in out and "taken" in out and "dcrsync import" in out and "Traceback" not in out
    assert p.run("apply", "--auto-approve").exit_code == 1
    assert admin.client(name)["attributes"].get("dcrsync.owner") is None  # untouched


def test_changing_client_id_renames_in_place_keeping_id_secret_and_console_edits(kc_project):
    p, admin = kc_project, kc_project.admin
    old, new = f"{p.owner[:20]}-jobs", f"{p.owner[:20]}-jobs-v2"
    p.write_client("jobs", dict(SERVICE, client_id=old))
    assert p.run("apply", "--auto-approve").exit_code == 0
    before = admin.client(old)
    secret = p.secret("jobs")
    before["description"] = "set in the console"
    admin.put(before)

    p.write_client("jobs", dict(SERVICE, client_id=new, client_name="Reports job v2"))
    data = plan_json(p)
    assert data["summary"]["replace"] == 0 and data["summary"]["update"] == 1
    (change,) = data["changes"]
    assert change["action"] == "update"
    by_path = {f["path"]: f for f in change["fields"]}
    assert (by_path["client_id"]["before"], by_path["client_id"]["after"]) == (old, new)
    assert "client_name" in by_path
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output

    assert admin.client(old) is None
    after = admin.client(new)
    assert after["id"] == before["id"]  # the same client
    assert after["name"] == "Reports job v2" and after["description"] == "set in the console"
    assert admin.secret(new) == secret == p.secret("jobs")
    assert admin.token_works(new, secret)
    assert p.state_doc()["clients"]["jobs"]["client_id"] == new
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


# --- client scopes: the realm's defaults stay ----------------------------------------------
def test_tokens_keep_the_realm_default_claims_like_a_console_client(kc_project):
    p, admin = kc_project, kc_project.admin
    console = f"{p.owner[:20]}-console"
    console_claims = admin.token_claims(console, console_client(admin, console))
    assert REALM_DEFAULT_CLAIMS <= set(console_claims)

    p.write_client("svc", SERVICE)
    p.write_client("svc-extra", dict(SERVICE, scope="openid email offline_access"))
    assert p.run("apply", "--auto-approve").exit_code == 0
    for name in ("svc", "svc-extra"):
        claims = admin.token_claims(name, p.secret(name))
        assert set(console_claims) - {"scope"} <= set(claims), name
        assert claims["aud"] == console_claims["aud"] and claims["realm_access"] == console_claims["realm_access"]
        assert claims["acr"] == console_claims["acr"]
        assert "email" in claims["scope"].split() and "profile" in claims["scope"].split()
        assert "offline_access" not in claims["scope"].split()
    # a scope named in the file is optional: in the token when the client asks for it
    asked = admin.token_claims("svc-extra", p.secret("svc-extra"), scope="offline_access")
    assert "offline_access" in asked["scope"].split()
    rep = admin.client("svc-extra")
    assert "offline_access" in rep["optionalClientScopes"]
    assert {"acr", "basic", "profile", "email", "roles", "web-origins"} <= set(rep["defaultClientScopes"])
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    # export writes `scope` as the file does: beyond the realm defaults only
    r = p.run("export", "--owner", p.owner, "--out", str(p.root / "exported"))
    assert r.exit_code == 0, r.output
    exported = (p.root / "exported" / "svc-extra.yaml").read_text()
    assert "scope: openid offline_access\n" in exported, exported


def test_minus_removes_a_realm_default_and_a_hand_removed_default_is_drift(kc_project):
    p, admin = kc_project, kc_project.admin
    p.write_client("lean", dict(SERVICE, scope="openid -profile -email"))
    assert p.run("apply", "--auto-approve").exit_code == 0
    claims = admin.token_claims("lean", p.secret("lean"))
    assert not {"profile", "email"} & set(claims["scope"].split())
    assert "realm_access" in claims and "acr" in claims
    assert p.run("plan", "--detailed-exitcode").exit_code == 0

    p.write_client("full", SERVICE)
    assert p.run("apply", "--auto-approve").exit_code == 0
    rep = admin.client("full")
    acr = admin.scope_ids()["acr"]
    admin.call("DELETE", f"/clients/{rep['id']}/default-client-scopes/{acr}").raise_for_status()
    assert "acr" not in admin.token_claims("full", p.secret("full"))
    (change,) = plan_json(p)["changes"]
    assert change["name"] == "full" and change["cause"] == "drift"
    assert [f["path"] for f in change["fields"]] == ["scope"]
    assert "-acr" in change["fields"][0]["before"]
    assert p.run("apply", "--auto-approve").exit_code == 0
    assert "acr" in admin.token_claims("full", p.secret("full"))
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_minus_on_a_scope_that_is_no_realm_default_is_an_error(kc_project):
    p = kc_project
    path = p.write_client("odd", dict(SERVICE, scope="openid -offline_access"))
    r = p.run_sub("plan")
    assert r.returncode == 1 and f"{path.name}:" in r.stderr and "-offline_access" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# --- protocol mappers ----------------------------------------------------------------------
AUDIENCE = {"name": "billing-audience", "protocolMapper": "oidc-audience-mapper",
            "config": {"included.custom.audience": "billing-api", "access.token.claim": True,
                       "id.token.claim": False}}
TENANT = {"name": "tenant", "protocolMapper": "oidc-hardcoded-claim-mapper",
          "config": {"claim.name": "tenant", "claim.value": "acme", "jsonType.label": "String",
                     "access.token.claim": True}}
DEPARTMENT = {"name": "department", "protocolMapper": "oidc-usermodel-attribute-mapper",
              "config": {"user.attribute": "department", "claim.name": "dept", "jsonType.label": "String",
                         "access.token.claim": True}}
GROUPS = {"name": "groups", "protocolMapper": "oidc-group-membership-mapper",
          "config": {"claim.name": "groups", "full.path": False, "access.token.claim": True}}


def mappers_on(admin, client_id: str) -> dict[str, dict]:
    return {m["name"]: m for m in admin.client(client_id).get("protocolMappers") or []}


def test_protocol_mappers_apply_drift_restore_and_prune(kc_project):
    p, admin = kc_project, kc_project.admin
    name = f"{p.owner[:20]}-consumer"
    p.write_client(name, dict(SERVICE, keycloak={"protocolMappers": [AUDIENCE, TENANT, DEPARTMENT, GROUPS]}))
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert "instead of" not in r.output, r.output
    on = mappers_on(admin, name)
    assert set(on) == {"billing-audience", "tenant", "department", "groups"}
    assert on["department"]["config"]["user.attribute"] == "department"
    claims = admin.token_claims(name, p.secret(name))
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert "billing-api" in aud and "account" in aud  # the realm's audience stays beside ours
    assert claims["tenant"] == "acme"
    r = p.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output

    # by hand: a new mapper, and a changed claim value
    rep = admin.client(name)
    admin.call("POST", f"/clients/{rep['id']}/protocol-mappers/models", json={
        "name": "sneaky", "protocol": "openid-connect", "protocolMapper": "oidc-hardcoded-claim-mapper",
        "config": {"claim.name": "admin", "claim.value": "yes", "access.token.claim": "true"}}).raise_for_status()
    tenant = on["tenant"]
    admin.call("PUT", f"/clients/{rep['id']}/protocol-mappers/models/{tenant['id']}", json={
        **tenant, "config": {**tenant["config"], "claim.value": "evil"}}).raise_for_status()
    assert admin.token_claims(name, p.secret(name))["admin"] == "yes"
    (change,) = plan_json(p)["changes"]
    assert change["cause"] == "drift" and [f["path"] for f in change["fields"]] == ["keycloak.protocolMappers"]
    assert p.run("drift").exit_code == 2
    assert p.run("apply", "--auto-approve").exit_code == 0
    claims = admin.token_claims(name, p.secret(name))
    assert "admin" not in claims and claims["tenant"] == "acme"
    after = mappers_on(admin, name)
    assert set(after) == set(on) and after["tenant"]["id"] == tenant["id"]  # changed in place
    assert p.run("plan", "--detailed-exitcode").exit_code == 0

    # removed from the file: deleted; the whole block removed: every mapper deleted
    p.write_client(name, dict(SERVICE, keycloak={"protocolMappers": [AUDIENCE, DEPARTMENT, GROUPS]}))
    assert p.run("apply", "--auto-approve").exit_code == 0
    assert set(mappers_on(admin, name)) == {"billing-audience", "department", "groups"}
    assert "tenant" not in admin.token_claims(name, p.secret(name))
    p.write_client(name, SERVICE)
    (change,) = plan_json(p)["changes"]
    assert [(f["path"], f["kind"]) for f in change["fields"]] == [("keycloak.protocolMappers", "unset")]
    assert p.run("apply", "--auto-approve").exit_code == 0
    assert mappers_on(admin, name) == {}
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def console_client_with_mappers_and_roles(admin, name: str) -> None:
    """A service client made in the console: two mappers, a client role, its service account granted
    a realm role and that client role."""
    admin.create({"clientId": name, "secret": "legacy-secret-123456", "publicClient": False,
                  "serviceAccountsEnabled": True, "standardFlowEnabled": False,
                  "protocolMappers": [
                      {"name": "tenant", "protocol": "openid-connect", "protocolMapper": "oidc-hardcoded-claim-mapper",
                       "config": {"claim.name": "tenant", "claim.value": "acme", "access.token.claim": "true",
                                  "jsonType.label": "String"}},
                      {"name": "aud", "protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper",
                       "config": {"included.client.audience": "account", "access.token.claim": "true"}},
                  ]})
    rep = admin.client(name)
    admin.call("POST", f"/clients/{rep['id']}/roles", json={"name": "legacy.read"}).raise_for_status()
    user = admin.call("GET", f"/clients/{rep['id']}/service-account-user").json()
    offline = admin.call("GET", "/roles/offline_access").json()
    admin.call("POST", f"/users/{user['id']}/role-mappings/realm", json=[offline]).raise_for_status()
    own = admin.call("GET", f"/clients/{rep['id']}/roles/legacy.read").json()
    admin.call("POST", f"/users/{user['id']}/role-mappings/clients/{rep['id']}", json=[own]).raise_for_status()


def test_console_client_with_mappers_imports_to_an_empty_plan(kc_project):
    p, admin = kc_project, kc_project.admin
    name = f"{p.owner[:20]}-legacy"
    console_client_with_mappers_and_roles(admin, name)

    r = p.run("import", "legacy", name)
    assert r.exit_code == 0, r.output
    text = (p.root / "clients" / "legacy.yaml").read_text()
    assert "protocolMappers" in text and "oidc-hardcoded-claim-mapper" in text
    doc = yaml.safe_load(text)
    assert doc["keycloak"]["clientRoles"] == ["legacy.read"]
    assert doc["keycloak"]["serviceAccountRoles"] == {"realm": ["offline_access"], "clients": {name: ["legacy.read"]}}
    assert not re.search(r"^\s*(- )?id:", text, re.M), text  # no server ids in the file
    r = p.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    claims = admin.token_claims(name, "legacy-secret-123456")
    assert claims["tenant"] == "acme"


def test_export_then_import_of_a_console_client_with_mappers_and_roles_plans_empty(kc_project):
    p, admin = kc_project, kc_project.admin
    name = f"{p.owner[:20]}-console"
    console_client_with_mappers_and_roles(admin, name)
    r = p.run("export", "--out", str(p.root / "exported"))
    assert r.exit_code == 0, r.output
    exported = p.root / "exported" / f"{name}.yaml"
    doc = yaml.safe_load(exported.read_text())
    assert doc["keycloak"]["clientRoles"] == ["legacy.read"]
    assert doc["keycloak"]["serviceAccountRoles"] == {"realm": ["offline_access"], "clients": {name: ["legacy.read"]}}
    assert sorted(m["name"] for m in doc["keycloak"]["protocolMappers"]) == ["aud", "tenant"]
    (p.root / "clients").mkdir(exist_ok=True)
    exported.rename(p.root / "clients" / exported.name)
    r = p.run("import", "--all")
    assert r.exit_code == 0, r.output
    assert f"imported {name}" in r.output and "differs" not in r.output, r.output
    r = p.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    assert p.run("drift").exit_code == 0
    # managed now: a role granted by hand is drift, and apply takes it back
    user = admin.call("GET", f"/clients/{admin.client(name)['id']}/service-account-user").json()
    extra = admin.call("GET", "/roles/uma_authorization").json()
    admin.call("POST", f"/users/{user['id']}/role-mappings/realm", json=[extra]).raise_for_status()
    assert p.run("plan", "--detailed-exitcode").exit_code == 2
    assert p.run("apply", "--auto-approve").exit_code == 0
    mapped = {m["name"] for m in admin.call("GET", f"/users/{user['id']}/role-mappings/realm").json()}
    assert "uma_authorization" not in mapped and "offline_access" in mapped


# --- service-account roles and client roles -------------------------------------------------
def test_service_account_roles_and_client_roles_round_trip(kc_project):
    p, admin = kc_project, kc_project.admin
    api, name = f"{p.owner[:20]}-billing", f"{p.owner[:20]}-reports"
    admin.call("POST", "/roles", json={"name": "reports-reader"}).raise_for_status()
    admin.call("POST", "/roles", json={"name": "sneaky-role"}).raise_for_status()
    api_id = admin.create({"clientId": api, "bearerOnly": False, "publicClient": False})
    admin.call("POST", f"/clients/{api_id}/roles", json={"name": "invoices.read"}).raise_for_status()
    body = dict(SERVICE, keycloak={
        "clientRoles": ["export", "admin"],
        "serviceAccountRoles": {"realm": ["reports-reader"],
                                "clients": {api: ["invoices.read"], "realm-management": ["view-users"],
                                            name: ["export"]}},
    })
    p.write_client(name, body)
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert "instead of" not in r.output, r.output
    rep = admin.client(name)
    assert sorted(x["name"] for x in admin.call("GET", f"/clients/{rep['id']}/roles").json()) == ["admin", "export"]
    claims = admin.token_claims(name, p.secret(name))
    assert "reports-reader" in claims["realm_access"]["roles"]
    assert claims["resource_access"][api]["roles"] == ["invoices.read"]
    assert "view-users" in claims["resource_access"]["realm-management"]["roles"]  # with its composites
    assert claims["resource_access"][name]["roles"] == ["export"]
    r = p.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output

    # by hand: a realm role granted, a client role deleted: drift, and apply restores both
    user = admin.call("GET", f"/clients/{rep['id']}/service-account-user").json()
    sneaky = admin.call("GET", "/roles/sneaky-role").json()
    admin.call("POST", f"/users/{user['id']}/role-mappings/realm", json=[sneaky]).raise_for_status()
    admin.call("DELETE", f"/clients/{rep['id']}/roles/admin").raise_for_status()
    (change,) = plan_json(p)["changes"]
    assert change["cause"] == "drift"
    assert sorted(f["path"] for f in change["fields"]) == ["keycloak.clientRoles", "keycloak.serviceAccountRoles"]
    assert p.run("apply", "--auto-approve").exit_code == 0
    claims = admin.token_claims(name, p.secret(name))
    assert "sneaky-role" not in claims["realm_access"]["roles"]
    r = p.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output

    # removed from the file: revoked; the realm's default role stays
    body["keycloak"]["serviceAccountRoles"] = {"clients": {api: ["invoices.read"]}}
    p.write_client(name, body)
    assert p.run("apply", "--auto-approve").exit_code == 0
    claims = admin.token_claims(name, p.secret(name))
    assert "reports-reader" not in claims["realm_access"]["roles"]
    assert "realm-management" not in claims.get("resource_access", {})
    mapped = admin.call("GET", f"/users/{user['id']}/role-mappings/realm").json()
    assert [m["name"] for m in mapped] == [f"default-roles-{admin.realm}"]
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_role_of_a_client_created_alongside_is_granted_in_one_apply(kc_project):
    _grant_in_one_apply(kc_project, "4")


def test_role_grant_in_one_apply_one_call_at_a_time(kc_project):
    _grant_in_one_apply(kc_project, "1")  # the grantee comes first in the plan: it must wait


def _grant_in_one_apply(p, parallelism: str) -> None:
    admin = p.admin
    api, job = f"{p.owner[:20]}-{parallelism}-zz-api", f"{p.owner[:20]}-{parallelism}-aa-job"
    p.write_client(api, dict(SERVICE, client_name="Invoices API", keycloak={"clientRoles": ["invoices.read"]}))
    p.write_client(job, dict(SERVICE, keycloak={"serviceAccountRoles": {"clients": {api: ["invoices.read"]}}}))
    r = p.run("plan")  # the role is declared by a client of the same plan: no "does not exist"
    assert r.exit_code == 0, r.output
    r = p.run("apply", "--auto-approve", "--parallelism", parallelism)
    assert r.exit_code == 0, r.output
    claims = admin.token_claims(job, p.secret(job))
    assert claims["resource_access"][api]["roles"] == ["invoices.read"]
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    # a role no client declares, on a client the plan creates, is still an error at plan time
    p.write_client(job, dict(SERVICE, keycloak={"serviceAccountRoles": {"clients": {api: ["invoices.write"]}}}))
    r = p.run_sub("plan")
    assert r.returncode == 1 and "no role 'invoices.write'" in r.stderr, r.stdout + r.stderr


def test_a_role_that_does_not_exist_is_an_error_at_its_line(kc_project):
    p = kc_project
    path = p.write_client("ghost", f"""\
        name: ghost
        grant_types: [client_credentials]
        keycloak:
          serviceAccountRoles:
            realm:
              - offline_access
              - no-such-role
            clients:
              realm-management: [view-users, no-such-client-role]
              {p.owner[:20]}-nowhere: [x]
        """)
    r = p.run_sub("plan")
    assert r.returncode == 1, r.stdout
    err = r.stderr
    assert f"{path.name}:7:" in err and "'no-such-role' does not exist" in err, err
    assert f"{path.name}:9:" in err and "no role 'no-such-client-role'" in err, err
    assert f"{path.name}:10:" in err and "nowhere' does not exist" in err, err
    assert "offline_access" not in err and "Traceback" not in err
    assert p.admin.client("ghost") is None


# --- the README's promise about the example clients --------------------------------------------
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "keycloak" / "clients"


def test_example_clients_tokens_hold_what_the_readme_says(kc_project):
    p, admin = kc_project, kc_project.admin
    for f in EXAMPLES.glob("*.yaml"):
        (p.root / "clients" / f.name).write_text(f.read_text())
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    claims = admin.token_claims("orders-worker", p.secret("orders-worker"))
    assert sorted(claims["aud"]) == ["account", "billing-api", "realm-management"]
    assert claims["azp"] == "orders-worker" and claims["client_id"] == "orders-worker"
    assert claims["acr"] == "1" and claims["tenant"] == "acme"
    assert {"clientHost", "clientAddress"} <= set(claims)
    assert {"offline_access", f"default-roles-{admin.realm}"} <= set(claims["realm_access"]["roles"])
    access = claims["resource_access"]
    assert sorted(access["realm-management"]["roles"]) == ["query-groups", "query-users", "view-users"]
    assert access["orders-worker"]["roles"] == ["orders.export"] and "account" in access
    assert set(claims["scope"].split()) == {"profile", "email"}
    asked = admin.token_claims("orders-worker", p.secret("orders-worker"), scope="offline_access")
    assert set(asked["scope"].split()) == {"profile", "email", "offline_access"}

    plain = admin.token_claims("reports-job", p.secret("reports-job"))
    assert set(claims) - set(plain) == {"tenant"}
    assert plain["aud"] == "account" and "realm-management" not in plain["resource_access"]
    assert set(plain["scope"].split()) == {"profile", "email"}


def test_standard_boolean_metadata_round_trips_as_keycloak_attributes(kc_project):
    """RFC 9126 / 9449 / 8705 and the logout-session flags live in Keycloak attributes: applied,
    read back as the same booleans (empty plan), a hand edit is drift, a removed line resets."""
    p, admin = kc_project, kc_project.admin
    flags = {
        "require_pushed_authorization_requests": ("require.pushed.authorization.requests", True),
        "dpop_bound_access_tokens": ("dpop.bound.access.tokens", True),
        "tls_client_certificate_bound_access_tokens": ("tls.client.certificate.bound.access.tokens", False),
        "backchannel_logout_session_required": ("backchannel.logout.session.required", True),
        "frontchannel_logout_session_required": ("frontchannel.logout.session.required", False),
    }
    web = {"client_name": "Pay", "grant_types": ["authorization_code"], "redirect_uris": ["https://pay.example.com/cb"],
           **{k: v for k, (_, v) in flags.items()}}
    p.write_client("pay", web)
    assert p.run("apply", "--auto-approve").exit_code == 0
    attrs = admin.client("pay")["attributes"]
    for _field, (attr, value) in flags.items():
        assert attrs.get(attr) == ("true" if value else "false"), (attr, attrs.get(attr))
    assert p.run("plan", "--detailed-exitcode").exit_code == 0

    rep = admin.client("pay")
    rep["attributes"]["dpop.bound.access.tokens"] = "false"
    admin.call("PUT", f"/clients/{rep['id']}", json=rep).raise_for_status()
    (change,) = plan_json(p)["changes"]
    assert [(f["path"], f["before"], f["after"]) for f in change["fields"]] == [("dpop_bound_access_tokens", False, True)]
    assert change["cause"] == "drift"

    del web["require_pushed_authorization_requests"]
    p.write_client("pay", web)
    assert p.run("apply", "--auto-approve").exit_code == 0
    assert admin.client("pay")["attributes"].get("require.pushed.authorization.requests") in (None, "", "false")
    assert admin.client("pay")["attributes"]["dpop.bound.access.tokens"] == "true"
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


# --- fields no longer declared --------------------------------------------------------------
def test_a_removed_line_resets_what_keycloak_has_a_default_for_and_says_what_it_leaves(kc_project):
    p, admin = kc_project, kc_project.admin
    name = p.owner[:30] + "-off"
    flows = admin.call("GET", "/authentication/flows").json()
    browser = next(f["id"] for f in flows if f["alias"] == "browser")
    p.write_client(name, dict(SERVICE, keycloak={"enabled": False,
                                                 "authenticationFlowBindingOverrides": {"browser": browser}}))
    assert p.run("apply", "--auto-approve").exit_code == 0
    assert admin.client(name)["enabled"] is False

    p.write_client(name, SERVICE)
    plan = plan_json(p)
    (change,) = plan["changes"]
    assert {f["path"] for f in change["fields"]} == {"keycloak.enabled", "keycloak.authenticationFlowBindingOverrides"}
    (note,) = [w for w in plan["warnings"] if "no longer declared" in w]
    assert note.startswith(f"{name}: `keycloak.authenticationFlowBindingOverrides` is no longer declared")
    assert "apply leaves its current value" in note
    assert p.run("apply", "--auto-approve").exit_code == 0
    after = admin.client(name)
    assert after["enabled"] is True  # Keycloak's default, written back
    assert after["authenticationFlowBindingOverrides"] == {"browser": browser}  # left, as the plan said
    assert plan_json(p)["changes"] == []
