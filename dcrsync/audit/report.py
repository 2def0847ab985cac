"""What `dcrsync audit` found: the server's posture and every live client's findings, as data that
its renderers (text, Markdown) and its JSON share. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dcrsync.audit.clients import AuditedClient
from dcrsync.audit.posture import Check

AUDIT_VERSION = 1


@dataclass
class AuditReport:
    server: dict[str, str]
    profile: str
    environment: str | None
    checked_at: str
    posture: list[Check] = field(default_factory=list)
    clients: list[AuditedClient] = field(default_factory=list)
    #: the server's built-in clients, left out (name, why)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: what the audit could not look at, and why (not a finding)
    notes: list[str] = field(default_factory=list)
    policy: str | None = None  # the policy file, when the project has one

    @property
    def posture_findings(self) -> list[Check]:
        return [c for c in self.posture if not c.ok]

    @property
    def flagged(self) -> list[AuditedClient]:
        return [c for c in self.clients if c.findings]

    def has_findings(self) -> bool:
        return bool(self.posture_findings or self.flagged)

    def summary_line(self) -> str:
        findings = sum(len(c.findings) for c in self.clients)
        in_git = sum(1 for c in self.clients if c.source)
        return (
            f"Audit: {len(self.posture_findings)} posture finding(s), {findings} finding(s) on {len(self.flagged)} of "
            f"{len(self.clients)} live client(s) ({in_git} in git, {len(self.clients) - in_git} not); "
            f"{len(self.skipped)} built-in client(s) not audited."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": AUDIT_VERSION,
            "server": self.server,
            "profile": self.profile,
            "environment": self.environment,
            "policy": self.policy,
            "checked_at": self.checked_at,
            "findings": self.has_findings(),
            "posture": [{"check": c.id, "ok": c.ok, "severity": c.severity, "message": c.message} for c in self.posture],
            "clients": [c.as_dict() for c in self.clients],
            "skipped": [{"name": n, "why": why} for n, why in self.skipped],
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
