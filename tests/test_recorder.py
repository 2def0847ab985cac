"""The Recorder keeps what an apply's server calls return: journaled as they come, folded once.

Against the real sops binary and the file store (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcrsync.apply.recorder import Recorder
from dcrsync.backends.base import Result
from dcrsync.errors import BackendError
from dcrsync.model import ClientSpec, LiveClient, Location, normalise_value
from dcrsync.state.records import upsert
from dcrsync.state.sops import Sops
from dcrsync.state.store import FileStore


def _answer(name: str, cid: str) -> tuple[ClientSpec, Result]:
    fields = {"client_name": name, "grant_types": ["client_credentials"]}
    spec = ClientSpec(name, dict(fields), Location(f"{name}.yaml", 1, 1))
    return spec, Result(live=LiveClient(cid, dict(fields), {"client_id": cid, **fields}),
                        secrets={"client_secret": f"s3cret-{name}"})


@pytest.fixture
def store(tmp_path: Path, age_key) -> FileStore:
    return FileStore(tmp_path / "state.sops.yaml", Sops(age_recipients=[age_key.recipient]))


def test_answers_are_journaled_before_the_commit_and_folded_once(store: FileStore):
    # a server that chooses client_ids: a create's answer is on disk before `answer` returns
    recorder = Recorder(store, normalise_value, interval=60.0, chooses_client_id=False)
    with recorder:
        recorder.announce(upsert("a", client_id=None, pending=True, client_secret=None))
        assert store.read().clients["a"].pending  # the intent is on disk before anything is sent
        recorder.answer(*_answer("a", "id-a"), created=True)
        # a crash here would lose nothing: the journal alone gives the secret back
        assert store.has_journal()
        assert store.read().clients["a"].client_secret == "s3cret-a"
    state = store.read()
    recorder.commit(state)
    assert not store.has_journal()
    back = store.read()
    assert back.clients["a"].client_id == "id-a" and not back.clients["a"].pending
    assert "s3cret-a" not in store.path.read_text()  # encrypted at rest


def test_an_answer_that_can_be_had_again_waits_for_the_group_commit(store: FileStore):
    recorder = Recorder(store, normalise_value, interval=60.0, chooses_client_id=True)
    with recorder:
        recorder.answer(*_answer("c", "id-c"), created=True)
        assert not store.has_journal()  # batched: written within the interval, or when the apply ends
    assert store.read().clients["c"].client_secret == "s3cret-c"


def test_a_new_registration_token_is_on_disk_before_answer_returns(store: FileStore):
    recorder = Recorder(store, normalise_value, interval=60.0, chooses_client_id=True)
    spec, result = _answer("d", "id-d")
    result.secrets["registration_access_token"] = "rat-new"
    with recorder:
        recorder.answer(spec, result)
        assert store.read().clients["d"].registration_access_token == "rat-new"


def test_an_error_under_way_is_not_hidden_by_the_last_journal_write(store: FileStore):
    recorder = Recorder(store, normalise_value, interval=0.0)
    with pytest.raises(BackendError, match="server said no"):
        with recorder:
            recorder.answer(*_answer("b", "id-b"))
            raise BackendError("server said no")
    # what was answered before the error is kept for the next apply
    assert store.read().clients["b"].client_secret == "s3cret-b"
