"""Desired (git) vs live (server) vs last applied (state) → changes with field-level detail.

Pure: no I/O. Only declared fields are compared; values are normalised by the backend (sets
sorted, scope split) and compared with `==`. Field-level detail comes from the flat path model
(one path per declared field), so no generic deep-diff library is needed to describe a change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dcrsync.backends.base import fingerprint
from dcrsync.model import SENSITIVE, ClientSpec, LiveClient, shown, uses_secret
from dcrsync.plan import Change, FieldChange
from dcrsync.state import ClientRecord, State

Normalise = Callable[[str, Any], Any]
MARKER_PATH = "(ownership marker)"
STATE_ONLY = "(state)"  # a change that only records a client in state


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


@dataclass
class Outcome:
    changes: list[Change]
    unchanged: int
    warnings: list[str]
    #: live clients each change was computed from, by name (None for creates)
    live_by_name: dict[str, LiveClient]
    #: managed clients that left git but stay, because prune is off
    leftovers: list[str]


def desired_values(spec: ClientSpec, normalise: Normalise) -> dict[str, Any]:
    return {p: normalise(p, v) for p, v in spec.declared().items()}


def live_values(live: LiveClient, paths: Iterable[str], normalise: Normalise) -> dict[str, Any]:
    return {p: normalise(p, live.fields.get(p)) for p in paths}


def field_changes(
    spec: ClientSpec, live: LiveClient, record: ClientRecord | None, normalise: Normalise
) -> tuple[list[FieldChange], set[str]]:
    """Declared fields that differ and need an update, and the causes ("pending"/"drift") seen."""
    desired = desired_values(spec, normalise)
    current = live_values(live, desired, normalise)
    changes: list[FieldChange] = []
    causes: set[str] = set()
    for path in sorted(desired):
        if desired[path] == current[path]:
            continue
        if record is None:
            causes.add("pending")
        else:
            git_changed = path not in record.desired or record.desired[path] != desired[path]
            server_changed = path not in record.applied or record.applied[path] != current[path]
            if not git_changed and not server_changed:
                continue  # the server answered another value when we applied: accepted then, warned then
            if git_changed:
                causes.add("pending")
            if server_changed:
                causes.add("drift")
        declared = spec.declared()[path]
        changes.append(FieldChange(path, shown(path, live.fields.get(path)), shown(path, declared)))
    return changes, causes


def _cause(causes: set[str]) -> str:
    if causes == {"pending", "drift"}:
        return "both"
    return next(iter(causes)) if causes else "pending"


def compute(inp: Inputs) -> Outcome:
    specs_by_name = {s.name: s for s in inp.specs}
    by_id = {c.client_id: c for c in inp.live}
    by_marker = {c.managed_name: c for c in inp.live if c.managed_name and c.owner == inp.owner}
    changes: list[Change] = []
    warnings: list[str] = []
    live_by_name: dict[str, LiveClient] = {}
    unchanged = 0
    wanted = inp.targets

    for spec in inp.specs:
        if wanted is not None and spec.name not in wanted:
            continue
        record = inp.state.clients.get(spec.name)
        source = str(spec.location)
        desired = spec_payload(spec)
        if spec.name in inp.unreadable:
            warnings.append(f"{spec.name} ({source}): {inp.unreadable[spec.name]}")
            continue
        live = None
        if record is not None:
            live = by_id.get(record.client_id)
        if live is None and spec.client_id:
            live = by_id.get(spec.client_id)
        if live is None and inp.lists:
            live = by_marker.get(spec.name)

        if live is not None and live.owner not in (None, inp.owner) and live.managed_name is not None:
            warnings.append(
                f"{spec.name} ({source}): client {live.client_id} belongs to owner {live.owner!r}, "
                f"not {inp.owner!r}; left untouched"
            )
            continue
        if live is not None and record is None and live.managed_name is None and inp.lists:
            warnings.append(
                f"{spec.name} ({source}): client_id {live.client_id} exists on the server without "
                "dcrsync's marker; left untouched (adopt it with `dcrsync import` or change client_id)"
            )
            continue

        if live is None:
            pending_create = record is not None and record.pending == "create"
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
            client_id = spec.client_id or ((record.client_id or None) if pending_create else None)
            changes.append(
                Change("create", spec.name, client_id, cause, _create_fields(spec), reason, source, desired)
            )
            continue

        live_by_name[spec.name] = live
        if record is not None and spec.client_id and spec.client_id != live.client_id:
            changes.append(
                Change(
                    "replace", spec.name, live.client_id, "pending",
                    [FieldChange("client_id", live.client_id, spec.client_id)],
                    "client_id is immutable: the client is deleted and created again", source, desired,
                    fingerprint(live), live.updated_at,
                )
            )
            continue

        fields, causes = field_changes(spec, live, record, inp.normalise)
        reason = None
        if live.managed_name != spec.name or live.owner != inp.owner:
            fields.append(FieldChange(MARKER_PATH, _marker(live), {"name": spec.name, "owner": inp.owner}))
            causes.add("drift" if record is not None else "pending")
        adopting = record is None or record.pending == "create"
        if adopting and not (record is not None and record.client_secret):
            reason = "found on the server with our marker but not in state: adopted"
            if inp.rotates_secret and uses_secret(spec.fields):
                reason += "; its secret is unknown and will be rotated"
                fields.append(FieldChange("client_secret", SENSITIVE, SENSITIVE))
            if not fields:
                fields.append(FieldChange(STATE_ONLY, None, {"client_id": live.client_id}))
        elif adopting:
            reason = "created by an interrupted apply: recorded now"
            if not fields:
                fields.append(FieldChange(STATE_ONLY, None, {"client_id": live.client_id}))
        if not fields:
            unchanged += 1
            continue
        changes.append(
            Change(
                "update", spec.name, live.client_id, _cause(causes), fields, reason, source, desired,
                fingerprint(live), live.updated_at,
            )
        )

    leftovers: list[str] = []
    gone = _departed(inp, specs_by_name, by_id)
    for name, live in gone:
        if wanted is not None and name not in wanted:
            continue
        if inp.prune:
            live_by_name[name] = live
            record = inp.state.clients.get(name)
            changes.append(
                Change(
                    "delete", name, live.client_id, "pending" if record else "drift", [],
                    None if record else "carries our marker but is in neither git nor state",
                    None, None, fingerprint(live), live.updated_at,
                )
            )
        else:
            leftovers.append(name)
    if leftovers:
        warnings.append(
            f"{len(leftovers)} managed client(s) are no longer in git and stay on the server "
            f"({', '.join(sorted(leftovers)[:5])}{', …' if len(leftovers) > 5 else ''}); "
            "set prune: true in dcrsync.yaml to delete them"
        )
    return Outcome(changes, unchanged, warnings, live_by_name, leftovers)


def _departed(
    inp: Inputs, specs_by_name: dict[str, ClientSpec], by_id: dict[str, LiveClient]
) -> list[tuple[str, LiveClient]]:
    """Managed clients on the server whose name left git. Never a client without our marker."""
    out: dict[str, LiveClient] = {}
    for name, record in inp.state.clients.items():
        if name in specs_by_name:
            continue
        live = by_id.get(record.client_id)
        if live is None:
            continue
        if inp.lists and not (live.owner == inp.owner and live.managed_name == name):
            continue  # a listing backend shows the marker: without it, the client is not ours
        out[name] = live
    if inp.lists:
        for live in by_id.values():
            if live.owner == inp.owner and live.managed_name and live.managed_name not in specs_by_name:
                out.setdefault(live.managed_name, live)
    return sorted(out.items())


def _marker(live: LiveClient) -> dict[str, Any] | None:
    if live.managed_name is None and live.owner is None:
        return None
    return {"name": live.managed_name, "owner": live.owner}


def _create_fields(spec: ClientSpec) -> list[FieldChange]:
    return [FieldChange(p, None, shown(p, v)) for p, v in sorted(spec.declared().items())]


def spec_payload(spec: ClientSpec) -> dict[str, Any]:
    """What a saved plan needs to rebuild the spec: the declared fields, blocks and client_id."""
    out: dict[str, Any] = dict(spec.fields)
    if spec.client_id:
        out["client_id"] = spec.client_id
    if spec.hydra:
        out["hydra"] = spec.hydra
    if spec.keycloak:
        out["keycloak"] = spec.keycloak
    return out
