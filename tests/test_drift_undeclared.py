"""`dcrsync drift` names undeclared fields someone changed by hand: a real Hydra and a real Keycloak.

The state keeps each client's whole server representation at apply; a hand edit of a field the
YAML does not declare (skip_consent, a lifespan, CORS origins; webOrigins, consentRequired, a
protocol mapper) is reported apart, exit 0 unless `--fail-on-undeclared`.
"""

from __future__ import annotations

import json

import pytest

from dcrsync.state.sidecar import decode
from dcrsync.state.store import sidecar_path
from tests.harness.keycloak import throwaway_realm
from tests.support.hydra_api import clients_of, put_client
from tests.support.project import make_project

SVC = {"client_name": "Svc", "grant_types": ["client_credentials"], "scope": "openid"}
WEB = {
    "client_name": "Web",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "redirect_uris": ["https://web.example.com/callback"],
    "scope": "openid profile",
    "token_endpoint_auth_method": "client_secret_basic",
}


def drift_json(project, *extra: str) -> tuple[int, dict]:
    r = project.run("drift", "--format", "json", *extra)
    return r.exit_code, json.loads(r.output)


def observed_of(project, name: str) -> tuple[dict, str]:
    """The representation the state keeps for `name`, and the whole plain sidecar's text."""
    sidecar = sidecar_path(project.state)
    text = sidecar.read_text()
    return decode(json.loads(text))[name]["observed"], text



def undeclared_of(data: dict, name: str) -> dict[tuple[str, str | None], dict]:
    (client,) = [u for u in data["undeclared"] if u["name"] == name]
    return {(c["path"], c["item"]): c for c in client["changes"]}


# --- Hydra ---------------------------------------------------------------------------------------
@pytest.mark.hydra
def test_hydra_undeclared_hand_edits_are_named_informational_unless_asked(hydra_project, hydra):
    p = hydra_project
    p.write_client("a", SVC)
    assert p.run("apply", "--auto-approve").exit_code == 0
    code, clean = drift_json(p)  # what create answered is what a list answers: nothing to report
    assert (code, clean["drift"], clean["undeclared"], clean["unobserved"]) == (0, 0, [], 0)
    observed, sidecar = observed_of(p, "a")
    assert observed["skip_consent"] is False and "client_secret" not in observed
    assert p.secret("a") not in sidecar

    (client,) = clients_of(hydra.admin_url, p.owner)
    client.update(
        skip_consent=True,
        authorization_code_grant_access_token_lifespan="720h0m0s",
        allowed_cors_origins=["https://evil.example.net"],
    )
    put_client(hydra.admin_url, client)

    code, data = drift_json(p)
    assert (code, data["drift"], data["clients"]) == (0, 0, [])
    found = undeclared_of(data, "a")
    assert set(found) == {
        ("skip_consent", None),
        ("authorization_code_grant_access_token_lifespan", None),
        ("allowed_cors_origins", None),
    }
    assert (found[("skip_consent", None)]["before"], found[("skip_consent", None)]["after"]) == (False, True)
    assert found[("allowed_cors_origins", None)]["after"] == ["https://evil.example.net"]

    text = p.run("drift")
    assert text.exit_code == 0
    assert "skip_consent: false -> true" in text.output and "Undeclared fields changed" in text.output
    md = p.run("drift", "--format", "markdown")
    assert md.exit_code == 0 and "<code>authorization_code_grant_access_token_lifespan</code>" in md.output
    assert p.run("drift", "--fail-on-undeclared").exit_code == 2
    assert p.run("plan", "--detailed-exitcode").exit_code == 0  # nothing declared changed: no plan


@pytest.mark.hydra
def test_hydra_declared_change_is_reported_once(hydra_project, hydra):
    p = hydra_project
    p.write_client("a", dict(SVC, hydra={"skip_consent": False}))
    assert p.run("apply", "--auto-approve").exit_code == 0
    p.write_client("a", dict(SVC, client_name="Svc 2", hydra={"skip_consent": False}))
    assert p.run("apply", "--auto-approve").exit_code == 0  # the PUT's answer is recorded
    code, clean = drift_json(p)
    assert (code, clean["undeclared"]) == (0, [])

    (client,) = clients_of(hydra.admin_url, p.owner)
    client.update(client_name="By hand", skip_consent=True, client_credentials_grant_access_token_lifespan="5m0s")
    put_client(hydra.admin_url, client)
    code, data = drift_json(p)
    assert code == 2
    (drifted,) = data["clients"]
    assert sorted(f["path"] for f in drifted["fields"]) == ["client_name", "hydra.skip_consent"]
    assert set(undeclared_of(data, "a")) == {("client_credentials_grant_access_token_lifespan", None)}


@pytest.mark.hydra
def test_a_plan_that_rewrites_a_hand_edited_client_says_apply_keeps_the_edit(hydra_project, hydra):
    """The reviewer sees, before approving, the undeclared hand edits the apply will take as they are."""
    p = hydra_project
    p.write_client("a", SVC)
    p.write_client("b", dict(SVC, client_name="B"))
    assert p.run("apply", "--auto-approve").exit_code == 0
    for client in clients_of(hydra.admin_url, p.owner):
        client.update(skip_consent=True)
        put_client(hydra.admin_url, client)
    assert "outside dcrsync" not in p.run("plan").output  # nothing to apply: nothing is blessed

    p.write_client("a", dict(SVC, client_name="Svc 2"))
    plan = json.loads(p.run("plan", "--format", "json").output)
    (change,) = plan["changes"]  # b is not rewritten: its edit is not decided here
    accepted = [f for f in change["fields"] if f["kind"] == "accept"]
    assert [(f["path"], f["before"], f["after"]) for f in accepted] == [("skip_consent", False, True)]
    assert not [w for w in plan["warnings"] if "outside dcrsync" in w]  # inside a's change, not at the bottom
    assert "= skip_consent: false -> true  # changed on the server outside dcrsync" in p.run("plan").output
    assert p.run("apply", "--auto-approve").exit_code == 0
    _, data = drift_json(p)
    assert [u["name"] for u in data["undeclared"]] == ["b"]  # a's edit is the reference now, as announced


# --- Keycloak ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kc_realm():
    with throwaway_realm("u") as made:
        yield made


def test_keycloak_web_origins_consent_lifespan_and_mapper_are_named(tmp_path, kc_realm, age_key):
    admin, server = kc_realm
    p = make_project(tmp_path / "proj", server, age_key, "undeclared")
    p.write_client("web", WEB)
    assert p.run("apply", "--auto-approve").exit_code == 0
    code, clean = drift_json(p)
    assert (code, clean["undeclared"], clean["unobserved"]) == (0, [], 0)
    p.write_client("web", dict(WEB, client_name="Web 2"))
    assert p.run("apply", "--auto-approve").exit_code == 0
    code, clean = drift_json(p)  # what an update records matches what the next list says
    assert (code, clean["drift"], clean["undeclared"]) == (0, 0, [])
    observed, sidecar = observed_of(p, "web")
    assert {"webOrigins", "consentRequired", "attributes", "defaultClientScopes"} <= set(observed)
    assert "secret" not in observed and p.secret("web") not in sidecar

    client_id = p.state_doc()["clients"]["web"]["client_id"]
    admin.console_edits(client_id)  # CORS *, consent, a lifespan attribute, an is-admin mapper

    code, data = drift_json(p)
    assert (code, data["drift"]) == (0, 0)
    found = undeclared_of(data, "web")
    assert set(found) == {
        ("webOrigins", None),
        ("consentRequired", None),
        ("attributes.access.token.lifespan", None),
        ("protocolMappers", "is-admin"),
    }, found
    assert found[("webOrigins", None)]["after"] == ["*"]
    assert (found[("consentRequired", None)]["before"], found[("consentRequired", None)]["after"]) == (False, True)
    assert found[("attributes.access.token.lifespan", None)]["after"] == "86400"
    mapper = found[("protocolMappers", "is-admin")]
    assert mapper["change"] == "added" and mapper["after"]["protocolMapper"] == "oidc-hardcoded-claim-mapper"
    text = p.run("drift")
    assert text.exit_code == 0
    assert '+ protocolMappers "is-admin": added (oidc-hardcoded-claim-mapper)' in text.output
    assert p.run("drift", "--fail-on-undeclared").exit_code == 2

    # a declared field changed by hand is declared drift only, never also undeclared
    admin.change(client_id, "redirect_uris", ["https://evil.example.net/cb"])
    code, data = drift_json(p)
    assert code == 2 and [f["path"] for f in data["clients"][0]["fields"]] == ["redirect_uris"]
    assert "redirectUris" not in {path for path, _ in undeclared_of(data, "web")}
