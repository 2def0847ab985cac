"""A writer to the journal without the key (issue 16 item 3), on every store: the file store, the real
PostgreSQL, the real MinIO, with the real Hydra. An apply is interrupted before its commit (its
journal holds two created clients and their secrets); then the journal is tampered with as a writer
to the folder, the `journal` table or the `journal/` prefix can: a record repointed at another
client, a batch dropped, a secret planted, and an unauthenticated batch (a pull request adding a
`*.journal/` folder). Each is refused in one line naming the batch, nothing is folded and the server
is not touched; with the journal put back, the next apply folds it and nothing is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from dcrsync.apply.recorder import Recorder
from dcrsync.state.sops import Sops
from tests.support.hydra_api import clients_of
from tests.support.stores import JournalAccess
from tests.test_shared_store import _clients, _converged, _store

pytestmark = pytest.mark.hydra


def _interrupted_apply(p, monkeypatch) -> None:
    """An apply that stops right before its commit (as a runner killed there): its journal stays."""

    class Killed(BaseException):
        pass

    def killed(self, state):
        raise Killed()

    with monkeypatch.context() as m:
        m.setattr(Recorder, "commit", killed)
        with pytest.raises(Killed):
            p.run("apply", "--auto-approve")


def _header(data: bytes, secret: bool) -> dict:
    """The plain header of a batch, as anyone who can read the store can."""
    doc = yaml.safe_load(data) if secret else json.loads(data)
    return {k: doc[k] for k in ("journal", "serial", "base", "seq", "prev", "mac")}


def test_a_tampered_journal_is_refused_naming_the_batch_and_nothing_is_lost(any_store, hydra, age_key, monkeypatch):
    p = any_store
    _clients(p, 2, "old")
    assert p.run("apply", "--auto-approve").exit_code == 0
    kept = _store(p).read()
    other_id = kept.clients["old-000"].client_id
    _clients(p, 2, "new")
    _interrupted_apply(p, monkeypatch)
    journal = JournalAccess(p)
    original = journal.items()
    assert len(original) >= 2, original
    on_server = len(clients_of(hydra.admin_url, p.owner))
    assert on_server == 4  # the interrupted apply created both; their secrets are only in the journal

    def refused(ident: str) -> None:
        out = p.run_sub("apply", "--auto-approve")
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 1 and len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
        assert lines[0].startswith(f"error: journal batch {journal.name(ident)} ") and "nothing was folded" in lines[0]
        public = _store(p).read_public()
        assert public.serial == kept.serial and set(public.clients) == set(kept.clients), "something was folded"
        assert len(clients_of(hydra.admin_url, p.owner)) == on_server, "the server was touched"

    # a record pointed at another client: the first batch (the create intents) rewritten, its MAC kept
    first_id, first, first_secret = original[0]
    assert not first_secret
    doc = json.loads(first)
    entries = json.loads(doc["batch"])
    entries[0]["data"]["client_id"] = other_id
    journal.put(first_id, json.dumps({**doc, "batch": json.dumps(entries)}).encode(), False)
    refused(first_id)
    journal.put(first_id, first, False)

    # a batch dropped: the one after it is refused
    journal.delete(first_id)
    refused(original[1][0])
    first_id = journal.put(first_id if p.kind != "postgres" else None, first, False)
    if p.kind == "postgres":  # a row put back goes to the end: move the others after it again
        for ident, data, secret in original[1:]:
            journal.delete(ident)
            journal.put(None, data, secret)
    assert [d for _, d, _ in journal.items()] == [d for _, d, _ in original]

    # a secret planted: a well-formed sops batch for the public recipient, chained to the last header
    last = _header(original[-1][1], original[-1][2])
    planted = {**last, "seq": last["seq"] + 1, "prev": last["mac"], "mac": "e" * 64,
               "batch": json.dumps([{"op": "upsert", "name": "old-001", "data": {"client_secret": "chosen"}}])}
    cipher = Sops(age_recipients=[age_key.recipient]).encrypt(
        yaml.safe_dump(planted).encode(), "journal.yaml", encrypted_regex="^batch$")
    evil = journal.put(None, cipher, True)
    refused(evil)
    journal.delete(evil)

    # nothing lost: the journal as the interrupted apply left it is folded and converges
    out = p.run_sub("apply", "--auto-approve")
    assert out.returncode == 0 and "Recovered an interrupted apply" in out.stderr, out.stdout + out.stderr
    secrets = _converged(p, hydra, 4)
    for name in ("old-000", "old-001"):
        assert secrets[kept.clients[name].client_id] == kept.clients[name].client_secret

    # an unauthenticated batch, as a pull request adding a `*.journal/` folder (or a row, an object) makes
    entries = [{"op": "upsert", "name": "old-000", "data": {"client_secret": "chosen"}}]
    forged = {"entries": entries} if p.kind == "file" else entries  # each store's format before the MAC
    legacy = journal.put(None, json.dumps(forged).encode(), False)
    serial = _store(p).read_public().serial
    out = p.run_sub("apply", "--auto-approve")
    line = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 1 and f"journal batch {journal.name(legacy)} has no MAC" in line, out.stderr
    assert _store(p).read_public().serial == serial
    assert p.run_sub("plan").returncode == 1  # a plan with the key verifies the journal too
    journal.delete(legacy)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
    _converged(p, hydra, 4)


def test_a_plan_without_the_key_says_it_could_not_verify_the_state(any_store, tmp_path):
    p = any_store
    _clients(p, 1)
    assert p.run("apply", "--auto-approve").exit_code == 0
    with_key = p.run_sub("plan")
    assert with_key.returncode == 0 and "could not be verified" not in with_key.stdout + with_key.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_AGE_KEY")}
    env["HOME"] = env["XDG_CONFIG_HOME"] = str(tmp_path / "no-key-here")  # no default key file either
    out = subprocess.run([sys.executable, "-m", "dcrsync", "plan", "--config", str(p.config), "--format", "json"],
                         capture_output=True, text=True, env=env, cwd=p.root)
    assert out.returncode == 0, out.stderr
    warnings = json.loads(out.stdout)["warnings"]
    assert [w for w in warnings if "read without the key, so it could not be verified" in w], warnings


def test_after_a_dropped_batch_the_batches_that_verify_can_be_folded_deliberately(any_store, hydra, monkeypatch):
    p = any_store
    _clients(p, 2, "new")
    assert p.run("apply", "--auto-approve", "--target", "new-000").exit_code == 0  # a state with its key
    _interrupted_apply(p, monkeypatch)  # creates new-001
    journal = JournalAccess(p)
    dropped = journal.items()[0][0]
    journal.delete(dropped)  # the create intent: what the answers after it say is still whole
    listed = p.run_sub("state", "journal")
    assert listed.returncode == 1 and "a batch before it is missing" in listed.stdout, listed.stdout + listed.stderr
    assert "does not follow the batch before it" in listed.stderr.strip().splitlines()[-1]
    folded = p.run_sub("state", "journal", "--fold-verified")
    assert folded.returncode == 0 and "dropped 0" in folded.stdout, folded.stdout + folded.stderr
    assert journal.items() == []
    _converged(p, hydra, 2)
    assert p.run("plan", "--detailed-exitcode").exit_code == 0
