"""Live clients, in git or not, judged by the lint profile's security rules and the policy. Pure.

Each live client is read as the file that would declare it (`export`), so the same rules apply to it
as to a file. A client in git (by dcrsync's marker) keeps its file's labels (what policy rules select
by) and what the file says the server enforces for it by its own configuration (`require_pkce` on
Hydra, which has no per-client setting); a Keycloak client covered by a `pkce-enforcer` client
policy meets PKCE the same way. The server's built-in clients are left out, as everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dcrsync.audit.posture import PKCE_ENFORCER, REJECT_IMPLICIT, REJECT_ROPC
from dcrsync.families import BLOCKS
from dcrsync.lint import PKCE_FIELD, Profile, run
from dcrsync.load.export import to_document
from dcrsync.model import ClientSpec, Diagnostic, LiveClient, Location
from dcrsync.policy.clients import violations
from dcrsync.policy.exemptions import covering
from dcrsync.policy.model import Exemption, Policy

#: the lint rules about a client's security, as opposed to its file's validity
SECURITY_RULES = frozenset({"DCR003", "DCR004", "DCR007", "DCR008", "DCR010", "DCR011", "DCR014", "DCR015", "DCR016"})


@dataclass
class AuditedClient:
    client_id: str
    name: str
    source: str | None  # the client's file:line when it is in git
    findings: list[Diagnostic] = field(default_factory=list)
    #: findings an exception of the policy file allows: (diagnostic, who approved, last day)
    excepted: list[tuple[Diagnostic, str, str]] = field(default_factory=list)
    client_name: str | None = None  # as the server holds it (server-chosen text: shown inert)

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "client_name": self.client_name,
            "in_git": self.source is not None,
            "source": self.source,
            "findings": [{"rule": d.rule, "severity": d.severity, "message": d.message} for d in self.findings],
            "excepted": [
                {"rule": d.rule, "message": d.message, "approved_by": who, "expires": until}
                for d, who, until in self.excepted
            ],
        }


def live_spec(live: LiveClient, name: str, normalise: Callable[[str, Any], Any], git: ClientSpec | None) -> ClientSpec:
    """The live client as a file would declare it, at `server:CLIENT_ID` (no line to point at)."""
    doc = to_document(name, live, normalise, {}, ())
    fields = {k: v for k, v in doc.items() if k not in ("name", "client_id", *BLOCKS)}
    spec = ClientSpec(
        name=name, fields=fields, location=Location(f"server:{live.client_id}", 0, 0), client_id=live.client_id,
        blocks={b: doc[b] for b in BLOCKS if isinstance(doc.get(b), dict)},
    )
    if git is not None:
        spec.labels, spec.description, spec.lint_ignore = dict(git.labels), git.description, dict(git.lint_ignore)
    return spec


Judged = dict[str, tuple[list[Diagnostic], list[tuple[Diagnostic, str, str]]]]


def _keep(out: Judged, name: str, d: Diagnostic, e: Exemption | None) -> None:
    findings, excepted = out[name]
    if e is None:
        findings.append(d)
    else:
        excepted.append((d, e.approved_by, e.expires.isoformat()))


def audit_clients(
    specs: Sequence[ClientSpec],
    family: str,
    profile: Profile,
    policy: Policy | None,
    environment: str | None,
    today: dt.date,
) -> Judged:
    """name -> (findings, excepted) of the profile's security rules and the policy's client rules."""
    out: Judged = {s.name: ([], []) for s in specs}
    owner = {s.location: s.name for s in specs}
    linted = run(specs, family, None, profile)
    # a file's `lint.ignore` of a rule the policy lets only its exceptions set aside sets nothing aside
    guarded = [x.diagnostic for x in linted.suppressed if policy is not None and policy.only_excepted(x.diagnostic.rule)]
    for d in [*linted.diagnostics, *guarded]:
        name = owner.get(d.location)
        if d.rule in SECURITY_RULES and name is not None:
            _keep(out, name, d, covering(policy, today, d.rule, name, None) if policy is not None else None)
    for v in violations(policy, specs, environment) if policy is not None else []:
        d = Diagnostic(v.where, v.rule.severity, "policy/" + v.rule.id, v.message)
        _keep(out, v.client, d, covering(policy, today, v.rule.id, v.client, v.value))
    return out


def with_server_enforced(
    spec: ClientSpec, git: ClientSpec | None, server_wide: Mapping[str, str], enforced: Sequence[str]
) -> None:
    """What the server enforces for this client by its own configuration, as the client's file says
    (a server-wide field such as Hydra's `require_pkce`) or the server's client policies do
    (`enforced`: Keycloak executors covering the client, or "pkce" said in dcrsync.yaml): PKCE is met,
    a grant the server refuses is not one the client has."""
    if git is not None:
        for key in server_wide:
            if key in git.fields and key not in spec.fields:
                spec.fields[key] = git.fields[key]
    if PKCE_ENFORCER in enforced or "pkce" in enforced:
        spec.fields[PKCE_FIELD] = True
    refused = {g for e, g in ((REJECT_ROPC, "password"), (REJECT_IMPLICIT, "implicit")) if e in enforced}
    grants = spec.fields.get("grant_types")
    if refused and isinstance(grants, list):
        spec.fields["grant_types"] = [g for g in grants if g not in refused]
        if REJECT_IMPLICIT in enforced and isinstance(spec.fields.get("response_types"), list):
            spec.fields["response_types"] = [t for t in spec.fields["response_types"] if "token" not in t.split()]
