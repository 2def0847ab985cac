"""Terminal rendering: Terraform-like `+ ~ -/+ -`, field-level before/after, a summary line."""

from __future__ import annotations

import click

from dcrsync.plan.plan import NOT_REFRESHED, Change, FieldChange, Plan
from dcrsync.render.values import show
from dcrsync.render.warnings import lines as warning_lines

SYMBOL = {"create": "+", "update": "~", "move": "->", "rotate": "!", "replace": "-/+", "delete": "-"}
#: what a row about a hand edit of an undeclared field says (`accept`: kept; `reset`: put back, strict)
HAND_EDIT = {
    "accept": "changed on the server outside dcrsync: this apply keeps it as the new baseline (declare it, or "
              "`strict: true` to put it back)",
    "reset": "changed on the server outside dcrsync: put back to its value at the last apply (strict)",
}
COLOUR = {"create": "green", "update": "yellow", "move": "cyan", "rotate": "magenta", "replace": "magenta", "delete": "red"}


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    if plan.is_empty():
        return f"No changes. {s['unchanged']} client(s) match the server."
    parts = [f"{s['create']} to create", f"{s['update']} to update"]
    parts += [f"{s[a]} to {a}" for a in ("move", "rotate") if s[a]]
    parts += [f"{s['replace']} to replace", f"{s['delete']} to delete", f"{s['unchanged']} unchanged"]
    if plan.deliveries:
        parts.append(f"{len(plan.deliveries)} to deliver")
    if plan.finish:
        parts.append(f"{len(plan.finish)} rotation(s) to finish")
    return "Plan: " + ", ".join(parts) + "."


def delivery_lines(plan: Plan) -> list[str]:
    """`→ deliver billing: kubernetes-secret apps/billing/oauth.sops.yaml (new client)`: what goes
    where and why, never a value; and each two-phase rotation the apply finishes."""
    lines = [f"  → deliver {d['name']}: {d['target']} {d['where']} ({d['reason']})" for d in plan.deliveries]
    lines += [f"  → finish rotation {name}: its grace ended; the old secret is retired once every delivery is current"
              for name in plan.finish]
    return lines


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
    if change.moved_from:
        lines.append(f"      {style('->')} name: {show(change.moved_from)} -> {show(change.name)}")
    if change.client_name:
        lines.append(f"      # client_name {show(change.client_name)}")
    if change.reason:
        lines.append(f"      # {change.reason}")
    if change.marker is not None:
        m = change.marker
        lines.append(f"      {style('~')} ownership marker: {show(m['before'])} -> {show(m['after'])}")
    if change.records_only:
        lines.append(f"      {style('+')} recorded in state only: nothing is sent to the server")
    for f in change.fields:
        lines.extend("      " + line for line in field_line(f, change.action, style).split("\n"))
    return lines


def field_line(f: FieldChange, action: str, style=lambda t: t) -> str:
    """One field of a change: `+ path: value` for a create, `~ path: before -> after` for a change,
    `+ path: (server default) -> value` for a newly declared one, `- path: before -> (unset)`.

    A set-like field lists the items it adds and removes under `~ path:`, and an object the values
    that differ inside it, each at its own path, instead of both whole values (several lines)."""
    if action == "create" and f.before is None:
        return f"{style('+')} {f.path}: {show(f.after)}"
    if f.items_added is not None or f.items_removed is not None:
        head = f"{style('+' if f.kind == 'declare' else '~')} {f.path}:" + (" (newly declared; against the server default)" if f.kind == "declare" else "")
        items = [f"    {style('+')} {show(v)}" for v in f.items_added or []]
        items += [f"    {style('-')} {show(v)}" for v in f.items_removed or []]
        return "\n".join([head, *items])
    if f.nested:
        return "\n".join(_nested_line(p, style) for p in f.nested)
    if f.kind == "declare":
        return f"{style('+')} {f.path}: (server default: {show(f.before)}) -> {show(f.after)}"
    if f.kind == "unset":
        return f"{style('-')} {f.path}: {show(f.before)} -> (unset)"
    if f.kind in HAND_EDIT:
        sign = "=" if f.kind == "accept" else "~"
        return f"{style(sign)} {f.path}: {show(f.before)} -> {show(f.after)}  # {HAND_EDIT[f.kind]}"
    return f"{style('~')} {f.path}: {show(f.before)} -> {show(f.after)}"


def _nested_line(pair: dict, style) -> str:
    if pair["before"] is None:
        return f"{style('+')} {pair['path']}: {show(pair['after'])}"
    if pair["after"] is None:
        return f"{style('-')} {pair['path']}: {show(pair['before'])} -> (absent)"
    return f"{style('~')} {pair['path']}: {show(pair['before'])} -> {show(pair['after'])}"


def render(plan: Plan, colour: bool = False, all_warnings: bool = False) -> str:
    """The plan for a terminal; warnings about many clients of one kind as one line each, unless
    `all_warnings`."""
    env = f" (environment {plan.environment})" if plan.environment else ""
    lines = [f"dcrsync plan for {plan.server.get('kind')} at {plan.server.get('url')}{env}", ""]
    if not plan.refreshed:
        lines += [f"note: {NOT_REFRESHED}", ""]
    for conflict in plan.conflicts:
        lines.append(("conflict: " if not colour else click.style("conflict: ", fg="red", bold=True)) + conflict)
    if plan.conflicts:
        lines.append("")
    for change in plan.changes:
        lines.extend(_change(change, colour))
        lines.append("")
    if plan.deliveries or plan.finish:
        lines += [*delivery_lines(plan), ""]
    for warning in warning_lines(plan.warnings, all_warnings):
        lines.append(("warning: " if not colour else click.style("warning: ", fg="yellow")) + warning)
    if plan.warnings:
        lines.append("")
    lines.append(summary_line(plan))
    return "\n".join(lines) + "\n"
