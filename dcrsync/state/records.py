"""The state as data: records, journal entries, the fold, and the bytes of the state files. Pure.

The state maps each client's `name` to its `client_id`, keeps what the server gave only once
(secrets, registration token and URI) and what was last applied, so plans can tell git changes
(pending) from server changes (drift). Where it is kept (a sops file in git, a shared store) is
`dcrsync.state.store`'s business; this module does no I/O and imports nothing that does.

The sops document holds identity and secrets (`dcrsync.state.document`: a line per client, every
secret in one encrypted value); the bookkeeping of what was last applied is a plain JSON document
beside it (no secrets), whose sha256 is stored inside the sops one so that an edit or a mismatch is
seen.

A journal entry (`Entry`) is one step of an apply: `upsert` merges fields into a record, `forget`
drops one, `move` renames one. Entries are folded into the state in order.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Literal, NotRequired, TypedDict

import yaml

from dcrsync.errors import StateError
from dcrsync.guards.answers import NUMBER, OBJECT, TEXT, Shape, inert, loads, misfit
from dcrsync.model import ClientSpec, LiveClient, observed
from dcrsync.state import document, sealed
from dcrsync.state import sidecar as sidecar_shape

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

STATE_VERSION = document.VERSION
#: the `.applied.json` sidecar's own version (its shape did not change with the document's)
SIDECAR_VERSION = 1
SECRET_KEYS = document.SECRET_KEYS
IDENTITY_KEYS = (
    "client_id",
    "client_secret",
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "pending",
)


class Entry(TypedDict):
    """One journal entry, as it is written to the journal (JSON)."""

    op: Literal["upsert", "delete", "move"]
    name: str
    data: NotRequired[dict[str, Any]]
    to: NotRequired[str]


#: what a record in the state must be for dcrsync to read it
RECORD = {
    **{key: TEXT for key in ("client_id", *SECRET_KEYS, "registration_client_uri", "applied_at")},
    **{key: OBJECT for key in ("desired", "applied", "observed", "sealed")},
    "client_secret_expires_at": NUMBER,
}
RECORDS = document.RECORDS
SIDECAR = Shape("an object of records under `clients`", lambda v: isinstance(v, dict) and RECORDS.fits(v.get("clients") or {}))


def upsert(name: str, **data: Any) -> Entry:
    """Merge `data` into NAME's record (made when `data` has a client_id and none exists)."""
    return {"op": "upsert", "name": name, "data": data}


def forget(name: str) -> Entry:
    return {"op": "delete", "name": name}


def move_entry(old: str, new: str) -> Entry:
    return {"op": "move", "name": old, "to": new}


def has_secret(entry: Entry) -> bool:
    """The entry holds a secret, or values read from the environment (`sealed`): its batch is encrypted."""
    data = entry.get("data") or {}
    return any(data.get(k) for k in SECRET_KEYS) or bool(data.get("sealed"))


def sealed_of(spec: ClientSpec) -> dict[str, list[str]]:
    """A record's `sealed` for `spec`: each field its file read from the environment -> the variables."""
    return {path: list(names) for path, names in spec.env_refs.items()}


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ClientRecord:
    name: str
    #: None while a create is announced to a server that chooses the id and has not answered yet
    client_id: str | None
    desired: dict[str, Any] = field(default_factory=dict)  # normalised declared values at last apply
    applied: dict[str, Any] = field(default_factory=dict)  # normalised server values after it
    applied_at: str = ""
    client_secret: str | None = None
    registration_access_token: str | None = None
    registration_client_uri: str | None = None
    client_secret_expires_at: int | None = None
    #: True while a create was announced but not yet confirmed by the server
    pending: bool = False
    #: the server's whole representation after the last apply (no secrets, nothing volatile):
    #: `drift` names the undeclared fields someone changed since
    observed: dict[str, Any] | None = None
    #: the client's `labels:` at the last apply: the policy's change rules still see them once the
    #: client's file is gone
    labels: dict[str, str] = field(default_factory=dict)
    #: secret keys the state holds encrypted, when it was read without the key (values unknown)
    held: frozenset[str] = frozenset()
    #: `protected: true` at the last apply: a delete or replace needs `apply --allow-destroy NAME`,
    #: even after the client's file is gone
    protected: bool = False
    #: delivery target id -> keyed hash of what was last delivered there (`dcrsync.deliver`)
    deliveries: dict[str, str] = field(default_factory=dict)
    #: when the current secret was issued (None: before dcrsync kept it, or recorded by set-secret)
    secret_at: str | None = None
    #: the client's `rotation:` token when its current secret was issued
    rotation: str | None = None
    #: a two-phase rotation under way: {"until": epoch seconds the old secret stays valid, "at": when}
    rotating: dict[str, Any] | None = None
    #: declared paths whose values the client file read from the environment at the last apply -> the
    #: variables: kept encrypted, never in the plain sidecar (`dcrsync.state.sealed`)
    sealed: dict[str, list[str]] = field(default_factory=dict)

    def has(self, key: str) -> bool:
        """The state holds this secret (known, or encrypted and unread)."""
        return getattr(self, key) is not None or key in self.held

    def identity(self) -> dict[str, Any]:
        """What the sops file keeps: client_id and what the server gave once."""
        out = {k: getattr(self, k) for k in IDENTITY_KEYS if getattr(self, k) not in (None, "", False)}
        if self.pending:
            out["pending"] = "create"  # the file's word for it
        return out

    def bookkeeping(self) -> dict[str, Any]:
        """What the plain sidecar keeps: the last apply, for pending/drift causes."""
        out: dict[str, Any] = {"desired": self.desired, "applied_at": self.applied_at}
        if self.observed is not None:
            out["observed"] = self.observed
        if self.applied != self.desired:
            out["applied"] = self.applied  # the usual case stores one copy
        if self.labels:
            out["labels"] = self.labels
        if self.protected:
            out["protected"] = True
        for key in ("deliveries", "secret_at", "rotation", "rotating", "sealed"):  # absent when unused
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> ClientRecord:
        known = _RECORD_KEYS
        rec = cls(name=name, client_id=None)
        rec.merge({k: v for k, v in data.items() if k in known})
        if "applied" not in data:
            rec.applied = dict(rec.desired)
        return rec

    def merge(self, changes: dict[str, Any]) -> None:
        for k, v in changes.items():
            if k == "pending":
                v = v in ("create", True)
            elif k == "client_id":
                v = v or None  # older journals wrote "" for an id the server had not chosen yet
            if k not in ("name", "held") and hasattr(self, k):
                setattr(self, k, v)


_RECORD_KEYS = frozenset(f.name for f in fields(ClientRecord)) - {"name", "held"}


def record_fingerprint(record: ClientRecord | None) -> str:
    """What a saved plan checks of a record it touches: identity and last apply, never a secret's
    value (only whether one is held), so it reads the same with and without the key."""
    if record is None:
        return "absent"
    body = {
        "client_id": record.client_id,
        "pending": record.pending,
        "desired": sealed.masked(record.desired, record.sealed),  # as a read without the key has them
        "applied": sealed.masked(record.applied, record.sealed),
        "secrets": sorted(k for k in SECRET_KEYS if record.has(k)),
    }
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class State:
    clients: dict[str, ClientRecord] = field(default_factory=dict)
    serial: int = 0
    encrypted: bool = False  # True when read without a key: secrets are ENC[…] and not known
    warnings: list[str] = field(default_factory=list)
    #: the key journal batches are authenticated with (`dcrsync.state.batches`), kept encrypted; None in a
    #: state written before journals were authenticated, or read without the key
    journal_key: bytes | None = None
    #: digest of the stored document this one replaced: the batches that one's journal held were folded
    previous: str = ""
    #: digests of unauthenticated (older dcrsync's) journal batches the commit that wrote this state folded
    legacy_folded: list[str] = field(default_factory=list)

    def by_client_id(self) -> dict[str, ClientRecord]:
        return {r.client_id: r for r in self.clients.values() if r.client_id}

    def seal(self, specs: Iterable[ClientSpec]) -> bool:
        """Mark on each record the fields its client's file reads from the environment (`sealed`),
        where the record does not say so yet (kept by a dcrsync before 2026-12, or applied before the
        file read them): the next write keeps their values encrypted. True when a record changed."""
        changed = False
        for spec in specs:
            record = self.clients.get(spec.name)
            if record is None:
                continue
            missing = {p: v for p, v in sealed_of(spec).items() if p not in record.sealed}
            if missing:
                record.sealed = {**record.sealed, **missing}
                changed = True
        return changed

    def fold(self, entries: Iterable[Entry]) -> None:
        """Apply journal entries in order: `upsert` merges fields into a record, `delete` drops it,
        `move` renames it (secrets and all) to `to`."""
        for entry in entries:
            name = entry["name"]
            if entry["op"] == "delete":
                self.clients.pop(name, None)
            elif entry["op"] == "move":
                moved = self.clients.pop(name, None)
                if moved is not None:
                    moved.name = entry["to"]
                    self.clients[entry["to"]] = moved
            elif entry["op"] == "upsert":
                data = entry["data"]
                rec = self.clients.get(name)
                if rec is None:
                    if "client_id" not in data:
                        continue
                    rec = ClientRecord(name=name, client_id=data["client_id"])
                    self.clients[name] = rec
                rec.merge(data)

    def to_files(self) -> tuple[bytes, bytes]:
        """(plaintext for the sops file, bytes of the sidecar)."""
        names = sorted(self.clients)
        books, hidden = {}, {}
        for n in names:
            books[n], kept = sealed.split(self.clients[n].bookkeeping(), self.clients[n].sealed)
            if kept is not None:
                hidden[n] = kept
        sidecar = sidecar_shape.dumps(SIDECAR_VERSION, books)
        head: dict[str, Any] = {"serial": self.serial, "previous": self.previous}
        if self.journal_key is not None:
            head["journal_key"] = base64.b64encode(self.journal_key).decode()  # encrypted by sops
        if self.legacy_folded:
            head["legacy_folded"] = self.legacy_folded
        head["applied_digest"] = "sha256:" + hashlib.sha256(sidecar).hexdigest()
        records = [self.clients[n] for n in names]
        identities = {r.name: {k: v for k, v in r.identity().items() if k not in SECRET_KEYS} for r in records}
        held = {r.name: [k for k in SECRET_KEYS if r.has(k)] for r in records}
        secrets = {r.name: {k: getattr(r, k) for k in SECRET_KEYS if getattr(r, k)} for r in records}
        return document.dump(head, identities, held, secrets, hidden), sidecar

    @classmethod
    def from_files(cls, text: bytes, where: str, encrypted: bool, sidecar: bytes | None) -> State:
        try:
            doc = yaml.load(text, Loader=_Loader) or {}
        except yaml.YAMLError as exc:
            raise StateError(f"{where} is not valid YAML ({exc.__class__.__name__}); restore it from git") from None
        if not isinstance(doc, dict) or doc.get("version") not in document.READS:
            raise StateError(f"{where} is not a dcrsync state (version {' or '.join(map(str, document.READS))}); "
                             "restore it from git (a newer dcrsync may have written it: upgrade)")
        identities, held_by, secrets, hidden = document.records(doc, where, encrypted)
        wrong = misfit(doc, {"serial": NUMBER})
        if wrong:
            raise StateError(f"{where} is not a dcrsync state ({wrong}); restore it from git or from the store's backup")
        state = cls(serial=int(doc.get("serial") or 0), encrypted=encrypted, previous=str(doc.get("previous") or ""),
                    legacy_folded=[str(d) for d in doc.get("legacy_folded") or []])
        if not encrypted and doc.get("journal_key"):
            try:
                state.journal_key = base64.b64decode(str(doc["journal_key"]), validate=True)
            except (binascii.Error, ValueError):
                raise StateError(f"{where}: its journal key does not decode; restore the state from git or a backup") from None
        books: dict[str, Any] = {}
        if sidecar is not None:
            if doc.get("applied_digest") != "sha256:" + hashlib.sha256(sidecar).hexdigest():
                state.warnings.append(
                    f"{where}: its .applied.json does not match (edited, or an apply was interrupted "
                    "between the two writes); pending/drift labels may be off until the next apply"
                )
            try:
                books = loads(sidecar, deep=True)  # written by dcrsync, and large: not walked
            except ValueError:
                books = None
            wrong = "it is not JSON" if books is None else misfit({"": books}, {"": SIDECAR})
            books = sidecar_shape.decode(books) if not wrong else {}  # either shape: dcrsync.state.sidecar
            if wrong:
                state.warnings.append(f"{where}: its .applied.json cannot be read ({wrong}); ignored until the next apply")
        for name, data in identities.items():
            kept = books.get(name) or {}
            if name in hidden:
                kept = sealed.join(kept, hidden[name])
            merged = {**kept, **data, **secrets.get(name, {})}
            wrong = misfit(merged, RECORD)
            if wrong:
                raise StateError(f"{where}: the record of {inert(str(name))} cannot be read ({wrong}); restore the "
                                 "state from git or from the store's backup")
            rec = ClientRecord.from_dict(name, merged)
            if encrypted and doc["version"] == 1:  # ENC[…] values only say that a secret exists
                rec.held = frozenset(k for k in SECRET_KEYS if getattr(rec, k))
                for key in rec.held:
                    setattr(rec, key, None)
            elif encrypted:
                rec.held = frozenset(held_by.get(name, ()))
            state.clients[name] = rec
        return state



Normalise = Callable[[str, Any], Any]


def desired_values(spec: ClientSpec, normalise: Normalise) -> dict[str, Any]:
    return {p: normalise(p, v) for p, v in spec.declared().items()}


def live_values(live: LiveClient, paths: Iterable[str], normalise: Normalise) -> dict[str, Any]:
    return {p: normalise(p, live.fields.get(p)) for p in paths}


def entries_for(
    spec: ClientSpec, live: LiveClient, given: dict[str, Any], normalise: Normalise
) -> tuple[list[Entry], list[str]]:
    """What a finished create/update records: the secrets the server gave (first, so a batch that
    holds them is encrypted), then the bookkeeping; and a warning per value the server stored
    differently from what was asked (accepted: it will not show as a change again)."""
    desired = desired_values(spec, normalise)
    applied = live_values(live, desired, normalise)
    warnings = [
        f"{spec.name}: the server stored {path} as {live.fields.get(path)!r} instead of "
        f"{spec.declared().get(path)!r}; accepted (it will not show as a change again)"
        for path in sorted(desired) if desired[path] != applied[path]
    ]
    entries: list[Entry] = []
    at = now()
    secrets_given = {k: v for k, v in given.items() if v is not None}
    if secrets_given.get("client_secret"):  # a new secret: its age and token, and every delivery due again
        secrets_given.update(secret_at=at, rotation=spec.rotation, deliveries={})
    if secrets_given:
        entries.append(upsert(spec.name, client_id=live.client_id, **secrets_given))
    entries.append(upsert(
        spec.name, client_id=live.client_id, desired=desired, applied=applied, applied_at=at,
        pending=None, observed=observed(live), labels=dict(spec.labels), protected=spec.protected,
        sealed=sealed_of(spec),
    ))
    return entries, warnings
