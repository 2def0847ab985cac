"""Where the state is kept: the `StateStore` protocol, and the sops-encrypted file in git.

A store keeps one state: it reads it (names and ids without a key; secrets with one), appends
journal batches durably while an apply runs, commits (journal folded, state replaced atomically,
journal dropped), and locks it against a second writer. The protocol is shaped so that a store
need not be a file: a database row or an object written with a conditional write fits it too.

`FileStore` is the embedded default: a YAML file encrypted by sops with only secret keys
encrypted, a plain `*.applied.json` sidecar, a journal folder of small batches beside it (each
written atomically; a batch holding a secret is sops-encrypted as one value, the others plain
JSON), and an flock'ed lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import yaml

from dcrsync.errors import StateError
from dcrsync.sops import Sops
from dcrsync.state import Entry, State, _Dumper, _Loader, has_secret, now


class StateStore(Protocol):
    """What apply, import and the state commands need of a place that keeps the state."""

    #: where it is, for messages (a path, a URL)
    where: str
    #: the store became unreachable during this run: no new server operation may start
    degraded: bool
    #: how long `locked` waits for another writer's lock, in seconds (0: refuse at once)
    lock_timeout: float

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

    def read(self) -> State:
        """The whole state with secrets (needs the key), any journal folded in."""
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


class Journal:
    """A folder of batches beside the state file, replayed in sequence order.

    A batch holding a secret is sops-encrypted (`000007.sops.yaml`); a batch without one (a
    confirmation, a delete) is plain JSON (`000008.json`): no sops call, so the apply is not
    slowed by encryption it does not need. Every batch is written atomically and fsynced.
    """

    def __init__(self, state_path: Path, sops: Sops | None) -> None:
        self.dir = state_path.with_name(state_path.name + ".journal")
        self.sops = sops
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

    def append(self, entries: list[Entry]) -> None:
        """Secret entries in one sops batch, then the others in one plain batch.

        The secrets go first: a crash between the two leaves a client recorded as still pending
        with its secret, which the next apply confirms. When a name has a plain entry before a
        secret one (a replace: delete, then create), order is kept run by run instead.
        """
        secret = [e for e in entries if has_secret(e)]
        plain = [e for e in entries if not has_secret(e)]
        if not secret or not plain or _safe_to_split(entries):
            for run, is_secret in ((secret, True), (plain, False)):
                if run:
                    self._write(run, is_secret)
            return
        runs: list[tuple[bool, list[Entry]]] = []
        for entry in entries:
            secret = has_secret(entry)
            if runs and runs[-1][0] == secret:
                runs[-1][1].append(entry)
            else:
                runs.append((secret, [entry]))
        for secret, run in runs:
            self._write(run, secret)

    def _write(self, entries: list[Entry], secret: bool) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        seq = self._next()
        if secret:
            if self.sops is None:
                raise StateError("writing secrets to the journal needs sops")
            # the whole batch as one encrypted value: sops's cost grows with the number of values,
            # and nobody needs to read a journal batch without the key
            blob = json.dumps(entries, separators=(",", ":"), default=str)
            plain = yaml.dump({"batch": blob}, Dumper=_Dumper, sort_keys=False, width=1 << 30).encode()
            cipher = self.sops.encrypt(plain, "journal.yaml", what="the journal", encrypted_regex="^batch$")
            atomic_write(self.dir / f"{seq:06d}.sops.yaml", cipher)
        else:
            blob = json.dumps({"entries": entries}, separators=(",", ":"), default=str).encode()
            atomic_write(self.dir / f"{seq:06d}.json", blob)

    def read(self) -> list[Entry]:
        entries: list[Entry] = []
        for batch in self.batches():
            if batch.suffix == ".json":
                try:
                    entries.extend(json.loads(batch.read_bytes()).get("entries") or [])
                except ValueError:
                    raise StateError(f"journal batch {batch} is damaged; it holds no secret: delete it") from None
                continue
            if self.sops is None:
                raise StateError("reading the journal needs sops")
            plain = self.sops.decrypt(batch.read_bytes(), what=f"the journal batch {batch}")
            doc = yaml.load(plain, Loader=_Loader) or {}
            entries.extend(json.loads(doc["batch"]))
        return entries

    def clear(self) -> None:
        if not self.dir.is_dir():
            return
        for path in self.dir.iterdir():
            path.unlink()
        self.dir.rmdir()
        _fsync_dir(self.dir.parent)



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
        self.journal = Journal(path, sops)
        self.lock_path = path.with_name(path.name + ".lock")
        self.sidecar_path = sidecar_path(path)
        self._held = False

    def unlock(self, sops: Sops) -> None:
        self.sops = self.journal.sops = sops

    def has_journal(self) -> bool:
        return self.journal.exists()

    def append(self, entries: list[Entry]) -> None:
        self.journal.append(entries)

    def _sidecar(self) -> bytes | None:
        return self.sidecar_path.read_bytes() if self.sidecar_path.exists() else None

    def read_public(self) -> State:
        """Names, client ids and applied values, without a key. Secrets are unknown."""
        if not self.path.exists():
            return State()
        return State.from_files(self.path.read_bytes(), str(self.path), True, self._sidecar())

    def read(self) -> State:
        """The whole state, secrets decrypted (needs a key), with any journal folded in."""
        state = State()
        if self.path.exists():
            if self.sops is None:
                raise StateError("reading secrets from the state needs sops")
            plain = self.sops.decrypt(self.path.read_bytes(), what=str(self.path))
            state = State.from_files(plain, str(self.path), False, self._sidecar())
        if self.journal.exists():
            state.fold(self.journal.read())
        return state

    def write(self, state: State) -> None:
        """The sidecar first, then the sops file that names its digest; each replaced atomically."""
        if self.sops is None:
            raise StateError("writing the state needs sops")
        state.serial += 1
        plain, sidecar = state.to_files()
        cipher = self.sops.encrypt(plain, self.path.name, what=str(self.path))
        atomic_write(self.sidecar_path, sidecar)
        atomic_write(self.path, cipher)

    def preflight(self) -> None:
        """Everything that can fail without the server, checked before the first server write:
        sops can encrypt for the recipients, and the state's and journal's folders are writable.
        (The key is proven by reading the state; the lock is taken by the caller.)"""
        if self.sops is None:
            raise StateError("writing the state needs sops")
        self.sops.encrypt(b"probe: dcrsync\n", self.path.name, what="a test value (checking the state's recipients)")
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

    def commit(self, state: State) -> None:
        """Fold is done by the caller; write the state, then drop the journal it contains."""
        self.write(state)
        self.journal.clear()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock on this state; re-entrant within one process."""
        if self._held:
            yield
            return
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
