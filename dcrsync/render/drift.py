"""Drift reports: terminal text, a Markdown issue body, JSON.

Declared drift first; then, apart, the undeclared changes (informational). Every string from the
server or the state goes into Markdown through `guards.inert`."""

from __future__ import annotations

import re
from typing import Any

from dcrsync.guards import inert
from dcrsync.plan.describe import describe as described
from dcrsync.plan.drift import DriftedClient, DriftReport, UndeclaredClient
from dcrsync.plan.undeclared import UndeclaredChange
from dcrsync.render import budget
from dcrsync.render.markdown import field_rows
from dcrsync.render.text import field_line
from dcrsync.render.values import cell, show

MARKER = "<!-- dcrsync-drift -->"


def marker(environment: str | None = None) -> str:
    """The hidden first line that finds our issue: one per environment, as the plan comment's."""
    if not environment:
        return MARKER
    return f"<!-- dcrsync-drift {re.sub(r'[^A-Za-z0-9_.-]', '_', environment)} -->"


def environment_of(body_marker: str) -> str | None:
    """The environment a drift issue's marker names, or None."""
    m = re.fullmatch(r"<!-- dcrsync-drift (\S+) -->", body_marker.strip())
    return m.group(1) if m else None
LIMIT = budget.LIMIT
UNDECLARED_HEADING = "#### Undeclared fields changed (informational)\n\nFields the YAML does not declare.\n\n"


def summary_line(report: DriftReport) -> str:
    if not report.drifted:
        what = "declared fields of " if report.undeclared else ""
        head = f"No drift: {what}{report.checked} managed client(s) match the last apply."
    else:
        head = f"Drift: {len(report.clients)} client(s) changed outside dcrsync ({report.checked} checked)."
    if report.undeclared:
        head += (
            f" {len(report.undeclared)} client(s) with undeclared fields changed "
            "(informational; `--fail-on-undeclared` fails on them)."
        )
    if report.pending:
        head += f" {report.pending} git change(s) pending (not drift; see `dcrsync plan`)."
    if report.deliveries:
        head += f" {len(report.deliveries)} delivery(ies) missing or stale (`dcrsync deliver` rewrites them)."
    return head


def unobserved_note(report: DriftReport) -> str | None:
    if not report.unobserved:
        return None
    return (
        f"note: {report.unobserved} client(s) were last applied before dcrsync kept the server's whole "
        "representation: their undeclared fields are checked from their next apply on."
    )


def _mapper_kind(item: Any) -> str:
    if isinstance(item, dict):
        kind = item.get("protocolMapper") or item.get("type")
        if isinstance(kind, str):
            return f" ({kind})"
    return ""


def _item_keys(before: Any, after: Any) -> list[str]:
    """Which keys of a named item changed: `config.claim.name`, one level deep."""
    b = before if isinstance(before, dict) else {}
    a = after if isinstance(after, dict) else {}
    keys = []
    for k in sorted(set(b) | set(a)):
        if b.get(k) == a.get(k):
            continue
        if isinstance(b.get(k), dict) and isinstance(a.get(k), dict):
            inner_b, inner_a = b[k], a[k]
            keys += [f"{k}.{ik}" for ik in sorted(set(inner_b) | set(inner_a)) if inner_b.get(ik) != inner_a.get(ik)]
        else:
            keys.append(k)
    return keys


def describe(change: UndeclaredChange) -> str:
    """One line for one undeclared change, without the leading mark."""
    if change.item is not None:
        head = f"{change.path} {show(change.item)}: {change.change}"
        if change.change == "changed":
            return f"{head} ({', '.join(_item_keys(change.before, change.after))})"
        return head + _mapper_kind(change.after if change.change == "added" else change.before)
    return f"{change.path}: {show(change.before)} -> {show(change.after)}"


_MARK = {"added": "+", "removed": "-", "changed": "~"}


def _undeclared_text(clients: list[UndeclaredClient]) -> list[str]:
    lines = ["Undeclared fields changed on the server (informational: the YAML does not declare them):", ""]
    for c in clients:
        when = f"  updated_at {c.updated_at}" if c.updated_at else ""
        lines.append(f"  ? {c.name}  client_id {c.client_id}{when}")
        lines += [f"      {_MARK[ch.change]} {describe(ch)}" for ch in c.changes]
        lines.append("")
    return lines


def text(report: DriftReport) -> str:
    lines = [f"dcrsync drift for {report.server.get('kind')} at {report.server.get('url')}", ""]
    for c in report.clients:
        extra = f"client_id {c.client_id}" if c.client_id else ""
        when = f"  updated_at {c.updated_at}" if c.updated_at else ""
        lines.append(f"  ! {c.kind} {c.name}  {extra}{when}")
        if c.detail:
            lines.append(f"      # {c.detail}")
        for f in c.fields:  # what differs inside a field at its own path, as in a plan
            lines.extend("      " + line for line in field_line(described(f), "update").split("\n"))
        lines.append("")
    if report.undeclared:
        lines += _undeclared_text(report.undeclared)
    lines += delivery_lines(report)
    lines.append(summary_line(report))
    note = unobserved_note(report)
    if note:
        lines.append(note)
    return "\n".join(lines) + "\n"


def delivery_lines(report: DriftReport) -> list[str]:
    """Deliveries whose copy is missing or stale (no value, ever)."""
    if not report.deliveries:
        return []
    lines = ["Deliveries not current (`dcrsync deliver` rewrites them from the state):", ""]
    lines += [f"  ! {d['verdict']} {d['name']}: {d['target']} {d['where']} ({d['why']})" for d in report.deliveries]
    return [*lines, ""]


def _table(report: DriftReport, room: int) -> str:
    """Which clients drifted, one row each, as many rows as fit in `room`."""
    if not report.drifted:
        return ""
    head = ["| client | what | client_id | server updated_at |", "| --- | --- | --- | --- |"]
    rows = [
        f"| {inert.code(c.name)} | {inert.md(c.kind)} | {inert.code(c.client_id or '')} | {inert.md(c.updated_at or '')} |"
        for c in report.clients
    ]
    more = "| … | {} more client(s) not shown | run `dcrsync drift` for all of them | |"
    room -= sum(len(line) + 1 for line in head) + len(more.format(len(rows))) + 3  # the last newlines
    rows = budget.lines_within(rows, room, more.format)
    return "\n".join(head + rows) + "\n\n"  # a blank line: a table must not run into the first <details>


def _declared(c: DriftedClient) -> str:
    rows = ["| field | at last apply | on the server now |", "| --- | --- | --- |"]
    rows += [row for f in c.fields for row in field_rows(described(f))]
    return f"<details><summary><b>{inert.md(c.name)}</b>: {len(c.fields)} field(s)</summary>\n\n" + "\n".join(rows) + "\n\n</details>\n\n"


def _undeclared(u: UndeclaredClient) -> str:
    rows = ["| field | change | at last apply | on the server now |", "| --- | --- | --- | --- |"]
    for ch in u.changes:
        what = inert.code(ch.path) + (f" {inert.md(show(ch.item))}" if ch.item is not None else "")
        if ch.item is not None and ch.change == "changed":
            what += " (" + ", ".join(inert.code(k) for k in _item_keys(ch.before, ch.after)) + ")"
        rows.append(f"| {what} | {inert.md(ch.change)} | {cell(ch.before)} | {cell(ch.after)} |")
    return (
        f"<details><summary><b>{inert.md(u.name)}</b>: {len(u.changes)} undeclared field(s)</summary>\n\n"
        + "\n".join(rows) + "\n\n</details>\n\n"
    )


def markdown(report: DriftReport, limit: int = LIMIT) -> str:
    """The drift issue's body: which clients drifted, then each one's fields, then the undeclared
    changes; under `limit` (`render.budget`): the clients that do not fit are counted in one line."""
    env = f": {inert.code(report.environment)}" if report.environment else ""
    head = (
        f"{marker(report.environment)}\n### dcrsync drift{env}\n\n"
        f"{inert.code(str(report.server.get('kind')))} at {inert.code(str(report.server.get('url')))}\n\n"
    )
    note = unobserved_note(report)
    stale = "".join(f"- {inert.md(line.strip())}\n" for line in delivery_lines(report)[2:-1])
    tail = (stale and f"**Deliveries not current**\n\n{stale}\n") + summary_line(report) + "\n" + (
        f"\n_{note}_\n" if note else "")
    groups = [
        budget.Group([c for c in report.clients if c.fields], _declared),
        budget.Group(report.undeclared, _undeclared, UNDECLARED_HEADING),
    ]
    return budget.compose(
        head, tail, groups, what="client(s)", where="run `dcrsync drift` for all of them",
        must=lambda room: _table(report, room), limit=limit,
    )
