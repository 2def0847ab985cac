"""The organisation's policy (`policy: policy.yaml` in dcrsync.yaml): declarative rules on clients,
rules on changes, and exceptions that carry a reason, an approver and an expiry.

The package: `model` (the policy as data, selectors, durations, host globs), `load` (the file, its
schema `schemas/policy.schema.json`, one `FILE:LINE:COL` error), `clients` (rules on clients, checked
by `validate` and `plan` beside lint), `exemptions` (which findings an exception allows; an expired
exception is an error), `changes` (rules on changes, checked on the plan and again by `apply` on the
saved plan). Pure but for reading the policy file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dcrsync.model import ClientSpec, Diagnostic
from dcrsync.policy.clients import violations
from dcrsync.policy.exemptions import Checked, except_lint, sort_out
from dcrsync.policy.load import load_policy
from dcrsync.policy.model import Policy, today

if TYPE_CHECKING:
    from dcrsync.config import Config

__all__ = ["Checked", "Policy", "check_clients", "load_policy", "project_policy", "today"]


def project_policy(config: Config) -> Policy | None:
    """The project's policy, or None when dcrsync.yaml names none."""
    return load_policy(config.policy_path) if config.policy_path is not None else None


def check_clients(
    clients: Sequence[ClientSpec], config: Config, lint: Sequence[Diagnostic] = (), on: dt.date | None = None
) -> Checked:
    """The lint diagnostics `lint` and the policy's findings on `clients`, with what the policy's
    exceptions allow set apart, and an error for each expired exception."""
    policy = project_policy(config)
    if policy is None:
        return Checked(list(lint), [])
    day = on or today()
    kept, allowed = except_lint(policy, clients, list(lint), day)
    checked = sort_out(policy, violations(policy, clients, config.environment), day)
    return Checked([*kept, *checked.diagnostics], [*allowed, *checked.suppressed])
