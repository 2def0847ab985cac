"""The organisation's policy as data: rules on clients, rules on changes, exceptions, and who a rule
selects. Built by `policy.load` from a policy file that passed `schemas/policy.schema.json`. Pure."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from dcrsync.model import Location, Severity

#: the environment a selector names when a command runs without --env
DEFAULT_ENVIRONMENT = "default"
_DURATION = re.compile(r"([0-9]+)(ns|us|ms|s|m|h|d)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: Any) -> float | None:
    """A duration as seconds: whole seconds (Keycloak's attributes), or Go's `1h30m` (Hydra's
    lifespans) with `d` for days; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text.isdigit():
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(n) * _UNIT[u] for n, u in parts)


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def host_matches(host: str, pattern: str) -> bool:
    """A host glob: `example.com` exactly, `*.example.com` any name below it (not itself)."""
    host, pattern = host.lower().strip("[]"), pattern.lower().strip("[]")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


@dataclass(frozen=True)
class Subject:
    """What a selector looks at: a client's name, labels and grants, and the environment."""

    name: str
    labels: Mapping[str, str]
    grants: Sequence[str]
    environment: str | None


@dataclass(frozen=True)
class Selector:
    environment: tuple[str, ...] = ()
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    grant: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()

    @classmethod
    def of(cls, raw: Mapping[str, Any] | None) -> Selector:
        raw = raw or {}
        return cls(
            environment=tuple(as_list(raw.get("environment"))),
            labels={k: tuple(as_list(v)) for k, v in (raw.get("labels") or {}).items()},
            grant=tuple(as_list(raw.get("grant"))),
            clients=tuple(as_list(raw.get("clients"))),
        )

    def selects(self, s: Subject) -> bool:
        env = s.environment or DEFAULT_ENVIRONMENT
        if self.environment and env not in self.environment:
            return False
        if any(s.labels.get(k) not in values for k, values in self.labels.items()):
            return False
        if self.grant and not set(self.grant) & set(s.grants):
            return False
        return not self.clients or any(fnmatchcase(s.name, p) for p in self.clients)


@dataclass(frozen=True)
class Scope:
    """Who a rule applies to: the clients `when` selects, less those `unless` selects."""

    when: Selector = field(default_factory=Selector)
    unless: Selector | None = None

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Scope:
        unless = raw.get("unless")
        return cls(Selector.of(raw.get("when")), Selector.of(unless) if unless else None)

    def selects(self, s: Subject) -> bool:
        return self.when.selects(s) and not (self.unless is not None and self.unless.selects(s))


@dataclass(frozen=True)
class ClientRule:
    id: str
    at: Location
    when: Scope
    severity: Severity = "error"
    description: str | None = None
    #: the checks, as written: redirect_hosts, require, allowed_scopes, allowed_grants,
    #: allowed_auth_methods, max_token_lifetime
    checks: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeRule:
    id: str
    at: Location
    when: Scope
    actions: tuple[str, ...] = ()
    additions: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class Exemption:
    """An exception of the policy file: a rule's findings allowed for some clients until a day."""

    rule: str
    clients: tuple[str, ...]
    reason: str
    approved_by: str
    expires: dt.date
    at: Location
    values: tuple[str, ...] = ()

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def covers(self, rule: str, client: str, value: str | None) -> bool:
        if rule != self.rule or not any(fnmatchcase(client, p) for p in self.clients):
            return False
        return not self.values or (value is not None and value in self.values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "clients": list(self.clients), "values": list(self.values) or None,
            "reason": self.reason, "approved_by": self.approved_by, "expires": self.expires.isoformat(),
            "at": str(self.at),
        }


@dataclass(frozen=True)
class Policy:
    file: str  # as shown in messages
    rules: tuple[ClientRule, ...] = ()
    changes: tuple[ChangeRule, ...] = ()
    exemptions: tuple[Exemption, ...] = ()
    #: lint rules (ids or globs) that only an exception of this file sets aside, never a `lint.ignore`
    only_by_exception: tuple[str, ...] = ()
    #: where `lint.only_by_exception` is written (for messages)
    only_at: Location | None = None

    def only_excepted(self, rule: str) -> bool:
        """A `lint.ignore` of `rule` sets nothing aside under this policy."""
        return any(fnmatchcase(rule, pattern) for pattern in self.only_by_exception)

    def rule_at(self, rule_id: str) -> Location | None:
        for rule in (*self.rules, *self.changes):
            if rule.id == rule_id:
                return rule.at
        return None

    def description(self, rule_id: str) -> str | None:
        for rule in (*self.rules, *self.changes):
            if rule.id == rule_id:
                return rule.description
        return None

    def in_force(self, today: dt.date) -> list[Exemption]:
        return [e for e in self.exemptions if not e.expired(today)]


def today() -> dt.date:
    """The day exceptions are judged by (UTC, as their `expires`)."""
    return dt.datetime.now(dt.UTC).date()
