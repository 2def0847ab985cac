"""Desired (git) vs live (server) vs last applied (state) → changes with field-level detail.

Pure: no I/O. Only declared fields are compared; values are normalised by the backend (sets
sorted, scope split) and compared with `==`. Field-level detail comes from the flat path model
(one path per declared field); what differs inside a changed field (items added and removed, nested
pairs) is described afterwards by `describe`, never used to decide whether it changed.

The rules, in the order `compute` applies them to each client in git:
- match: by the state record's client_id, then a pinned `client_id`, then (where the server
  lists clients) the ownership marker. A match whose state record or marker carries another
  name that left git is a *move* (a rename): the record and the marker follow, nothing else.
- refuse: a client that exists but is not ours (no marker and not in state, or another owner's
  marker) is a *conflict*: the plan names it and apply refuses until it is imported or renamed.
- three-way fields: a declared value that differs is a change; a field declared for the first time
  is pending (its before is the server's default); a field declared at the last apply and no longer
  declared is reset to the server's default (`unset`) and then no longer managed.
- a client whose secret dcrsync does not hold and must issue is a `rotate`, never a silent update.
- a plan never holds two changes for one client_id (checked at the end).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dcrsync.describe import describe
from dcrsync.errors import PlanError
from dcrsync.model import (
    NOT_VERIFIED,
    SOFTWARE_STATEMENT,
    ClientSpec,
    LiveClient,
    fingerprint,
    flat_paths,
    shown,
    uses_secret,
)
from dcrsync.ownership import Ownership
from dcrsync.plan import Change, FieldChange
from dcrsync.state import ClientRecord, State, live_values, record_fingerprint

Normalise = Callable[[str, Any], Any]
MARKER_PATH = "(ownership marker)"  # how drift reports a marker someone changed
#: values that mean "nothing set": a removed field whose live value is one of these needs no reset
_EMPTY: tuple[Any, ...] = (None, [], {}, "", False)


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

    @property
    def own(self) -> Ownership:
        return Ownership(self.owner, self.lists)


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


def field_changes(
    spec: ClientSpec,
    live: LiveClient,
    record: ClientRecord | None,
    normalise: Normalise,
    defaults: dict[str, Any] | None = None,
) -> tuple[list[FieldChange], set[str]]:
    """Fields that need an update, and the causes ("pending"/"drift") seen (three-way)."""
    declared = spec.declared()
    desired = {p: normalise(p, v) for p, v in declared.items()}
    current = live_values(live, desired, normalise)
    changes: list[FieldChange] = []
    causes: set[str] = set()
    for path in sorted(desired):
        if desired[path] == current[path]:
            continue
        kind = "change"
        if record is None:
            causes.add("pending")
        elif path not in record.desired:
            causes.add("pending")  # declared for the first time: the server holds its default
            kind = "declare"
        else:
            git_changed = record.desired[path] != desired[path]
            server_changed = path not in record.applied or record.applied[path] != current[path]
            if not git_changed and not server_changed:
                continue  # the server answered another value when we applied: accepted then, warned then
            if git_changed:
                causes.add("pending")
            if server_changed:
                causes.add("drift")
        before = shown(path, live.fields.get(path))
        if path == SOFTWARE_STATEMENT and before is None and record is not None and path in record.desired:
            before = {"claims": record.desired[path], "signature": NOT_VERIFIED}  # servers do not return it
        changes.append(describe(FieldChange(path, before, shown(path, declared[path]), kind)))
    if record is not None:
        for path in sorted(set(record.desired) - set(desired)):
            if _is_default(path, live.fields.get(path), normalise, defaults or {}):
                continue
            changes.append(FieldChange(path, shown(path, live.fields.get(path)), None, "unset"))
            causes.add("pending")
    return changes, causes


def _is_default(path: str, value: Any, normalise: Normalise, defaults: dict[str, Any]) -> bool:
    """The server holds its default for `path`: the family's own where it declares one (Keycloak's
    `enabled` is true), else an empty value (false, "", [], {}, absent)."""
    now = normalise(path, value)
    if path in defaults:
        return normalise(path, defaults[path]) == now
    return now is None or any(now == empty and type(now) is type(empty) for empty in _EMPTY)


def _cause(causes: set[str]) -> str:
    if causes == {"pending", "drift"}:
        return "both"
    return next(iter(causes)) if causes else "pending"


@dataclass
class _Index:
    """The live clients and state records by the keys matching uses."""

    by_id: dict[str, LiveClient]
    by_marker: dict[str, LiveClient]
    records_by_id: dict[str, ClientRecord]
    in_git: set[str]

    @classmethod
    def of(cls, inp: Inputs) -> _Index:
        return cls(
            by_id={c.client_id: c for c in inp.live},
            by_marker=inp.own.by_name(inp.live),
            records_by_id={r.client_id: r for r in inp.state.clients.values() if r.client_id},
            in_git={s.name for s in inp.specs},
        )


def _match(inp: Inputs, ix: _Index, spec: ClientSpec) -> tuple[LiveClient | None, ClientRecord | None, str | None]:
    """(the live client, the state record that speaks for it, the name it moves from, if a rename)."""
    record = inp.state.clients.get(spec.name)
    live = ix.by_id.get(record.client_id) if record is not None else None
    if live is None and spec.client_id:
        live = ix.by_id.get(spec.client_id)
    if live is None:
        live = ix.by_marker.get(spec.name)
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
    if inp.own.foreign(live):
        return (
            f"{spec.name} ({source}): client {live.client_id} belongs to owner {live.owner!r}, not "
            f"{inp.owner!r}: change this client's client_id, or remove the file"
        )
    if record is None and inp.own.unmarked(live) and inp.lists:
        return (
            f"{spec.name} ({source}): client {live.client_id} already exists on the server and dcrsync "
            "does not manage it: adopt it with `dcrsync import`, or remove client_id to create a new client"
        )
    return None


def _create_change(
    spec: ClientSpec, record: ClientRecord | None, warnings: list[str], default_id: str | None = None
) -> Change:
    source = str(spec.location)
    pending_create = record is not None and record.pending
    if pending_create and record is not None and not record.client_id:
        warnings.append(
            f"{spec.name} ({source}): an interrupted apply sent its registration and lost the "
            "answer; the server chose the client_id, so an orphan client may exist there: "
            "look for one named " + repr(spec.fields.get("client_name", spec.name))
        )
    cause = "pending" if record is None or pending_create else "drift"
    reason = None
    if record is not None and not pending_create:
        reason = f"client {record.client_id} is gone from the server (deleted outside dcrsync)"
    client_id = spec.client_id or ((record.client_id or None) if pending_create else None) or default_id
    fields = [FieldChange(p, None, shown(p, v)) for p, v in sorted(spec.declared().items())]
    return Change(
        "create", spec.name, client_id, cause, fields, reason, source, spec_payload(spec),
        record=record_fingerprint(record),
    )


def _update_change(
    inp: Inputs, spec: ClientSpec, live: LiveClient, record: ClientRecord | None, moved_from: str | None
) -> Change | None:
    """An update, move or rotate of a matched client; None when it already matches."""
    fields, causes = field_changes(spec, live, record, inp.normalise, inp.defaults)
    if unchanged(inp, spec, live, record, moved_from, fields):
        return None
    source = str(spec.location)
    common = dict(
        source=source, desired=spec_payload(spec), fingerprint=fingerprint(live), updated_at=live.updated_at,
        record=record_fingerprint(record),
    )
    if moved_from is not None:
        reason = f"renamed from {moved_from}: the state record and the ownership marker follow; same client, same secret"
        return Change("move", spec.name, live.client_id, _cause(causes), fields, reason, moved_from=moved_from, **common)
    marker = inp.own.marker_change(live, spec.name)
    if marker is not None:
        causes.add("drift" if record is not None else "pending")
    common["marker"] = marker
    recovering = record is not None and record.pending
    if record is None or recovering:
        knows_secret = record is not None and bool(record.client_secret)
        if not knows_secret and inp.rotates_secret and uses_secret(spec.fields):
            reason = (
                "created by an interrupted apply whose answer was lost: a new secret is issued"
                if recovering else
                "found on the server with our marker but not in state: adopted, and its unknown secret is "
                "replaced"
            )
            reason += "; the app must be given the new secret"
            return Change("rotate", spec.name, live.client_id, _cause(causes), fields, reason, recovery=recovering, **common)
        reason = (
            "created by an interrupted apply: recorded now" if recovering
            else "found on the server with our marker but not in state: adopted"
        )
        only = not fields and marker is None
        return Change(
            "update", spec.name, live.client_id, _cause(causes), fields, reason, recovery=recovering,
            records_only=only, **common,
        )
    if not fields and marker is None:
        return None
    return Change("update", spec.name, live.client_id, _cause(causes), fields, **common)


def unchanged(
    inp: Inputs, spec: ClientSpec, live: LiveClient, record: ClientRecord | None, moved_from: str | None,
    fields: list[FieldChange],
) -> bool:
    """A managed client that matches git, its record and its marker: no change, and nothing more to
    compute for it (fingerprints, payloads), which is most of a no-change plan's diff."""
    return (
        not fields and moved_from is None and record is not None and not record.pending
        and inp.own.marker_change(live, spec.name) is None
    )


def _rename_change(inp: Inputs, spec: ClientSpec, live: LiveClient, record: ClientRecord) -> Change:
    """A changed declared client_id on a family that renames in place: one update, same client."""
    change = _update_change(inp, spec, live, record, None)
    rename = FieldChange("client_id", live.client_id, spec.client_id)
    if change is None:
        return Change(
            "update", spec.name, live.client_id, "pending", [rename], None, str(spec.location), spec_payload(spec),
            fingerprint(live), live.updated_at, record=record_fingerprint(record),
        )
    change.fields.insert(0, rename)
    change.cause = "both" if change.cause in ("drift", "both") else "pending"
    return change


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


def _replace_change(spec: ClientSpec, live: LiveClient, record: ClientRecord) -> Change:
    return Change(
        "replace", spec.name, live.client_id, "pending",
        [FieldChange("client_id", live.client_id, spec.client_id)],
        "client_id is immutable: the client is deleted and created again", str(spec.location),
        spec_payload(spec), fingerprint(live), live.updated_at, record=record_fingerprint(record),
    )


def compute(inp: Inputs) -> Outcome:
    """Changes that make the server match git, with the live client and state record behind each.

    Contract: pure; every change names one client, and no two changes name the same client_id;
    clients that are not ours are never changed (they become conflicts or warnings); deletes only
    of managed clients, and only with `prune`."""
    ix = _Index.of(inp)
    out = Outcome([], 0, [], {}, [])
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
            default_id = inp.default_client_id(spec) if inp.default_client_id and not spec.client_id else None
            pending = record is not None and record.pending and record.client_id
            taken = _taken(ix, spec, default_id, "the default: the client's name") if default_id and not pending else None
            if taken:
                out.conflicts.append(taken)
                continue
            out.changes.append(_create_change(spec, record, out.warnings, None if pending else default_id))
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
                out.changes.append(_replace_change(spec, live, record))
                continue
            taken = _taken(ix, spec, spec.client_id, "declared here")
            if taken:
                out.conflicts.append(taken)
                continue
            out.changes.append(_rename_change(inp, spec, live, record))
            continue
        change = _update_change(inp, spec, live, record, moved_from)
        if change is None:
            out.unchanged += 1
        else:
            out.changes.append(change)
    _deletes(inp, ix, claimed, moved, out)
    _rename_hints(inp, out)
    check_one_change_per_client(out.changes)
    return out


def _deletes(inp: Inputs, ix: _Index, claimed: set[str], moved: set[str], out: Outcome) -> None:
    for name, live in _departed(inp, ix, claimed, moved):
        if inp.targets is not None and name not in inp.targets:
            continue
        if not inp.prune:
            out.leftovers.append(name)
            continue
        out.live_by_name[name] = live
        record = inp.state.clients.get(name)
        out.changes.append(
            Change(
                "delete", name, live.client_id, "pending" if record else "drift", [],
                None if record else "carries our marker but is in neither git nor state",
                None, None, fingerprint(live), live.updated_at, record=record_fingerprint(record),
            )
        )
    if out.leftovers:
        left = sorted(out.leftovers)
        out.warnings.append(
            f"{len(left)} managed client(s) are no longer in git and stay on the server "
            f"({', '.join(left[:5])}{', …' if len(left) > 5 else ''}); "
            "set prune: true in dcrsync.yaml to delete them"
        )


def _departed(inp: Inputs, ix: _Index, claimed: set[str], moved: set[str]) -> list[tuple[str, LiveClient]]:
    """Managed clients on the server whose name left git. Never a client without our marker, and
    never one a client in git still speaks for (a rename)."""
    out: dict[str, LiveClient] = {}
    for name, record in inp.state.clients.items():
        if name in ix.in_git or name in moved:
            continue
        live = ix.by_id.get(record.client_id)
        if live is None or live.client_id in claimed:
            continue
        if inp.lists and not inp.own.claims(live, name):
            continue  # a listing backend shows the marker: without it, the client is not ours
        out[name] = live
    for name, live in inp.own.by_name(ix.by_id.values()).items():
        if name not in ix.in_git and live.client_id not in claimed:
            out.setdefault(name, live)
    return sorted(out.items())


def _rename_hints(inp: Inputs, out: Outcome) -> None:
    """A create beside a departing client with the same declared fields looks like a rename that
    dcrsync could not recognise (no pinned client_id): say how to make it a move."""
    departing = {c.name: c for c in out.changes if c.action == "delete"}
    departing.update({n: None for n in out.leftovers})
    if not departing:
        return
    for change in out.changes:
        if change.action != "create" or change.desired is None:
            continue
        mine = {k: v for k, v in change.desired.items() if k != "client_id"}
        for old in sorted(departing):
            record = inp.state.clients.get(old)
            if record is None or not record.client_id or record.desired != _normalised(mine, inp.normalise):
                continue
            out.warnings.append(
                f"{change.name} ({change.source}) looks like a rename of {old}: to keep client "
                f"{record.client_id} and its secret, pin `client_id: {record.client_id}` in its file "
                f"(or run `dcrsync state mv {old} {change.name}`) and plan again"
            )
            break


def _normalised(payload: dict[str, Any], normalise: Normalise) -> dict[str, Any]:
    """A saved or planned `desired` as the state records it (flat paths, normalised values)."""
    return {path: normalise(path, v) for path, v in flat_paths(payload).items()}


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


def spec_payload(spec: ClientSpec) -> dict[str, Any]:
    """What a saved plan needs to rebuild the spec: the declared fields, blocks and client_id."""
    out: dict[str, Any] = dict(spec.fields)
    if spec.client_id:
        out["client_id"] = spec.client_id
    out.update({name: block for name, block in spec.blocks.items() if block})
    return out
