"""The state's sops document (version 2): a line per client and every secret in one value, so sops's
work does not grow with the number of clients; version 1 documents still read; a document that is
not one is refused in one line (dcrsync.state.document)."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dcrsync.errors import StateError
from dcrsync.state.records import ClientRecord, State
from tests.support.properties import examples


def _state(n: int) -> State:
    clients = {}
    for i in range(n):
        name = f"c-{i:04d}"
        clients[name] = ClientRecord(name, f"id-{i}", client_secret=f"secret-{i}" if i % 2 else None,
                                     registration_client_uri=f"https://op.example/reg/{i}" if i % 3 == 0 else None)
    return State(clients=clients, journal_key=b"k" * 32)


def test_the_document_holds_a_handful_of_values_whatever_the_number_of_clients():
    plain, _ = _state(1000).to_files()
    doc = yaml.safe_load(plain)
    # what sops reads, walks and MACs: the same few values for 1,000 clients as for one
    assert set(doc) == {"version", "serial", "previous", "journal_key", "applied_digest", "clients", "secrets"}
    assert all(isinstance(v, (str, int)) for v in doc.values())
    lines = doc["clients"].splitlines()
    assert len(lines) == 1000 and lines == sorted(lines)  # a git diff names the clients that changed
    assert json.loads(lines[1]) == {"c-0001": {"client_id": "id-1", "held": ["client_secret"]}}
    # every secret is in the one value sops encrypts (the regex names it), none in a client's line
    assert "secret-1" not in doc["clients"] and json.loads(doc["secrets"])["c-0001"] == {"client_secret": "secret-1"}
    assert plain.count(b"\n") < 1010  # the block is written one client a line, not folded or quoted


def test_read_without_the_key_knows_which_secrets_are_held_and_nothing_of_them():
    plain, sidecar = _state(4).to_files()
    doc = yaml.safe_load(plain)
    doc["secrets"] = "ENC[AES256_GCM,data:xx,iv:yy,tag:zz,type:str]"  # as sops leaves it without the key
    public = State.from_files(yaml.safe_dump(doc).encode(), "f", True, sidecar)
    assert [n for n, r in public.clients.items() if r.has("client_secret")] == ["c-0001", "c-0003"]
    assert all(r.client_secret is None for r in public.clients.values())
    keyed = State.from_files(plain, "f", False, sidecar)
    assert keyed.clients["c-0003"].client_secret == "secret-3" and keyed.clients["c-0002"].client_secret is None
    assert keyed.clients["c-0003"].registration_client_uri == "https://op.example/reg/3"


def test_a_version_1_document_still_reads_with_and_without_the_key():
    v1 = {"version": 1, "serial": 4, "clients": {
        "web": {"client_id": "id-web", "client_secret": "s-web", "registration_access_token": "rat"},
        "spa": {"client_id": "id-spa", "pending": "create"},
    }}
    keyed = State.from_files(yaml.safe_dump(v1).encode(), "f", False, None)
    assert (keyed.serial, keyed.clients["web"].client_secret, keyed.clients["spa"].pending) == (4, "s-web", True)
    public = State.from_files(yaml.safe_dump(v1).encode(), "f", True, None)
    assert public.clients["web"].held == {"client_secret", "registration_access_token"}
    assert public.clients["web"].client_secret is None
    again = State.from_files(keyed.to_files()[0], "f", False, None)  # written again: version 2, nothing lost
    assert yaml.safe_load(keyed.to_files()[0])["version"] == 2
    assert again.clients["web"].registration_access_token == "rat" and again.clients["spa"].pending is True


@pytest.mark.parametrize(("clients", "secrets", "says"), [
    ({"a": {"client_id": "x"}}, None, "clients block is not text"),
    ("not json\n", None, "not JSON lines"),
    ('{"a":{"client_id":"x"},"b":{"client_id":"y"}}\n', None, "not one client"),
    ('{"a":{"client_id":"x","client_secret":"plain"}}\n', None, "secrets are not where they belong"),
    ('{"a":{"client_id":"x","held":["password"]}}\n', None, "secrets are not where they belong"),
    ('{"a":{"client_id":"x"}}\n', '{"b":{"client_secret":"s"}}', "keeps secrets for b, which it has no record"),
    ('{"a":{"client_id":"x"}}\n', '["s"]', "not one object of client secrets"),
    ('{"a":{"client_id":"x"}}\n', '{"a":{"password":"s"}}', "not one object of client secrets"),
    ('{"a":' * 5000 + "1" + "}" * 5000 + "\n", None, "not JSON lines"),
])
def test_a_document_that_is_not_one_is_refused_in_one_line(clients, secrets, says):
    doc = {"version": 2, "serial": 1, "clients": clients, **({"secrets": secrets} if secrets else {})}
    with pytest.raises(StateError, match=says) as refused:
        State.from_files(yaml.safe_dump(doc).encode(), "state.sops.yaml", False, None)
    assert "\n" not in str(refused.value) and "restore" in str(refused.value)


def test_a_newer_version_is_refused_with_advice():
    with pytest.raises(StateError, match=r"version 1 or 2 or 3.*newer dcrsync"):
        State.from_files(b"version: 4\nserial: 1\n", "f", False, None)


_NAME = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=examples(200), deadline=None)
@given(st.dictionaries(_NAME, st.tuples(st.text(max_size=8), st.none() | st.text(min_size=1, max_size=8),
                                        st.booleans()), max_size=6))
def test_any_names_and_secrets_round_trip(records):
    """Line breaks of every kind (U+2028, NEL, CR) in a name or a secret stay inside their line."""
    state = State(clients={n: ClientRecord(n, cid or None, client_secret=secret, pending=pending)
                           for n, (cid, secret, pending) in records.items()})
    plain, sidecar = state.to_files()
    again = State.from_files(plain, "f", False, sidecar)
    assert {n: (r.client_id, r.client_secret, r.pending) for n, r in again.clients.items()} == {
        n: (r.client_id, r.client_secret, r.pending) for n, r in state.clients.items()}
    assert len(yaml.safe_load(plain)["clients"].splitlines()) == len(records)
