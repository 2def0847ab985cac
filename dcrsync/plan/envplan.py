"""A saved plan whose clients read the environment: it holds the references, apply reads the values.

`plan --out` writes `${env:X}` where a client file read X (`Change.env` names those keys), so the
plan file never holds the value. `apply plan.json` reads each reference from its own environment,
under its own `client_env:` (a plan file naming a variable the project does not list is refused),
and computes those fields' changes again against the live client (which `check_stale` has just
found as the plan saw it): when a value differs from the plan's so that a field the plan leaves
alone would now change, or one it changes is already as wanted, the plan is stale and says which
variable, never its value. No hash of the value is kept: an unkeyed hash of a short secret can be
reversed by trying candidates, and a keyed one needs a key the plan job must not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dcrsync.errors import PlanError
from dcrsync.load import envrefs
from dcrsync.load.envrefs import ClientEnv
from dcrsync.load.substitute import SubstitutionError, client_substituter
from dcrsync.model import ClientSpec, LiveClient
from dcrsync.plan.fields import field_changes
from dcrsync.plan.plan import Change, Plan
from dcrsync.state.records import State


def _resolved(value: Any, run: Any) -> Any:
    if isinstance(value, str):
        return run(value)
    if isinstance(value, dict):
        return {k: _resolved(v, run) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, run) for v in value]
    return value


def read_references(plan: Plan, specs: dict[str, ClientSpec], env: ClientEnv, environ: Mapping[str, str]) -> None:
    """Fill in each spec's fields that the saved plan holds as references, from `environ`."""
    run = client_substituter({}, environ, env)
    for change in plan.changes:
        spec = specs.get(change.name)
        if not change.env or spec is None:
            continue
        for key in change.env:
            try:
                value = _resolved((change.desired or {})[key], run)
            except (SubstitutionError, KeyError) as exc:
                raise PlanError(f"{change.source or change.name}: the plan's `{key}`: {exc}; plan again") from None
            (spec.blocks if key in spec.blocks else spec.fields)[key] = value
        envrefs.mark(spec)


def _env_paths(change: Change, paths: set[str]) -> set[str]:
    keys = change.env or {}
    return {p for p in paths if p in keys or p.split(".", 1)[0] in keys}


def check_references(
    plan: Plan, specs: dict[str, ClientSpec], live: dict[str, LiveClient], state: State, backend: Any
) -> None:
    """A saved plan is stale when a value read from the environment now changes another set of fields."""
    stale: list[str] = []
    for change in plan.changes:
        spec, now = specs.get(change.name), live.get(change.name)
        if not change.env or spec is None or now is None or change.action in ("create", "replace"):
            continue
        record = state.clients.get(change.moved_from or change.name)
        fields, _ = field_changes(spec, now, record, backend.normalise, backend.defaults)
        planned = _env_paths(change, {f.path for f in change.fields})
        wanted = _env_paths(change, {f.path for f in fields})
        if planned != wanted:
            names = sorted({n for ns in change.env.values() for n in ns})
            which = ", ".join(sorted(planned ^ wanted))
            stale.append(f"{change.name} ({which}: {', '.join(f'env:{n}' for n in names)} changed since the plan)")
    if stale:
        raise PlanError(
            f"the plan is stale: {', '.join(stale[:10])}{' …' if len(stale) > 10 else ''}; "
            "run `dcrsync plan` again and review the new plan"
        )
