"""Diagnostics as text (terminal), JSON, or GitHub Actions workflow commands (annotations)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from dcrsync.model import ClientSpec, Diagnostic

if TYPE_CHECKING:
    from dcrsync.lint import Suppressed


@dataclass(frozen=True)
class Summary:
    clients: int
    files: int
    errors: int
    warnings: int
    ignored: int = 0  # lint findings ignored on purpose (`lint: {ignore: …}`)
    excepted: int = 0  # findings a policy exception allows (until its expiry)

    @classmethod
    def of(
        cls, diagnostics: Sequence[Diagnostic], clients: int, files: int, ignored: int = 0, excepted: int = 0
    ) -> Summary:
        errors = sum(1 for d in diagnostics if d.severity == "error")
        return cls(clients, files, errors, len(diagnostics) - errors, ignored, excepted)

    def line(self) -> str:
        ignored = f", {self.ignored} ignored" if self.ignored else ""
        excepted = f", {self.excepted} excepted" if self.excepted else ""
        return (
            f"{_count(self.clients, 'client')} in {_count(self.files, 'file')}: "
            f"{_count(self.errors, 'error')}, {_count(self.warnings, 'warning')}{ignored}{excepted}"
        )


@dataclass(frozen=True)
class Findings:
    """What `validate` found, as its renderers take it: the diagnostics, their summary, the findings
    ignored on purpose, and whether warnings fail (`--strict`, which decides JSON's `valid`); and
    for the machine formats (JSON, the documented OPA input; SARIF) what was checked: the clients
    as declared, the lint profile, the server family, the environment and the policy."""

    diagnostics: Sequence[Diagnostic]
    summary: Summary
    suppressed: Sequence[Suppressed] = ()
    strict: bool = False
    declared: Sequence[ClientSpec] = ()
    context: Mapping[str, Any] = field(default_factory=dict)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def ordered(diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: (d.location.file, d.location.line, d.location.col, d.rule))


def _where(d: Diagnostic) -> str:
    """FILE:LINE:COL, or just FILE when the problem is the file as a whole (line 0)."""
    loc = d.location
    return f"{loc.file}:{loc.line}:{loc.col}" if loc.line > 0 else loc.file


def ignored_line(s: Suppressed) -> str:
    """`FILE:LINE:COL: ignored[RULE]: message (ignored at FILE:LINE:COL: reason)`; a policy exception's
    `excepted[RULE]` names its approver and its last day too."""
    d = s.diagnostic
    if s.scope == "exception":
        return (
            f"{_where(d)}: excepted[{d.rule}]: {d.message} (exception at {s.at}, approved by {s.approved_by} "
            f"until {s.expires}: {s.reason})"
        )
    return f"{_where(d)}: ignored[{d.rule}]: {d.message} (ignored at {s.at}: {s.reason})"


def render_text(
    diagnostics: Sequence[Diagnostic],
    summary: Summary,
    *,
    color: bool = False,
    suppressed: Sequence[Suppressed] = (),
) -> str:
    lines = []
    for d in ordered(diagnostics):
        label = f"{d.severity}[{d.rule}]"
        if color:
            label = click.style(label, fg="red" if d.severity == "error" else "yellow", bold=True)
        lines.append(f"{_where(d)}: {label}: {d.message}")
    for s in suppressed:
        lines.append(click.style(ignored_line(s), dim=True) if color else ignored_line(s))
    lines.append(summary.line())
    return "\n".join(lines)


def diagnostic_json(d: Diagnostic) -> dict[str, object]:
    from dcrsync.lint import RULES

    rule = RULES.get(d.rule)
    loc = d.location
    return {
        "file": loc.file,
        "line": loc.line,  # 0: the file as a whole
        "col": loc.col,
        "severity": d.severity,
        "rule": d.rule,
        "message": d.message,
        "why": rule.why if rule else None,
    }


def suppressed_json(s: Suppressed) -> dict[str, object]:
    out: dict[str, object] = {
        **diagnostic_json(s.diagnostic),
        "reason": s.reason,
        # "project" (dcrsync.yaml), "client" (the client's own file), "exception" (the policy file)
        "ignored_in": s.scope,
        "ignored_at": {"file": s.at.file, "line": s.at.line, "col": s.at.col},
    }
    if s.scope == "exception":
        out.update(approved_by=s.approved_by, expires=s.expires)
    return out


#: the version of `validate --format json` (schemas/validate.schema.json); additions keep it
VALIDATE_JSON_VERSION = 1


def declared_json(spec: ClientSpec) -> dict[str, Any]:
    """A client as its file declares it: the plan's `desired` shape, with dcrsync's own keys beside."""
    return {
        "name": spec.name,
        "source": str(spec.location),
        "labels": dict(spec.labels),
        "description": spec.description,
        "desired": _payload(spec),
    }


def render_json(
    diagnostics: Sequence[Diagnostic],
    summary: Summary,
    *,
    strict: bool = False,
    suppressed: Sequence[Suppressed] = (),
    declared: Sequence[ClientSpec] = (),
    context: Mapping[str, Any] | None = None,
) -> str:
    valid = summary.errors == 0 and not (strict and summary.warnings)
    body = {
        "version": VALIDATE_JSON_VERSION,
        **(context or {}),
        "valid": valid,
        "clients": summary.clients,
        "files": summary.files,
        "errors": summary.errors,
        "warnings": summary.warnings,
        "ignored": summary.ignored,
        "excepted": summary.excepted,
        "diagnostics": [diagnostic_json(d) for d in ordered(diagnostics)],
        "ignored_diagnostics": [suppressed_json(s) for s in suppressed],
        "declared": [declared_json(c) for c in declared],
    }
    return json.dumps(body, indent=2, ensure_ascii=False, default=str)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(d: Diagnostic) -> str:
    loc = d.location
    props = [f"file={_escape_property(loc.file)}"]
    if loc.line > 0:
        props += [f"line={loc.line}", f"col={loc.col}"]
    props.append(f"title={_escape_property(f'dcrsync {d.rule}')}")
    return f"::{d.severity} {','.join(props)}::{_escape_data(d.message)}"


def render_github(diagnostics: Sequence[Diagnostic], summary: Summary) -> str:
    lines = [github_annotation(d) for d in ordered(diagnostics)]
    lines.append(summary.line())
    return "\n".join(lines)


def _payload(spec: ClientSpec) -> Any:
    """What a plan would send for `spec` (JSON's `declared` only: the plan's modules are imported then)."""
    from dcrsync.plan.changes import spec_payload

    return spec_payload(spec)
