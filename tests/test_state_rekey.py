"""A teammate can be added (issue 17 item 11): `dcrsync state rekey` re-encrypts the state for the
recipients in dcrsync.yaml, on every store (the file, real PostgreSQL, real MinIO); a key that cannot
open the state is told about it; removing a recipient says what its holder can still read and which
secrets to rotate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyrage
import pytest

from tests.support.stores import store_of
from tests.test_shared_store import _clients

pytestmark = pytest.mark.hydra


def _new_key(folder: Path) -> tuple[Path, str]:
    identity = pyrage.x25519.Identity.generate()
    path = folder / f"{identity.to_public()}.txt"
    path.write_text(f"{identity}\n")
    path.chmod(0o600)
    return path, str(identity.to_public())


def _as(p, key: Path, *args: str) -> subprocess.CompletedProcess:
    """dcrsync run by the holder of `key` only."""
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(key)}
    head = 2 if args[0] == "state" else 1
    return subprocess.run([sys.executable, "-m", "dcrsync", *args[:head], "--config", str(p.config), *args[head:]],
                          capture_output=True, text=True, env=env, cwd=p.root, timeout=600)


def test_a_teammate_is_added_then_the_first_holder_removed(any_store, age_key, tmp_path):
    p = any_store
    _clients(p, 2)
    assert p.run("apply", "--auto-approve").exit_code == 0
    secret = p.secret("svc-000")
    mine = age_key.secret_file
    theirs, their_recipient = _new_key(tmp_path)

    denied = _as(p, theirs, "state", "secret", "svc-000")
    assert denied.returncode == 1 and denied.stdout == "" and "dcrsync state rekey" in denied.stderr, denied.stderr
    assert len(denied.stderr.strip().splitlines()) == 1

    p.set_config(sops={"age": [age_key.recipient, their_recipient]})
    key_before = store_of(p).read().journal_key
    added = _as(p, mine, "state", "rekey")
    assert added.returncode == 0, added.stderr
    assert f"Added: {their_recipient}" in added.stdout and "Removed" not in added.stdout
    assert _as(p, theirs, "state", "secret", "svc-000").stdout.strip() == secret
    assert _as(p, mine, "state", "secret", "svc-000").stdout.strip() == secret
    assert store_of(p).read().journal_key != key_before  # a new journal key with every rekey

    p.set_config(sops={"age": [their_recipient]})
    removed = _as(p, theirs, "state", "rekey")
    assert removed.returncode == 0, removed.stderr
    assert f"Removed: {age_key.recipient}" in removed.stdout and "can still read older copies" in removed.stdout
    assert "rotate-secret" in removed.stdout and "svc-000, svc-001" in removed.stdout
    gone = _as(p, mine, "state", "secret", "svc-000")
    assert gone.returncode == 1 and "dcrsync state rekey" in gone.stderr
    assert _as(p, theirs, "apply", "--auto-approve").returncode == 0  # the state works for its new holder
    assert _as(p, theirs, "state", "secret", "svc-000").stdout.strip() == secret


@pytest.mark.parametrize("any_store", ["file"], indirect=True)
def test_rekey_without_a_state_says_so(any_store):
    out = any_store.run_sub("state", "rekey")
    assert out.returncode == 1 and "holds no state yet" in out.stderr


def test_a_recipient_taken_out_of_the_config_without_rekey_loses_the_journal_key(any_store, age_key, tmp_path):
    """On every store: the next apply that encrypts the state without a recipient it had also replaces
    the journal key that recipient knew (it signs the journal and seals its secrets)."""
    p = any_store
    _, leaver = _new_key(tmp_path)
    p.set_config(sops={"age": [age_key.recipient, leaver]})
    _clients(p, 1)
    assert p.run("apply", "--auto-approve").exit_code == 0
    first = store_of(p).read().journal_key
    p.set_config(sops={"age": [age_key.recipient]})  # the leaver removed; nobody ran `state rekey`
    _clients(p, 2)
    assert p.run("apply", "--auto-approve").exit_code == 0
    state = store_of(p).read()
    assert state.journal_key not in (None, first)
    assert {r.name for r in state.clients.values() if r.client_secret} == {"svc-000", "svc-001"}
