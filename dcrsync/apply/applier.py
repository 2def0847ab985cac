"""Carry a Plan out through a backend: the order and parallelism of the server calls. What the calls
return is kept by `recorder.Recorder`."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from dcrsync.apply.answercheck import created_problem, given_record, kept_for_later, updated_problem
from dcrsync.apply.recorder import Recorder
from dcrsync.backends.base import Backend, Marker, Result
from dcrsync.deliver.hook import ApplyDeliveries
from dcrsync.errors import BackendError, DcrsyncError, StateError
from dcrsync.load.gcpause import long_lived
from dcrsync.model import ClientSpec, LiveClient, uses_secret
from dcrsync.plan.ownership import Ownership
from dcrsync.plan.plan import Change, Plan, renamed_id
from dcrsync.plan.undeclared import with_baseline
from dcrsync.state.records import ClientRecord, Entry, State, move_entry, now, upsert
from dcrsync.state.store import StateStore

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
    """Carries one plan out through a backend. Its one job is the order of the server calls; deciding
    what to change is `diff`'s, keeping the answers (and when each must be on disk) is the Recorder's,
    keeping the state is the store's.

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
        project: str | None = None,
        deliveries: ApplyDeliveries | None = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.state = state
        self.owner = owner
        self.own = Ownership(owner, backend.lists, project)
        #: every marker this apply writes says which state it commits (`Ownership.newer`)
        self.serial = state.serial + 1
        self.parallelism = max(1, parallelism)
        self.progress = progress
        self.deliveries = deliveries
        self.report = ApplyReport()
        self.recorder = Recorder.for_backend(store, backend)

    def _marker(self, name: str) -> Marker:
        return Marker(self.owner, name, self.own.project, self.serial)

    def _record(self, spec: ClientSpec, result: Result, *before: Entry, created: bool = False) -> None:
        self.report.client_ids[spec.name] = result.live.client_id
        self.report.warnings.extend(result.notes)
        delivers = self._delivers(spec.name, result, created)
        self.recorder.answer(spec, result, *before, created=created, hold=delivers)
        if delivers:
            self._deliver(spec.name, result)

    # --- operations -----------------------------------------------------------------------
    def _create(self, change: Change, spec: ClientSpec, intent: dict[str, Any]) -> None:
        marker = self._marker(spec.name)
        cid, secret = intent.get("client_id"), intent.get("client_secret")
        try:
            result = self.backend.create(spec, marker, cid, secret)
        except BackendError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 409:
                if spec.name not in self.state.clients:  # refused: nothing was created, forget the intent
                    self.recorder.forget(spec.name)
                raise
            if exc.status != 409 or not cid:
                raise
            live, _ = self.backend.get(cid, None)  # an earlier, lost response may have created it
            if live is None or not self.own.claims(live, spec.name):
                raise
            result = self.backend.update(spec, marker, live, None, self._secret_for(spec))  # secret lost: rotate
        problem = created_problem(spec, cid, result)
        if problem:
            self._unusable_create(spec, result, problem)
        self._record(spec, result, created=True)

    def _update(self, change: Change, spec: ClientSpec, live: LiveClient) -> None:
        """update, rotate and move: one server write (none when only the state records it)."""
        record = self.state.clients.get(change.moved_from or "") or self.state.clients.get(spec.name)
        spec = with_baseline(with_unset(spec, change), change, record, live)  # strict: hand edits put back
        # a rotation lost to a crash is harmless: the client stays unrecorded and is adopted again
        secret = new_secret() if change.action == "rotate" and self.backend.chooses_secret else None
        if change.action == "rotate" and change.grace and self.backend.keeps_old_secret:
            result = self._rotate_keeping(change, spec, live, record)
        elif change.action == "move" and not change.fields and not self.backend.lists:
            result = Result(live=live)  # no marker on such a server: the state alone moves
        elif not change.records_only:
            result = self.backend.update(spec, self._marker(spec.name), live, record, secret)
            sent = (spec.client_id or live.client_id) if self.backend.renames_client_id else live.client_id
            problem = updated_problem(sent, result)
            if problem:
                self._unusable_update(spec, record, result, problem)
        else:
            result = Result(live=live)
        moves = [move_entry(change.moved_from, spec.name)] if change.moved_from else []
        self._record(spec, result, *moves)

    def _unusable_create(self, spec: ClientSpec, result: Result, problem: str) -> None:
        """Refuse a create's answer (see `answercheck`): nothing of it is recorded; where the server chose
        the client_id the client is deleted again, so that no orphan is left."""
        head = f"the server created {spec.name}, but {problem}: nothing of its answer was recorded"
        if self.backend.chooses_client_id:
            raise BackendError(f"{head}; the next apply finds the client by its client_id or dcrsync's marker "
                               "and issues a new secret")
        try:
            self.backend.delete(result.live, given_record(spec.name, result))
        except DcrsyncError as exc:
            self.recorder.announce(kept_for_later(spec.name, result))
            raise BackendError(
                f"{head}; deleting client {result.live.client_id} again failed ({exc}): its client_id and registration "
                f"token are kept in the state as a pending create; delete it on the server, then "
                f"`dcrsync state rm {spec.name}`"
            ) from None
        self.recorder.forget(spec.name)
        raise BackendError(f"{head}; dcrsync deleted client {result.live.client_id} again: apply again once the "
                           "server answers properly")

    def _unusable_update(self, spec: ClientSpec, record: ClientRecord | None, result: Result, problem: str) -> None:
        """Refuse an update's answer: only a new registration token is kept (the old one is dead)."""
        token = result.secrets.get("registration_access_token")
        kept = ""
        if token and record is not None:
            self.recorder.announce(upsert(record.name, registration_access_token=token))
            kept = " except the new registration access token, without which the client could not be managed"
        raise BackendError(f"the server updated {spec.name}, but {problem}: nothing of its answer was recorded{kept}")

    def _rotate_keeping(self, change: Change, spec: ClientSpec, live: LiveClient, record: ClientRecord | None) -> Result:
        """A two-phase rotation: the declared changes first, then a new secret while the old one stays
        valid for the grace (refused, with nothing rotated, where the server would not keep it)."""
        if change.fields or change.marker is not None:
            live = self.backend.update(spec, self._marker(spec.name), live, record).live
        result, until = self.backend.rotate_with_grace(live, record, change.grace or 0)
        self.recorder.note(upsert(spec.name, client_id=live.client_id, rotating={"until": until, "at": now()}))
        return result

    def _delivers(self, name: str, result: Result, created: bool) -> bool:
        """A create, or an answer with a new secret, of a client that delivers: hand it over."""
        wanted = self.deliveries is not None and self.deliveries.wants(name)
        return wanted and (created or bool(result.secrets.get("client_secret")))

    def _deliver(self, name: str, result: Result) -> None:
        """The delivery hook, once the answer is on disk (`_record` holds for it): deliver, then journal
        the delivery's record; a crash in between leaves a delivery to retry, never a secret the state
        does not hold."""
        assert self.deliveries is not None
        secret = result.secrets.get("client_secret")
        record = self.state.clients.get(name)
        self.recorder.note(*self.deliveries.now(name, result.live.client_id, secret, record))

    def _delete(self, change: Change, live: LiveClient) -> None:
        self.backend.delete(live, self.state.clients.get(change.name))
        self.recorder.forget(change.name)

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
        # the answers are kept to the commit, and a request leaves no cyclic garbage (`net.http._Client`):
        # the collector would only walk them again and again (dcrsync.load.gcpause)
        with long_lived(), ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="dcrsync-apply") as pool:
            futures = [pool.submit(self._run, change, fn) for change, fn in jobs]
            # one wake-up when all are done (or one raised: a bug, since `_run` reports what fails),
            # not one per change: this thread would take the GIL from the workers a thousand times
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
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
            renamed = {c.name: {"client_id": renamed_id(c)} for c in updates}  # grants on a new id wait for it
            for wave in create_waves(updates, specs, renamed, self.backend):
                self._parallel([(c, partial(self._update, c, specs[c.name], live_by_name[c.name])) for c in wave])

            deletes = [c for c in plan.changes if c.action == "delete"]
            self._parallel([(c, partial(self._delete, c, live_by_name[c.name])) for c in deletes])
            if self.deliveries is not None:  # what no create or rotation above delivered, then finishes
                self.recorder.note(*self.deliveries.rest(self.state))
                self.recorder.note(*self.deliveries.finish(self.state, self.backend, live_by_name))
        self.report.warnings.extend(self.recorder.warnings)
        self.state.seal(specs.values())  # records this apply left alone too (`State.seal`)
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
            # a client deleted by hand comes back as itself: its recorded client_id, and its secret
            again = record.client_secret if record is not None and record.client_id == cid else None
            if again and self.backend.chooses_secret and uses_secret(spec.fields):
                intents[change.name] = {"client_id": cid, "client_secret": again}
                announce.append(upsert(change.name, client_id=cid, pending=True))
                continue
            # the server makes the secret; a lost answer leaves the client pending here, and the
            # next apply finds it by its id and rotates the secret (where the server allows it)
            intents[change.name] = {"client_id": cid, "client_secret": None}
            # announced even when the server picks the id: a lost answer is then at least reported
            data = {"client_id": cid, "pending": True, "client_secret": None}
            announce.append(upsert(change.name, **data))
        if announce:
            self.recorder.announce(*announce)
        return intents

    def _replace(self, change: Change, spec: ClientSpec, live: LiveClient) -> None:
        self.backend.delete(live, self.state.clients.get(change.name))
        self._create(change, spec, {"client_id": spec.client_id, "client_secret": self._secret_for(spec)})


def create_waves(
    creates: list[Change], specs: dict[str, ClientSpec], intents: dict[str, dict[str, Any]], backend: Backend
) -> list[list[Change]]:
    """Creates (or updates) in waves: one whose write needs another one's client (`Backend.create_after`,
    e.g. a grant of its roles) runs in a later wave than the change that makes that client_id (its create,
    or its in-place rename); a cycle runs as it is and the server says what is missing."""
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
