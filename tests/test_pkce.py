"""`require_pkce: true` on every family, against the real servers.

Keycloak holds it per client (attribute `pkce.code.challenge.method`): an authorization request
without a code_challenge is refused once it is applied, and accepted again once the line is gone.
Hydra and RFC 7592 servers enforce PKCE by their configuration, not per client: dcrsync sends
nothing, the plan says once which server setting does it, and never shows the field as a change.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml

from dcrsync.backends.base import split_server_wide
from dcrsync.backends.hydra_map import SERVER_WIDE as HYDRA_WIDE
from dcrsync.model import ClientSpec, Location
from tests.support.project import make_project

REDIRECT = "https://spa.example.com/cb"
SPA = {
    "client_name": "Shop SPA",
    "grant_types": ["authorization_code"],
    "response_types": ["code"],
    "redirect_uris": [REDIRECT],
    "scope": "openid",
    "token_endpoint_auth_method": "none",
    "require_pkce": True,
}
PKCE_ATTR = "pkce.code.challenge.method"


def authorize(url: str, client_id: str, *, challenge: bool, browser: httpx.Client | None = None) -> httpx.Response:
    """The browser's first request of the authorization code flow, redirects not followed."""
    params = {"client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid",
              "state": secrets.token_hex(8), "nonce": secrets.token_hex(8)}
    if challenge:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        params["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        params["code_challenge_method"] = "S256"
    return (browser or httpx).get(url, params=params, follow_redirects=False, timeout=30)


def hydra_authorize(hydra, client_id: str, *, challenge: bool) -> httpx.Response:
    """Hydra checks PKCE when it answers the client, after login and consent: a user signs in and
    consents (accepted through the admin API, as a login app does), and the last redirect is returned."""
    with httpx.Client(timeout=30) as browser:  # keeps Hydra's CSRF cookies between the steps
        response = authorize(f"{hydra.public_url}/oauth2/auth", client_id, challenge=challenge, browser=browser)
        for step, body in (("login", {"subject": "alice"}), ("consent", {"grant_scope": ["openid"]})):
            query = parse_qs(urlsplit(response.headers.get("location", "")).query)
            assert f"{step}_challenge" in query, (step, response.status_code, response.headers.get("location"))
            accepted = httpx.put(
                f"{hydra.admin_url}/admin/oauth2/auth/requests/{step}/accept",
                params={f"{step}_challenge": query[f"{step}_challenge"][0]}, json=body, timeout=30,
            )
            accepted.raise_for_status()
            response = browser.get(accepted.json()["redirect_to"], follow_redirects=False)
        return response


def refusal(response: httpx.Response) -> str | None:
    """The error the server sent back to the client's redirect URI (or showed), or None if it went on."""
    location = response.headers.get("location", "")
    if response.is_redirect and location.startswith(REDIRECT):
        query = parse_qs(urlsplit(location).query)
        if "error" in query:
            return f"{query['error'][0]}: {query.get('error_description', [''])[0]}"
    if response.status_code >= 400:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    return None


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def notes(project) -> list[str]:
    plan = json.loads(project.run("plan", "--format", "json").output)
    return [w for w in plan["warnings"] if "require_pkce" in w]


# --- the seam, without a server --------------------------------------------------------------
def test_server_wide_fields_are_left_out_and_noted_once():
    loc = Location("clients/a.yaml", 1, 1)
    specs = [ClientSpec(n, {"client_name": n, "require_pkce": True}, loc) for n in ("a", "b", "c")]
    specs.append(ClientSpec("d", {"client_name": "d"}, loc))
    kept, said = split_server_wide(specs, HYDRA_WIDE)
    assert [s.fields for s in kept] == [{"client_name": n} for n in "abcd"]
    assert [s.location for s in kept] == [loc] * 4
    assert said == [f"`require_pkce` (3 client(s): a, b, c) is not sent: {HYDRA_WIDE['require_pkce']}"]
    assert split_server_wide(specs, {}) == (specs, [])


# --- Keycloak: per client ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def realm():
    from tests.harness.keycloak import throwaway_realm

    with throwaway_realm("pkce") as made:
        yield made


@pytest.fixture
def kc_project(tmp_path, realm, age_key, request):
    from tests.harness.keycloak import project_in_realm

    server = realm[1]
    project = project_in_realm(tmp_path / "proj", realm, age_key, "p-" + request.node.name.replace("_", "-")[:40])
    project.auth_url = f"{server['url']}/realms/{server['realm']}/protocol/openid-connect/auth"  # type: ignore[attr-defined]
    return project


def test_keycloak_refuses_a_request_without_code_challenge_and_unset_resets_it(kc_project):
    p, admin = kc_project, kc_project.admin
    p.write_client("shop", {**SPA, "require_pkce": False})
    ok(p.run("apply", "--auto-approve"))
    client_id = p.state_doc()["clients"]["shop"]["client_id"]
    assert admin.client(client_id)["attributes"].get(PKCE_ATTR) in (None, "")
    assert refusal(authorize(p.auth_url, client_id, challenge=False)) is None  # PKCE not asked for yet

    p.write_client("shop", SPA)
    assert "~ require_pkce: (unset) -> true" in ok(p.run("plan"))  # Keycloak holds no attribute for false
    ok(p.run("apply", "--auto-approve"))
    assert admin.client(client_id)["attributes"][PKCE_ATTR] == "S256"
    why = refusal(authorize(p.auth_url, client_id, challenge=False))
    assert why is not None and why.startswith("invalid_request") and "code_challenge" in why, why
    with_challenge = authorize(p.auth_url, client_id, challenge=True)
    assert refusal(with_challenge) is None and with_challenge.status_code == 200  # the login page
    assert p.run("plan", "--detailed-exitcode").exit_code == 0

    p.write_client("shop", {k: v for k, v in SPA.items() if k != "require_pkce"})
    assert "- require_pkce: true -> (unset)" in ok(p.run("plan"))
    ok(p.run("apply", "--auto-approve"))
    assert admin.client(client_id)["attributes"].get(PKCE_ATTR) in (None, "")
    assert refusal(authorize(p.auth_url, client_id, challenge=False)) is None
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_keycloak_export_writes_require_pkce_and_imports_to_an_empty_plan(kc_project):
    p, admin = kc_project, kc_project.admin
    client_id = f"console-spa-{secrets.token_hex(3)}"
    admin.create({"clientId": client_id, "name": "Console SPA", "publicClient": True, "standardFlowEnabled": True,
                  "directAccessGrantsEnabled": False, "redirectUris": [REDIRECT],
                  "attributes": {PKCE_ATTR: "S256"}})
    out = p.root / "exported"
    ok(p.run("export", "--out", str(out)))
    docs = [yaml.safe_load(f.read_text()) for f in out.glob("*.yaml")]
    (doc,) = [d for d in docs if d["client_id"] == client_id]
    assert doc["require_pkce"] is True
    assert PKCE_ATTR not in json.dumps(doc.get("keycloak", {}))  # said once, the portable way
    name = doc["name"]
    (p.root / "clients" / f"{name}.yaml").write_text((out / f"{name}.yaml").read_text())
    assert "DCR008" not in ok(p.run("validate"))
    ok(p.run("import", "--all"))
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


# --- Hydra: server-wide ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def pkce_hydra(tmp_path_factory):
    """A Hydra configured as the plan's note tells: PKCE enforced for public clients."""
    from tests.servers.hydra import start_hydra

    instance = start_hydra(
        tmp_path_factory.mktemp("hydra-pkce"), extra_env={"OAUTH2_PKCE_ENFORCED_FOR_PUBLIC_CLIENTS": "true"}
    )
    yield instance
    instance.stop()


def test_hydra_notes_once_sends_nothing_and_plans_empty(pkce_hydra, tmp_path: Path, age_key):
    p = make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": pkce_hydra.admin_url}, age_key, "pkce-hydra")
    p.write_client("shop", SPA)
    p.write_client("kiosk", {**SPA, "client_name": "Kiosk"})
    text = ok(p.run("plan"))
    assert text.count("require_pkce") == 1 and "oauth2.pkce.enforced_for_public_clients" in text, text
    assert notes(p) == [
        f"`require_pkce` (2 client(s): kiosk, shop) is not sent: {HYDRA_WIDE['require_pkce']}"
    ]
    ok(p.run("apply", "--auto-approve"))
    client_id = p.state_doc()["clients"]["shop"]["client_id"]
    raw = httpx.get(f"{pkce_hydra.admin_url}/admin/clients/{client_id}").json()
    assert "require_pkce" not in raw and raw["token_endpoint_auth_method"] == "none"
    again = p.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0 and again.output.count("require_pkce") == 1, again.output
    assert p.run("drift").exit_code == 0

    # what the note points at is what enforces it: Hydra's own setting
    why = refusal(hydra_authorize(pkce_hydra, client_id, challenge=False))
    assert why is not None and why.startswith("invalid_request") and "code_challenge" in why, why
    issued = hydra_authorize(pkce_hydra, client_id, challenge=True)
    assert refusal(issued) is None and "code=" in issued.headers["location"]

    p.write_client("shop", {k: v for k, v in SPA.items() if k != "require_pkce"})
    assert p.run("plan", "--detailed-exitcode").exit_code == 0  # nothing was sent, nothing to reset
    assert notes(p) == [
        f"`require_pkce` (1 client(s): kiosk) is not sent: {HYDRA_WIDE['require_pkce']}"
    ]


# --- RFC 7592 (node oidc-provider): server-wide -------------------------------------------------
@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory):
    from tests.servers.oidc_provider import start_oidc_provider

    instance = start_oidc_provider(tmp_path_factory.mktemp("op-pkce"))
    yield instance
    instance.stop()


def test_rfc7592_notes_once_sends_nothing_and_plans_empty(oidc_provider, tmp_path: Path, age_key):
    from tests.harness.rfc7592 import OidcProviderAdmin

    server = {"kind": "rfc7592", "registration_url": oidc_provider.registration_url}
    p = make_project(tmp_path / "proj", server, age_key, "pkce-dcr")
    p.write_client("shop", SPA)
    (note,) = notes(p)
    assert note.startswith("`require_pkce` (1 client(s): shop) is not sent") and "pkce.required" in note
    ok(p.run("apply", "--auto-approve"))
    client_id = p.state_doc()["clients"]["shop"]["client_id"]
    stored = OidcProviderAdmin(oidc_provider.test_admin_url).read(client_id)
    assert stored is not None and "require_pkce" not in stored
    again = p.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0 and again.output.count("require_pkce") == 1, again.output
    # oidc-provider's default `pkce.required` asks it of public clients
    why = refusal(authorize(f"{oidc_provider.issuer}/auth", client_id, challenge=False))
    assert why is not None and why.startswith("invalid_request") and "PKCE" in why, why


def test_hydra_import_of_a_file_with_require_pkce_is_no_pending_change(pkce_hydra, tmp_path: Path, age_key):
    """A hand-made public client adopted from a file that says `require_pkce: true`: nothing differs,
    nothing is pending, as after an apply."""
    body = {k: v for k, v in SPA.items() if k != "require_pkce"}
    made = httpx.post(f"{pkce_hydra.admin_url}/admin/clients", json=body, timeout=30)
    made.raise_for_status()
    client_id = made.json()["client_id"]
    p = make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": pkce_hydra.admin_url}, age_key, "pkce-adopt")
    p.write_client("shop", {"client_id": client_id, **SPA})
    imported = ok(p.run("import", "--all"))
    assert "differs" not in imported, imported
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    drift = p.run("drift", "--format", "json")
    assert drift.exit_code == 0 and json.loads(drift.output)["pending"] == 0, drift.output


def test_hydra_note_is_acknowledged_by_pkce_enforced(pkce_hydra, tmp_path: Path, age_key):
    """The Hydra enforces PKCE for public clients; once dcrsync.yaml says so, plans and validate are
    silent about the public clients' `require_pkce`, and name only the confidential ones it does not cover."""
    server = {"kind": "hydra", "admin_url": pkce_hydra.admin_url}
    p = make_project(tmp_path / "proj", server, age_key, "pkce-ack")
    p.write_client("shop", SPA)
    assert "pkce_enforced" in notes(p)[0]  # the note says how to acknowledge it
    p.set_config(server={**server, "pkce_enforced": "public"})
    assert notes(p) == [] and "require_pkce" not in ok(p.run("plan"))
    ok(p.run("apply", "--auto-approve"))
    client_id = p.state_doc()["clients"]["shop"]["client_id"]
    why = refusal(hydra_authorize(pkce_hydra, client_id, challenge=False))  # what the setting says is true
    assert why is not None and "code_challenge" in why, why

    backend = {**SPA, "client_name": "Backend", "token_endpoint_auth_method": "client_secret_basic"}
    p.write_client("backend", backend)
    (note,) = notes(p)
    assert note.startswith("`require_pkce` (1 client(s): backend) is not sent: server.pkce_enforced is `public`")
    valid = p.run_sub("validate")
    assert valid.returncode == 0 and valid.stderr.count("require_pkce") == 1 and "backend" in valid.stderr
    p.set_config(server={**server, "pkce_enforced": "all"})
    assert notes(p) == [] and "require_pkce" not in p.run_sub("validate").stderr
    assert "require_pkce" not in p.run_sub("plan").stdout
    p.set_config(server={**server, "pkce_enforced": "yes"})
    wrong = p.run_sub("plan")
    assert wrong.returncode == 1 and "pkce_enforced` must be one of all, public" in wrong.stderr
