"""Diagnostics as text (terminal), JSON, or GitHub Actions workflow commands (annotations)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from dcrsync.model import Diagnostic

if TYPE_CHECKING:
    from dcrsync.lint import Suppressed


@dataclass(frozen=True)
class Summary:
    clients: int
    files: int
    errors: int
    warnings: int
    ignored: int = 0  # lint findings ignored on purpose (`lint: {ignore: …}`)

    @classmethod
    def of(cls, diagnostics: Sequence[Diagnostic], clients: int, files: int, ignored: int = 0) -> Summary:
        errors = sum(1 for d in diagnostics if d.severity == "error")
        return cls(clients, files, errors, len(diagnostics) - errors, ignored)

    def line(self) -> str:
        ignored = f", {self.ignored} ignored" if self.ignored else ""
        return (
            f"{_count(self.clients, 'client')} in {_count(self.files, 'file')}: "
            f"{_count(self.errors, 'error')}, {_count(self.warnings, 'warning')}{ignored}"
        )


@dataclass(frozen=True)
class Findings:
    """What `validate` found, as its renderers take it: the diagnostics, their summary, the findings
    ignored on purpose, and whether warnings fail (`--strict`, which decides JSON's `valid`)."""

    diagnostics: Sequence[Diagnostic]
    summary: Summary
    suppressed: Sequence[Suppressed] = ()
    strict: bool = False


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def ordered(diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: (d.location.file, d.location.line, d.location.col, d.rule))


def _where(d: Diagnostic) -> str:
    """FILE:LINE:COL, or just FILE when the problem is the file as a whole (line 0)."""
    loc = d.location
    return f"{loc.file}:{loc.line}:{loc.col}" if loc.line > 0 else loc.file


def ignored_line(s: Suppressed) -> str:
    """`FILE:LINE:COL: ignored[RULE]: message (reason — ignored at FILE:LINE:COL)`."""
    d = s.diagnostic
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
    return {
        **diagnostic_json(s.diagnostic),
        "reason": s.reason,
        "ignored_in": s.scope,  # "project" (dcrsync.yaml) or "client" (the client's own file)
        "ignored_at": {"file": s.at.file, "line": s.at.line, "col": s.at.col},
    }


def render_json(
    diagnostics: Sequence[Diagnostic],
    summary: Summary,
    *,
    strict: bool = False,
    suppressed: Sequence[Suppressed] = (),
) -> str:
    valid = summary.errors == 0 and not (strict and summary.warnings)
    body = {
        "valid": valid,
        "clients": summary.clients,
        "files": summary.files,
        "errors": summary.errors,
        "warnings": summary.warnings,
        "ignored": summary.ignored,
        "diagnostics": [diagnostic_json(d) for d in ordered(diagnostics)],
        "ignored_diagnostics": [suppressed_json(s) for s in suppressed],
    }
    return json.dumps(body, indent=2, ensure_ascii=False)


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
