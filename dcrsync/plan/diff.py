"""Desired (git) vs live (server) vs last applied (state) → changes with field-level detail.

Pure: no I/O. Only declared fields are compared; values are normalised by the backend (sets
sorted, scope split) and compared with `==`. Field-level detail comes from the flat path model
(one path per declared field); what differs inside a changed field (items added and removed, nested
pairs) is described afterwards by `describe`, never used to decide whether it changed.

The rules, in the order `compute` applies them to each client in git:
- match: by `moved_from:` (a rename said in the file), the state record's client_id, a pinned
  `client_id`, then (where the server lists clients) this project's marker. A match whose state
  record or marker carries another name that left git is a *move* (a rename): the record and the
  marker follow, nothing else.
- refuse: a client that exists but is not ours (no marker and not in state, another owner's or
  project's marker, a legacy marker the state does not record, or one a later apply wrote than this
  state) is a *conflict*: the plan names it and apply refuses until it is imported or renamed.
- a client in the state but gone from the server is created again under its recorded client_id
  where the family lets dcrsync choose it; elsewhere its new client_id is flagged for the app.
- three-way fields: a declared value that differs is a change; a field declared for the first time
  is pending (its before is the server's default); a field declared at the last apply and no longer
  declared is reset to the server's default (`unset`) and then no longer managed.
- a client whose secret dcrsync does not hold and must issue is a `rotate`, never a silent update.
- a plan never holds two changes for one client_id (checked at the end); what leaves git is
  `departures`' (prune, renames that look like a create and a delete).

This module matches and refuses; the three-way field comparison is `fields`', and each kind of change
(create, update, move, rotate, rename, replace) is built in `changes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dcrsync.errors import PlanError
from dcrsync.load import envrefs
from dcrsync.model import ClientSpec, LiveClient
from dcrsync.plan import departures
from dcrsync.plan.changes import create_change, rename_change, replace_change, update_change
from dcrsync.plan.fields import Normalise
from dcrsync.plan.ownership import Ownership
from dcrsync.plan.plan import Change
from dcrsync.state.records import ClientRecord, State

MARKER_PATH = "(ownership marker)"  # how drift reports a marker someone changed


@dataclass
class Inputs:
    specs: Sequence[ClientSpec]
    live: Sequence[LiveClient]
    state: State
    owner: str
    normalise: Normalise
    prune: bool = False
    lists: bool = True  # the backend lists every client (so unmanaged and marker-only clients are seen)
    rotates_secret: bool = True
    targets: set[str] | None = None
    #: names whose client could not be read with its stored token (RFC 7592), with the reason
    unreadable: dict[str, str] = field(default_factory=dict)
    #: what the server fills in for a field never declared (a removed field equal to it needs no reset)
    defaults: dict[str, Any] = field(default_factory=dict)
    #: a changed declared client_id is an in-place update (Backend.renames_client_id), not a replace
    renames_client_id: bool = False
    #: the client_id a create gets when none is declared (Backend.default_client_id)
    default_client_id: Callable[[ClientSpec], str | None] | None = None
    #: this project's identity, written into every marker (None: the owner alone decides)
    project: str | None = None
    #: the caller may choose a client_id (Backend.chooses_client_id): a client deleted by hand comes
    #: back under its recorded one; else the server gives it a new one, which the app must follow
    chooses_client_id: bool = True
    #: the time declared rotations (`rotate.max_age`) are judged at (epoch seconds; None: never due)
    now: float | None = None
    #: the family can keep the old secret valid after a rotation (Backend.keeps_old_secret), and its name
    keeps_old_secret: bool = False
    family: str = ""
    #: notes for the plan's warnings, gathered while computing (rotations that cannot be told or made)
    notes: list[str] = field(default_factory=list)

    @property
    def own(self) -> Ownership:
        return Ownership(self.owner, self.lists, self.project)


@dataclass
class Outcome:
    changes: list[Change]
    unchanged: int
    warnings: list[str]
    #: live clients each change was computed from, by name (None for creates)
    live_by_name: dict[str, LiveClient]
    #: managed clients that left git but stay, because prune is off
    leftovers: list[str]
    #: what stops an apply before anything is sent, one line each
    conflicts: list[str] = field(default_factory=list)
    #: our clients whose marker a later apply wrote than the state's serial: the state is behind
    behind: list[str] = field(default_factory=list)
    #: clients with this project's marker in neither git nor state: never deleted, named in a warning
    unrecorded: list[str] = field(default_factory=list)


@dataclass
class _Index:
    """The live clients and state records by the keys matching uses."""

    by_id: dict[str, LiveClient]
    by_marker: dict[str, LiveClient]
    records_by_id: dict[str, ClientRecord]
    in_git: set[str]
    #: our owner's markers without a project, by name (see `Ownership.legacy`)
    legacy: dict[str, LiveClient] = field(default_factory=dict)

    @classmethod
    def of(cls, inp: Inputs) -> _Index:
        return cls(
            by_id={c.client_id: c for c in inp.live},
            by_marker=inp.own.by_name(inp.live),
            records_by_id={r.client_id: r for r in inp.state.clients.values() if r.client_id},
            in_git={s.name for s in inp.specs},
            legacy=inp.own.legacy_by_name(inp.live),
        )


def _match(inp: Inputs, ix: _Index, spec: ClientSpec) -> tuple[LiveClient | None, ClientRecord | None, str | None]:
    """(the live client, the state record that speaks for it, the name it moves from, if a rename)."""
    record = inp.state.clients.get(spec.name)
    old = inp.state.clients.get(spec.moved_from) if spec.moved_from and record is None else None
    if old is not None and old.client_id in ix.by_id and old.name not in ix.in_git:
        return ix.by_id[old.client_id], old, old.name  # `moved_from: OLD`: a rename, said in the file
    live = ix.by_id.get(record.client_id) if record is not None else None
    if live is None and spec.client_id:
        live = ix.by_id.get(spec.client_id)
    if live is None:
        live = ix.by_marker.get(spec.name) or ix.legacy.get(spec.name)
    if live is None:
        return None, record, None
    if record is None:  # the client may be in state under a name that left git: a rename
        other = ix.records_by_id.get(live.client_id)
        if other is not None and other.name not in ix.in_git:
            return live, other, other.name
    marked = live.managed_name
    if (
        inp.lists and inp.own.is_ours(live) and marked != spec.name and marked not in ix.in_git
        and (record is None or record.client_id == live.client_id)
    ):
        return live, record, marked  # the state moved already (`state mv`); the marker follows
    return live, record, None


def _conflict(inp: Inputs, spec: ClientSpec, live: LiveClient, record: ClientRecord | None) -> str | None:
    """Why this client must not be touched, or None when it is ours to manage."""
    source = str(spec.location)
    if inp.own.foreign(live) and live.owner != inp.owner:
        return (
            f"{spec.name} ({source}): client {live.client_id} belongs to owner {live.owner!r}, not "
            f"{inp.owner!r}: change this client's client_id, or remove the file"
        )
    if inp.own.foreign(live):
        return (
            f"{spec.name} ({source}): client {live.client_id} belongs to project {live.project!r}, not this "
            f"project ({inp.project!r}): if this project was known as {live.project!r} (a renamed repository, "
            f"a new --env), set `project: {live.project}` in dcrsync.yaml; otherwise change this client's "
            "client_id, or remove the file"
        )
    if record is None and inp.own.legacy(live):
        return (
            f"{spec.name} ({source}): client {live.client_id} carries owner {inp.owner!r}'s marker from a dcrsync "
            "without project identities, and this project's state does not record it (another project of the "
            f"same owner may manage it): if it is this project's, adopt it with `dcrsync import {spec.name} "
            f"{live.client_id}`; otherwise rename this client"
        )
    if record is None and inp.own.newer(live, inp.state.serial):
        return (
            f"{spec.name} ({source}): client {live.client_id} was written by a later apply (state serial "
            f"{live.serial}) than this state (serial {inp.state.serial}) and this state does not record it: "
            "this branch's state is behind: merge the base branch"
        )
    if record is None and inp.own.unmarked(live) and inp.lists:
        return (
            f"{spec.name} ({source}): client {live.client_id} already exists on the server and dcrsync "
            "does not manage it: adopt it with `dcrsync import`, or remove client_id to create a new client"
        )
    return None


def _absent(inp: Inputs, ix: _Index, spec: ClientSpec, record: ClientRecord | None, out: Outcome) -> None:
    """A client in git that is not on the server: a create, under the client_id it had where the
    server lets dcrsync choose it (a client deleted by hand comes back as itself)."""
    pending = record is not None and record.pending and bool(record.client_id)
    gone = record is not None and not record.pending and bool(record.client_id)
    chosen, why = None, ""
    if spec.client_id or pending:
        pass
    elif gone and inp.chooses_client_id and record is not None:
        chosen, why = record.client_id, "recorded in the state for this client"
    elif inp.default_client_id:
        chosen, why = inp.default_client_id(spec), "the default: the client's name"
    taken = _taken(ix, spec, chosen, why) if chosen else None
    if taken:
        out.conflicts.append(taken)
        return
    out.changes.append(create_change(spec, record, out.warnings, chosen))


def _taken(ix: _Index, spec: ClientSpec, client_id: str, why: str) -> str | None:
    """Why `client_id` cannot be given to `spec`: another client on the server has it."""
    other = ix.by_id.get(client_id)
    if other is None:
        return None
    whose = f"dcrsync client {other.managed_name}" if other.managed_name else "a client dcrsync does not manage"
    return (
        f"{spec.name} ({spec.location}): client_id {client_id} ({why}) is taken on the server by {whose}: "
        "set another `client_id:` in this file, or adopt that client with `dcrsync import`"
    )


def compute(inp: Inputs) -> Outcome:
    """Changes that make the server match git, with the live client and state record behind each.

    Contract: pure; every change names one client, and no two changes name the same client_id;
    clients that are not ours are never changed (they become conflicts or warnings); deletes only
    of managed clients, and only with `prune`."""
    ix = _Index.of(inp)
    out = Outcome([], 0, [], {}, [], departures.moved_conflicts(inp, ix))
    claimed: set[str] = set()  # client_ids a client in git speaks for
    moved: set[str] = set()  # state names that move to a new name
    for spec in inp.specs:
        if inp.targets is not None and spec.name not in inp.targets:
            live, _, _ = _match(inp, ix, spec)
            if live is not None:
                claimed.add(live.client_id)
            continue
        if spec.name in inp.unreadable:
            out.warnings.append(f"{spec.name} ({spec.location}): {inp.unreadable[spec.name]}")
            continue
        live, record, moved_from = _match(inp, ix, spec)
        if live is None:
            _absent(inp, ix, spec, record, out)
            continue
        claimed.add(live.client_id)
        conflict = _conflict(inp, spec, live, record)
        if conflict is not None:
            out.conflicts.append(conflict)
            continue
        out.live_by_name[spec.name] = live
        if moved_from is not None:
            moved.add(moved_from)
        if record is not None and moved_from is None and spec.client_id and spec.client_id != live.client_id:
            if not inp.renames_client_id:
                out.changes.append(replace_change(spec, live, record))
                continue
            taken = _taken(ix, spec, spec.client_id, "declared here")
            if taken:
                out.conflicts.append(taken)
                continue
            out.changes.append(rename_change(inp, spec, live, record))
            continue
        change = update_change(inp, spec, live, record, moved_from)
        if change is None:
            out.unchanged += 1
        else:
            out.changes.append(change)
    departures.deletes(inp, ix, claimed, moved, out)
    departures.rename_hints(inp, out)
    envrefs.attach(out.changes, inp.specs)
    check_one_change_per_client(out.changes)
    rotations = {s.name: s.rotation for s in inp.specs if s.rotation is not None}
    for change in out.changes:  # the token a new secret answers, recorded with it (saved plans too)
        change.rotation = rotations.get(change.name)
    out.warnings.extend(inp.notes)
    return out


def check_one_change_per_client(changes: Sequence[Change]) -> None:
    """The planner's invariant: one change per client_id, one per name."""
    seen: dict[str, str] = {}
    names: set[str] = set()
    for change in changes:
        if change.name in names:
            raise PlanError(f"two changes for {change.name} in one plan; this is a dcrsync bug: please report it")
        names.add(change.name)
        if not change.client_id:
            continue
        if change.client_id in seen:
            raise PlanError(
                f"{seen[change.client_id]} and {change.name} both claim client {change.client_id}: "
                "one client can be managed under one name only; remove the client_id from one of the files"
            )
        seen[change.client_id] = change.name
