"""Carry a Plan out through a backend: the order and parallelism of the server calls. What the calls
return is kept by `recorder.Recorder`."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from dcrsync.backends.base import Backend, Marker, Result
from dcrsync.errors import BackendError, DcrsyncError, StateError
from dcrsync.model import ClientSpec, LiveClient, uses_secret
from dcrsync.ownership import Ownership
from dcrsync.plan import Change, Plan
from dcrsync.recorder import Recorder
from dcrsync.state import Entry, State, forget, move_entry, upsert
from dcrsync.store import StateStore

#: called as each change finishes: the change, the error (None when done), the client_id it has now
Progress = Callable[[Change, str | None, str | None], None]


@dataclass
class ApplyReport:
    done: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: name -> the client_id it has after the apply (creates whose id the server chose included)
    client_ids: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def with_unset(spec: ClientSpec, change: Change) -> ClientSpec:
    """The spec with the fields this change resets to the server's default (no longer declared)."""
    unset = frozenset(f.path for f in change.fields if f.kind == "unset")
    return replace(spec, unset=unset) if unset else spec


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Applier:
    """Carries one plan out through a backend. Its one job is the order of the server calls and when
    each answer must be on disk; deciding what to change is `diff`'s, keeping the answers is the
    Recorder's, keeping the state is the store's.

    Contract of `run`:
    - creates first (each announced in the journal before any is sent, with the client_id chosen up
      front where the family allows), then replaces one at a time, then updates, moves and rotations,
      then deletes; `parallelism` calls in flight within each step;
    - what the server gives once (secrets, registration tokens) is journaled before the worker moves
      on where it cannot be had again (RFC 7592), and at least once a second elsewhere;
    - a failed change is reported and the others go on; the journal is folded into the state with
      one commit at the end, so a crash anywhere leaves a state the next apply converges from.
    """

    def __init__(
        self,
        backend: Backend,
        store: StateStore,
        state: State,
        owner: str,
        *,
        parallelism: int = 4,
        progress: Progress | None = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.state = state
        self.owner = owner
        self.parallelism = max(1, parallelism)
        self.progress = progress
        self.report = ApplyReport()
        # where a lost answer can be recovered (the id was ours, the secret can be rotated), batch
        # journal writes; where it cannot (RFC 7592), write each answer as soon as it arrives
        recoverable = backend.chooses_client_id and backend.rotates_secret
        self.recorder = Recorder(store, backend.normalise, interval=1.0 if recoverable else 0.0)

    def _record(self, spec: ClientSpec, result: Result, *before: Entry) -> int:
        self.report.client_ids[spec.name] = result.live.client_id
        self.report.warnings.extend(result.notes)
        return self.recorder.answer(spec, result, *before)

    # --- operations -----------------------------------------------------------------------
    def _create(self, change: Change, spec: ClientSpec, intent: dict[str, Any]) -> None:
        marker = Marker(self.owner, spec.name)
        cid, secret = intent.get("client_id"), intent.get("client_secret")
        try:
            result = self.backend.create(spec, marker, cid, secret)
        except BackendError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 409:
                if spec.name not in self.state.clients:  # refused: nothing was created, forget the intent
                    self.recorder.journal(forget(spec.name))
                raise
            if exc.status != 409 or not cid:
                raise
            live, _ = self.backend.get(cid, None)  # an earlier, lost response may have created it
            if live is None or not Ownership(self.owner).claims(live, spec.name):
                raise
            result = self.backend.update(spec, marker, live, None, self._secret_for(spec))  # secret lost: rotate
        ticket = self._record(spec, result)
        if not self.backend.chooses_client_id:  # a lost answer is an orphan: lose at most one per worker
            self.recorder.durable(ticket)

    def _update(self, change: Change, spec: ClientSpec, live: LiveClient) -> None:
        """update, rotate and move: one server write (none when only the state records it)."""
        record = self.state.clients.get(change.moved_from or "") or self.state.clients.get(spec.name)
        spec = with_unset(spec, change)
        # a rotation lost to a crash is harmless: the client stays unrecorded and is adopted again
        secret = new_secret() if change.action == "rotate" and self.backend.chooses_secret else None
        if change.action == "move" and not change.fields and not self.backend.lists:
            result = Result(live=live)  # no marker on such a server: the state alone moves
        elif not change.records_only:
            result = self.backend.update(spec, Marker(self.owner, spec.name), live, record, secret)
        else:
            result = Result(live=live)
        moves = [move_entry(change.moved_from, spec.name)] if change.moved_from else []
        ticket = self._record(spec, result, *moves)
        if "registration_access_token" in result.secrets:  # the old token is dead: keep the new one first
            self.recorder.durable(ticket)

    def _delete(self, change: Change, live: LiveClient) -> None:
        self.backend.delete(live, self.state.clients.get(change.name))
        self.recorder.journal(forget(change.name))

    def _run(self, change: Change, fn: Callable[[], None]) -> None:
        try:
            if self.store.degraded:  # a shared store went away: start nothing new
                raise StateError(f"not started: the state store {self.store.where} is unreachable")
            fn()
        except DcrsyncError as exc:
            self.report.failed.append((change, str(exc)))
            if self.progress:
                self.progress(change, str(exc), change.client_id)
            return
        self.report.done.append(change)
        if self.progress:
            self.progress(change, None, self.report.client_ids.get(change.name, change.client_id))

    def _parallel(self, jobs: Sequence[tuple[Change, Callable[[], None]]]) -> None:
        if not jobs:
            return
        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="dcrsync-apply") as pool:
            futures = [pool.submit(self._run, change, fn) for change, fn in jobs]
            for future in as_completed(futures):
                future.result()

    def run(self, plan: Plan, specs: dict[str, ClientSpec], live_by_name: dict[str, LiveClient]) -> ApplyReport:
        """Creates, then replaces, updates, moves and rotations, then deletes; the journal is folded into
        the state at the end."""
        with self.recorder:
            creates = [c for c in plan.changes if c.action == "create"]
            intents = self._intents(creates, specs)
            for wave in create_waves(creates, specs, intents, self.backend):
                self._parallel([(c, partial(self._create, c, specs[c.name], intents[c.name])) for c in wave])

            replaces = [c for c in plan.changes if c.action == "replace"]
            for change in replaces:  # delete then create again: one at a time, safest order
                self._run(change, partial(self._replace, change, specs[change.name], live_by_name[change.name]))

            updates = [c for c in plan.changes if c.action in ("update", "rotate", "move")]
            self._parallel([(c, partial(self._update, c, specs[c.name], live_by_name[c.name])) for c in updates])

            deletes = [c for c in plan.changes if c.action == "delete"]
            self._parallel([(c, partial(self._delete, c, live_by_name[c.name])) for c in deletes])
        self.report.warnings.extend(self.recorder.warnings)
        self.recorder.commit(self.state)
        return self.report

    def _secret_for(self, spec: ClientSpec) -> str | None:
        return new_secret() if self.backend.chooses_secret and uses_secret(spec.fields) else None

    def _intents(self, creates: list[Change], specs: dict[str, ClientSpec]) -> dict[str, dict[str, Any]]:
        """Every create announced in the journal before any is sent, with the client_id chosen up front
        where the server allows it (the server makes the secret)."""
        intents: dict[str, dict[str, Any]] = {}
        announce: list[dict[str, Any]] = []
        for change in creates:
            spec = specs[change.name]
            record = self.state.clients.get(change.name)
            if record is not None and record.pending and record.client_id:
                intents[change.name] = {"client_id": record.client_id, "client_secret": None}
                continue
            cid = spec.client_id or change.client_id
            if cid is None and self.backend.chooses_client_id:
                cid = self.backend.new_client_id()
            # the server makes the secret; a lost answer leaves the client pending here, and the
            # next apply finds it by its id and rotates the secret (where the server allows it)
            intents[change.name] = {"client_id": cid, "client_secret": None}
            # announced even when the server picks the id: a lost answer is then at least reported
            data = {"client_id": cid, "pending": True, "client_secret": None}
            announce.append(upsert(change.name, **data))
        if announce:
            self.recorder.journal(*announce)
            self.recorder.flush()
        return intents

    def _replace(self, change: Change, spec: ClientSpec, live: LiveClient) -> None:
        self.backend.delete(live, self.state.clients.get(change.name))
        self._create(change, spec, {"client_id": spec.client_id, "client_secret": self._secret_for(spec)})


def create_waves(
    creates: list[Change], specs: dict[str, ClientSpec], intents: dict[str, dict[str, Any]], backend: Backend
) -> list[list[Change]]:
    """Creates in waves: one whose create needs another one's client (`Backend.create_after`, e.g. a
    grant of its roles) runs in a later wave; a cycle runs as it is and the server says what is missing."""
    ids = {c.name: intents[c.name].get("client_id") for c in creates}
    left, waves = list(creates), []
    while left:
        waiting = {ids[c.name] for c in left if ids[c.name]}
        ready = [c for c in left if not (backend.create_after(specs[c.name]) - {ids[c.name]}) & waiting] or left
        waves.append(ready)
        taken = {id(c) for c in ready}  # by identity: `in` a list compared whole Changes, n^2 of them
        left = [c for c in left if id(c) not in taken]
    return waves


def forget_departed(state: State, specs: dict[str, ClientSpec], live_ids: set[str]) -> list[str]:
    """State records whose name left git and whose client is gone: nothing left to manage."""
    gone = [n for n, r in state.clients.items() if n not in specs and r.client_id not in live_ids]
    for name in gone:
        del state.clients[name]
    return gone
