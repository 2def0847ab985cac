"""Keycloak's own RFC 7591 / 7592 endpoint (`/realms/{realm}/clients-registrations/openid-connect`):
when it rotates the registration access token, and that dcrsync always holds the newest one.

Found here (Keycloak 26): every answer carries a `registration_access_token`. A read (GET) hands
back the token it was called with, which keeps working; an update (PUT) hands back a new one and
every older token of that client stops working at once (401). dcrsync journals the new token
before anything else, so the next plan reads with it.
"""

from __future__ import annotations

import httpx
import pytest

from tests.harness.keycloak_dcr import keycloak_dcr_realm
from tests.support.project import make_project


@pytest.fixture(scope="module")
def kc():
    with keycloak_dcr_realm("rat") as realm:
        yield realm


def stored(p, name: str, field: str) -> str:
    r = p.run("state", "secret", name, "--field", field)
    assert r.exit_code == 0, r.output
    return r.output.strip()


def get(uri: str, token: str) -> httpx.Response:
    return httpx.get(uri, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_keycloak_rotates_on_update_only_and_dcrsync_keeps_the_newest(kc, tmp_path, age_key):
    p = make_project(tmp_path / "proj", kc.server, age_key, "t-kc-dcr")
    client = {"client_name": "Reports job", "grant_types": ["client_credentials"], "response_types": [],
              "token_endpoint_auth_method": "client_secret_basic"}
    p.write_client("reports-job", client)
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    rec = p.state_doc()["clients"]["reports-job"]
    uri = rec["registration_client_uri"]
    assert uri == f"{kc.registration_url}/{rec['client_id']}"  # found through the issuer's discovery
    first = stored(p, "reports-job", "registration_access_token")

    # a read does not rotate: it hands back the same token, and that token keeps working
    answer = get(uri, first)
    assert answer.status_code == 200 and answer.json()["registration_access_token"] == first
    assert get(uri, first).status_code == 200
    assert p.run("plan", "--detailed-exitcode").exit_code == 0  # dcrsync's own reads
    assert stored(p, "reports-job", "registration_access_token") == first

    # each update rotates: the answer's token is new, every older one is dead at once
    tokens = [first]
    for version in (2, 3):
        p.write_client("reports-job", {**client, "client_name": f"Reports job v{version}"})
        r = p.run("apply", "--auto-approve")
        assert r.exit_code == 0, r.output
        newest = stored(p, "reports-job", "registration_access_token")
        assert newest not in tokens, "an update did not rotate the registration access token"
        assert get(uri, newest).status_code == 200
        assert [get(uri, t).status_code for t in tokens] == [401] * len(tokens)
        tokens.append(newest)
        # the state holds the newest: the next plan reads with it and has nothing to do
        assert p.run("plan", "--detailed-exitcode").exit_code == 0
    assert kc.admin.read(rec["client_id"])["client_name"] == "Reports job v3"
    secret = stored(p, "reports-job", "client_secret")
    assert kc.admin.token_works(rec["client_id"], secret)  # an update keeps the client secret

    # delete with the newest token (another client keeps the folder from being empty)
    p.write_client("keeper", {**client, "client_name": "Keeper"})
    p.remove_client("reports-job")
    p.set_config(prune=True)
    r = p.run("apply", "--auto-approve", "--force")  # 1 of 2: above the delete threshold
    assert r.exit_code == 0 and "1 deleted" in r.output, r.output
    assert kc.admin.client(rec["client_id"]) is None
