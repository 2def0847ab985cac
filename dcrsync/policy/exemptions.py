"""Exceptions: which findings the policy file allows on purpose, and which exceptions have expired.

An exception in force sets a finding apart (a `Suppressed` with scope "exception", its reason, its
approver and its last day), so that `validate` still lists it. An expired exception is an error at
its own line of the policy file, and covers nothing. Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from dcrsync.lint import Suppressed
from dcrsync.model import ClientSpec, Diagnostic, Location
from dcrsync.policy.clients import Violation
from dcrsync.policy.model import Exemption, Policy

PREFIX = "policy/"
EXPIRED = "policy/expired"


@dataclass
class Checked:
    """What the policy adds to a validation: its findings, and the ones its exceptions allow."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)


def expired(policy: Policy, today: dt.date) -> list[Diagnostic]:
    out = []
    for e in policy.exemptions:
        if e.expired(today):
            message = (
                f"the exception for `{e.rule}` ({', '.join(e.clients)}, approved by {e.approved_by}) expired on "
                f"{e.expires.isoformat()}: fix the client(s), or renew the exception with a new approval and expiry"
            )
            out.append(Diagnostic(e.at, "error", EXPIRED, message))
    return out


def covering(policy: Policy, today: dt.date, rule: str, client: str, value: str | None) -> Exemption | None:
    """The first exception in force that allows this finding."""
    return next((e for e in policy.in_force(today) if e.covers(rule, client, value)), None)


def excepted(diagnostic: Diagnostic, e: Exemption) -> Suppressed:
    return Suppressed(diagnostic, e.reason, e.at, "exception", e.approved_by, e.expires.isoformat())


def sort_out(policy: Policy, violations: Iterable[Violation], today: dt.date) -> Checked:
    """The rules' findings as diagnostics, those an exception allows set apart, and every expired
    exception as an error."""
    out = Checked(diagnostics=expired(policy, today))
    for v in violations:
        diagnostic = Diagnostic(v.where, v.rule.severity, PREFIX + v.rule.id, v.message)
        e = covering(policy, today, v.rule.id, v.client, v.value)
        if e is None:
            out.diagnostics.append(diagnostic)
        else:
            out.suppressed.append(excepted(diagnostic, e))
    return out


def reclaim(policy: Policy, ignored: Sequence[Suppressed]) -> tuple[list[Diagnostic], list[Suppressed]]:
    """Lint findings a `lint.ignore` (dcrsync.yaml's or a client file's) set aside although the policy
    lets only its own exceptions set their rule aside (`lint.only_by_exception`): findings again, each
    naming the ignore; the other set-aside findings stay so."""
    back: list[Diagnostic] = []
    kept: list[Suppressed] = []
    for s in ignored:
        rule = s.diagnostic.rule
        if s.scope in ("client", "project") and policy.only_excepted(rule):
            back.append(replace(s.diagnostic, message=(
                f"{s.diagnostic.message} (ignored at {s.at}, but the policy lets only its exceptions set {rule} aside "
                f"({policy.only_at}): remove the ignore, or add an exception to {policy.file} with the reason, who "
                "approved it and an expiry)"
            )))
        else:
            kept.append(s)
    return back, kept


def owners(clients: Sequence[ClientSpec]) -> dict[Location, str]:
    """Each place a client's metadata is written -> the client's name (lint findings carry only where)."""
    out: dict[Location, str] = {}
    for c in clients:
        out[c.location] = c.name
        out.update({loc: c.name for loc in c.field_locations.values()})
        out.update({loc: c.name for items in c.item_locations.values() for loc in items})
    return out


def except_lint(
    policy: Policy, clients: Sequence[ClientSpec], diagnostics: list[Diagnostic], today: dt.date
) -> tuple[list[Diagnostic], list[Suppressed]]:
    """Lint findings (DCR…) that an exception in force allows, set apart from the others."""
    if not any(e.rule.startswith("DCR") for e in policy.in_force(today)):
        return diagnostics, []
    whose = owners(clients)
    kept: list[Diagnostic] = []
    allowed: list[Suppressed] = []
    for d in diagnostics:
        client = whose.get(d.location)
        e = covering(policy, today, d.rule, client, None) if client and d.rule.startswith("DCR") else None
        if e is None:
            kept.append(d)
        else:
            allowed.append(excepted(d, e))
    return kept, allowed
