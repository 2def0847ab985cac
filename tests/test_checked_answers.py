"""Issue 16 item 8: answers are checked before they are recorded. A confidential client's create whose
answer has no client_secret, or an answer naming another client_id than the one sent, fails that
client in one line with nothing of the answer recorded, and the next apply converges: no orphan, no
duplicate.

The real Hydra and oidc-provider do the work; the named fake `tests/servers/fake_proxy.py` rewrites
their answers on the way back (what a broken gateway or server would send).
"""

from __future__ import annotations

import json

import pytest

from tests.harness.rfc7592 import OidcProviderAdmin
from tests.harness.rfc7592 import token_works as oidc_token_works
from tests.servers.fake_proxy import FakeProxy
from tests.support.hydra_api import clients_of, token_works
from tests.support.project import make_project

SERVICE = {"client_name": "Reports", "grant_types": ["client_credentials"], "scope": "openid",
           "token_endpoint_auth_method": "client_secret_basic"}


def failed_line(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def created(method: str, path: str, status: int) -> bool:
    return method == "POST" and status == 201


def without_secret(method, path, status, body):
    if created(method, path, status) and isinstance(body, dict):
        return {k: v for k, v in body.items() if k != "client_secret"}
    return body


def another_id(method, path, status, body):
    if method in ("POST", "PUT") and status in (200, 201) and isinstance(body, dict):
        return {**body, "client_id": "someone-elses-client"}
    return body


@pytest.mark.hydra
def test_hydra_create_without_a_secret_fails_then_the_next_apply_issues_one(hydra_project, hydra):
    p = hydra_project
    p.write_client("reports", SERVICE)
    with FakeProxy(hydra.admin_url, tamper=without_secret) as proxy:
        p.set_config(server={"kind": "hydra", "admin_url": proxy.url})
        line = failed_line(p.run_sub("apply", "--auto-approve"))  # before: exit 0, no secret recorded
    assert "create reports: the server created reports, but its answer has no client_secret" in line
    assert "nothing of its answer was recorded" in line and "issues a new secret" in line
    record = p.state_doc()["clients"]["reports"]
    assert record["pending"] == "create" and "client_secret" not in record
    (made,) = clients_of(hydra.admin_url, p.owner)
    assert made["client_id"] == record["client_id"]

    p.set_config(server={"kind": "hydra", "admin_url": hydra.admin_url, "public_url": hydra.public_url})
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reports: rotated" in r.stdout
    (after,) = clients_of(hydra.admin_url, p.owner)  # the same client, no duplicate
    assert after["client_id"] == record["client_id"]
    assert token_works(hydra.public_url, after["client_id"], p.secret("reports"))


@pytest.mark.hydra
def test_hydra_answer_naming_another_client_is_not_recorded(hydra_project, hydra):
    p = hydra_project
    p.write_client("reports", SERVICE)
    with FakeProxy(hydra.admin_url, tamper=another_id) as proxy:
        p.set_config(server={"kind": "hydra", "admin_url": proxy.url})
        line = failed_line(p.run_sub("apply", "--auto-approve"))  # before: recorded as is
    record = p.state_doc()["clients"]["reports"]
    assert f"its answer names client_id 'someone-elses-client', not '{record['client_id']}' as sent" in line
    assert record["pending"] == "create" and "client_secret" not in record

    p.set_config(server={"kind": "hydra", "admin_url": hydra.admin_url})
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    (after,) = clients_of(hydra.admin_url, p.owner)
    assert after["client_id"] == record["client_id"] == p.state_doc()["clients"]["reports"]["client_id"]

    # an update answered for another client: failed, and the state keeps what it had
    p.write_client("reports", {**SERVICE, "client_name": "Reports v2"})
    before = (p.state_doc()["clients"]["reports"]["client_id"], p.secret("reports"), applied(p))
    with FakeProxy(hydra.admin_url, tamper=another_id) as proxy:
        p.set_config(server={"kind": "hydra", "admin_url": proxy.url})
        line = failed_line(p.run_sub("apply", "--auto-approve"))
    assert "update reports: the server updated reports, but its answer names client_id 'someone-elses-client'" in line
    assert (p.state_doc()["clients"]["reports"]["client_id"], p.secret("reports"), applied(p)) == before


def applied(p) -> dict:
    """What the state keeps of the last apply (the plain sidecar beside the sops file)."""
    return json.loads(p.state.with_name("dcrsync.state.applied.json").read_text())["clients"]


def test_rfc7591_create_without_a_secret_is_deleted_again_and_not_recorded(oidc_provider, tmp_path, age_key):
    provider = oidc_provider
    admin = OidcProviderAdmin(provider.test_admin_url)
    before = set(admin.list_ids())
    with FakeProxy(provider.issuer, tamper=without_secret) as proxy:
        p = make_project(tmp_path / "proj", {"kind": "rfc7592", "registration_url": f"{proxy.url}/reg"}, age_key,
                         "checked")
        p.write_client("reports", SERVICE)
        line = failed_line(p.run_sub("apply", "--auto-approve"))
        (original,) = proxy.log.originals  # what the server really answered
    made = original["client_id"]
    assert "its answer has no client_secret" in line and f"dcrsync deleted client {made} again" in line
    assert set(admin.list_ids()) == before  # no orphan left behind
    assert "reports" not in ((p.state_doc() or {}).get("clients") or {})

    p.set_config(server={"kind": "rfc7592", "registration_url": provider.registration_url})
    r = p.run_sub("apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    (new,) = set(admin.list_ids()) - before
    assert oidc_token_works(provider.token_url)(new, p.secret("reports"))
