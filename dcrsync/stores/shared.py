"""What the shared stores have in common: the state's bytes, journal batches, the lock's holder,
and the local encrypted journal an apply falls back to when the store goes away.

The state is kept as the file store keeps it — the sops-encrypted identity document (names and
client ids plain, secrets encrypted for the same recipients) and the plain bookkeeping sidecar —
so one sops call encrypts a whole commit, and a database administrator or a bucket reader sees
names and ids, never a secret. A journal batch holding a secret is one sops-encrypted value; a
batch without one is plain JSON.

When the store cannot be reached while an apply appends, the batch (and every later one) goes to
a local journal beside dcrsync.yaml (`.dcrsync/`), encrypted the same way; the apply then starts
no new operation, its commit fails with one line, and the next run folds the local journal in and
commits it to the store.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from dcrsync.errors import StateError
from dcrsync.sops import Sops
from dcrsync.state import Entry, State, _Dumper, _Loader, has_secret, now
from dcrsync.store import Journal

DOC_NAME = "dcrsync.state.sops.yaml"  # the name sops's creation rules see for the document


class Unreachable(StateError):
    """The store did not answer (connection refused, reset, timed out)."""


class LockHeld(StateError):
    """Another writer holds the lock."""


def holder(where: str) -> dict[str, Any]:
    """Who takes a lock: an id to break it by, user, host, pid, since, and the CI run when in one."""
    ci = ""
    if os.environ.get("GITHUB_RUN_ID"):
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        ci = f"{server}/{os.environ.get('GITHUB_REPOSITORY', '')}/actions/runs/{os.environ['GITHUB_RUN_ID']}"
    elif os.environ.get("CI_JOB_URL"):
        ci = os.environ["CI_JOB_URL"]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return {"id": str(uuid.uuid4()), "who": user, "host": socket.gethostname(), "pid": os.getpid(),
            "since": now(), "ci": ci, "state": where}


def dead_here(info: dict[str, Any]) -> bool:
    """The lock's holder was a process on this host that is gone (killed): its lock is stale."""
    if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
        return False
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def describe(info: dict[str, Any]) -> str:
    ci = f", CI run {info['ci']}" if info.get("ci") else ""
    return (f"{info.get('who', '?')} on {info.get('host', '?')} (pid {info.get('pid', '?')}) since "
            f"{info.get('since', '?')}{ci}; lock id {info.get('id', '?')}")


def refused(where: str, info: dict[str, Any] | None, waited: float) -> LockHeld:
    after = f" after waiting {waited:.0f} s" if waited else ""
    if info is None:
        return LockHeld(f"{where} is locked by another dcrsync{after}; try again (or pass --lock-timeout SECONDS)")
    return LockHeld(
        f"{where} is locked{after} by {describe(info)}; wait for it (--lock-timeout SECONDS), or if that run is "
        f"dead: dcrsync state unlock {info.get('id')}"
    )


def encode_batch(entries: list[Entry], sops: Sops | None) -> tuple[bytes, bool]:
    """(bytes, holds a secret): a batch with a secret is one sops-encrypted value, else plain JSON."""
    blob = json.dumps(entries, separators=(",", ":"), default=str)
    if not any(has_secret(e) for e in entries):
        return blob.encode(), False
    if sops is None:
        raise StateError("writing secrets to the journal needs sops")
    plain = yaml.dump({"batch": blob}, Dumper=_Dumper, sort_keys=False, width=1 << 30).encode()
    return sops.encrypt(plain, "journal.yaml", what="the journal", encrypted_regex="^batch$"), True


def decode_batch(data: bytes, secret: bool, sops: Sops | None, where: str) -> list[Entry]:
    if not secret:
        return list(json.loads(data))
    if sops is None:
        raise StateError("reading the journal needs sops")
    doc = yaml.load(sops.decrypt(data, what=f"the journal batch {where}"), Loader=_Loader) or {}
    return list(json.loads(doc["batch"]))


class SharedStore:
    """The parts of a shared store that do not depend on its engine.

    An engine implements `_fetch() -> (document, sidecar) | None`, `_journal() -> [(data, secret)]`,
    `_has_journal()`, `_append(data, secret)`, `_commit(serial, document, sidecar)`, `_try_lock(info)
    -> holder | None`, `_unlock(info)`, `break_lock(lock_id)` and `_ping()`; each raises `Unreachable`
    when the store does not answer.
    """

    where: str
    kind: str

    def __init__(self, local_dir: Path, ident: str) -> None:
        self.sops: Sops | None = None
        digest = hashlib.sha256(ident.encode()).hexdigest()[:12]
        #: this workspace's fallback journal for this store (used only while the store is away)
        self.local = Journal(local_dir / f"{self.kind}-{digest}", None)
        self.lock_timeout = 0.0
        self.degraded = False  # the store went away during this run: the rest goes to `local`
        self._lock: dict[str, Any] | None = None
        self._depth = 0

    # --- the StateStore protocol -----------------------------------------------------------
    def unlock(self, sops: Sops) -> None:
        self.sops = self.local.sops = sops

    def exists(self) -> bool:
        return self.local.exists() or self._fetch() is not None or self._has_journal()

    def has_journal(self) -> bool:
        return self.local.exists() or self._has_journal()

    def read_public(self) -> State:
        got = self._fetch()
        if got is None:
            return State()
        return State.from_files(got[0], self.where, True, got[1])

    def read(self) -> State:
        got = self._fetch()
        state = State()
        if got is not None:
            if self.sops is None:
                raise StateError("reading secrets from the state needs sops")
            plain = self.sops.decrypt(got[0], what=self.where)
            state = State.from_files(plain, self.where, False, got[1])
        for data, secret in self._journal():
            state.fold(decode_batch(data, secret, self.sops, self.where))
        if self.local.exists():
            state.fold(self.local.read())
        return state

    def append(self, entries: list[Entry]) -> None:
        if not self.degraded:
            data, secret = encode_batch(entries, self.sops)
            try:
                self._append(data, secret)
                return
            except Unreachable:
                self.degraded = True
        self.local.append(entries)  # the store is away: keep it here, encrypted, in order

    def commit(self, state: State) -> None:
        if self.degraded:
            raise Unreachable(self._away())
        if self.sops is None:
            raise StateError("writing the state needs sops")
        state.serial += 1
        try:
            plain, sidecar = state.to_files()
            document = self.sops.encrypt(plain, DOC_NAME, what=self.where)
            self._commit(state.serial, document, sidecar)
        except Unreachable as exc:
            state.serial -= 1
            if not self.local.exists():  # nothing of this run is only here; the store's journal has it
                raise Unreachable(
                    f"{exc}: the state was not written; this run's journal is in the store, and the next run "
                    "folds it in when the store is back"
                ) from None
            raise Unreachable(self._away()) from None
        except BaseException:
            state.serial -= 1
            raise
        self.local.clear()

    def preflight(self) -> None:
        if self.sops is None:
            raise StateError("writing the state needs sops")
        self.sops.encrypt(b"probe: dcrsync\n", DOC_NAME, what="a test value (checking the state's recipients)")
        self._ping()
        self.local.dir.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(self.local.dir.parent, os.W_OK):
            raise StateError(f"cannot write to {self.local.dir.parent}: the local fallback journal lives there")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The store's lock, waiting up to `lock_timeout` seconds; re-entrant within one process."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        info = holder(self.where)
        start = time.monotonic()
        while True:
            other = self._try_lock(info)
            if other is None:
                break
            if dead_here(other) and self._take_over(info, other):
                break
            waited = time.monotonic() - start
            if waited >= self.lock_timeout:
                raise refused(self.where, other, waited)
            time.sleep(min(1.0, self.lock_timeout - waited))
        self._lock, self._depth = info, 1
        try:
            yield
        finally:
            self._depth = 0
            self._lock = None
            with contextlib.suppress(Unreachable):
                self._unlock(info)

    def _take_over(self, info: dict[str, Any], stale: dict[str, Any]) -> bool:
        """Replace a stale lock of a dead local process with ours (only if it is still that one)."""
        return False

    # --- helpers ---------------------------------------------------------------------------
    def _away(self) -> str:
        return (
            f"the state store {self.where} became unreachable: no new operation was started; every secret the "
            f"server returned is kept in the local encrypted journal {self.local.dir}; run again when the store "
            "is back and it is replayed"
        )
