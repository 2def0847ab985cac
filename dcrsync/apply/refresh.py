"""`dcrsync state refresh [NAME…]`: accept what the server holds now as the last-applied baseline
(Terraform's `apply -refresh-only`). What it accepts is shown first, then written in one commit.

For each client it accepts, the baseline of every declared field the server changed becomes the
server's value (what git declared at the last apply and what the server answered, both), and the
server's whole representation becomes the one undeclared changes are measured from. After it,
`drift` reports nothing for those clients, and where git declares something else `plan` shows git's
value as a pending change: the next apply still makes the server match git, unless git changes.
The same baseline `state recover` records for a state rebuilt from the markers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dcrsync.backends.base import Backend
from dcrsync.errors import StateError
from dcrsync.model import LiveClient, observed, shown
from dcrsync.plan.ownership import Ownership
from dcrsync.plan.plan import FieldChange
from dcrsync.plan.undeclared import Reader, UndeclaredChange
from dcrsync.plan.undeclared import changes as undeclared_changes
from dcrsync.project.opening import Project
from dcrsync.state.records import ClientRecord, Normalise, State


@dataclass
class Accepted:
    """One client whose baseline moves to what the server holds."""

    name: str
    client_id: str
    #: declared fields: the baseline before -> the server's value now
    fields: list[FieldChange] = field(default_factory=list)
    #: fields git does not declare that changed on the server since the last apply
    undeclared: list[UndeclaredChange] = field(default_factory=list)
    live: LiveClient | None = None


@dataclass
class Refresh:
    accepted: list[Accepted]
    #: clients that cannot be refreshed, one line each (gone from the server, another project's)
    skipped: list[str]
    #: the new baseline was written (confirmed)
    written: bool = False


def accepted(record: ClientRecord, live: LiveClient, normalise: Normalise, read: Reader) -> Accepted | None:
    """What moving `record`'s baseline to `live` accepts; None when the server matches it already."""
    rows: list[FieldChange] = []
    for path in sorted(set(record.applied) | set(record.desired)):
        now = normalise(path, live.fields.get(path))
        if now != record.applied.get(path, record.desired.get(path)):
            rows.append(FieldChange(path, shown(path, record.applied.get(path)), shown(path, now)))
    undeclared: list[UndeclaredChange] = []
    if record.observed is not None:
        undeclared = undeclared_changes(record.observed, live.raw, set(record.applied) | set(record.desired), read)
    if not rows and not undeclared:
        return None
    return Accepted(record.name, live.client_id, rows, undeclared, live)


def survey(state: State, live: Sequence[LiveClient], names: Sequence[str], own: Ownership,
           normalise: Normalise, read: Reader) -> Refresh:
    """What a refresh of `names` (every client when empty) accepts, and what it leaves, from the state."""
    missing = [n for n in names if n not in state.clients]
    if missing:
        raise StateError(f"not in the state: {', '.join(missing)}; `dcrsync state list` shows what is; nothing was changed")
    by_id = {c.client_id: c for c in live}
    out = Refresh([], [])
    for name in sorted(names or state.clients):
        record = state.clients[name]
        if record.pending or not record.client_id:
            out.skipped.append(f"{name}: its create was interrupted; the next apply finishes it")
            continue
        current = by_id.get(record.client_id)
        if current is None:
            out.skipped.append(f"{name}: client {record.client_id} is gone from the server; `dcrsync plan` creates it again")
        elif own.lists and own.foreign(current):
            out.skipped.append(f"{name}: client {record.client_id} carries another project's or owner's marker")
        elif (found := accepted(record, current, normalise, read)) is not None:
            out.accepted.append(found)
    return out


def accept(state: State, found: Sequence[Accepted], normalise: Normalise) -> None:
    """Move each client's baseline to what the server holds (in `state`, not yet written)."""
    for item in found:
        record = state.clients[item.name]
        assert item.live is not None
        for row in item.fields:
            now = normalise(row.path, item.live.fields.get(row.path))
            record.applied[row.path] = now
            record.desired[row.path] = now
        record.observed = observed(item.live)


def refresh(
    project: Project, backend: Backend, names: Sequence[str], confirm: Callable[[Refresh], bool]
) -> Refresh:
    """Read the server, show what would be accepted (`confirm`), then write it with one commit."""
    store = project.store
    project.unlock()
    with store.locked():
        state = store.read()
        live = backend.fetch(list(state.clients.values())).clients
        found = survey(state, live, names, project.ownership(backend), backend.normalise, backend.live_of)
        if found.accepted and confirm(found):
            accept(state, found.accepted, backend.normalise)
            store.commit(state)
            found.written = True
    return found
