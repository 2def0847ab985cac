"""The `.applied.json` sidecar keeps each server representation losslessly in its slim shape, and its
reader takes the older whole shape too."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dcrsync.state.records import ClientRecord, State
from dcrsync.state.sidecar import ABSENT, COMMON, DELTA, decode, dumps
from tests.support.properties import examples

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.floats(allow_nan=False) | st.sampled_from(["", "a", "b"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(["x", "y"]), inner, max_size=2),
    max_leaves=5,
)
_OBSERVED = st.dictionaries(st.sampled_from(["a", "b", "c", "d", "owner", "jwks"]), _JSON, max_size=6)


def _strict(value: Any) -> Any:
    """The value with its JSON types spelled out (`1`, `1.0` and `true` compare apart)."""
    return json.dumps(value, sort_keys=True)


@settings(max_examples=examples(400), deadline=None)
@given(st.dictionaries(st.sampled_from([f"c{i}" for i in range(8)]), _OBSERVED | st.none(), max_size=8))
def test_every_representation_reads_back_as_it_was(observed: dict[str, dict[str, Any] | None]) -> None:
    books = {n: {"desired": {"k": 1}, "applied_at": "t", **({"observed": o} if o is not None else {})}
             for n, o in observed.items()}
    back = decode(json.loads(dumps(1, books)))
    assert _strict(back) == _strict(books)


def test_what_most_clients_share_is_written_once() -> None:
    common = {"owner": "team", "audience": [], "jwks": {}, "skip_consent": False}
    books = {f"c{i}": {"desired": {}, "applied_at": "t", "observed": {**common, "client_id": f"id{i}"}}
             for i in range(100)}
    books["odd"] = {"desired": {}, "applied_at": "t", "observed": {"client_id": "x", "audience": [0], "owner": 1}}
    doc = json.loads(dumps(1, books))
    assert doc[COMMON] == common
    assert doc["clients"]["c7"][DELTA] == {"client_id": "id7"}
    assert doc["clients"]["odd"][DELTA] == {"client_id": "x", "audience": [0], "owner": 1}
    assert doc["clients"]["odd"][ABSENT] == ["jwks", "skip_consent"]
    text = dumps(1, books).decode()
    assert len(text.splitlines()) == 3 + len(books) + 1  # a line per client: a git diff names the clients
    assert decode(doc) == books


def test_the_older_whole_shape_still_reads() -> None:
    old = {"version": 1, "clients": {"a": {"desired": {"x": 1}, "applied_at": "t", "observed": {"owner": "o"}}}}
    assert decode(old) == old["clients"]
    plain = b"version: 1\nserial: 3\nclients:\n  a: {client_id: id-a}\n"
    state = State.from_files(plain, "f", False, json.dumps(old, indent=1).encode())
    assert state.clients["a"].observed == {"owner": "o"} and state.clients["a"].desired == {"x": 1}


def test_a_shape_it_does_not_know_reads_as_no_bookkeeping_never_a_crash() -> None:
    assert decode({"clients": [1, 2]}) == {}
    assert decode({"clients": {"a": 3, "b": {DELTA: "no", "desired": {}}}, COMMON: []}) == {"b": {"desired": {}}}
    plain = b"version: 1\nserial: 1\nclients:\n  a: {client_id: id-a}\n"
    state = State.from_files(plain, "f", False, b"[1, 2]")
    assert state.clients["a"].client_id == "id-a" and state.clients["a"].observed is None


def test_a_state_round_trips_through_the_slim_sidecar() -> None:
    recs = {f"c{i}": ClientRecord(f"c{i}", f"id{i}", desired={"n": i}, applied={"n": i}, applied_at="t",
                                  observed={"client_id": f"id{i}", "owner": "o", "audience": []}) for i in range(5)}
    plain, sidecar = State(clients=recs).to_files()
    again = State.from_files(plain, "f", False, sidecar)
    assert not again.warnings
    assert {n: (r.desired, r.observed) for n, r in again.clients.items()} == {
        n: (r.desired, r.observed) for n, r in recs.items()}
