"""What the shared stores have in common: the state's bytes, journal batches, the lock's holder,
and the local encrypted journal an apply falls back to when the store goes away.

The state is kept as the file store keeps it — the sops-encrypted identity document (names and
client ids plain, secrets encrypted for the same recipients) and the plain bookkeeping sidecar —
so one sops call encrypts a whole commit, and a database administrator or a bucket reader sees
names and ids, never a secret. A journal batch holding a secret is one encrypted value; a batch
without one is plain JSON; each is authenticated as the file store's are (`dcrsync.state.batches`).

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

from dcrsync.errors import StateError
from dcrsync.state.batches import Chain, Sealed, advance, digest, fold_journal, seal, stamp
from dcrsync.state.journalkey import ahead, encrypted, key_batch_soon
from dcrsync.state.records import Entry, State, now
from dcrsync.state.sops import Sops, recipients
from dcrsync.state.store import Journal, unverified

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
    if "unreadable" in info:
        return f"an unreadable lock ({info['unreadable']})"
    ci = f", CI run {info['ci']}" if info.get("ci") else ""
    return (f"{info.get('who', '?')} on {info.get('host', '?')} (pid {info.get('pid', '?')}) since "
            f"{info.get('since', '?')}{ci}; lock id {info.get('id', '?')}")


def parse_lock(content: bytes) -> dict[str, Any]:
    """A lock object's holder; one that is not a dcrsync lock (no id to break it by) says what it holds."""
    try:
        info = json.loads(content)
    except ValueError:
        info = None
    if isinstance(info, dict) and isinstance(info.get("id"), str) and info["id"]:
        return info
    shown = ascii(content[:60])[2:-1] + ("…" if len(content) > 60 else "")
    return {"unreadable": f"{len(content)} bytes that are not a dcrsync lock: {shown}"}


def may_break(where: str, held: dict[str, Any] | None, lock_id: str | None) -> dict[str, Any]:
    """The lock `state unlock [LOCK_ID]` may break: the one named LOCK_ID, or one with no id (unreadable)."""
    if held is None:
        raise StateError(f"nobody holds the lock on {where}; nothing was changed")
    if "unreadable" not in held and held.get("id") != lock_id:
        if lock_id is None:
            raise StateError(f"the lock on {where} is held by {describe(held)}: if that run is dead, "
                             f"dcrsync state unlock {held.get('id')}")
        raise StateError(f"{lock_id} is not the lock on {where} (the lock is {describe(held)}); nothing was changed")
    return held


def refused(where: str, info: dict[str, Any] | None, waited: float) -> LockHeld:
    after = f" after waiting {waited:.0f} s" if waited else ""
    if info is None:
        return LockHeld(f"{where} is locked by another dcrsync{after}; try again (or pass --lock-timeout SECONDS)")
    if "unreadable" in info:
        return LockHeld(
            f"{where} is locked{after} by {describe(info)}; if no dcrsync run is under way, break it: "
            "dcrsync state unlock"
        )
    return LockHeld(
        f"{where} is locked{after} by {describe(info)}; wait for it (--lock-timeout SECONDS), or if that run is "
        f"dead: dcrsync state unlock {info.get('id')}"
    )


class SharedStore:
    """The parts of a shared store that do not depend on its engine.

    An engine implements `_fetch() -> (document, sidecar) | None`, `_journal() -> [(name, data,
    secret)]`, `_has_journal()`, `_append(data, secret)`, `_commit(serial, document, sidecar, base)`
    (which refuses when the stored document's digest is not `base`, "" for none), `_try_lock(info)
    -> holder | None`, `_unlock(info)`, `break_lock(lock_id)` and `_ping()`; each raises `Unreachable`
    when the store does not answer.
    """

    where: str
    kind: str

    def __init__(self, local_dir: Path, ident: str) -> None:
        self.sops: Sops | None = None
        ident_digest = hashlib.sha256(ident.encode()).hexdigest()[:12]
        #: this workspace's fallback journal for this store (used only while the store is away)
        self.local = Journal(local_dir / f"{self.kind}-{ident_digest}")
        self.lock_timeout = 0.0
        self.degraded = False  # the store went away during this run: the rest goes to `local`
        self._lock: dict[str, Any] | None = None
        self._depth = 0
        #: the state this run read and the journal batch last written on it (`dcrsync.state.batches`)
        self._chain: Chain | None = None
        self._legacy: list[str] = []
        self._recipients: list[str] | None = None  # the age recipients of the state as last read
        self.journal_verdicts: list[tuple[str, str]] = []

    # --- the StateStore protocol -----------------------------------------------------------
    def unlock(self, sops: Sops) -> None:
        self.sops = sops

    def exists(self) -> bool:
        return self.local.exists() or self._fetch() is not None or self._has_journal()

    def has_journal(self) -> bool:
        return self.local.exists() or self._has_journal()

    def read_public(self) -> State:
        got = self._fetch()
        if got is None:
            return State()
        state = State.from_files(got[0], self.where, True, got[1])
        state.warnings.append(unverified(self.where, self.has_journal()))
        return state

    def recipients(self) -> list[str]:
        got = self._fetch()
        return recipients(got[0]) if got is not None else []

    def read(self, *, lenient: bool = False) -> State:
        """The whole state (needs the key), its journal (the store's, then this workspace's) verified
        and folded in."""
        got = self._fetch()
        state, base = State(), ""
        if got is not None:
            if self.sops is None:
                raise StateError("reading secrets from the state needs sops")
            plain = self.sops.decrypt(got[0], what=self.where)
            state = State.from_files(plain, self.where, False, got[1])
            base = digest(got[0])
        self._recipients = recipients(got[0]) if got is not None else None  # whom the state went to
        raw = self._journal() + self.local.raw()
        found = fold_journal(state, base, raw, self.sops, lenient=lenient)
        self._chain, self._legacy, self.journal_verdicts = found.chain, found.legacy, found.verdicts
        return state

    def append(self, entries: list[Entry]) -> None:
        if self._chain is None:
            self.read()  # a journal written without reading the state first extends the state as it is now
        chain = self._chain
        assert chain is not None
        for sealed in ahead(chain):
            self._keep(chain, sealed)
        self._keep(chain, seal(entries, chain, self.sops, DOC_NAME))

    def _keep(self, chain: Chain, sealed: Sealed) -> None:
        if not self.degraded:
            try:
                self._append(sealed.data, sealed.secret)
                advance(chain, sealed)
                return
            except Unreachable:
                self.degraded = True
        self.local.write(sealed.data, sealed.secret)  # the store is away: keep it here, encrypted, in order
        advance(chain, sealed)

    def journal_soon(self) -> None:
        """After `read`: on a state without a journal key, seal the batch that carries one meanwhile."""
        if self._chain is not None and self.sops is not None:
            key_batch_soon(self._chain, self.sops, DOC_NAME, after=self.sops.probe_soon(DOC_NAME).thread.join)

    def commit(self, state: State) -> None:
        if self.degraded:
            raise Unreachable(self._away())
        if self.sops is None:
            raise StateError("writing the state needs sops")
        fresh = state.journal_key is None
        stamp(state, self._chain, self._legacy)
        state.serial += 1
        try:
            document, sidecar = encrypted(state, self.sops, DOC_NAME, self.where, self._recipients, fresh)
            self._commit(state.serial, document, sidecar, self._chain.base if self._chain is not None else "")
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
        self._chain, self._legacy = Chain(state.journal_key, state.serial, digest(document)), []
        self.local.clear()

    def preflight_soon(self) -> None:
        """Start preflight's sops check now, on another thread; `preflight` awaits it."""
        if self.sops is not None:
            self.sops.probe_soon(DOC_NAME)

    def preflight(self) -> None:
        if self.sops is None:
            raise StateError("writing the state needs sops")
        self.sops.probe(DOC_NAME)
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
        self._chain = None  # what was read before the lock is read again before a batch is written
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
