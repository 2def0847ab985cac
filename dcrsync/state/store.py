"""Where the state is kept: the `StateStore` protocol, and the sops-encrypted file in git.

A store keeps one state: it reads it (names and ids without a key; secrets with one), appends
journal batches durably while an apply runs, commits (journal folded, state replaced atomically,
journal dropped), and locks it against a second writer. The protocol is shaped so that a store
need not be a file: a database row or an object written with a conditional write fits it too.

`FileStore` is the embedded default: a YAML file encrypted by sops with only secret keys
encrypted, a plain `*.applied.json` sidecar, a journal folder of small batches beside it (each
written atomically; a batch holding a secret is encrypted as one value, the others plain
JSON; every one authenticated and bound to the state it extends, see `dcrsync.state.batches`), and an
flock'ed lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from dcrsync.errors import StateError
from dcrsync.state.batches import Chain, advance, check_base, digest, fold_journal, seal, stamp
from dcrsync.state.journalkey import ahead, encrypted, key_batch_soon
from dcrsync.state.records import Entry, State, has_secret, now
from dcrsync.state.sops import Sops, recipients


class StateStore(Protocol):
    """What apply, import and the state commands need of a place that keeps the state."""

    #: where it is, for messages (a path, a URL)
    where: str
    #: the store became unreachable during this run: no new server operation may start
    degraded: bool
    #: how long `locked` waits for another writer's lock, in seconds (0: refuse at once)
    lock_timeout: float
    #: what the last `read` did with each journal batch: (name, verdict)
    journal_verdicts: list[tuple[str, str]]

    def exists(self) -> bool:
        """True when a state (or a journal left by an interrupted apply) is there."""
        ...

    def unlock(self, sops: Sops) -> None:
        """Give the store the sops that reads and writes secrets (reading names needs none)."""
        ...

    def locked(self) -> AbstractContextManager[None]:
        """Hold the store's lock; refuse at once when another writer holds it. Re-entrant."""
        ...

    def read_public(self) -> State:
        """Names, client ids and the last apply, without a key (secrets only marked as present)."""
        ...

    def read(self, *, lenient: bool = False) -> State:
        """The whole state with secrets (needs the key), its journal verified and folded in: a batch
        that does not verify is refused and nothing is folded, unless `lenient` (every batch that
        verifies is folded; `journal_verdicts` says what became of each)."""
        ...

    def recipients(self) -> list[str]:
        """The age recipients the stored state is encrypted for (no key needed)."""
        ...

    def has_journal(self) -> bool:
        """An interrupted apply left journal batches that `read` folds in."""
        ...

    def append(self, entries: list[Entry]) -> None:
        """One journal batch, durable when this returns (secrets encrypted)."""
        ...

    def commit(self, state: State) -> None:
        """Replace the state with `state` atomically, then drop the journal it contains."""
        ...

    def preflight(self) -> None:
        """Check all that can fail without the server (recipients, writability) before a write."""
        ...

    def preflight_soon(self) -> None:
        """Start what of `preflight` can run meanwhile (sops's check) on another thread."""
        ...

    def journal_soon(self) -> None:
        """After `read`: start what the journal's first batch needs (sealing a new journal key) on
        another thread, so that the first server write does not wait for it."""
        ...


def unverified(where: str, journal: bool) -> str:
    """What a read without the key says: nothing in it could be checked."""
    waiting = "; the journal an interrupted apply left was not read" if journal else ""
    return (
        f"{where} was read without the key, so it could not be verified (a writer to it could have changed "
        f"names and client ids){waiting}: run with the state's age key to verify it"
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write, fsync, rename over, fsync the folder: the file is the old one or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)



def _safe_to_split(entries: list[Entry]) -> bool:
    seen_plain: set[str] = set()
    for entry in entries:
        if has_secret(entry):
            if entry["name"] in seen_plain:
                return False
        else:
            seen_plain.add(entry["name"])
            if entry.get("to"):  # a move touches both names
                seen_plain.add(entry["to"])
    return True


def runs(entries: list[Entry]) -> list[list[Entry]]:
    """Entries in batches that keep sops out of the way of the plain ones: the secret entries in one
    batch, then the others in one; when a name has a plain entry before a secret one (a replace:
    delete, then create), order is kept run by run instead.

    The secrets go first: a crash between the two leaves a client recorded as still pending with
    its secret, which the next apply confirms.
    """
    secret = [e for e in entries if has_secret(e)]
    plain = [e for e in entries if not has_secret(e)]
    if not secret or not plain or _safe_to_split(entries):
        return [run for run in (secret, plain) if run]
    out: list[list[Entry]] = []
    last: bool | None = None
    for entry in entries:
        if has_secret(entry) is last:
            out[-1].append(entry)
        else:
            out.append([entry])
            last = has_secret(entry)
    return out


class Journal:
    """A folder of journal batches (`dcrsync.state.batches`), kept in sequence order.

    A batch is JSON (`000008.json`): plain when it holds no secret (a confirmation, a delete), its
    entries sealed under the journal key when it does; only the batch that carries a new journal key
    is a sops file (`000001.sops.yaml`). Every batch is written atomically and fsynced.
    """

    def __init__(self, state_path: Path) -> None:
        self.dir = state_path.with_name(state_path.name + ".journal")
        self._seq = 0

    def batches(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        found = [
            p for p in self.dir.iterdir()
            if not p.name.startswith(".") and (p.name.endswith(".sops.yaml") or p.suffix == ".json")
        ]
        return sorted(found, key=lambda p: p.name.split(".", 1)[0])

    def exists(self) -> bool:
        return bool(self.batches())

    def _next(self) -> int:
        if self._seq == 0:
            existing = self.batches()
            self._seq = int(existing[-1].name.split(".", 1)[0]) if existing else 0
        self._seq += 1
        return self._seq

    def write(self, data: bytes, secret: bool) -> Path:
        """One batch's bytes, durable when this returns."""
        path = self.dir / (f"{self._next():06d}." + ("sops.yaml" if secret else "json"))
        atomic_write(path, data)
        return path

    def raw(self) -> list[tuple[str, bytes, bool]]:
        """(name, bytes, sops-encrypted) of every batch, in order."""
        return [(str(p), p.read_bytes(), p.name.endswith(".sops.yaml")) for p in self.batches()]

    def clear(self) -> None:
        if not self.dir.is_dir():
            return
        for path in self.dir.iterdir():
            path.unlink()
        self.dir.rmdir()
        _fsync_dir(self.dir.parent)
        self._seq = 0



def sidecar_path(path: Path) -> Path:
    """`dcrsync.state.sops.yaml` -> `dcrsync.state.applied.json`."""
    stem = path.name
    for suffix in (".yaml", ".yml", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.removesuffix(".sops")
    return path.with_name(stem + ".applied.json")


class FileStore:
    """The state as a sops-encrypted YAML file in git, with its sidecar, journal and lock."""

    #: a file on this machine does not go away mid-run
    degraded = False
    #: how long `locked` waits for another process's lock (0: refuse at once)
    lock_timeout = 0.0

    def __init__(self, path: Path, sops: Sops | None = None) -> None:
        self.path = path
        self.where = str(path)
        self.sops = sops
        self.journal = Journal(path)
        self.lock_path = path.with_name(path.name + ".lock")
        self.sidecar_path = sidecar_path(path)
        self._held = False
        #: the state this run read and the journal batch last written on it (`dcrsync.state.batches`)
        self._chain: Chain | None = None
        self._legacy: list[str] = []
        self.journal_verdicts: list[tuple[str, str]] = []

    def unlock(self, sops: Sops) -> None:
        self.sops = sops

    def has_journal(self) -> bool:
        return self.journal.exists()

    def append(self, entries: list[Entry]) -> None:
        """Durable batches on the journal, each authenticated and bound to the state this run read."""
        chain = self._chain if self._chain is not None else self._read_chain()
        for sealed in ahead(chain):
            self.journal.write(sealed.data, sealed.secret)
            advance(chain, sealed)
        for run in runs(entries):
            sealed = seal(run, chain, self.sops, self.path.name)
            self.journal.write(sealed.data, sealed.secret)
            advance(chain, sealed)

    def _read_chain(self) -> Chain:
        self.read()  # a journal written without reading the state first extends the state as it is now
        assert self._chain is not None
        return self._chain

    def _sidecar(self) -> bytes | None:
        return self.sidecar_path.read_bytes() if self.sidecar_path.exists() else None

    def read_public(self) -> State:
        """Names, client ids and applied values, without a key. Secrets are unknown; nothing is verified."""
        if not self.path.exists():
            return State()
        state = State.from_files(self.path.read_bytes(), str(self.path), True, self._sidecar())
        state.warnings.append(unverified(self.where, self.journal.exists()))
        return state

    def recipients(self) -> list[str]:
        return recipients(self.path.read_bytes()) if self.path.exists() else []

    def read(self, *, lenient: bool = False) -> State:
        """The whole state, secrets decrypted (needs a key), with its journal verified and folded in."""
        state, base = State(), ""
        if self.path.exists():
            if self.sops is None:
                raise StateError("reading secrets from the state needs sops")
            stored = self.path.read_bytes()
            plain = self.sops.decrypt(stored, what=str(self.path))
            state = State.from_files(plain, str(self.path), False, self._sidecar())
            base = digest(stored)
        found = fold_journal(state, base, self.journal.raw(), self.sops, lenient=lenient)
        self._chain, self._legacy, self.journal_verdicts = found.chain, found.legacy, found.verdicts
        return state

    def write(self, state: State) -> None:
        """The sidecar first, then the sops file that names its digest; each replaced atomically."""
        if self.sops is None:
            raise StateError("writing the state needs sops")
        stored = self.path.read_bytes() if self.path.exists() else None
        check_base(self._chain.base if self._chain is not None else "", stored, self.where)
        fresh = state.journal_key is None
        stamp(state, self._chain, self._legacy)
        state.serial += 1
        try:
            before = recipients(stored) if stored is not None else None
            cipher, sidecar = encrypted(state, self.sops, self.path.name, str(self.path), before, fresh)
        except BaseException:
            state.serial -= 1
            raise
        atomic_write(self.sidecar_path, sidecar)
        atomic_write(self.path, cipher)
        self._chain, self._legacy = Chain(state.journal_key, state.serial, digest(cipher)), []

    def preflight(self) -> None:
        """Everything that can fail without the server, checked before the first server write:
        sops can encrypt for the recipients, and the state's and journal's folders are writable.
        (The key is proven by reading the state; the lock is taken by the caller.)"""
        if self.sops is None:
            raise StateError("writing the state needs sops")
        self.sops.probe(self.path.name)
        folders = [self.path.parent] + ([self.journal.dir] if self.journal.dir.is_dir() else [])
        for folder in folders:  # the journal's folder is made in the state's when it is first needed
            try:
                folder.mkdir(parents=True, exist_ok=True)
                probe = folder / f".dcrsync-probe.{os.getpid()}"
                fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.close(fd)
                probe.unlink()
            except OSError as exc:
                raise StateError(
                    f"cannot write to {folder} ({exc.strerror}): the state and its journal live there; "
                    "fix its permissions or choose another `state:` path; nothing was sent to the server"
                ) from None

    def exists(self) -> bool:
        return self.path.exists() or self.journal.exists()

    def preflight_soon(self) -> None:
        """Start preflight's sops check now, on another thread; `preflight` awaits it."""
        if self.sops is not None:
            self.sops.probe_soon(self.path.name)

    def journal_soon(self) -> None:
        """After `read`: on a state without a journal key, seal the batch that carries one meanwhile."""
        if self._chain is not None and self.sops is not None:
            key_batch_soon(self._chain, self.sops, self.path.name, after=self.sops.probe_soon(self.path.name).thread.join)

    def commit(self, state: State) -> None:
        """Fold is done by the caller; write the state, then drop the journal it contains."""
        self.write(state)
        self.journal.clear()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock on this state; re-entrant within one process. What was read before it
        was taken is read again before a journal batch is written on it."""
        if self._held:
            yield
            return
        self._chain = None
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            waited = 0.0
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if waited >= self.lock_timeout:
                        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                        raise StateError(
                            f"{self.path} is locked by another dcrsync apply ({holder}); wait for it to finish "
                            "(the lock goes when that process ends) or pass --lock-timeout SECONDS"
                        ) from None
                    pause = min(0.5, self.lock_timeout - waited)
                    time.sleep(pause)
                    waited += pause
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {now()}".encode(), 0)
            self._held = True
            try:
                yield
            finally:
                self._held = False
        finally:
            os.close(fd)
