"""Issue 17 on a real Keycloak 26, as a platform team meets it: secrets read back on import and
recovery (item 5), plans that stop what apply would only half do (item 8), and protocol mappers
whose config Keycloak keeps as strings (item 14)."""

from __future__ import annotations

import json

import pytest

from dcrsync.state.store import sidecar_path
from tests.harness.keycloak import project_in_realm, throwaway_realm


@pytest.fixture(scope="module")
def realm():
    with throwaway_realm("rcv", readable_ids=True) as (admin, server):
        admin.grant_user_roles()  # what the README asks for roles, besides the clients' roles
        yield admin, server


@pytest.fixture
def kc_project(tmp_path, realm, age_key, request):
    return project_in_realm(tmp_path / "proj", realm, age_key, "r-" + request.node.name.replace("_", "-")[:40])


def lose_state(p) -> None:
    p.state.unlink()
    sidecar_path(p.state).unlink()


# --- item 5: secrets are read, not rotated ----------------------------------------------------------
def test_import_and_recover_read_the_secret_that_keycloak_holds(kc_project):
    """Console-made clients adopted with their secrets; a lost state rebuilt with them; the app's
    secret keeps working throughout (nothing rotated), proved with a client_credentials token."""
    p, admin = kc_project, kc_project.admin
    job, spa = f"{p.owner[:24]}-job", f"{p.owner[:24]}-spa"  # written as reports-job.yaml, shop.yaml
    job_secret = "the-apps-own-secret-0123456789"
    admin.create({"clientId": job, "name": "Reports job", "secret": job_secret, "publicClient": False,
                  "serviceAccountsEnabled": True, "standardFlowEnabled": False, "directAccessGrantsEnabled": False})
    admin.create({"clientId": spa, "name": "Shop", "publicClient": True, "standardFlowEnabled": True,
                  "directAccessGrantsEnabled": False, "redirectUris": ["https://shop.example.com/cb"],
                  "attributes": {"pkce.code.challenge.method": "S256"}})

    r = p.run("import", "--match", f"{p.owner[:24]}-*")
    assert r.exit_code == 0, r.output
    assert f"imported reports-job (client {job})" in r.output, r.output
    assert "secret read from keycloak and recorded" in r.output and "no secret: public client" in r.output
    assert "unknown" not in r.output and "rotate" not in r.output, r.output
    assert p.secret("reports-job") == job_secret  # the app's secret, not a new one
    assert admin.token_works(job, p.secret("reports-job"))
    assert p.run("plan", "--detailed-exitcode").exit_code == 0

    lose_state(p)
    refused = p.run_sub("plan")
    assert refused.returncode == 1 and "state recover" in refused.stderr
    r = p.run("state", "recover")
    assert r.exit_code == 0, r.output
    assert "Read the secrets of 1 client(s) from keycloak into the state: reports-job" in r.output
    assert "unknown" not in r.output and "rotate-secret" not in r.output, r.output
    assert admin.token_works(job, p.secret("reports-job")) and p.secret("reports-job") == job_secret
    assert "client_secret" not in p.state_doc()["clients"]["shop"]
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_secret_changed_in_the_console_is_read_as_it_is_now(kc_project):
    """The secret recorded is the one Keycloak holds at that moment, also after a regeneration."""
    p, admin = kc_project, kc_project.admin
    job = f"{p.owner[:24]}-job"
    admin.create({"clientId": job, "secret": "first-secret-0123456789", "publicClient": False,
                  "serviceAccountsEnabled": True, "standardFlowEnabled": False})
    internal = admin.client(job)["id"]
    fresh = admin.call("POST", f"/clients/{internal}/client-secret").json()["value"]
    r = p.run("import", "job", job)
    assert r.exit_code == 0 and "secret read from keycloak" in r.output, r.output
    assert p.secret("job") == fresh and admin.token_works(job, p.secret("job"))
    state_text = p.state.read_text() + sidecar_path(p.state).read_text()
    assert fresh not in state_text  # encrypted at rest


# --- item 8: a green plan does not fail at apply -------------------------------------------------------
def orders_files(p, orders_id: str, billing_names: str, own_names: str) -> None:
    """orders defines a role and grants it to its own service account; billing is granted it too."""
    p.write_client("orders", {
        "client_id": orders_id, "client_name": "Orders", "grant_types": ["client_credentials"], "scope": "openid",
        "keycloak": {"clientRoles": ["orders.export"],
                     "serviceAccountRoles": {"clients": {own_names: ["orders.export"]}}},
    })
    p.write_client("billing", {
        "client_name": "Billing", "grant_types": ["client_credentials"], "scope": "openid",
        "keycloak": {"serviceAccountRoles": {"clients": {billing_names: ["orders.export"]}}},
    })


def last_line_of(path, text: str) -> int:
    return max(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_client_id_rename_still_named_by_old_grants_is_an_error_at_plan(kc_project):
    p, admin = kc_project, kc_project.admin
    old, new = f"{p.owner[:30]}-orders", f"{p.owner[:30]}-orders-v2"
    orders_files(p, old, old, old)
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output

    # the team renames the client in its own file only: both grants still name the old client_id
    orders_files(p, new, old, old)
    for cmd in (("plan",), ("apply", "--auto-approve")):
        r = p.run_sub(*cmd)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "Traceback" not in r.stderr
        for name in ("orders", "billing"):
            path = p.root / "clients" / f"{name}.yaml"
            grant = f"clients/{name}.yaml:{last_line_of(path, '- orders.export')}:"  # the role granted on the old id
            assert any(grant in line and f"client {old!r} is renamed to {new!r} by this plan" in line
                       for line in r.stderr.splitlines()), (grant, r.stderr)
    assert admin.client(old) is not None and admin.client(new) is None  # nothing half done

    # named by the new id everywhere: one apply renames it, and both grants follow
    orders_files(p, new, new, new)
    plan = p.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2 and f"client_id: \"{old}\" -> \"{new}\"" in plan.output, plan.output
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert admin.client(old) is None and admin.client(new) is not None
    for name, client_id in (("billing", "billing"), ("orders", new)):
        claims = admin.token_claims(client_id, p.secret(name))
        assert claims["resource_access"][new]["roles"] == ["orders.export"], claims
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_an_unknown_client_scope_is_an_error_at_plan_at_its_line(kc_project):
    p, admin = kc_project, kc_project.admin
    p.write_client("web", {"client_name": "Web", "grant_types": ["client_credentials"],
                           "scope": "openid profile reports:read"})
    p.write_client("job", "name: job\ngrant_types: [client_credentials]\nkeycloak:\n"
                          "  defaultClientScopes:\n    - profile\n    - billing-api\n")
    for cmd in (("plan",), ("apply", "--auto-approve")):
        r = p.run_sub(*cmd)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        lines = r.stderr.splitlines()
        assert any("clients/web.yaml:5:" in line and "'reports:read' is not a client scope" in line for line in lines), lines
        assert any("clients/job.yaml:6:" in line and "'billing-api' is not a client scope" in line for line in lines), lines
        assert "create it in Keycloak or remove it" in r.stderr
    assert admin.client("web") is None and admin.client("job") is None


# --- item 7: hand edits to undeclared fields are a visible decision -------------------------------------
WEB = {"client_name": "Web", "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
       "redirect_uris": ["https://web.example.com/callback"], "scope": "openid profile"}


def plan_rows(p) -> dict[str, dict[str, tuple]]:
    plan = json.loads(p.run("plan", "--format", "json").output)
    assert not [w for w in plan["warnings"] if "outside dcrsync" in w], plan["warnings"]
    return {c["name"]: {f["path"]: (f["kind"], f["before"], f["after"]) for f in c["fields"]} for c in plan["changes"]}


def test_console_edits_are_kept_as_rows_of_the_change_or_put_back_when_strict(kc_project):
    p, admin = kc_project, kc_project.admin
    web, api = f"{p.owner[:30]}-web", f"{p.owner[:30]}-api"
    p.write_client("web", {**WEB, "client_id": web})
    p.write_client("api", {**WEB, "client_id": api, "client_name": "Api", "strict": True})
    assert p.run("apply", "--auto-approve").exit_code == 0
    admin.console_edits(web)  # CORS *, consent, a lifespan attribute, an is-admin mapper
    admin.console_edits(api)

    # web is not strict: only an apply that rewrites it decides, and its change shows what it keeps
    p.write_client("web", {**WEB, "client_id": web, "client_name": "Web 2"})
    rows = plan_rows(p)
    kinds = {path: kind for path, (kind, _, _) in rows["web"].items()}
    assert kinds == {"client_name": "change", "webOrigins": "accept", "consentRequired": "accept",
                     "attributes.access.token.lifespan": "accept", "protocolMappers[is-admin]": "accept"}, kinds
    origin = ["https://web.example.com"]  # what Keycloak made of the redirect URI when it created the client
    assert rows["web"]["webOrigins"][1:] == (origin, ["*"])
    # api is strict: the console edits are put back, as a change of their own
    assert {path: (kind, after) for path, (kind, _, after) in rows["api"].items()} == {
        "webOrigins": ("reset", origin), "consentRequired": ("reset", False),
        "attributes.access.token.lifespan": ("reset", None), "protocolMappers[is-admin]": ("reset", None),
    }, rows["api"]
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output

    kept, back = admin.client(web), admin.client(api)
    assert kept["webOrigins"] == ["*"] and kept["consentRequired"] is True
    assert [m["name"] for m in kept.get("protocolMappers") or []] == ["is-admin"]
    assert back["webOrigins"] == origin and back["consentRequired"] is False
    assert "access.token.lifespan" not in (back.get("attributes") or {})
    assert not back.get("protocolMappers")
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    drift = json.loads(p.run("drift", "--format", "json").output)
    assert drift["undeclared"] == [], drift["undeclared"]


# --- item 14: mapper configs as Keycloak keeps them ---------------------------------------------------
def mapper_file(p, tenant: str) -> None:
    p.write_client("svc", {
        "client_name": "Svc", "grant_types": ["client_credentials"], "scope": "openid",
        "keycloak": {"protocolMappers": [
            {"name": "billing-audience", "protocolMapper": "oidc-audience-mapper",
             "config": {"included.custom.audience": "billing-api", "access.token.claim": True}},
            {"name": "tenant", "protocolMapper": "oidc-hardcoded-claim-mapper",
             "config": {"claim.name": "tenant", "claim.value": tenant, "jsonType.label": "String",
                        "access.token.claim": True, "id.token.claim": False}},
        ]},
    })


def test_one_changed_mapper_is_shown_alone_whatever_the_yaml_booleans(kc_project):
    p, admin = kc_project, kc_project.admin
    mapper_file(p, "acme")
    assert p.run("apply", "--auto-approve").exit_code == 0
    assert p.run("plan", "--detailed-exitcode").exit_code == 0  # Keycloak keeps "true": the same as true

    mapper_file(p, "globex")
    plan = json.loads(p.run("plan", "--format", "json").output)
    (change,) = plan["changes"]
    (field,) = change["fields"]
    assert field["nested"] == [{"path": 'keycloak.protocolMappers[name=tenant].config["claim.value"]',
                                "before": "acme", "after": "globex"}], field["nested"]
    text = p.run("plan").output
    assert "billing-audience" not in text and '"acme" -> "globex"' in text, text
    assert p.run("apply", "--auto-approve").exit_code == 0
    claims = admin.token_claims(p.state_doc()["clients"]["svc"]["client_id"], p.secret("svc"))
    assert claims["tenant"] == "globex" and "billing-api" in claims["aud"]
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
