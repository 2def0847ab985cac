"""Drift reports: terminal text, a Markdown issue body, JSON."""

from __future__ import annotations

import html

from dcrsync.drift import DriftReport
from dcrsync.render.values import cell, show

MARKER = "<!-- dcrsync-drift -->"
LIMIT = 60_000


def summary_line(report: DriftReport) -> str:
    if not report.drifted:
        head = f"No drift: {report.checked} managed client(s) match the last apply."
    else:
        head = f"Drift: {len(report.clients)} client(s) changed outside dcrsync ({report.checked} checked)."
    if report.pending:
        head += f" {report.pending} git change(s) pending (not drift; see `dcrsync plan`)."
    return head


def text(report: DriftReport) -> str:
    lines = [f"dcrsync drift for {report.server.get('kind')} at {report.server.get('url')}", ""]
    for c in report.clients:
        extra = f"client_id {c.client_id}" if c.client_id else ""
        when = f"  updated_at {c.updated_at}" if c.updated_at else ""
        lines.append(f"  ! {c.kind} {c.name}  {extra}{when}")
        if c.detail:
            lines.append(f"      # {c.detail}")
        for f in c.fields:
            lines.append(f"      ~ {f.path}: {show(f.before)} -> {show(f.after)}")
        lines.append("")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def markdown(report: DriftReport, limit: int = LIMIT) -> str:
    parts = [MARKER, "### dcrsync drift", "", f"`{report.server.get('kind')}` at `{report.server.get('url')}`", ""]
    if report.drifted:
        parts += ["| client | what | client_id | server updated_at |", "| --- | --- | --- | --- |"]
        for c in report.clients:
            parts.append(f"| `{c.name}` | {c.kind} | `{c.client_id or ''}` | {c.updated_at or ''} |")
        parts.append("")
    body = "\n".join(parts) + "\n"  # a blank line: a table must not run into the first <details>
    hidden = 0
    for c in report.clients:
        if not c.fields:
            continue
        rows = ["| field | at last apply | on the server now |", "| --- | --- | --- |"]
        rows += [f"| `{f.path}` | {cell(f.before)} | {cell(f.after)} |" for f in c.fields]
        section = f"<details><summary><b>{html.escape(c.name)}</b>: {len(c.fields)} field(s)</summary>\n\n" + "\n".join(rows) + "\n\n</details>\n\n"
        if len(body) + len(section) > limit - 500:
            hidden += 1
            continue
        body += section
    if hidden:
        body += f"\n**{hidden} more client(s) not shown** (size limit); run `dcrsync drift` for all of them.\n"
    return body + "\n" + summary_line(report) + "\n"
