"""`dcrsync audit` as text (a terminal, a nightly job's log) and Markdown (an issue body): the
server's posture first, then each live client with findings, then the summary. Names, client ids and
messages carry server-chosen text: control characters are shown escaped, never sent to a terminal,
and Markdown gets them escaped and in code spans."""

from __future__ import annotations

from dcrsync.audit.clients import AuditedClient
from dcrsync.audit.report import AuditReport
from dcrsync.guards import inert as shown
from dcrsync.render import budget

MARKER = "<!-- dcrsync-audit -->"
_LINE = 500


def inert(text: object, limit: int = _LINE) -> str:
    """One line of text with nothing a terminal would interpret (`guards.inert`), bounded."""
    return shown.visible(str(text), limit)


def _md(text: object) -> str:
    return shown.md(str(text), _LINE)


def _code(text: object) -> str:
    return shown.code(str(text), _LINE)


def _label(c: AuditedClient) -> str:
    """The client's dcrsync name when it is in git, else the client_name the server holds."""
    return c.name if c.source else (c.client_name or c.client_id)


def _who(c: AuditedClient) -> str:
    where = f"in git: {c.source}" if c.source else "not in git"
    return f"{inert(_label(c))} [client_id {inert(c.client_id)}] ({where})"


def text(report: AuditReport) -> str:
    lines = [f"dcrsync audit of {report.server['kind']} at {inert(report.server['url'])} (profile {report.profile}"
             + (f", policy {report.policy}" if report.policy else "") + ")", "", "Server posture:"]
    for c in report.posture or []:
        lines.append(f"  {'ok ' if c.ok else 'FINDING'}  {c.id}: {inert(c.message)}")
    if not report.posture:
        lines.append("  (nothing the server publishes could be read: see the notes)")
    lines += ["", "Clients with findings:" if report.flagged else "Clients: no findings."]
    for c in report.flagged:
        lines.append(f"  {_who(c)}")
        lines += [f"    {d.severity}[{d.rule}]: {inert(d.message)}" for d in c.findings]
    excepted = [(c, d, who, until) for c in report.clients for d, who, until in c.excepted]
    for c, d, who, until in excepted:
        lines.append(f"  excepted[{d.rule}] {inert(_label(c))}: approved by {inert(who)} until {until}")
    lines += [f"note: {inert(n)}" for n in report.notes]
    lines += ["", report.summary_line()]
    return "\n".join(lines) + "\n"


def markdown(report: AuditReport, limit: int = budget.LIMIT) -> str:
    head = [
        MARKER,
        f"### dcrsync audit: {_code(report.server['kind'])} at {_code(report.server['url'])}",
        "",
        f"Profile {_code(report.profile)}" + (f", policy {_code(report.policy)}" if report.policy else "")
        + f", checked {_md(report.checked_at)}.",
        "",
        "| posture | | |",
        "| --- | --- | --- |",
    ]
    head += [f"| {'✅' if c.ok else '❌'} | {_code(c.id)} | {_md(c.message)} |" for c in report.posture]
    rows = []
    for c in report.flagged:
        where = f"{_code(c.source)}" if c.source else "not in git"
        for d in c.findings:
            rows.append(f"| {_code(_label(c))} | {_code(c.client_id)} | {where} | {_code(d.rule)} | {_md(d.message)} |")
    body = ["", "| client | client_id | in git | rule | finding |", "| --- | --- | --- | --- | --- |"] if rows else [""]
    body += budget.lines_within(rows, limit - 4_000, lambda n: f"| … | | | | {n} more finding(s): run `dcrsync audit` |")
    tail = ["", *[f"- note: {_md(n)}" for n in report.notes], "", report.summary_line()]
    return "\n".join(head + body + tail) + "\n"
