"""The policy's rules on changes, checked on a plan: which actions a plan may take on the clients a
rule selects (no delete or replace of `tier: critical`), and which fields may gain values (a scope
added in production) — unless an exception in force, naming who approved it, allows that change.

A rule selects a change by the client's labels as git declares them now and as the state recorded
them at the last apply, so that deleting a client's file, or dropping its label in the same pull
request, does not slip past a rule. `plan` writes each change's labels into the plan and lists what
breaks a rule as a conflict; `apply` checks a saved plan again against the policy and the state it
applies to, and refuses it if anything breaks a rule (an exception may have expired since). Pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from dcrsync.model import SENSITIVE, ClientSpec, flat_paths
from dcrsync.plan.plan import Change, Plan
from dcrsync.policy.exemptions import covering
from dcrsync.policy.model import ChangeRule, Policy, Subject
from dcrsync.state.records import ClientRecord, State


def _tokens(value: Any) -> set[str]:
    if value is None or value == SENSITIVE:
        return set()
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list):
        return {str(v) for v in value}
    return {str(value)}


def added(change: Change, path: str, record: ClientRecord | None) -> list[str]:
    """The values the change adds to `path`: what the plan shows, or for a replace, what git declares
    beyond the last apply (a new client adds everything it declares)."""
    shown = next((f for f in change.fields if f.path == path), None)
    if shown is not None and change.action != "replace":
        return sorted(_tokens(shown.after) - _tokens(shown.before))
    if change.action in ("create", "replace") and change.desired is not None:
        before = record.desired.get(path) if record is not None and change.action == "replace" else None
        return sorted(_tokens(flat_paths(change.desired).get(path)) - _tokens(before))
    return []


def _grants(change: Change, record: ClientRecord | None) -> list[str]:
    declared = (change.desired or {}).get("grant_types")
    if declared is None and record is not None:
        declared = record.desired.get("grant_types")
    return list(declared) if isinstance(declared, list) else ["authorization_code"]


def subjects(change: Change, record: ClientRecord | None, environment: str | None) -> list[Subject]:
    """The client as git declares it now and as the state last recorded it (either may select it)."""
    grants = _grants(change, record)
    out = [Subject(change.name, dict(change.labels or {}), grants, environment)]
    if record is not None and record.labels and record.labels != change.labels:
        out.append(Subject(change.name, dict(record.labels), grants, environment))
    return out


def _broken(rule: ChangeRule, change: Change, record: ClientRecord | None) -> list[tuple[str, str]]:
    """(value, what the change does that the rule forbids)."""
    out = [(change.action, f"`{change.action}`")] if change.action in rule.actions else []
    for path in rule.additions:
        for value in added(change, path, record):
            out.append((value, f"adding `{value}` to `{path}`"))
    return out


def violations(
    policy: Policy, plan: Plan, records: Mapping[str, ClientRecord], environment: str | None, today: dt.date
) -> list[str]:
    """One line per change a rule forbids and no exception in force allows."""
    out: list[str] = []
    for change in plan.changes:
        record = records.get(change.moved_from or change.name)
        who = subjects(change, record, environment)
        for rule in policy.changes:
            if not any(rule.when.selects(s) for s in who):
                continue
            for value, what in _broken(rule, change, record):
                if covering(policy, today, rule.id, change.name, value) is not None:
                    continue
                out.append(
                    f"{change.name}: change rule `{rule.id}` ({rule.at.file}:{rule.at.line}) forbids {what} "
                    f"({rule.description or 'see the policy file'}): drop the change, or add an exception for "
                    f"`{change.name}` with the reason, who approved it and an expiry to {policy.file}"
                )
    return out


def label(plan: Plan, specs: Mapping[str, ClientSpec], state: State) -> None:
    """Write each change's labels into the plan: git's, or the state's for a client no longer in git."""
    for change in plan.changes:
        spec = specs.get(change.name)
        record = state.clients.get(change.moved_from or change.name)
        labels = spec.labels if spec is not None else (record.labels if record is not None else {})
        change.labels = dict(labels) or None


def summary(policy: Policy, today: dt.date) -> dict[str, Any]:
    """What a plan records of the policy for its reviewers: the exceptions in force and their expiry,
    and the lint rules only those exceptions may set aside."""
    return {
        "file": policy.file,
        "checked_on": today.isoformat(),
        "exceptions": [
            {**e.as_dict(), "days_left": (e.expires - today).days} for e in policy.in_force(today)
        ],
        "only_by_exception": list(policy.only_by_exception),
    }
