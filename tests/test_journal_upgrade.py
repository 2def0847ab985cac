"""A state and a journal written by the previous dcrsync (no journal key, batches without a MAC) still
open on every store (the file, real PostgreSQL, real MinIO); the next write by a key holder gives the
state its journal key, once; no secret is lost (issue 16 item 3, migration)."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from dcrsync.state.records import upsert
from dcrsync.state.sops import Sops
from tests.support.stores import JournalAccess, replace_document, store_of, stored_document
from tests.test_shared_store import _clients, _converged

pytestmark = pytest.mark.hydra
PREVIOUS_REGEX = "^(client_secret|registration_access_token)$"  # what the previous version encrypted


def _as_previous_version(p, recipient: str) -> None:
    """The stored document as the previous version wrote it: version 1 (a mapping per client, each
    secret its own encrypted value), without a journal key."""
    doc = yaml.safe_load(Sops().decrypt(stored_document(p)))
    for key in ("journal_key", "previous", "legacy_folded"):
        doc.pop(key, None)
    secrets = json.loads(doc.pop("secrets", "{}"))
    clients = {}
    for line in doc["clients"].splitlines():
        ((name, identity),) = json.loads(line).items()
        identity.pop("held", None)
        clients[name] = {**identity, **secrets.get(name, {})}
    doc.update(version=1, clients=clients)
    plain = yaml.safe_dump(doc, sort_keys=False).encode()
    replace_document(p, Sops(age_recipients=[recipient]).encrypt(plain, "dcrsync.state.sops.yaml",
                                                                  encrypted_regex=PREVIOUS_REGEX))


def _set_secret_on_hydra(admin_url: str, client_id: str, secret: str) -> None:
    client = httpx.get(f"{admin_url}/admin/clients/{client_id}", timeout=30).json()
    body = {k: v for k, v in client.items() if k not in ("created_at", "updated_at")}
    httpx.put(f"{admin_url}/admin/clients/{client_id}", json={**body, "client_secret": secret},
              timeout=30).raise_for_status()


def test_a_previous_versions_state_and_journal_open_and_are_upgraded_once(any_store, hydra, age_key):
    p = any_store
    _clients(p, 2)
    assert p.run("apply", "--auto-approve").exit_code == 0
    before = store_of(p).read()
    _as_previous_version(p, age_key.recipient)
    assert "journal_key" not in stored_document(p).decode()

    # the previous version was interrupted after the server gave svc-001 a new secret: it is only in
    # that version's journal (a sops batch, then a plain one, in that store's format of the time)
    cid, new = before.clients["svc-001"].client_id, "set-while-the-previous-version-ran-0001"
    _set_secret_on_hydra(hydra.admin_url, cid, new)
    journal = JournalAccess(p)
    secret = yaml.safe_dump({"batch": json.dumps([upsert("svc-001", client_id=cid, client_secret=new)])}).encode()
    journal.put(None, Sops(age_recipients=[age_key.recipient]).encrypt(
        secret, "journal.yaml", encrypted_regex="^batch$"), True)
    entries = [upsert("svc-001", applied_at="2026-11-01T00:00:00Z")]
    journal.put(None, json.dumps({"entries": entries} if p.kind == "file" else entries).encode(), False)

    plan = p.run_sub("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr  # opened, and nothing to change on the server
    out = p.run_sub("apply", "--auto-approve")
    assert out.returncode == 0 and "Recovered an interrupted apply" in out.stderr, out.stdout + out.stderr
    assert journal.items() == []
    upgraded = yaml.safe_load(stored_document(p))
    assert upgraded["journal_key"].startswith("ENC[")  # upgraded by that write
    assert upgraded["version"] == 2 and upgraded["secrets"].startswith("ENC[")  # and to version 2: secrets in one value
    after = store_of(p).read()
    assert after.clients["svc-001"].client_secret == new
    assert after.clients["svc-000"].client_secret == before.clients["svc-000"].client_secret
    _converged(p, hydra, 2)
    key = after.journal_key
    assert p.run("state", "mv", "svc-000", "svc-zero").exit_code == 0  # a later write keeps the same key
    assert store_of(p).read().journal_key == key
