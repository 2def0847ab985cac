"""A pull-request comment: summary table, one collapsible section per client, bounded size."""

from __future__ import annotations

import html

from dcrsync.plan import Change, Plan
from dcrsync.render.text import SYMBOL, summary_line
from dcrsync.render.values import cell

LIMIT = 60_000
MARKER = "<!-- dcrsync-plan -->"


def _section(change: Change) -> str:
    title = f"<code>{SYMBOL[change.action]} {change.action}</code> <b>{html.escape(change.name)}</b> — {change.cause}"
    rows = ["| field | before | after |", "| --- | --- | --- |"]
    for f in change.fields:
        rows.append(f"| `{f.path}` | {cell(f.before)} | {cell(f.after)} |")
    body = []
    if change.client_id:
        body.append(f"client_id `{change.client_id}`" + (f" · {change.source}" if change.source else ""))
    elif change.source:
        body.append(change.source)
    if change.reason:
        body.append(f"_{html.escape(change.reason)}_")
    blocks = body + (["\n".join(rows)] if change.fields else [])
    return f"<details><summary>{title}</summary>\n\n" + "\n\n".join(blocks) + "\n\n</details>\n\n"


def render(plan: Plan, title: str = "dcrsync plan", limit: int = LIMIT) -> str:
    s = plan.summary()
    head = [
        MARKER,
        f"### {title}",
        "",
        f"`{plan.server.get('kind')}` at `{plan.server.get('url')}`",
        "",
        "| create | update | replace | delete | unchanged |",
        "| ---: | ---: | ---: | ---: | ---: |",
        f"| {s['create']} | {s['update']} | {s['replace']} | {s['delete']} | {s['unchanged']} |",
        "",
    ]
    tail = [summary_line(plan)]
    if plan.warnings:
        tail = ["**Warnings**", ""] + [f"- {html.escape(w)}" for w in plan.warnings] + [""] + tail
    text = "\n".join(head) + "\n"  # a blank line: a table must not run into the first <details>
    budget = limit - len(text) - len("\n".join(tail)) - 200
    shown = 0
    for change in plan.changes:
        section = _section(change)
        if len(section) > budget:
            break
        text += section
        budget -= len(section)
        shown += 1
    hidden = len(plan.changes) - shown
    if hidden:
        text += f"\n**{hidden} more change(s) not shown** (comment size limit); run `dcrsync plan` for all of them.\n"
    return text + "\n" + "\n".join(tail) + "\n"
