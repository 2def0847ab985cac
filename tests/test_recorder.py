"""The Recorder keeps what an apply's server calls return: journaled as they come, folded once.

Against the real sops binary and the file store (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcrsync.backends.base import Result
from dcrsync.errors import BackendError
from dcrsync.model import ClientSpec, LiveClient, Location, normalise_value
from dcrsync.recorder import Recorder
from dcrsync.sops import Sops
from dcrsync.state import State, upsert
from dcrsync.store import FileStore


def _answer(name: str, cid: str) -> tuple[ClientSpec, Result]:
    fields = {"client_name": name, "grant_types": ["client_credentials"]}
    spec = ClientSpec(name, dict(fields), Location(f"{name}.yaml", 1, 1))
    return spec, Result(live=LiveClient(cid, dict(fields), {"client_id": cid, **fields}),
                        secrets={"client_secret": f"s3cret-{name}"})


@pytest.fixture
def store(tmp_path: Path, age_key) -> FileStore:
    return FileStore(tmp_path / "state.sops.yaml", Sops(age_recipients=[age_key.recipient]))


def test_answers_are_journaled_before_the_commit_and_folded_once(store: FileStore):
    recorder = Recorder(store, normalise_value, interval=0.0)
    with recorder:
        recorder.journal(upsert("a", client_id="id-a", pending=True, client_secret=None))
        recorder.durable(recorder.answer(*_answer("a", "id-a")))
        # a crash here would lose nothing: the journal alone gives the secret back
        assert store.has_journal()
        assert store.read().clients["a"].client_secret == "s3cret-a"
    state = State()
    recorder.commit(state)
    assert not store.has_journal()
    back = store.read()
    assert back.clients["a"].client_id == "id-a" and not back.clients["a"].pending
    assert "s3cret-a" not in store.path.read_text()  # encrypted at rest


def test_an_error_under_way_is_not_hidden_by_the_last_journal_write(store: FileStore):
    recorder = Recorder(store, normalise_value, interval=0.0)
    with pytest.raises(BackendError, match="server said no"):
        with recorder:
            recorder.answer(*_answer("b", "id-b"))
            raise BackendError("server said no")
    # what was answered before the error is kept for the next apply
    assert store.read().clients["b"].client_secret == "s3cret-b"
