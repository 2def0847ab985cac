"""Issue 17 on a real Ory Hydra, as a platform team meets it: what import and recover say of secrets
Hydra never gives back (item 5), and the papercuts of item 14 (lifespans, the PKCE note,
set-secret without client_credentials, export and import --match)."""

from __future__ import annotations

import pytest

from dcrsync.store import sidecar_path
from tests.support.hydra_api import create_client

pytestmark = pytest.mark.hydra

SERVICE = {"grant_types": ["client_credentials"], "scope": "openid", "response_types": []}
WEB = {"grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "scope": "openid"}


# --- item 5: which families cannot give a secret back -------------------------------------------
def test_hydra_import_and_recover_say_the_secret_cannot_be_read_back(hydra_project, hydra):
    p = hydra_project
    svc = create_client(hydra.admin_url, {**SERVICE, "client_name": "Svc", "owner": "legacy"})
    r = p.run("import", "svc", svc["client_id"])
    assert r.exit_code == 0, r.output
    assert "secret unknown to dcrsync" in r.output
    assert "hydra never gives a client's secret back; Keycloak is the family that does" in r.output
    assert p.run("state", "secret", "svc").exit_code == 1

    p.state.unlink()
    sidecar_path(p.state).unlink()
    r = p.run("state", "recover")
    assert r.exit_code == 0, r.output
    assert "Secrets unknown for 1 client(s) (hydra never gives a client's secret back" in r.output
    assert "`dcrsync state set-secret NAME`" in r.output and "Read the secrets" not in r.output
