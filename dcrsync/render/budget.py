"""A Markdown body that always fits in one GitHub comment or issue, written once for the plan
comment and the drift issue.

A body is: a head; then what must never be cut (a plan's deletes, replaces and rotations), which is
given all the room there is and shrinks itself to fit it; then the other sections in order, until
the next one does not fit; then one line that says how many were left out and where to see them all
(the run that holds the full plan, or the command to run); then the tail (warnings, summary line).
The head and the tail are always whole: they are bounded by their own renderers. Pure: strings in,
a string out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: what a body is kept under; GitHub takes 65,536 characters (`github.sync.BODY_LIMIT`)
LIMIT = 60_000
#: room kept for the truncation line
RESERVE = 600


@dataclass(frozen=True)
class Group:
    """Sections that may be cut, in order, rendered one at a time (only as many as are shown) and
    under an optional heading, which is written when the group is reached with nothing cut yet."""

    items: Sequence[Any]
    section: Callable[[Any], str]
    heading: str = ""


def truncation(hidden: int, what: str, where: str) -> str:
    """`**N more change(s) not shown** (comment size limit): <where>.` on a line of its own."""
    return f"\n**{hidden} more {what} not shown** (comment size limit): {where}.\n"


def compose(
    head: str,
    tail: str,
    groups: Sequence[Group],
    *,
    what: str,
    where: str,
    must: Callable[[int], str] | None = None,
    limit: int = LIMIT,
) -> str:
    """`head`, `must(room)`, the sections of `groups` that fit, the truncation line, `tail`.

    `must` receives the room left after head, tail and the truncation line's reserve, and returns
    at most that much (it decides how to shrink what it must never drop). The sections are cut from
    the end: once one does not fit, it and every one after it are counted as `what` not shown, and
    `where` says where to see them."""
    room = limit - len(head) - len(tail) - RESERVE
    parts = [head]
    if must is not None:
        kept = must(room)
        parts.append(kept)
        room -= len(kept)
    hidden = 0
    for group in groups:
        if hidden or not group.items:
            hidden += len(group.items)
            continue
        if group.heading:
            parts.append(group.heading)
            room -= len(group.heading)
        for i, item in enumerate(group.items):
            section = group.section(item)
            if len(section) > room:
                hidden = len(group.items) - i
                break
            parts.append(section)
            room -= len(section)
    if hidden:
        parts.append(truncation(hidden, what, where))
    return "".join(parts) + "\n" + tail


def lines_within(lines: Sequence[str], limit: int, more: Callable[[int], str]) -> list[str]:
    """The lines in order while they, joined by newlines, take at most `limit` characters; then
    `more(n)` in place of the `n` left out."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        if used + len(line) > limit:
            out.append(more(len(lines) - i))
            break
        out.append(line)
        used += len(line) + 1
    return out
