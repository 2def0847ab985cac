"""Per-client warnings of one kind, read as one line: `N clients: <what>` with the names behind a flag.

A warning about one client starts with its name (`NAME (file:line:col): …` or `NAME: …`). Its kind
is what it says after that, with the client's own name and quoted values masked, so that a hundred
clients left unconfirmed by one crash give one kind. Fewer than `GROUP_FROM` of a
kind, and warnings that name no client, are shown as they are. Pure: strings in, strings out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: this many warnings of one kind are summarised in one line
GROUP_FROM = 3
#: names listed in a summary line before "…"
NAMES_SHOWN = 5
FLAG = "--all-warnings"

_SUBJECT = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]{0,62})(?: \((?P<where>[^)]*)\))?: (?P<rest>.+)$", re.S)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")


@dataclass
class Group:
    kind: str
    #: (client name, the full warning) of each member, in the order they came
    members: list[tuple[str, str]] = field(default_factory=list)


def kind_of(warning: str) -> tuple[str | None, str]:
    """(the client it is about, or None; its kind)."""
    m = _SUBJECT.match(warning)
    if m is None:
        return None, warning
    name, rest = m.group("name"), m.group("rest")
    return name, _QUOTED.sub("…", rest.replace(name, "NAME")).strip()


def group(warnings: list[str]) -> list[str | Group]:
    """The warnings in order, those of one kind about `GROUP_FROM` clients or more as one Group (at
    the place of its first member)."""
    kinds: dict[str, Group] = {}
    order: list[str | Group] = []
    for warning in warnings:
        name, kind = kind_of(warning)
        if name is None:
            order.append(warning)
            continue
        if kind not in kinds:
            kinds[kind] = Group(kind)
            order.append(kinds[kind])
        kinds[kind].members.append((name, warning))
    out: list[str | Group] = []
    for item in order:
        if isinstance(item, Group) and len(item.members) < GROUP_FROM:
            out.extend(w for _, w in item.members)
        else:
            out.append(item)
    return out


def names(g: Group, limit: int | None = NAMES_SHOWN) -> str:
    shown = [n for n, _ in g.members][: limit if limit is not None else None]
    more = len(g.members) - len(shown)
    return ", ".join(shown) + (f", … ({more} more)" if more > 0 else "")


def summary(g: Group) -> str:
    """One line for a group: how many, what, which (the first few names), and how to see each."""
    return f"{len(g.members)} clients: {g.kind} ({names(g)}); rerun with {FLAG} for each one in full"


def lines(warnings: list[str], all_warnings: bool = False) -> list[str]:
    """Warnings as a terminal shows them: every one with `all_warnings`, else one line per kind."""
    if all_warnings:
        return list(warnings)
    return [item if isinstance(item, str) else summary(item) for item in group(warnings)]
