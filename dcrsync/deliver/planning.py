"""What a plan will deliver where, and why. Pure: read from the declarations and the state's records
of the last deliveries, never from a secret.

A delivery is due when its client gets a new secret (create, replace, rotate), when the state holds
no record of it (new, changed declaration, or a delivery an interrupted or failed apply did not
finish), or when the state's secret no longer matches what was delivered (`stale`, found with the key).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dcrsync.deliver.declared import Target
from dcrsync.plan.plan import Change
from dcrsync.state.records import State

NEW_SECRET_ACTIONS = frozenset({"create", "replace", "rotate"})


def entry(target: Target, reason: str) -> dict[str, Any]:
    """A plan's delivery line as data: what, where, why; and the declaration, so that a saved plan
    delivers exactly what was reviewed. Never a value."""
    return {
        "name": target.client, "target": target.kind, "where": target.where, "reason": reason, "id": target.id,
        "declaration": {"keys": target.keys, "settings": target.settings, "at": str(target.at)},
    }


def due(
    targets: Mapping[str, list[Target]], state: State, changes: Iterable[Change],
    stale: Mapping[str, set[str]] | None = None,
) -> list[dict[str, Any]]:
    """The deliveries a plan carries out, in client order."""
    changes = list(changes)
    new_secret = {c.name: c.action for c in changes if c.action in NEW_SECRET_ACTIONS}
    confirmed = {c.name for c in changes}  # a create an interrupted apply made is confirmed by its change
    out: list[dict[str, Any]] = []
    for name in sorted(targets):
        record = state.clients.get(name)
        for target in targets[name]:
            if name in new_secret:
                reason = "rotated secret" if new_secret[name] == "rotate" else "new client"
            elif record is None or not record.client_id or (record.pending and name not in confirmed):
                continue  # not on the server: nothing to deliver until it is created
            elif target.id not in record.deliveries:
                reason = "not delivered yet"
            elif target.id in (stale or {}).get(name, set()):
                reason = "stale: the state holds another secret or endpoint than was delivered"
            else:
                continue
            out.append(entry(target, reason))
    return out


def target_of(item: Mapping[str, Any]) -> Target:
    """The Target a plan's delivery line carries (a saved plan's)."""
    from dcrsync.model import Location

    decl = item["declaration"]
    return Target(item["name"], item["target"], dict(decl["keys"]), dict(decl["settings"]), Location.parse(decl["at"]))


def declared_targets(specs: Iterable[Any], settings: Any, names: set[str] | None = None) -> dict[str, list[Target]]:
    """Each client's kept targets (what plans and `deliver` write), for the clients in `names` (all: None)."""
    from dcrsync.deliver.declared import KEPT, targets_of

    out: dict[str, list[Target]] = {}
    for spec in specs:
        if names is None or spec.name in names:
            kept = [t for t in targets_of(spec, settings) if t.kind in KEPT]
            if kept:
                out[spec.name] = kept
    return out


def finishing(state: State, now: float, names: set[str] | None = None) -> list[str]:
    """Clients whose two-phase rotation's grace has ended: the apply retires the old secret (once
    every delivery is current)."""
    return sorted(
        n for n, r in state.clients.items()
        if r.rotating and float(r.rotating.get("until") or 0) <= now and (names is None or n in names)
    )
