"""The encrypted state file, its journal and its lock.

The state maps each client's `name` to its `client_id`, keeps what the server gave only once
(secrets, registration token and URI) and what was last applied, so plans can tell git changes
(pending) from server changes (drift). It is YAML encrypted by sops with only secret keys
encrypted: names, client ids and applied values stay readable without a key.

sops's cost grows with the number of values in the file (about 0.3 ms a value here), so the sops
file holds only identity and secrets — name, client_id, secrets, registration URI — and the
bookkeeping of what was last applied lives in a plain JSON file beside it (`*.applied.json`),
whose sha256 is stored inside the sops file so that an edit or a mismatch is seen.

Every secret the server returns goes first into the journal: a folder of small sops-encrypted
batches, each written atomically. The journal is folded into the state with one atomic replace
at the end of an apply, and replayed first by any run that finds one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from dcrsync.errors import StateError
from dcrsync.sops import Sops

try:
    _Loader: type = yaml.CSafeLoader
    _Dumper: type = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader, _Dumper = yaml.SafeLoader, yaml.SafeDumper

STATE_VERSION = 1
SECRET_KEYS = ("client_secret", "registration_access_token")
IDENTITY_KEYS = (
    "client_id",
    "client_secret",
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "pending",
)


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ClientRecord:
    name: str
    client_id: str
    desired: dict[str, Any] = field(default_factory=dict)  # normalised declared values at last apply
    applied: dict[str, Any] = field(default_factory=dict)  # normalised server values after it
    applied_at: str = ""
    client_secret: str | None = None
    registration_access_token: str | None = None
    registration_client_uri: str | None = None
    client_secret_expires_at: int | None = None
    #: "create" while a create was announced but not yet confirmed by the server
    pending: str | None = None
    #: the server's whole representation after the last apply (no secrets, nothing volatile):
    #: `drift` names the undeclared fields someone changed since
    observed: dict[str, Any] | None = None

    def identity(self) -> dict[str, Any]:
        """What the sops file keeps: client_id and what the server gave once."""
        return {k: getattr(self, k) for k in IDENTITY_KEYS if getattr(self, k) not in (None, "")}

    def bookkeeping(self) -> dict[str, Any]:
        """What the plain sidecar keeps: the last apply, for pending/drift causes."""
        out: dict[str, Any] = {"desired": self.desired, "applied_at": self.applied_at}
        if self.observed is not None:
            out["observed"] = self.observed
        if self.applied != self.desired:
            out["applied"] = self.applied  # the usual case stores one copy
        return out

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> ClientRecord:
        known = {f.name for f in fields(cls)}
        # a create announced for a server that chooses the id has client_id "" (dropped by identity())
        rec = cls(name=name, **{"client_id": "", **{k: v for k, v in data.items() if k in known and k != "name"}})
        if "applied" not in data:
            rec.applied = dict(rec.desired)
        return rec

    def merge(self, changes: dict[str, Any]) -> None:
        for k, v in changes.items():
            if k != "name" and hasattr(self, k):
                setattr(self, k, v)


def record_fingerprint(record: ClientRecord | None) -> str:
    """What a saved plan checks of a record it touches: identity and last apply, never a secret's
    value (only whether one is held), so it reads the same with and without the key."""
    if record is None:
        return "absent"
    body = {
        "client_id": record.client_id,
        "pending": record.pending,
        "desired": record.desired,
        "applied": record.applied,
        "secrets": sorted(k for k in SECRET_KEYS if getattr(record, k)),
    }
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def move_entry(old: str, new: str) -> dict[str, Any]:
    return {"op": "move", "name": old, "to": new}


@dataclass
class State:
    clients: dict[str, ClientRecord] = field(default_factory=dict)
    serial: int = 0
    encrypted: bool = False  # True when read without a key: secrets are ENC[…] and not known
    warnings: list[str] = field(default_factory=list)

    def by_client_id(self) -> dict[str, ClientRecord]:
        return {r.client_id: r for r in self.clients.values()}

    def fold(self, entries: list[dict[str, Any]]) -> None:
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
        sidecar = json.dumps(
            {"version": STATE_VERSION, "clients": {n: self.clients[n].bookkeeping() for n in names}},
            indent=1, sort_keys=True, default=str,
        ).encode() + b"\n"
        doc = {
            "version": STATE_VERSION,
            "serial": self.serial,
            "applied_digest": "sha256:" + hashlib.sha256(sidecar).hexdigest(),
            "clients": {n: self.clients[n].identity() for n in names},
        }
        return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True).encode(), sidecar

    @classmethod
    def from_files(cls, text: bytes, where: str, encrypted: bool, sidecar: bytes | None) -> State:
        try:
            doc = yaml.load(text, Loader=_Loader) or {}
        except yaml.YAMLError as exc:
            raise StateError(f"{where} is not valid YAML ({exc.__class__.__name__}); restore it from git") from None
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            raise StateError(f"{where} is not a dcrsync state (version {STATE_VERSION}); restore it from git")
        state = cls(serial=int(doc.get("serial", 0)), encrypted=encrypted)
        books: dict[str, Any] = {}
        if sidecar is not None:
            if doc.get("applied_digest") != "sha256:" + hashlib.sha256(sidecar).hexdigest():
                state.warnings.append(
                    f"{where}: its .applied.json does not match (edited, or an apply was interrupted "
                    "between the two writes); pending/drift labels may be off until the next apply"
                )
            try:
                books = json.loads(sidecar).get("clients") or {}
            except ValueError:
                state.warnings.append(f"{where}: its .applied.json is not JSON; ignored until the next apply")
        for name, data in (doc.get("clients") or {}).items():
            merged = {**(books.get(name) or {}), **(data or {})}
            rec = ClientRecord.from_dict(name, merged)
            if encrypted:  # ENC[…] values are only markers that a secret exists
                for key in SECRET_KEYS:
                    if getattr(rec, key):
                        setattr(rec, key, "ENC")
            state.clients[name] = rec
        return state


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


def _has_secret(entry: dict[str, Any]) -> bool:
    data = entry.get("data") or {}
    return any(data.get(k) for k in SECRET_KEYS)


def _safe_to_split(entries: list[dict[str, Any]]) -> bool:
    seen_plain: set[str] = set()
    for entry in entries:
        if _has_secret(entry):
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

    def append(self, entries: list[dict[str, Any]]) -> None:
        """Secret entries in one sops batch, then the others in one plain batch.

        The secrets go first: a crash between the two leaves a client recorded as still pending
        with its secret, which the next apply confirms. When a name has a plain entry before a
        secret one (a replace: delete, then create), order is kept run by run instead.
        """
        secret = [e for e in entries if _has_secret(e)]
        plain = [e for e in entries if not _has_secret(e)]
        if not secret or not plain or _safe_to_split(entries):
            for run, is_secret in ((secret, True), (plain, False)):
                if run:
                    self._write(run, is_secret)
            return
        runs: list[tuple[bool, list[dict[str, Any]]]] = []
        for entry in entries:
            secret = _has_secret(entry)
            if runs and runs[-1][0] == secret:
                runs[-1][1].append(entry)
            else:
                runs.append((secret, [entry]))
        for secret, run in runs:
            self._write(run, secret)

    def _write(self, entries: list[dict[str, Any]], secret: bool) -> None:
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

    def read(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
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
            entries.extend(json.loads(doc["batch"]) if "batch" in doc else doc.get("entries") or [])
        return entries

    def clear(self) -> None:
        if not self.dir.is_dir():
            return
        for path in self.dir.iterdir():
            path.unlink()
        self.dir.rmdir()
        _fsync_dir(self.dir.parent)


class JournalWriter:
    """Group commit: workers `submit` entries; one thread writes everything waiting in one sops call.

    `flush()` returns once every entry submitted before it is on disk, encrypted.
    """

    def __init__(self, journal: Journal, interval: float = 0.5) -> None:
        self.journal = journal
        #: at most one write per interval unless someone waits: each sops call is a ~50 ms process
        self.interval = interval
        self._urgent = 0  # waiters that need their entries on disk now
        self._cond = threading.Condition()
        self._pending: list[dict[str, Any]] = []
        self._submitted = 0
        self._durable = 0
        self._error: BaseException | None = None
        self._closed = False
        self.batches = 0
        self._thread = threading.Thread(target=self._run, name="dcrsync-journal", daemon=True)
        self._thread.start()

    def submit(self, *entries: dict[str, Any]) -> int:
        with self._cond:
            if self._error is not None:
                raise StateError(f"the journal could not be written: {self._error}")
            was_empty = not self._pending
            self._pending.extend(entries)
            self._submitted += len(entries)
            ticket = self._submitted
            if was_empty:  # the writer sleeps until there is work; during its interval it wakes by itself
                self._cond.notify_all()
            return ticket

    def wait(self, ticket: int) -> None:
        with self._cond:
            self._urgent += 1
            self._cond.notify_all()
            try:
                while self._durable < ticket and self._error is None:
                    self._cond.wait()
            finally:
                self._urgent -= 1
            if self._error is not None:
                raise StateError(f"the journal could not be written: {self._error}")

    def flush(self) -> None:
        with self._cond:
            ticket = self._submitted
        self.wait(ticket)

    def close(self) -> None:
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        last = 0.0
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    return
                # gather more while the interval runs, unless someone needs the entries now
                while not self._urgent and not self._closed:
                    left = last + self.interval - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._pending = self._pending, []
            last = time.monotonic()
            try:
                self.journal.append(batch)
            except BaseException as exc:  # noqa: BLE001 - reported to every waiter
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._durable += len(batch)
                self.batches += 1
                self._cond.notify_all()


def sidecar_path(path: Path) -> Path:
    """`dcrsync.state.sops.yaml` -> `dcrsync.state.applied.json`."""
    stem = path.name
    for suffix in (".yaml", ".yml", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.removesuffix(".sops")
    return path.with_name(stem + ".applied.json")


class StateStore:
    """Reads and writes one state file through sops, with its journal and lock."""

    def __init__(self, path: Path, sops: Sops | None) -> None:
        self.path = path
        self.sops = sops
        self.journal = Journal(path, sops)
        self.lock_path = path.with_name(path.name + ".lock")
        self.sidecar_path = sidecar_path(path)
        self._held = False

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
        for folder in (self.path.parent, self.journal.dir):
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
        if not any(self.journal.dir.iterdir()):
            self.journal.dir.rmdir()

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
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                raise StateError(
                    f"{self.path} is locked by another dcrsync apply ({holder}); "
                    "wait for it to finish (the lock goes when that process ends)"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {now()}".encode(), 0)
            self._held = True
            try:
                yield
            finally:
                self._held = False
        finally:
            os.close(fd)
