"""What changed on the server outside dcrsync since the last apply. Pure: no I/O.

Drift compares the live clients with what the state recorded at the last apply (`applied`),
field by field for the fields that were declared then. Git changes not yet applied are not
drift: they are counted as pending, for `plan`.

Beside that, each client's whole server representation is compared with the one kept at the last
apply (`observed`): fields the YAML does not declare that someone changed (a Keycloak `webOrigins`,
a token lifespan, an added protocol mapper) are listed apart as *undeclared changes*. They are
informational: `drift` fails on them only when asked (`--fail-on-undeclared`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from dcrsync.load import envrefs
from dcrsync.model import ClientSpec, LiveClient, shown
from dcrsync.plan.diff import MARKER_PATH
from dcrsync.plan.ownership import Ownership
from dcrsync.plan.plan import FieldChange
from dcrsync.plan.undeclared import Reader, UndeclaredChange, default_reader
from dcrsync.plan.undeclared import changes as changes_of
from dcrsync.state.records import ClientRecord, State, desired_values
from dcrsync.state.sealed import masked, unread

Kind = Literal["changed", "deleted", "unmanaged", "unreadable"]
Normalise = Callable[[str, Any], Any]


@dataclass
class DriftedClient:
    name: str
    client_id: str | None
    kind: Kind
    fields: list[FieldChange] = field(default_factory=list)
    updated_at: str | None = None
    detail: str | None = None


@dataclass
class UndeclaredClient:
    """A managed client whose undeclared fields changed on the server since the last apply."""

    name: str
    client_id: str
    changes: list[UndeclaredChange]
    updated_at: str | None = None


@dataclass
class DriftReport:
    server: dict[str, str]
    clients: list[DriftedClient]
    checked: int
    pending: int
    pending_names: list[str] = field(default_factory=list)
    undeclared: list[UndeclaredClient] = field(default_factory=list)
    #: managed clients whose record has no server representation yet (applied by an older dcrsync)
    unobserved: int = 0
    #: the `--env` the report is for (None: the project's only one)
    environment: str | None = None
    #: deliveries missing or stale at their destination: {name, target, where, verdict, why}
    deliveries: list[dict[str, str]] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.clients)

    def exit_code(self, fail_on_undeclared: bool = False) -> int:
        """2 on declared drift or a stale delivery, or on undeclared changes when asked to fail on them; else 0."""
        return 2 if self.drifted or self.deliveries or (fail_on_undeclared and self.undeclared) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "server": self.server,
            "environment": self.environment,
            "checked": self.checked,
            "drift": len(self.clients),
            "pending": self.pending,
            "pending_names": self.pending_names,
            "clients": [_client_dict(c) for c in self.clients],
            "undeclared": [asdict(c) for c in self.undeclared],
            "unobserved": self.unobserved,
            **({"deliveries": self.deliveries} if self.deliveries else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str) + "\n"


def _client_dict(client: DriftedClient) -> dict[str, Any]:
    """A drifted client for JSON: fields as path, before, after (a plan's `kind` means nothing here)."""
    out = asdict(client)
    out["fields"] = [{"path": f.path, "before": f.before, "after": f.after} for f in client.fields]
    return out


def detect(
    specs: Sequence[ClientSpec],
    live: Sequence[LiveClient],
    state: State,
    *,
    owner: str,
    normalise: Normalise,
    lists: bool,
    server: dict[str, str],
    unreadable: dict[str, str] | None = None,
    read: Reader | None = None,
    project: str | None = None,
) -> DriftReport:
    """Managed clients the server changed, deleted or cannot read since the last apply; clients with
    our marker that the state does not know; undeclared fields changed; and how many git changes
    are pending (those are `plan`'s, not drift). `read` is the backend's own `raw -> LiveClient`."""
    own = Ownership(owner, lists, project)
    by_id = {c.client_id: c for c in live}
    out: list[DriftedClient] = []
    undeclared: list[UndeclaredClient] = []
    unobserved = checked = 0
    by_name = {s.name: s for s in specs}
    for name in sorted(state.clients):
        record = state.clients[name]
        if record.pending or not record.client_id:
            continue
        checked += 1
        current = by_id.get(record.client_id)
        if unreadable and name in unreadable:
            out.append(DriftedClient(name, record.client_id, "unreadable", detail=unreadable[name]))
        elif current is None:
            out.append(DriftedClient(name, record.client_id, "deleted", detail="deleted outside dcrsync"))
        else:
            spec = by_name.get(name)  # a value read from the environment then or now: never shown
            refs = {**record.sealed, **(spec.env_refs if spec is not None else {})}
            fields = envrefs.hide_refs(refs, _changed_fields(record, current, name, own, normalise), drift=True)
            if fields:
                out.append(DriftedClient(name, record.client_id, "changed", fields, current.updated_at))
            if record.observed is None:
                unobserved += 1
                continue
            declared = set(record.applied) | set(record.desired)
            found = changes_of(record.observed, current.raw, declared, read or default_reader)
            if found:
                undeclared.append(UndeclaredClient(name, record.client_id, found, current.updated_at))
    out.extend(_unmanaged(state, live, own))
    pending = sorted(
        s.name for s in specs
        if (r := state.clients.get(s.name)) is None or not _same_desired(r, desired_values(s, normalise))
    )
    return DriftReport(server, out, checked, len(pending), pending, undeclared, unobserved)


def _same_desired(record: ClientRecord, desired: dict[str, Any]) -> bool:
    """The record was applied with these values (a sealed one read without the key: taken as the same)."""
    if record.desired == desired:
        return True
    unknown = {p for p, v in record.desired.items() if unread(v, p, record.sealed)}
    return bool(unknown) and masked(record.desired, unknown) == masked(desired, unknown)


def _changed_fields(
    record: ClientRecord, current: LiveClient, name: str, own: Ownership, normalise: Normalise
) -> list[FieldChange]:
    """Declared fields whose server value moved since the last apply, and a lost or changed marker."""
    fields: list[FieldChange] = []
    for path in sorted(record.applied):
        if unread(record.applied[path], path, record.sealed):
            continue  # read without the key: the value applied is kept encrypted, so unknown here
        now = normalise(path, current.fields.get(path))
        if now != record.applied[path]:
            fields.append(FieldChange(path, shown(path, record.applied[path]), shown(path, now)))
    if own.lists and not own.recorded(current, name):
        change = own.marker_change(current, name) or {}
        fields.append(FieldChange(MARKER_PATH, change.get("after"), change.get("before")))
    return fields


def _unmanaged(state: State, live: Sequence[LiveClient], own: Ownership) -> list[DriftedClient]:
    """Clients with our marker that the state does not know (a lost record, another checkout's apply)."""
    known = {r.client_id for r in state.clients.values()}
    return [
        DriftedClient(
            str(c.managed_name), c.client_id, "unmanaged", updated_at=c.updated_at,
            detail="carries our ownership marker but is not in the state",
        )
        for c in own.ours(live) if c.client_id not in known
    ]
