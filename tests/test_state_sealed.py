"""Values client files read from the environment never reach the plain sidecar or a plain journal batch
(`dcrsync.state.sealed`): the state keeps them in its encrypted document, whole again with the key,
stand-ins without it. Pure: the bytes `State.to_files` and `batches.seal` produce."""

from __future__ import annotations

import copy
import json

import yaml

from dcrsync.model import ClientSpec, LiveClient
from dcrsync.plan.drift import detect
from dcrsync.plan.fields import field_changes
from dcrsync.state import document
from dcrsync.state.batches import Chain, seal
from dcrsync.state.records import ClientRecord, State, entries_for, record_fingerprint
from dcrsync.state.sealed import STAND_IN

NAME = "Zebra name 4411"  # what APP_NAME holds
HOST = "cbhost-9d8e7f.example.com"  # what CB_HOST holds
CALLBACK = f"https://{HOST}/cb"


def _spec() -> ClientSpec:
    spec = ClientSpec(name="app", fields={"client_name": NAME, "redirect_uris": [CALLBACK], "scope": "openid"},
                      location=None)
    spec.env_refs = {"client_name": ("APP_NAME",), "redirect_uris": ("CB_HOST",)}
    return spec


def _live(name: str = NAME) -> LiveClient:
    raw = {"client_id": "c-1", "client_name": name, "redirect_uris": [CALLBACK], "scope": "openid",
           "metadata": {"note": f"for {HOST}"}}
    return LiveClient("c-1", {k: v for k, v in raw.items() if k != "metadata"}, raw)


def _state() -> State:
    entries, _ = entries_for(_spec(), _live(), {"client_secret": "s3cr3t-value"}, lambda path, v: v)
    state = State(journal_key=b"k" * 32)
    state.fold(entries)
    state.clients["plain"] = ClientRecord("plain", "c-2", desired={"scope": "openid"}, applied={"scope": "openid"},
                                          observed={"scope": "openid"})
    return state


def _keyless(plain: bytes) -> bytes:
    """The stored document as a reader without the key has it: the encrypted values unreadable."""
    doc = yaml.safe_load(plain)
    for key in ("secrets", "sealed", "journal_key"):
        doc[key] = "ENC[AES256_GCM,data:xx,iv:yy,tag:zz,type:str]"
    return yaml.safe_dump(doc).encode()


def test_the_sidecar_holds_stand_ins_and_the_encrypted_document_the_values():
    plain, sidecar = _state().to_files()
    assert NAME.encode() not in sidecar and HOST.encode() not in sidecar
    books = json.loads(sidecar)["clients"]["app"]
    assert books["desired"]["client_name"] == STAND_IN and books["desired"]["redirect_uris"] == STAND_IN
    assert books["desired"]["scope"] == "openid"  # what the file did not read from the environment stays
    assert "observed" not in books  # the server's representation holds the values under its own names
    assert books["sealed"] == {"client_name": ["APP_NAME"], "redirect_uris": ["CB_HOST"]}
    doc = yaml.safe_load(plain)
    assert doc["version"] == document.SEALED_VERSION  # an older dcrsync refuses it rather than misread it
    assert NAME not in doc["clients"] and HOST not in doc["clients"]  # the plain block of identities
    assert NAME in doc["sealed"] and HOST in doc["sealed"]  # the one value sops encrypts


def test_with_the_key_every_record_reads_back_whole():
    state = _state()
    plain, sidecar = state.to_files()
    back = State.from_files(plain, "s", False, sidecar)
    for name in ("app", "plain"):
        a, b = state.clients[name], back.clients[name]
        assert (b.desired, b.applied, b.observed, b.sealed) == (a.desired, a.applied, a.observed, a.sealed), name
    assert back.clients["app"].client_secret == "s3cr3t-value"
    assert not back.warnings


def test_without_the_key_stand_ins_and_the_same_fingerprint():
    state = _state()
    plain, sidecar = state.to_files()
    keyed = State.from_files(plain, "s", False, sidecar).clients["app"]
    keyless = State.from_files(_keyless(plain), "s", True, sidecar).clients["app"]
    assert keyless.desired["client_name"] == STAND_IN and keyless.observed is None
    # a plan saved without the key (a pull request) is not stale for the apply that reads with it
    assert record_fingerprint(keyless) == record_fingerprint(keyed)


def test_a_state_without_such_values_is_still_version_2():
    state = _state()
    del state.clients["app"]
    plain, _ = state.to_files()
    assert yaml.safe_load(plain)["version"] == 2 and "sealed" not in yaml.safe_load(plain)


def test_a_sidecar_edited_to_drop_the_seal_does_not_unseal_the_next_write():
    state = _state()
    plain, sidecar = state.to_files()
    edited = json.loads(sidecar)
    del edited["clients"]["app"]["sealed"]
    back = State.from_files(plain, "s", False, json.dumps(edited).encode())
    assert back.clients["app"].desired["client_name"] == NAME  # the values come from the encrypted document
    _, again = back.to_files()
    assert NAME.encode() not in again and HOST.encode() not in again


def test_the_journal_batch_that_records_such_an_apply_is_encrypted():
    entries, _ = entries_for(_spec(), _live(), {}, lambda path, v: v)  # no secret in the answer
    sealed = seal(entries, Chain(b"k" * 32, 1, "sha256:base"), None, "state.sops.yaml")
    assert NAME.encode() not in sealed.data and HOST.encode() not in sealed.data
    plain_spec = ClientSpec(name="other", fields={"scope": "openid"}, location=None)
    entries, _ = entries_for(plain_spec, LiveClient("c-2", {"scope": "openid"}, {"scope": "openid"}), {}, lambda p, v: v)
    assert b"openid" in seal(entries, Chain(b"k" * 32, 1, "sha256:base"), None, "s").data  # the others stay plain


def test_drift_without_the_key_reports_no_change_for_a_sealed_value():
    state = _state()
    del state.clients["plain"]
    plain, sidecar = state.to_files()
    keyless = State.from_files(_keyless(plain), "s", True, sidecar)
    report = detect([_spec()], [_live()], keyless, owner="o", normalise=lambda p, v: v, lists=False, server={})
    assert not report.clients and report.pending == 0, report
    keyed = State.from_files(plain, "s", False, sidecar)
    report = detect([], [_live("Renamed by hand 9")], keyed, owner="o", normalise=lambda p, v: v, lists=False,
                    server={})  # its file is gone: only the record says the value was read from the environment
    (changed,) = [c for c in report.clients if c.kind == "changed"]
    text = json.dumps([copy.deepcopy(f.__dict__) for f in changed.fields], default=str)
    assert NAME not in text and "Renamed by hand 9" not in text and "(from env:APP_NAME)" in text, text


def test_a_plan_from_a_state_read_without_the_key_shows_no_phantom_change():
    """`plan --refresh=false` (RFC 7592, no key) takes the live client from the record: a sealed value
    is unknown there, not a change; the fields the file did not read from the environment still are."""
    plain, sidecar = _state().to_files()
    record = State.from_files(_keyless(plain), "s", True, sidecar).clients["app"]
    live = LiveClient("c-1", dict(record.applied), dict(record.applied))  # what `norefresh` builds without observed
    changes, _ = field_changes(_spec(), live, record, lambda path, v: v)
    assert changes == []
    live.fields["scope"] = "openid email"
    changes, _ = field_changes(_spec(), live, record, lambda path, v: v)
    assert [c.path for c in changes] == ["scope"]


def test_seal_marks_what_a_file_reads_on_a_record_that_does_not_say_so_yet():
    state = _state()
    state.clients["app"].sealed = {}  # as a dcrsync before sealing kept it
    assert state.seal([_spec()]) is True
    assert state.clients["app"].sealed == {"client_name": ["APP_NAME"], "redirect_uris": ["CB_HOST"]}
    assert state.seal([_spec()]) is False  # nothing more to mark: no write needed
    _, sidecar = state.to_files()
    assert NAME.encode() not in sidecar
