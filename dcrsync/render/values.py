"""How a field value is shown in a plan: compact, stable, never a secret."""

from __future__ import annotations

import json
from typing import Any

from dcrsync.guards import inert


def show(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def cell(value: Any, limit: int = 300) -> str:
    """A value inside a Markdown table cell: inert (`guards.inert`), one line, bounded."""
    return inert.code(show(value), limit)
