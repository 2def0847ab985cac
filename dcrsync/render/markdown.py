"""A pull-request comment for a plan: what a reviewer must see comes first, and it always fits.

Top to bottom: a hidden marker (one per environment, so each environment keeps its own sticky
comment), a header naming the environment and the server, the counts, the conflicts that stop an
apply, every destructive change (delete, replace, rotate) expanded and flagged, then the other
changes in plan order, the warnings and the summary line.

Size: the body stays under `LIMIT` characters (GitHub takes 65536), by `render.budget`, which the
drift issue shares. Destructive changes are never dropped for size: when their full sections do not
fit, their field tables go (one section per change stays); only thousands of them fall back to a
list of names. The other changes are cut from the end, with the number left out and a link to the
full plan (the run that holds the plan artifact) when that is known.

Every string that did not come from dcrsync itself (names, client_ids, paths, values, reasons,
warnings, conflicts) goes through `guards.inert`: nothing in it is Markdown or HTML.

`render_error` writes the comment for a failed plan, under the same marker, so the failure
replaces the last plan instead of leaving it up as if it were still true.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import partial

from dcrsync.guards import inert
from dcrsync.plan.plan import DESTRUCTIVE, NOT_REFRESHED, Change, FieldChange, Plan, is_destructive
from dcrsync.render import FROM_ENV, budget
from dcrsync.render.policy import section as policy_section
from dcrsync.render.text import SYMBOL, delivery_lines, summary_line
from dcrsync.render.values import cell
from dcrsync.render.warnings import lines as warning_lines

LIMIT = budget.LIMIT
MARKER = "<!-- dcrsync-plan -->"
FLAG = "⚠️"

_CONFLICTS_LIMIT = 10_000
_WARNINGS_LIMIT = 5_000
_LINE_LIMIT = 500
_ERROR_LIMIT = 20_000

_CONSEQUENCE = {
    "delete": "**The client is deleted on the server.**",
    "replace": "**The client is deleted and created again:** whatever holds its old client_id or secret must be given the new ones.",
    "rotate": "**The client gets a new secret: the app must be given the new secret.**",
    "create": "**The client comes back under a new client_id:** the app must be given the new client_id and secret.",
}
_VERB = {"delete": "delete", "replace": "replace", "rotate": "rotate the secret of"}


def marker(environment: str | None = None) -> str:
    """The hidden first line that finds our comment: one per environment."""
    if not environment:
        return MARKER
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", environment)
    return f"<!-- dcrsync-plan {safe} -->"


def details_url_from_env(environ: Mapping[str, str]) -> str | None:
    """Where the full plan is: `DCRSYNC_DETAILS_URL`, else the GitHub Actions run page (its artifacts)."""
    explicit = (environ.get("DCRSYNC_DETAILS_URL") or "").strip()
    if explicit:
        return explicit
    server = (environ.get("GITHUB_SERVER_URL") or "").strip().rstrip("/")
    repo = (environ.get("GITHUB_REPOSITORY") or "").strip()
    run = (environ.get("GITHUB_RUN_ID") or "").strip()
    if server and repo and run:
        return f"{server}/{repo}/actions/runs/{run}"
    return None


def _url(details_url: str | None) -> str | None:
    resolved = details_url_from_env(os.environ) if details_url is FROM_ENV else details_url
    if not resolved or not resolved.startswith(("https://", "http://")) or any(c in resolved for c in " <>\n"):
        return None
    return resolved


def _link(url: str, text: str) -> str:
    return f"[{text}](<{url}>)"


def _bounded_list(items: list[str], limit: int, what: str, prefix: str = "- ") -> list[str]:
    """One line per item, inert and clipped, until `limit` characters; then how many were left out."""
    return budget.lines_within(
        [prefix + (inert.md(item, _LINE_LIMIT).strip() or "(empty)") for item in items], limit,
        lambda n: f"{prefix}… and {n} more {what}: run `dcrsync plan` to see them all",
    )


# -- one change ----------------------------------------------------------------------------------


def _before(f: FieldChange) -> str:
    if f.kind == "declare":
        return "<i>(server default)</i>" + (f" {cell(f.before)}" if f.before is not None else "")
    return cell(f.before)


def _after(f: FieldChange) -> str:
    if f.kind == "unset":
        return "<i>(unset)</i>" + (f" {cell(f.after)}" if f.after is not None else "")
    return cell(f.after)


def _side(value: object) -> str:
    return "<i>(absent)</i>" if value is None else cell(value)


def _items(sign: str, values: list | None) -> str:
    return "<br>".join(f"{sign} {cell(v)}" for v in values or []) or "—"


def field_rows(f: FieldChange) -> list[str]:
    """One row per field; a set-like field shows the items removed (before) and added (after), an
    object one row per value that differs inside it, at its own path."""
    note = {"declare": " <sub>newly declared</sub>", "unset": " <sub>no longer declared</sub>",
            "accept": " <sub>changed by hand, not declared: kept as the new baseline</sub>",
            "reset": " <sub>changed by hand, not declared: put back (strict)</sub>"}.get(f.kind, "")
    if f.items_added is not None or f.items_removed is not None:
        return [f"| {inert.code(f.path)}{note} <sub>items</sub> | {_items('−', f.items_removed)} | {_items('+', f.items_added)} |"]
    if f.nested:
        return [f"| {inert.code(p['path'])}{note} | {_side(p['before'])} | {_side(p['after'])} |" for p in f.nested]
    return [f"| {inert.code(f.path)}{note} | {_before(f)} | {_after(f)} |"]


def _table(change: Change) -> str:
    rows = ["| field | before | after |", "| --- | --- | --- |"]
    for f in change.fields:
        rows.extend(field_rows(f))
    return "\n".join(rows)


def _title(change: Change) -> str:
    name = f"<b>{inert.md(change.name)}</b>"
    if change.action == "move" and change.moved_from:
        name = f"<b>{inert.md(change.moved_from)}</b> → {name}"
    action = f"<code>{SYMBOL[change.action]} {change.action}</code>"
    if is_destructive(change):
        return f"{FLAG} <b>{action}</b> {name} — {change.cause}"
    return f"{action} {name} — {change.cause}"


def _deleted_file(change: Change, removed: Mapping[str, str] | None) -> list[str]:
    """For a delete: which app it is, and whether this pull request removed the file that declared it."""
    out = [f"client_name {cell(change.client_name)}"] if change.client_name else []
    if removed is None:
        return out
    if change.name in removed:
        out.append(f"Its file {inert.code(removed[change.name])} is removed in this pull request.")
    else:
        out.append(f"{FLAG} **No file of this pull request that declares it is removed:** it left git earlier, or "
                   "another branch created it. Make sure it should go before merging.")
    return out


def _section(change: Change, table: bool = True, removed: Mapping[str, str] | None = None) -> str:
    destructive = is_destructive(change)
    body: list[str] = []
    if destructive:
        body.append(_CONSEQUENCE[change.action])
    if change.action == "delete":
        body += _deleted_file(change, removed)
    if change.action == "move" and change.moved_from:
        body.append(
            f"Renamed from {inert.code(change.moved_from)} to {inert.code(change.name)}: "
            "the same client on the server, no new secret."
        )
    where = [f"client_id {inert.code(change.client_id)}"] if change.client_id else []
    where += [inert.md(change.source)] if change.source else []
    if where:
        body.append(" · ".join(where))
    if change.reason:
        body.append(f"_{inert.md(change.reason, _LINE_LIMIT)}_")
    if change.marker is not None:
        body.append(f"ownership marker: {cell(change.marker['before'])} → {cell(change.marker['after'])}")
    if change.records_only:
        body.append("_recorded in state only: nothing is sent to the server_")
    if change.fields and table:
        body.append(_table(change))
    elif change.fields:
        body.append(f"_{len(change.fields)} field(s) change; the table is left out for size: see the full plan._")
    tag = "<details open>" if destructive else "<details>"
    return f"{tag}<summary>{_title(change)}</summary>\n\n" + "\n\n".join(body) + "\n\n</details>\n\n"


# -- the plan ------------------------------------------------------------------------------------


def _head(plan: Plan, title: str, server_url: bool = False) -> str:
    s = plan.summary()
    env = f" for {inert.code(plan.environment)}" if plan.environment else ""
    columns = ("create", "update", "move", "rotate", "replace", "delete", "unchanged")
    counts = [f"**{s[c]}**" if c in DESTRUCTIVE and s[c] else str(s[c]) for c in columns]
    lines = [
        marker(plan.environment),
        f"### {title}{env}",
        "",
        _server(plan, server_url),
        "",
        *([f"> [!NOTE]\n> {NOT_REFRESHED[0].upper()}{NOT_REFRESHED[1:]}.", ""] if not plan.refreshed else []),
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---:" for _ in columns) + " |",
        "| " + " | ".join(counts) + " |",
        "",
    ]
    if plan.conflicts:
        lines += [
            "> [!CAUTION]",
            f"> **{len(plan.conflicts)} conflict(s) stop the apply**; nothing is sent to the server until they are resolved:",
        ]
        lines += ["> " + line for line in _bounded_list(plan.conflicts, _CONFLICTS_LIMIT, "conflict(s)")]
        lines.append("")
    destructive = [a for a in ("delete", "replace", "rotate") if s[a]]
    if destructive:
        said = [f"{_VERB[a]} {s[a]} client(s)" for a in destructive]
        said = ", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0]
        lines += [
            "> [!WARNING]",
            f"> **This plan will {said}.** They are listed first, below.",
            "",
        ]
    return "\n".join(lines) + "\n"  # a blank line: a table must not run into the first <details>


def _server(plan: Plan, with_url: bool) -> str:
    """The server by kind and environment; its URL (often internal) only when asked."""
    env = f", environment {inert.code(plan.environment)}" if plan.environment else ""
    where = f" at {inert.code(str(plan.server.get('url')))}" if with_url else ""
    return f"{inert.code(str(plan.server.get('kind')))} server{env}{where}"


def _tail(plan: Plan, url: str | None) -> str:
    lines: list[str] = policy_section(plan.policy)
    if plan.deliveries or plan.finish:
        said = [line.strip() for line in delivery_lines(plan)]
        lines += ["**Deliveries**", ""] + _bounded_list(said, _WARNINGS_LIMIT, "delivery(ies)") + [""]
    if plan.warnings:
        said = warning_lines(plan.warnings)  # one line per kind about many clients; all in the JSON plan
        lines += ["**Warnings**", ""] + _bounded_list(said, _WARNINGS_LIMIT, "warning(s)") + [""]
    lines.append(summary_line(plan))
    if url and plan.changes:
        lines += ["", f"Full plan: the plan artifact of {_link(url, 'this run')}."]
    return "\n".join(lines) + "\n"


def _destructive_block(changes: list[Change], room: int, section: Callable[..., str] = _section) -> str:
    """Every destructive change, as much of each as fits in `room` (never none of them)."""
    if not changes:
        return ""
    head = f"#### {FLAG} Destructive changes ({len(changes)})\n\n"
    full = [section(c) for c in changes]
    if len(head) + sum(map(len, full)) <= room:
        return head + "".join(full)
    compact = [section(c, table=False) for c in changes]
    note = "_Field tables of some destructive changes are left out for size: see the full plan._\n\n"
    left = room - len(head) - len(note) - sum(map(len, compact))
    if left >= 0:
        parts = []
        for f, c in zip(full, compact, strict=True):  # expand as many as fit, in plan order
            if len(f) - len(c) <= left:
                parts.append(f)
                left -= len(f) - len(c)
            else:
                parts.append(c)
        return head + note + "".join(parts)
    # thousands of them: one line per action with the names, as many names as fit
    text = head + "_Too many to show one by one: their names, by action. See the full plan for the fields._\n\n"
    for action in ("delete", "replace", "rotate"):
        names = [c.name for c in changes if c.action == action]
        if not names:
            continue
        line = f"- {FLAG} **{action}** ({len(names)}): "
        shown: list[str] = []
        used = len(text) + len(line) + 120  # room for the "and N more" tail
        for name in names:
            piece = inert.code(name)
            if used + len(piece) + 2 > room:
                break
            shown.append(piece)
            used += len(piece) + 2
        line += ", ".join(shown)
        if len(shown) < len(names):
            line += f" … and **{len(names) - len(shown)} more not shown**: see the full plan"
        text += line + "\n"
    return text + "\n"


def render(
    plan: Plan, title: str = "dcrsync plan", limit: int = LIMIT, details_url: str | None = FROM_ENV,
    server_url: bool = False, removed: Mapping[str, str] | None = None,
) -> str:
    """The comment body. `details_url`: where the full plan is (default: from the environment);
    `server_url`: name the server's URL too; `removed`: {client name: file} the pull request removes."""
    url = _url(details_url)
    section = partial(_section, removed=removed)
    destructive = [c for c in plan.changes if is_destructive(c)]
    others = [c for c in plan.changes if not is_destructive(c)]
    heading = f"#### Other changes ({len(others)})\n\n" if destructive else ""
    where = _link(url, "the full plan") + " (the plan artifact of this run)" if url else "run `dcrsync plan` for all of them"
    return budget.compose(
        _head(plan, title, server_url), _tail(plan, url), [budget.Group(others, section, heading)],
        what="change(s)", where=where, must=lambda room: _destructive_block(destructive, room, section), limit=limit,
    )


# -- a failed plan -------------------------------------------------------------------------------

_ANNOTATION = re.compile(r"^::(error|warning|notice)((?: [^:]*)?)::(.*)$")


def _unescape(text: str, prop: bool = False) -> str:
    text = text.replace("%0D", "\r").replace("%0A", "\n")
    if prop:
        text = text.replace("%3A", ":").replace("%2C", ",")
    return text.replace("%25", "%")


def readable(text: str) -> str:
    """Error output made readable: colours dropped, GitHub annotation lines as `file:line: message`."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
    out = []
    for line in text.splitlines():
        m = _ANNOTATION.match(line)
        if m:
            props = dict(p.split("=", 1) for p in m.group(2).strip().split(",") if "=" in p)
            where = ":".join(_unescape(props[k], prop=True) for k in ("file", "line", "col") if k in props)
            line = (f"{where}: " if where else "") + f"{m.group(1)}: {_unescape(m.group(3))}"
        out.append(line.rstrip())
    return "\n".join(out).strip("\n")


def render_error(
    error: str,
    environment: str | None = None,
    title: str = "dcrsync plan",
    details_url: str | None = FROM_ENV,
) -> str:
    """The comment for a plan that failed: the error, in place of the plan that no longer holds."""
    url = _url(details_url)
    env = f" for {inert.code(environment)}" if environment else ""
    text = "\n".join(inert.line(part) for part in readable(error).split("\n"))
    if len(text) > _ERROR_LIMIT:
        cut = len(text) - _ERROR_LIMIT
        text = f"… ({cut} earlier characters left out)\n" + text[cut:]
    fence = "```"
    while fence in text:
        fence += "`"
    lines = [
        marker(environment),
        f"### ❌ {title}{env} failed",
        "",
        "> [!CAUTION]",
        "> **There is no plan to review.** The plan this comment showed before was removed: it may no longer "
        "be what an apply would do. Fix the error below and push again.",
        "",
    ]
    if text:
        lines += [fence + "text", text, fence, ""]
    else:
        lines += ["The step failed without an error message: see the run's log.", ""]
    if url:
        lines += [f"Log: {_link(url, 'the failed run')}.", ""]
    return "\n".join(lines)
