"""The Policy section of the plan comment: the policy file the plan was checked against and the
exceptions in force, each with its approver, its last day and its reason. Its text comes from the
repository's policy file: escaped and bounded like every other cell of the comment."""

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


def section(policy: Mapping[str, Any] | None) -> list[str]:
    """Markdown lines for the comment (none when the project has no policy)."""
    if not policy:
        return []
    exceptions = list(policy.get("exceptions") or [])
    head = f"**Policy** (<code>{_text(policy.get('file'))}</code>, checked {_text(policy.get('checked_on'))}): "
    if not exceptions:
        return [head + "no exception in force.", ""]
    lines = [
        head + f"{len(exceptions)} exception(s) in force.",
        "",
        "| rule | clients | approved by | expires | reason |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows = budget.lines_within(
        [_row(e) for e in exceptions], _LIMIT, lambda n: f"| … | {n} more exception(s): see the policy file | | | |"
    )
    return lines + rows + [""]
