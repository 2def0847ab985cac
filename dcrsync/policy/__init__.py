"""The organisation's policy (`policy: policy.yaml` in dcrsync.yaml): declarative rules on clients,
rules on changes, and exceptions that carry a reason, an approver and an expiry.

The package: `model` (the policy as data, selectors, durations, host globs), `load` (the file, its
schema `schemas/policy.schema.json`, one `FILE:LINE:COL` error), `clients` (rules on clients, checked
by `validate` and `plan` beside lint), `exemptions` (which findings an exception allows; an expired
exception is an error), `changes` (rules on changes, checked on the plan and again by `apply` on the
saved plan). Pure but for reading the policy file.

May import: the ground, load, state, lint, plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from dcrsync.model import ClientSpec, Diagnostic, Suppressed
from dcrsync.plan.plan import Plan
from dcrsync.policy import changes
from dcrsync.policy.clients import violations
from dcrsync.policy.exemptions import Checked, except_lint, reclaim, sort_out
from dcrsync.policy.load import load_policy
from dcrsync.policy.model import Policy, today
from dcrsync.state.records import State

if TYPE_CHECKING:
    from dcrsync.load.config import Config

__all__ = [
    "Checked", "Policy", "check_clients", "check_plan", "load_policy", "project_policy", "refusals", "today",
]


def project_policy(config: Config) -> Policy | None:
    """The project's policy, or None when dcrsync.yaml names none."""
    return load_policy(config.policy_path) if config.policy_path is not None else None


def check_clients(
    clients: Sequence[ClientSpec], config: Config, lint: Sequence[Diagnostic] = (),
    ignored: Sequence[Suppressed] = (), on: dt.date | None = None,
) -> Checked:
    """The lint diagnostics `lint` and the policy's findings on `clients`, with what the policy's
    exceptions allow set apart, and an error for each expired exception. `ignored`: the lint findings
    a `lint.ignore` set aside, which stay so unless the policy lets only its exceptions do that."""
    policy = project_policy(config)
    if policy is None:
        return Checked(list(lint), list(ignored))
    day = on or today()
    back, ignored = reclaim(policy, ignored)
    kept, allowed = except_lint(policy, clients, [*lint, *back], day)
    checked = sort_out(policy, violations(policy, clients, config.environment), day)
    return Checked([*kept, *checked.diagnostics], [*ignored, *allowed, *checked.suppressed])


def check_plan(
    config: Config, plan: Plan, specs: Mapping[str, ClientSpec], state: State, on: dt.date | None = None
) -> None:
    """Label the plan's changes; with a policy, record its exceptions in force in the plan and add
    each change a change rule forbids to the plan's conflicts (which stop an apply)."""
    changes.label(plan, specs, state)
    policy = project_policy(config)
    if policy is None:
        return
    day = on or today()
    plan.policy = changes.summary(policy, day)
    plan.conflicts.extend(changes.violations(policy, plan, state.clients, plan.environment, day))


def refusals(config: Config, plan: Plan, state: State, on: dt.date | None = None) -> list[str]:
    """What in a saved plan the policy forbids now, against the state it is applied to (an exception
    may have expired since the plan was made, a rule been added)."""
    policy = project_policy(config)
    if policy is None:
        return []
    return changes.violations(policy, plan, state.clients, plan.environment, on or today())
