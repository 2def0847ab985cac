"""One client's declared fields three ways: git (the spec), the server (the live client) and the last
apply (the state's record). Each field that needs an update, with its kind (`change`, `declare`,
`unset`) and the causes seen (`pending`: git changed; `drift`: the server did). Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcrsync.load import envrefs
from dcrsync.model import NOT_VERIFIED, SOFTWARE_STATEMENT, ClientSpec, LiveClient, shown
from dcrsync.plan.describe import describe
from dcrsync.plan.plan import FieldChange
from dcrsync.state.records import ClientRecord, live_values
from dcrsync.state.sealed import unread

Normalise = Callable[[str, Any], Any]
#: values that mean "nothing set": a removed field whose live value is one of these needs no reset
_EMPTY: tuple[Any, ...] = (None, [], {}, "", False)


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
        if record is not None and unread(live.fields.get(path), path, record.sealed):
            continue  # planned from a state read without the key (`--refresh=false`): the value is unknown
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
        compared = (current[path], desired[path])
        changes.append(describe(FieldChange(path, before, shown(path, declared[path]), kind), compared))
    if record is not None:
        for path in sorted(set(record.desired) - set(desired)):
            if _is_default(path, live.fields.get(path), normalise, defaults or {}):
                continue
            changes.append(FieldChange(path, shown(path, live.fields.get(path)), None, "unset"))
            causes.add("pending")
    return envrefs.hide(spec, changes), causes


def _is_default(path: str, value: Any, normalise: Normalise, defaults: dict[str, Any]) -> bool:
    """The server holds its default for `path`: the family's own where it declares one (Keycloak's
    `enabled` is true), else an empty value (false, "", [], {}, absent)."""
    now = normalise(path, value)
    if path in defaults:
        return normalise(path, defaults[path]) == now
    return now is None or any(now == empty and type(now) is type(empty) for empty in _EMPTY)
