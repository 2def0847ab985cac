"""Terminal rendering: Terraform-like `+ ~ -/+ -`, field-level before/after, a summary line."""

from __future__ import annotations

import click

from dcrsync.plan import Change, Plan
from dcrsync.render.values import show

SYMBOL = {"create": "+", "update": "~", "move": "->", "rotate": "!", "replace": "-/+", "delete": "-"}
COLOUR = {"create": "green", "update": "yellow", "move": "cyan", "rotate": "magenta", "replace": "magenta", "delete": "red"}


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    if plan.is_empty():
        return f"No changes. {s['unchanged']} client(s) match the server."
    parts = [f"{s['create']} to create", f"{s['update']} to update"]
    parts += [f"{s[a]} to {a}" for a in ("move", "rotate") if s[a]]
    parts += [f"{s['replace']} to replace", f"{s['delete']} to delete", f"{s['unchanged']} unchanged"]
    return "Plan: " + ", ".join(parts) + "."


def _change(change: Change, colour: bool) -> list[str]:
    sym = SYMBOL[change.action]
    style = (lambda t: click.style(t, fg=COLOUR[change.action])) if colour else (lambda t: t)
    head = f"  {style(sym + ' ' + change.action)} {click.style(change.name, bold=True) if colour else change.name}"
    extra = [f"[{change.cause}]"]
    if change.client_id:
        extra.append(f"client_id {change.client_id}")
    if change.source:
        extra.append(f"({change.source})")
    lines = [head + "  " + "  ".join(extra)]
    if change.reason:
        lines.append(f"      # {change.reason}")
    for f in change.fields:
        if change.action == "create":
            lines.append(f"      {style('+')} {f.path}: {show(f.after)}")
        else:
            lines.append(f"      {style('~')} {f.path}: {show(f.before)} -> {show(f.after)}")
    return lines


def render(plan: Plan, colour: bool = False) -> str:
    lines = [f"dcrsync plan for {plan.server.get('kind')} at {plan.server.get('url')}", ""]
    for change in plan.changes:
        lines.extend(_change(change, colour))
        lines.append("")
    for warning in plan.warnings:
        lines.append(("warning: " if not colour else click.style("warning: ", fg="yellow")) + warning)
    if plan.warnings:
        lines.append("")
    lines.append(summary_line(plan))
    return "\n".join(lines) + "\n"
