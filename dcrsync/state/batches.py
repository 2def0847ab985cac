"""Journal batches: their bytes, and the MAC that proves a holder of the state's key wrote them.

A journal batch is folded into the state by the next apply, so whoever can write the journal (the
folder beside the state, the PostgreSQL `journal` table, the S3 `journal/` prefix, a pull request
that adds a `*.journal/` folder) could otherwise repoint a record, drop one or plant a secret. sops
alone does not stop that: its encryption is to public age recipients, so anyone can make a new,
well-formed sops file. What only the state's key holders have is the state's *journal key*: 32
random bytes kept inside the state as an encrypted value. Every batch carries an HMAC-SHA256 under
it over:

- the state it extends: that state's serial and the sha256 of its stored (encrypted) document, so
  a batch cannot be moved to another state, and a state replaced wholesale breaks its journal;
- its place: a sequence number and the MAC of the batch before it, so a batch removed from the
  middle of the journal, or the journal reordered, is seen;
- whether it holds a secret, and the exact JSON of its entries.

A batch that holds a secret is encrypted: once the chain has its journal key, sealed under it in
process (`dcrsync.state.sealing`: `"sealed"`, plain JSON around it); the batch that carries a new
journal key, and so has none to be sealed under yet, is sops-encrypted (sealed ahead of the first
write where apply can: `dcrsync.state.journalkey`).

`verify` checks every batch before any is folded; the first that fails is refused in one line
naming it. What the MAC cannot see: batches removed from the *end* of a journal (that reads as an
apply that crashed earlier, which the next apply converges from), and a state replaced wholesale
while no journal waits (see the README, "Security of the state").

A state written before journals were authenticated has no journal key: its journal is read as it
was written (no MAC) and the next write by a key holder gives it a key. The first batch written on
a state without a key carries a new key itself (encrypted), so an apply that crashes before its
commit leaves a journal the next run can still verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from dcrsync.errors import SopsError, StateError
from dcrsync.state.records import Entry, State, _Dumper, _Loader, has_secret
from dcrsync.state.sealing import SEALED, Unopened, open_blob, seal_blob

if TYPE_CHECKING:
    from dcrsync.state.sops import Sops

FORMAT = 2  # the `journal` field of an authenticated batch; batches before it have none
KEY_BYTES = 32
#: what sops encrypts in a secret batch: the entries, and a journal key carried by a first batch
BATCH_REGEX = "^(batch|key)$"
_HEADER = ("serial", "base", "seq", "prev", "mac")


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def mac(key: bytes, serial: int, base: str, seq: int, prev: str, secret: bool, blob: str) -> str:
    text = f"dcrsync journal {FORMAT}\n{serial}\n{base}\n{seq}\n{prev}\n{int(secret)}\n{blob}"
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


@dataclass
class Chain:
    """Where the next batch goes: the journal key, the state it extends, the last batch so far."""

    key: bytes | None
    serial: int
    base: str  # digest of the stored state document ("" when there is none yet)
    seq: int = 0
    prev: str = ""
    #: the batch that will carry a new journal key, sealed ahead (`dcrsync.state.journalkey`)
    ahead: Future[Sealed] | None = field(default=None, compare=False, repr=False)


@dataclass
class Sealed:
    """One batch ready to be written; `Chain` moves on only once it is durable (`advance`)."""

    data: bytes
    secret: bool  # sops-encrypted (how the store names and reads it back)
    seq: int
    mac: str
    key: bytes


def advance(chain: Chain, sealed: Sealed) -> None:
    chain.key, chain.seq, chain.prev = sealed.key, sealed.seq, sealed.mac


def seal(entries: list[Entry], chain: Chain, sops: Sops | None, name: str) -> Sealed:
    """The bytes of the next batch on `chain`: plain JSON; sealed under the journal key when it holds a
    secret; sops-encrypted when it carries the journal key (the first batch on a state that has none),
    under the state's own file `name`, so that sops's creation rules give the key the state's readers."""
    blob = json.dumps(entries, separators=(",", ":"), default=str)
    carried = new_key() if chain.key is None else None
    key = chain.key or carried
    assert key is not None
    secret = carried is not None or any(has_secret(e) for e in entries)
    seq = chain.seq + 1
    header = {"journal": FORMAT, "serial": chain.serial, "base": chain.base, "seq": seq, "prev": chain.prev,
              "mac": mac(key, chain.serial, chain.base, seq, chain.prev, secret, blob)}
    if not secret:
        return Sealed(json.dumps({**header, "batch": blob}).encode(), False, seq, header["mac"], key)
    if carried is None:
        sealed = {**header, "journal": SEALED}
        box = base64.b64encode(seal_blob(sealed, blob, key)).decode()
        return Sealed(json.dumps({**sealed, "sealed": box}).encode(), False, seq, header["mac"], key)
    if sops is None:
        raise StateError("writing secrets to the journal needs sops")
    doc = {**header, "batch": blob, "key": base64.b64encode(carried).decode()}
    plain = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=1 << 30).encode()
    data = sops.encrypt(plain, name, what="the journal", encrypted_regex=BATCH_REGEX)
    return Sealed(data, True, seq, header["mac"], key)


@dataclass
class Batch:
    """One batch as read back: its entries and, unless written before journals were authenticated,
    its header (serial, base, seq, prev, mac)."""

    name: str
    secret: bool
    entries: list[Entry]
    blob: str
    digest: str
    header: dict[str, Any] | None = None
    key: bytes | None = None  # the journal key a first batch carries
    #: a sealed batch's nonce and ciphertext: its entries and blob are known once `_check` has the key
    sealed: bytes | None = None

    @property
    def legacy(self) -> bool:
        return self.header is None


class BatchRefused(StateError):
    """A journal batch that does not verify; the message names it, says why and what to do."""

    def __init__(self, name: str, why: str, todo: str = "move it out of the journal and run again") -> None:
        super().__init__(f"journal batch {name} {why}; nothing was folded: {todo}")
        self.name, self.why = name, why


def _damaged(name: str, why: str) -> BatchRefused:
    return BatchRefused(name, f"is damaged ({why})",
                        "move it out of the journal and run again (`dcrsync state journal` lists the batches)")


def _decrypt(name: str, data: bytes, sops: Sops | None) -> dict[str, Any]:
    if sops is None:
        raise StateError("reading the journal needs sops")
    try:
        plain = sops.decrypt(data, what=f"the journal batch {name}")
    except SopsError as exc:
        raise BatchRefused(
            name, "does not open with the key that opens the state, so it was not written by this state's key "
            f"holders ({str(exc).split(':', 1)[0]})"
        ) from None
    try:
        doc = yaml.load(plain, Loader=_Loader)
    except yaml.YAMLError:
        raise _damaged(name, "not YAML") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("batch"), str):
        raise _damaged(name, "no batch in it")
    return doc


def _plain(name: str, data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        raise _damaged(name, "not JSON") from None
    if isinstance(doc, list):  # a shared store's batch before journals were authenticated
        return {"entries": doc}
    if not isinstance(doc, dict):
        raise _damaged(name, "not a journal batch")
    return doc


def _is_entry(e: Any) -> bool:
    if not isinstance(e, dict) or not isinstance(e.get("name"), str):
        return False
    op = e.get("op")
    return (op == "upsert" and isinstance(e.get("data"), dict)) or op == "delete" or (
        op == "move" and isinstance(e.get("to"), str))


def _entries(name: str, value: Any) -> list[Entry]:
    if not isinstance(value, list) or not all(_is_entry(e) for e in value):
        raise _damaged(name, "its entries are not journal entries")
    return value


def open_batch(name: str, data: bytes, secret: bool, sops: Sops | None) -> Batch:
    """Decode (and decrypt) one batch; its MAC is checked by `verify`, with the others."""
    doc = _decrypt(name, data, sops) if secret else _plain(name, data)
    if "journal" not in doc:  # written before journals were authenticated
        blob = doc.get("batch") if secret else None
        try:
            entries = json.loads(blob) if isinstance(blob, str) else doc.get("entries") or []
        except ValueError:
            raise _damaged(name, "its entries are not JSON") from None
        return Batch(name, secret, _entries(name, entries), "", digest(data))
    header = {k: doc.get(k) for k in _HEADER}
    sealed = not secret and doc.get("journal") == SEALED
    if (doc.get("journal") != FORMAT and not sealed) or not isinstance(doc.get("sealed" if sealed else "batch"), str) or not (
        isinstance(header["serial"], int) and isinstance(header["seq"], int)
        and all(isinstance(header[k], str) for k in ("base", "prev", "mac"))
    ):
        raise _damaged(name, "its header is not a dcrsync journal header")
    if sealed:
        try:
            box = base64.b64decode(doc["sealed"], validate=True)
        except ValueError:
            raise _damaged(name, "its sealed entries do not decode") from None
        return Batch(name, True, [], "", digest(data), header, sealed=box)
    try:
        entries = json.loads(doc["batch"])
        key = base64.b64decode(doc["key"], validate=True) if secret and "key" in doc else None
    except ValueError:
        raise _damaged(name, "its entries or key do not decode") from None
    return Batch(name, secret, _entries(name, entries), doc["batch"], digest(data), header, key)


def _refuse(batch: Batch, why: str, todo: str = "move it out of the journal and run again") -> BatchRefused:
    return BatchRefused(batch.name, why, todo)


def _check(batch: Batch, chain: Chain, state: State, lenient: bool) -> tuple[bool, str]:
    """Whether to fold `batch`, and the verdict said of it; raises when it does not verify.
    `lenient` folds a batch that verifies even when one before it is missing."""
    h = batch.header
    assert h is not None
    if state.previous and h["serial"] == state.serial - 1 and h["base"] == state.previous:
        return False, "folded already, by the commit that wrote this state"  # a crash kept it from being removed
    if h["serial"] != chain.serial or h["base"] != chain.base:
        raise _refuse(
            batch,
            f"extends another state (serial {h['serial']}; this state is serial {chain.serial}): it was written on "
            "a copy of the state that has been replaced since, or put there by someone else",
            "move it out of the journal and run again (the next apply adopts any client it created, with a new secret)",
        )
    if chain.seq and h["seq"] == chain.seq and h["mac"] == chain.prev:
        return False, "the batch before it again (written twice): folded once"
    follows = h["seq"] == chain.seq + 1 and h["prev"] == chain.prev
    if not follows and not lenient:
        raise _refuse(
            batch,
            f"does not follow the batch before it (it is #{h['seq']}, #{chain.seq + 1} was expected): a batch was "
            "removed from the journal or the journal was reordered",
            "put the missing batch back, or fold the batches that verify with `dcrsync state journal --fold-verified`",
        )
    key = chain.key
    if key is None:
        if batch.key is None:
            raise _refuse(batch, "has no journal key to verify it by (the batch that carried it is missing)")
        key = batch.key
    elif batch.key is not None:
        raise _refuse(batch, "carries a journal key, but the state has one: it was not written by dcrsync")
    if batch.sealed is not None:
        _unseal(batch, key)
    if not hmac.compare_digest(mac(key, h["serial"], h["base"], h["seq"], h["prev"], batch.secret, batch.blob),
                               h["mac"]):
        raise _refuse(batch, "does not verify: it was not written by a holder of the state's key (forged or altered)")
    chain.key, chain.seq, chain.prev = key, h["seq"], h["mac"]
    return True, "verified" if follows else "verified (a batch before it is missing)"


def _unseal(batch: Batch, key: bytes) -> None:
    """A sealed batch's entries, opened with the journal key; refused when they do not open."""
    assert batch.sealed is not None and batch.header is not None
    try:
        batch.blob = open_blob({**batch.header, "journal": SEALED}, batch.sealed, key)
    except Unopened:
        raise _refuse(batch, "does not open with the state's journal key: it was not written by a holder of the "
                             "state's key (forged or altered)") from None
    try:
        batch.entries = _entries(batch.name, json.loads(batch.blob))
    except ValueError:
        raise _damaged(batch.name, "its entries are not JSON") from None


def _legacy(batch: Batch, chain: Chain, state: State) -> tuple[bool, str]:
    if batch.digest in state.legacy_folded:
        return False, "folded already, by the commit that gave the state its journal key"
    if state.journal_key is not None or chain.seq:
        raise _refuse(batch, "has no MAC while the state has a journal key: it was not written by this dcrsync")
    return True, "unauthenticated (written before journals were), accepted on a state without a journal key"


@dataclass
class Verified:
    """What `verify` found: the entries to fold, the chain the next batch goes on, the digests of
    unauthenticated batches folded (the next commit records them, so that a crash right after it
    does not make them look planted), and a verdict per batch."""

    entries: list[Entry]
    chain: Chain
    legacy: list[str]
    verdicts: list[tuple[str, str]]


def verify(batches: list[Batch | BatchRefused], state: State, base: str, *, lenient: bool = False) -> Verified:
    """Check every batch, in order, against the state it must extend; unless `lenient`, the first
    that fails is raised and nothing is folded. `lenient` folds every batch that verifies and gives
    the others a verdict instead (`dcrsync state journal --fold-verified`)."""
    out = Verified([], Chain(state.journal_key, state.serial, base), [], [])
    for batch in batches:
        try:
            if isinstance(batch, BatchRefused):
                raise batch
            fold, verdict = _legacy(batch, out.chain, state) if batch.legacy else _check(batch, out.chain, state, lenient)
        except BatchRefused as exc:
            if not lenient:
                raise
            out.verdicts.append((exc.name, f"not folded: it {exc.why}"))
            continue
        out.verdicts.append((batch.name, verdict))
        if fold:
            out.entries.extend(batch.entries)
            if batch.legacy:
                out.legacy.append(batch.digest)
    return out


def fold_journal(
    state: State, base: str, raw: list[tuple[str, bytes, bool]], sops: Sops | None, *, lenient: bool = False
) -> Verified:
    """Verify the journal `raw` (name, bytes, encrypted) against `state` (read from a document whose
    digest is `base`) and fold it in."""
    batches: list[Batch | BatchRefused] = []
    for name, data, secret in raw:
        try:
            batches.append(open_batch(name, data, secret, sops))
        except BatchRefused as exc:
            if not lenient:
                raise
            batches.append(exc)
    found = verify(batches, state, base, lenient=lenient)
    if state.journal_key is None:
        state.journal_key = found.chain.key  # carried by the journal's first batch: the commit keeps it
    state.fold(found.entries)
    return found


def stamp(state: State, chain: Chain | None, legacy: list[str]) -> None:
    """Before a commit: bind the new state to the one it replaces, and give it a journal key (the
    one-time upgrade of a state written before journals were authenticated)."""
    state.previous = chain.base if chain is not None else ""
    state.legacy_folded = list(legacy)
    if state.journal_key is None:
        state.journal_key = new_key()


def check_base(expected: str, stored: bytes | None, where: str) -> None:
    """Before a commit: the stored state is still the one this run read (digest `expected`; "" when it
    read none)."""
    if (digest(stored) if stored is not None else "") != expected:
        raise StateError(
            f"the state in {where} is not the one this run read: it was replaced while this run held the lock "
            "(by hand, or by a writer that ignores the lock); nothing was written: find out who replaced it, "
            "then run again"
        )
