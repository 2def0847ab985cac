"""The Policy section of the plan comment: the policy file the plan was checked against, the
exceptions in force, each with its approver, its last day and its reason, and the lint rules only
those exceptions may set aside. Its text comes from the repository's policy file: escaped and
bounded like every other cell of the comment."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from dcrsync.render import budget

#: an exception this close to its expiry is flagged in the comment
SOON_DAYS = 14
_LIMIT = 5_000
_CELL = 200


def _text(value: Any) -> str:
    text = " ".join(str(value).split())
    text = text if len(text) <= _CELL else text[: _CELL - 1] + "…"
    return html.escape(text, quote=False).replace("|", "\\|")


def _row(e: Mapping[str, Any]) -> str:
    clients = ", ".join(f"<code>{_text(c)}</code>" for c in e.get("clients") or [])
    if e.get("values"):
        clients += " (" + ", ".join(f"<code>{_text(v)}</code>" for v in e["values"]) + ")"
    days = int(e.get("days_left", 0))
    when = f"{_text(e.get('expires'))} ({'today' if days == 0 else f'in {days} days'})"
    if days <= SOON_DAYS:
        when = f"⚠️ {when}"
    return f"| <code>{_text(e.get('rule'))}</code> | {clients} | {_text(e.get('approved_by'))} | {when} | {_text(e.get('reason'))} |"


def _guarded(policy: Mapping[str, Any]) -> list[str]:
    """The line naming the lint rules no ignore in the branch sets aside (`lint.only_by_exception`)."""
    rules = [f"<code>{_text(r).replace('*', '&#42;')}</code>" for r in (policy.get("only_by_exception") or [])[:50]]
    return [f"Lint rules only its exceptions set aside: {', '.join(rules)}.", ""] if rules else []


def section(policy: Mapping[str, Any] | None) -> list[str]:
    """Markdown lines for the comment (none when the project has no policy)."""
    if not policy:
        return []
    exceptions = list(policy.get("exceptions") or [])
    head = f"**Policy** (<code>{_text(policy.get('file'))}</code>, checked {_text(policy.get('checked_on'))}): "
    if not exceptions:
        return [head + "no exception in force.", "", *_guarded(policy)]
    lines = [
        head + f"{len(exceptions)} exception(s) in force.",
        "",
        "| rule | clients | approved by | expires | reason |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows = budget.lines_within(
        [_row(e) for e in exceptions], _LIMIT, lambda n: f"| … | {n} more exception(s): see the policy file | | | |"
    )
    return lines + rows + ["", *_guarded(policy)]
