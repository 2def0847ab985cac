"""Journal batches are authenticated (issue 16 item 3): a MAC under the state's journal key binds each
batch to the state it extends and to the batch before it. Pure checks of `dcrsync.state.batches`, then the
file store with the real sops binary (no server)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from dcrsync.errors import SopsError, StateError
from dcrsync.state.batches import Chain, advance, digest, fold_journal, open_batch, seal, verify
from dcrsync.state.records import ClientRecord, State, forget, upsert
from dcrsync.state.sops import Sops, recipients
from dcrsync.state.store import FileStore

KEY = b"k" * 32
BASE = "sha256:" + "ab" * 32


def _state(**kw) -> State:
    return State(clients={"a": ClientRecord("a", "id-a", client_secret="s-a")}, **{"serial": 5, "journal_key": KEY, **kw})


def _journal(*runs: list) -> list[tuple[str, bytes, bool]]:
    """Plain batches an apply on `_state()` would write (no secret in them: no sops needed)."""
    chain, out = Chain(KEY, 5, BASE), []
    for i, entries in enumerate(runs, 1):
        sealed = seal(entries, chain, None, "state.sops.yaml")
        out.append((f"b{i}", sealed.data, sealed.secret))
        advance(chain, sealed)
    return out


def _fold(raw, state=None):
    state = state or _state()
    return state, fold_journal(state, BASE, raw, None)


def test_a_chain_of_batches_verifies_and_folds_in_order():
    raw = _journal([upsert("b", client_id="id-b")], [forget("a")], [upsert("b", desired={"x": 1})])
    state, found = _fold(raw)
    assert set(state.clients) == {"b"} and state.clients["b"].desired == {"x": 1}
    assert (found.chain.seq, found.chain.prev) == (3, json.loads(raw[2][1])["mac"])  # the next batch goes on it


def test_a_repointed_record_is_refused_naming_its_batch_and_nothing_is_folded():
    raw = _journal([upsert("b", client_id="id-b")], [upsert("a", applied_at="t")])
    doc = json.loads(raw[1][1])
    doc["batch"] = json.dumps([upsert("a", client_id="id-of-someone-else")])  # the MAC is kept as it was
    raw[1] = ("b2", json.dumps(doc).encode(), False)
    state = _state()
    with pytest.raises(StateError) as err:
        _fold(raw, state)
    message = str(err.value)
    assert message.startswith("journal batch b2 does not verify") and "nothing was folded" in message
    assert "\n" not in message
    assert set(state.clients) == {"a"} and state.clients["a"].client_id == "id-a"  # b1 was not folded either


def test_a_dropped_or_reordered_batch_is_refused():
    raw = _journal([upsert("b", client_id="id-b")], [forget("a")], [upsert("c", client_id="id-c")])
    with pytest.raises(StateError, match="journal batch b3 does not follow the batch before it"):
        _fold([raw[0], raw[2]])
    with pytest.raises(StateError, match="journal batch b3 does not follow"):
        _fold([raw[0], raw[2], raw[1]])


def test_a_planted_batch_with_a_guessed_mac_is_refused():
    raw = _journal([upsert("b", client_id="id-b")])
    last = json.loads(raw[0][1])
    planted = {**last, "seq": 2, "prev": last["mac"], "mac": "0" * 64,
               "batch": json.dumps([upsert("a", client_secret="chosen-by-the-attacker")])}
    with pytest.raises(StateError, match="journal batch evil does not verify"):
        _fold([*raw, ("evil", json.dumps(planted).encode(), False)])


def test_a_batch_of_another_state_is_refused_and_one_the_last_commit_folded_is_skipped():
    raw = _journal([upsert("b", client_id="id-b")])
    with pytest.raises(StateError, match=r"extends another state \(serial 5; this state is serial 6\)"):
        fold_journal(State(serial=6, journal_key=KEY), "sha256:other", raw, None)
    # the commit that wrote serial 6 over the state the batch extends folded it: a crash kept it on disk
    after = State(serial=6, journal_key=KEY, previous=BASE)
    found = fold_journal(after, "sha256:new", raw, None)
    assert after.clients == {} and found.verdicts[0][1].startswith("folded already")


def test_unauthenticated_batches_are_read_only_on_a_state_without_a_key():
    old = [("old1", json.dumps({"entries": [upsert("b", client_id="id-b")]}).encode(), False),  # the file store's
           ("old2", json.dumps([forget("a")]).encode(), False)]  # a shared store's
    state, found = _fold(old, _state(journal_key=None))
    assert set(state.clients) == {"b"} and found.legacy == [digest(old[0][1]), digest(old[1][1])]
    with pytest.raises(StateError, match="journal batch old1 has no MAC while the state has a journal key"):
        _fold(old)
    # the commit that gave the state its key records them: a crash right after it does not refuse them
    keyed = _state(legacy_folded=found.legacy)
    assert fold_journal(keyed, BASE, old, None).entries == []


def test_a_batch_written_twice_is_folded_once_and_a_lenient_read_folds_what_verifies():
    raw = _journal([upsert("b", client_id="id-b")], [upsert("c", client_id="id-c")], [upsert("d", client_id="id-d")])
    state, _ = _fold([raw[0], raw[0], raw[1]])  # stored, its answer lost, then kept locally too
    assert set(state.clients) == {"a", "b", "c"}
    state = _state()
    found = fold_journal(state, BASE, [raw[0], raw[2], ("junk", b"{", False)], None, lenient=True)
    assert set(state.clients) == {"a", "b", "d"}
    assert [v.split(" (")[0].split(":")[0] for _, v in found.verdicts] == ["verified", "verified", "not folded"]


def test_a_secret_batch_is_sealed_under_the_journal_key_without_sops():
    secret = [upsert("b", client_id="id-b", client_secret="s-b-very-secret")]
    raw = _journal([upsert("b", client_id="id-b", pending=True)], secret)
    name, data, sops_encrypted = raw[1]
    assert not sops_encrypted and b"s-b-very-secret" not in data and b"id-b" not in data  # entries and all
    doc = json.loads(data)
    assert doc["journal"] == 3 and "batch" not in doc and doc["seq"] == 2
    state, found = _fold(raw)
    assert state.clients["b"].client_secret == "s-b-very-secret" and found.chain.seq == 2
    # under another state's key (a state replaced wholesale, or a guess) it does not open
    with pytest.raises(StateError, match="journal batch b1 does not open with the state's journal key"):
        _fold(_journal(secret), _state(journal_key=b"x" * 32))


def test_a_sealed_batch_altered_or_moved_is_refused_and_nothing_is_folded():
    raw = _journal([upsert("b", client_id="id-b", client_secret="s-b")], [upsert("c", client_id="id-c", client_secret="s-c")])
    doc = json.loads(raw[1][1])
    box = bytearray(base64.b64decode(doc["sealed"]))
    box[20] ^= 1
    flipped = ("b2", json.dumps({**doc, "sealed": base64.b64encode(bytes(box)).decode()}).encode(), False)
    state = _state()
    with pytest.raises(StateError, match="journal batch b2 does not open with the state's journal key"):
        _fold([raw[0], flipped], state)
    assert set(state.clients) == {"a"}
    # its ciphertext under another header (put first, in place of the batch before it): refused
    moved = ("b1", json.dumps({**json.loads(raw[0][1]), "sealed": doc["sealed"]}).encode(), False)
    with pytest.raises(StateError, match="journal batch b1 does not open"):
        _fold([moved])
    with pytest.raises(StateError, match="journal batch b2 is damaged"):
        _fold([raw[0], ("b2", json.dumps({**doc, "sealed": "not base64!"}).encode(), False)])


def test_a_sealed_batch_the_last_commit_folded_is_skipped_unopened():
    raw = _journal([upsert("b", client_id="id-b", client_secret="s-b")])
    # the commit that wrote serial 6 gave the state a new journal key (`state rekey`): the old batch is not opened
    after = State(serial=6, journal_key=b"n" * 32, previous=BASE)
    found = fold_journal(after, "sha256:new", raw, None)
    assert after.clients == {} and found.verdicts[0][1].startswith("folded already")


def test_verify_alone_needs_no_io():
    batches = [open_batch(n, d, s, None) for n, d, s in _journal([forget("a")])]
    assert verify(batches, _state(), BASE).entries == [forget("a")]


# --- the file store, with the real sops ---------------------------------------------------------------------

@pytest.fixture
def store(tmp_path: Path, age_key) -> FileStore:
    return FileStore(tmp_path / "state.sops.yaml", Sops(age_recipients=[age_key.recipient]))


def test_the_first_batch_on_a_new_state_carries_the_key_and_the_commit_keeps_it(store: FileStore):
    store.append([upsert("a", client_id="id-a", pending=True)])  # no state yet: a crash here must verify later
    (first,) = store.journal.batches()
    assert first.name.endswith(".sops.yaml") and "key: ENC[" in first.read_text()
    store.append([upsert("a", client_secret="s-a")])
    second = store.journal.batches()[1]  # sealed under the key the first one carries: no sops process for it
    assert second.name.endswith(".json") and b"s-a" not in second.read_bytes()
    state = FileStore(store.path, store.sops).read()
    assert state.clients["a"].client_secret == "s-a" and state.journal_key is not None
    store.commit(state)
    doc = yaml.safe_load(store.path.read_text())
    assert doc["journal_key"].startswith("ENC[") and not store.has_journal()
    assert FileStore(store.path, store.sops).read().journal_key == state.journal_key


def test_a_sops_batch_anyone_can_make_for_the_recipients_is_refused(store: FileStore, age_key):
    store.commit(State(clients={"a": ClientRecord("a", "id-a", client_secret="real")}))
    store.append([forget("nobody")])
    header = json.loads(store.journal.batches()[0].read_bytes())
    # what a writer without the key can do: a well-formed sops file for the public recipient
    doc = {**header, "seq": 2, "prev": header["mac"], "mac": "f" * 64,
           "batch": json.dumps([upsert("a", client_secret="chosen")])}
    forged = Sops(age_recipients=[age_key.recipient]).encrypt(
        yaml.safe_dump(doc).encode(), "journal.yaml", encrypted_regex="^batch$")
    (store.journal.dir / "000002.sops.yaml").write_bytes(forged)
    with pytest.raises(StateError, match=r"journal batch .*000002\.sops\.yaml does not verify"):
        FileStore(store.path, store.sops).read()
    (store.journal.dir / "000002.sops.yaml").unlink()
    assert FileStore(store.path, store.sops).read().clients["a"].client_secret == "real"


def test_a_state_replaced_while_the_lock_is_held_is_not_overwritten(store: FileStore):
    store.commit(State(clients={"a": ClientRecord("a", "id-a", client_secret="real")}))
    with store.locked():
        state = store.read()
        other = FileStore(store.path, store.sops)
        other.read()
        other.commit(State(clients={"b": ClientRecord("b", "id-b")}))  # a writer that ignores the lock
        with pytest.raises(StateError, match="is not the one this run read"):
            store.commit(state)
    assert set(FileStore(store.path, store.sops).read().clients) == {"b"}


def test_a_new_journal_key_is_sealed_ahead_and_written_before_the_first_batch(store: FileStore):
    store.read()  # no state yet: no journal key
    store.journal_soon()  # what apply does while the plan is made
    store.append([upsert("a", client_id="id-a", pending=True)])
    store.append([upsert("a", client_secret="s-a")])
    first, second, third = store.journal.batches()
    assert first.name.endswith(".sops.yaml") and "key: ENC[" in first.read_text()  # the key, and no entries
    assert second.name.endswith(".json") and json.loads(second.read_bytes())["journal"] == 2  # plain intents
    assert third.name.endswith(".json") and b"s-a" not in third.read_bytes()  # sealed under the key
    state = FileStore(store.path, store.sops).read()
    assert state.clients["a"].client_secret == "s-a" and state.journal_key is not None
    store.commit(state)
    store.journal_soon()  # the state has a key now: nothing is sealed ahead
    store.append([forget("a")])
    assert [p.suffix for p in store.journal.batches()] == [".json"]


def test_a_key_batch_that_could_not_be_sealed_ahead_is_sealed_again_and_its_error_said(tmp_path: Path, age_key):
    store = FileStore(tmp_path / "state.sops.yaml", Sops(age_recipients=["age1notarecipient"]))
    store.read()
    store.journal_soon()
    with pytest.raises(SopsError) as err:
        store.append([upsert("a", client_id="id-a", pending=True)])
    assert "\n" not in str(err.value) and "age1notarecipient" in str(err.value)
    assert not store.journal.batches()


def test_a_creation_rule_that_names_only_sops_files_covers_the_journal_too(tmp_path: Path, age_key):
    """The batch that carries the journal key is encrypted under the state's own name: a `.sops.yaml`
    whose rule matches `*.sops.yaml` (the usual one) gives it the state's recipients. Under another
    name it matched no rule, and the first apply of such a project stopped at its first batch."""
    rules = tmp_path / ".sops.yaml"
    rules.write_text(f"creation_rules:\n  - path_regex: \\.sops\\.yaml$\n    age: {age_key.recipient}\n")
    store = FileStore(tmp_path / "dcrsync.state.sops.yaml", Sops(config_path=rules))
    store.read()
    store.journal_soon()
    store.append([upsert("a", client_id="id-a", client_secret="s-a")])
    assert FileStore(store.path, store.sops).read().clients["a"].client_secret == "s-a"


def test_a_recipient_removed_without_rekey_takes_the_journal_key_with_it(tmp_path: Path, age_key):
    """Whoever could read the state knew its journal key, which signs every batch and seals the secret
    ones: a commit that stops encrypting the state for one of its recipients replaces the key, even
    when `state rekey` was not run. A recipient added keeps it (nobody who knew it lost access)."""
    import pyrage

    leaver = str(pyrage.x25519.Identity.generate().to_public())
    path = tmp_path / "state.sops.yaml"
    FileStore(path, Sops(age_recipients=[age_key.recipient, leaver])).commit(State(serial=0))
    first = FileStore(path, Sops(age_recipients=[age_key.recipient])).read().journal_key

    joiner = str(pyrage.x25519.Identity.generate().to_public())
    store = FileStore(path, Sops(age_recipients=[age_key.recipient, leaver, joiner]))
    store.commit(store.read())  # one added: the key stays
    assert store.read().journal_key == first

    store = FileStore(path, Sops(age_recipients=[age_key.recipient, joiner]))  # the leaver taken out of the config
    store.append([upsert("a", client_id="id-a", client_secret="s-a")])  # sealed under the old key, then folded
    store.commit(store.read())
    after = FileStore(path, store.sops).read()
    assert after.journal_key not in (None, first) and after.clients["a"].client_secret == "s-a"
    assert leaver not in recipients(path.read_bytes())
    store = FileStore(path, store.sops)
    store.read()
    store.append([upsert("a", client_secret="s-a2")])  # the journal goes on under the new key
    assert FileStore(path, store.sops).read().clients["a"].client_secret == "s-a2"
