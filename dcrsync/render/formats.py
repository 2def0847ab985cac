"""One renderer shape for everything dcrsync prints: `render(obj, fmt, options) -> str`.

`FORMATS` holds, for each kind of object (a plan, a drift report, validate's findings, the state's list, an
audit), its table
`format -> renderer(obj, options)`. A command calls `render(obj, fmt)` instead of choosing a
renderer itself, and takes its `--format` choices from the same table (`format_option`), so the
two cannot disagree. A format a kind does not have is one line (`UnknownFormat`, exit 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import click

from dcrsync.errors import DcrsyncError
from dcrsync.guards import inert
from dcrsync.render import FROM_ENV, diagnostics, sarif
from dcrsync.render.diagnostics import Findings

if TYPE_CHECKING:
    from dcrsync.audit.report import AuditReport
    from dcrsync.plan.drift import DriftReport
    from dcrsync.plan.plan import Plan
    from dcrsync.state.records import State


@dataclass(frozen=True)
class Options:
    """How to render, for the renderers that care; the others ignore it."""

    #: ANSI colours (terminal text)
    colour: bool = False
    #: every warning in full, not one line per kind of warning about many clients
    all_warnings: bool = False
    #: where the full plan is, for a cut plan comment (default: from the environment)
    details_url: Any = FROM_ENV
    #: the plan comment names the server's URL too (default: its kind and environment only)
    server_url: bool = False
    #: {client name: file} of the client files the pull request removes, when known (github comment)
    removed: Any = None


Renderer = Callable[[Any, Options], str]


class UnknownFormat(DcrsyncError):
    """A format the kind of object has no renderer for."""


# Each kind's renderers are imported when one is used: `validate` never loads the plan's, drift's or
# audit's (20-40 ms of every run).
def _plan_text(plan: Plan, o: Options) -> str:
    from dcrsync.render import text

    return text.render(plan, colour=o.colour, all_warnings=o.all_warnings)


def _plan_markdown(plan: Plan, o: Options) -> str:
    from dcrsync.render import markdown

    return markdown.render(plan, details_url=o.details_url, server_url=o.server_url, removed=o.removed)


def _plan_json(plan: Plan, o: Options) -> str:
    return plan.to_json()  # the stable machine contract: schemas/plan.schema.json


def _drift_text(report: DriftReport, o: Options) -> str:
    from dcrsync.render import drift

    return drift.text(report)


def _drift_markdown(report: DriftReport, o: Options) -> str:
    from dcrsync.render import drift

    return drift.markdown(report)


def _drift_json(report: DriftReport, o: Options) -> str:
    return report.to_json()


def _findings_text(f: Findings, o: Options) -> str:
    return diagnostics.render_text(f.diagnostics, f.summary, color=o.colour, suppressed=f.suppressed) + "\n"


def _findings_json(f: Findings, o: Options) -> str:
    return diagnostics.render_json(
        f.diagnostics, f.summary, strict=f.strict, suppressed=f.suppressed, declared=f.declared, context=f.context
    ) + "\n"


def _findings_github(f: Findings, o: Options) -> str:
    return diagnostics.render_github(f.diagnostics, f.summary) + "\n"


def _findings_sarif(f: Findings, o: Options) -> str:
    return sarif.render(f) + "\n"  # SARIF 2.1.0, for GitHub code scanning


#: kind -> format -> renderer; the first format of a kind is its default
FORMATS: dict[str, dict[str, Renderer]] = {
    "plan": {"text": _plan_text, "markdown": _plan_markdown, "json": _plan_json},
    "drift": {"text": _drift_text, "markdown": _drift_markdown, "json": _drift_json},
    "diagnostics": {"text": _findings_text, "json": _findings_json, "github": _findings_github, "sarif": _findings_sarif},
    "state": {"text": lambda st, o: _statelist().text(st), "json": lambda st, o: _statelist().as_json(st)},
    "audit": {
        "text": lambda r, o: _audit().text(r), "json": lambda r, o: r.to_json(), "markdown": lambda r, o: _audit().markdown(r),
    },
}
#: the class of each kind's objects, by module and name (so that none is imported to render another)
KINDS: dict[str, str] = {
    "dcrsync.plan.plan.Plan": "plan", "dcrsync.plan.drift.DriftReport": "drift",
    "dcrsync.render.diagnostics.Findings": "diagnostics", "dcrsync.state.records.State": "state",
    "dcrsync.audit.report.AuditReport": "audit",
}


def _statelist() -> Any:
    from dcrsync.render import statelist

    return statelist


def _audit() -> Any:
    from dcrsync.render import audit

    return audit


def render(obj: Plan | DriftReport | Findings | State | AuditReport, fmt: str, options: Options | None = None) -> str:
    """`obj` in format `fmt`, ending with a newline; `UnknownFormat` when its kind has no such format."""
    kind = KINDS[f"{type(obj).__module__}.{type(obj).__qualname__}"]
    renderer = FORMATS[kind].get(fmt)
    if renderer is None:
        raise UnknownFormat(f"--format {fmt}: a {kind} can be shown as {', '.join(FORMATS[kind])}")
    if fmt == "json":
        return inert.json_text(renderer(obj, options or Options()))
    if isinstance(obj, Findings):  # only JSON shows the declared clients: not copied for the others
        obj = replace(obj, declared=())  # (inert.data of 10,000 clients: 3 s of CPU)
    return renderer(inert.data(obj), options or Options())


def format_option(kind: str, help: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The `--format` option of a command that renders a `kind`: its choices are the kind's table."""
    names = list(FORMATS[kind])
    return click.option(
        "--format", "fmt", type=click.Choice(names), default=names[0], show_default=True, help=help,
    )
