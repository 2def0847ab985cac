"""The state as data (fold, files, fingerprints), how journal entries are cut into batches, the lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcrsync.errors import SopsError, StateError
from dcrsync.state.batches import Chain, seal
from dcrsync.state.records import ClientRecord, State, forget, move_entry, record_fingerprint, upsert
from dcrsync.state.sops import Sops
from dcrsync.state.store import FileStore, runs


def test_fold_applies_upsert_forget_and_move_in_order():
    st = State()
    st.fold([
        upsert("a", client_id="id-a", client_secret="s-a", pending=True),
        upsert("b", client_id="id-b"),
        upsert("a", pending=None, desired={"client_name": "A"}),
        move_entry("a", "a2"),
        forget("b"),
        upsert("ghost", desired={}),  # no client_id and no record: nothing to merge into
    ])
    assert set(st.clients) == {"a2"}
    rec = st.clients["a2"]
    assert (rec.name, rec.client_id, rec.client_secret, rec.pending) == ("a2", "id-a", "s-a", False)
    assert rec.desired == {"client_name": "A"}


def test_files_round_trip_and_read_without_key_only_knows_a_secret_exists():
    st = State(clients={"a": ClientRecord("a", "id-a", desired={"x": 1}, client_secret="s3cr3t", pending=True)})
    plain, sidecar = st.to_files()
    assert b"s3cr3t" not in sidecar and b"desired" not in plain
    again = State.from_files(plain, "f", False, sidecar)
    assert again.clients["a"].client_secret == "s3cr3t" and again.clients["a"].pending is True
    public = State.from_files(plain, "f", True, sidecar)
    rec = public.clients["a"]
    assert rec.client_secret is None and rec.has("client_secret") and not rec.has("registration_access_token")
    # a saved plan checks records the same way whether it was made with the key or without
    assert record_fingerprint(rec) == record_fingerprint(again.clients["a"])
    tampered = sidecar.replace(b'"x":1', b'"x":2')
    assert tampered != sidecar
    assert State.from_files(plain, "f", False, tampered).warnings


def test_older_files_with_empty_client_id_and_pending_word_still_read():
    rec = ClientRecord.from_dict("a", {"client_id": "", "pending": "create"})
    assert rec.client_id is None and rec.pending is True
    assert rec.identity() == {"pending": "create"}


def test_a_secret_batch_that_carries_the_journal_key_needs_sops():
    chain = Chain(None, 1, "sha256:x")  # the state has no journal key yet: the first batch carries one
    with pytest.raises(StateError, match="needs sops"):
        seal([upsert("a", client_id="1", client_secret="x")], chain, None, "state.sops.yaml")
    assert chain.seq == 0 and chain.key is None  # nothing was written: the chain did not move


def test_move_and_secret_in_one_batch_keep_their_order():
    """A move plain entry followed by the moved client's new secret must not be split apart."""
    moved = runs([move_entry("a", "b"), upsert("b", client_id="1", client_secret="x")])
    assert [[e["op"] for e in run] for run in moved] == [["move"], ["upsert"]]
    split = runs([upsert("c", client_id="2"), upsert("d", client_id="3", client_secret="y")])
    assert [[e["name"] for e in run] for run in split] == [["d"], ["c"]]  # secrets first when order allows


def test_file_store_without_state_reads_empty_and_locks(tmp_path: Path):
    store = FileStore(tmp_path / "s.sops.yaml")
    assert not store.exists() and store.read_public().clients == {}
    with store.locked(), store.locked():  # re-entrant within one process
        assert "pid" in store.lock_path.read_text()


def test_an_encryption_started_ahead_gives_what_encrypt_gives_or_is_cancelled(age_key):
    sops = Sops(age_recipients=[age_key.recipient])
    ahead = sops.encrypt_soon("state.sops.yaml")
    cipher = ahead.finish(b"client_secret: s3cret\nname: a\n")
    assert b"s3cret" not in cipher and b"ENC[" in cipher
    assert b"s3cret" in sops.decrypt(cipher)
    with pytest.raises(RuntimeError), sops.encrypt_soon("state.sops.yaml") as left:
        raise RuntimeError("the state could not be made")
    assert left.proc.returncode is not None  # the process was ended and waited for
    bad = Sops(age_recipients=["age1notarecipient"]).encrypt_soon("state.sops.yaml")
    with pytest.raises(SopsError, match="age1notarecipient"):
        bad.finish(b"a: 1\n")
