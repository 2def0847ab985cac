"""What leaves git: deletes of the clients this project manages, and the renames they may be. Pure.

Prune deletes only clients this project's state records (their marker agreeing, where the server
keeps one). A client that carries this project's marker but that the state does not record is
never deleted: an apply whose state this one has not seen wrote it (a branch cut before another
pull request was applied: the serial in its marker is later than the state's), or it was forgotten
with `state rm`. The plan names those, and says when its state is behind.

A create and a delete with the same declared fields look like a rename dcrsync could not recognise:
that is a conflict unless the new file says `moved_from: OLD` (then it is a move, see `diff`), and
the hint stands in the delete's own box. With prune off the old client stays, and a warning says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dcrsync.model import ClientSpec, LiveClient, fingerprint, flat_paths
from dcrsync.plan.plan import Change
from dcrsync.state.records import record_fingerprint

if TYPE_CHECKING:
    from dcrsync.plan.diff import Inputs, Outcome, _Index

Normalise = Callable[[str, Any], Any]


def protected_note(name: str) -> str:
    return f"protected: the apply refuses this unless `dcrsync apply --allow-destroy {name}` names it"


def join(*parts: str | None) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text or None


def deletes(inp: Inputs, ix: _Index, claimed: set[str], moved: set[str], out: Outcome) -> None:
    """Deletes (prune) or leftovers of recorded clients whose name left git; notes about the rest."""
    for name, live in departed(inp, ix, claimed, moved):
        if inp.targets is not None and name not in inp.targets:
            continue
        if not inp.prune:
            out.leftovers.append(name)
            continue
        out.live_by_name[name] = live
        record = inp.state.clients[name]
        out.changes.append(
            Change(
                "delete", name, live.client_id, "pending", [], protected_note(name) if record.protected else None,
                None, None, fingerprint(live), live.updated_at, record=record_fingerprint(record),
                protected=record.protected, client_name=str(live.fields.get("client_name") or "") or None,
            )
        )
    if out.leftovers:
        left = sorted(out.leftovers)
        out.warnings.append(
            f"{len(left)} managed client(s) are no longer in git and stay on the server "
            f"({', '.join(left[:5])}{', …' if len(left) > 5 else ''}); "
            "set prune: true in dcrsync.yaml to delete them"
        )
    _unrecorded(inp, ix, claimed, out)


def departed(inp: Inputs, ix: _Index, claimed: set[str], moved: set[str]) -> list[tuple[str, LiveClient]]:
    """Clients the state records whose name left git. Never one whose marker says it is another
    project's, and never one a client in git still speaks for (a rename)."""
    out: dict[str, LiveClient] = {}
    for name, record in inp.state.clients.items():
        if name in ix.in_git or name in moved:
            continue
        live = ix.by_id.get(record.client_id or "")
        if live is None or live.client_id in claimed:
            continue
        if inp.lists and not inp.own.recorded(live, name):
            continue  # a listing backend shows the marker: without ours, the client is not ours
        out[name] = live
    return sorted(out.items())


def _unrecorded(inp: Inputs, ix: _Index, claimed: set[str], out: Outcome) -> None:
    """Clients with this project's marker that neither git nor the state speak for: never deleted.
    Those written by a later apply than this state say that the state is behind."""
    serial = inp.state.serial
    out.behind = sorted(
        str(c.managed_name) for c in inp.own.ours(ix.by_id.values()) if inp.own.newer(c, serial)
    )
    for name, live in sorted(inp.own.by_name(ix.by_id.values()).items()):
        if name not in ix.in_git and live.client_id not in claimed and live.client_id not in ix.records_by_id:
            out.unrecorded.append(name)
    if out.behind:
        out.warnings.append(
            f"this branch's state is behind: merge the base branch (the server shows {len(out.behind)} client(s) "
            f"written by a later apply than this state, serial {serial}: {_names(out.behind)}); no delete is "
            "planned for them"
        )
    others = [n for n in out.unrecorded if n not in out.behind]
    if others:
        out.warnings.append(
            f"{len(others)} client(s) carry this project's marker but are in neither git nor the state "
            f"({_names(others)}): prune never deletes them; adopt one with `dcrsync import NAME CLIENT_ID`, "
            "or delete it on the server"
        )


def _names(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", …" if len(names) > 5 else "")


def rename_hints(inp: Inputs, out: Outcome) -> None:
    """A create beside a departing client with the same declared fields looks like a rename that
    dcrsync could not recognise: with a delete planned it is a conflict, and the delete's box says
    how to make it a move (`moved_from:`); beside a leftover (prune off), a warning."""
    deleting = {c.name: c for c in out.changes if c.action == "delete"}
    departing = sorted({*deleting, *out.leftovers})
    if not departing:
        return
    for change in out.changes:
        if change.action != "create" or change.desired is None:
            continue
        mine = normalised({k: v for k, v in change.desired.items() if k != "client_id"}, inp.normalise)
        for old in departing:
            record = inp.state.clients.get(old)
            if record is None or not record.client_id or record.desired != mine:
                continue
            keep = f"to keep client {record.client_id} and its secret"
            there = f"add `moved_from: {old}` to {change.name}'s file ({change.source}) {keep}"
            if old in deleting:
                deleting[old].reason = join(f"looks like a rename to {change.name}: {there}", deleting[old].reason)
                out.conflicts.append(
                    f"{change.name} ({change.source}): creating {change.name} and deleting {old} looks like a rename "
                    f"(the same declared fields): add `moved_from: {old}` to this file {keep}; to replace it with a "
                    f"new client on purpose, remove {old} in one apply and add {change.name} in the next"
                )
            else:
                out.warnings.append(f"{change.name} ({change.source}) looks like a rename of {old}: {there}, and plan again")
            break


def moved_conflicts(inp: Inputs, ix: _Index) -> list[str]:
    """`moved_from:` that cannot be a rename: the old name is still declared, or two files claim it."""
    out: list[str] = []
    seen: dict[str, ClientSpec] = {}
    for spec in inp.specs:
        old = spec.moved_from
        if old is None:
            continue
        if old in ix.in_git:
            out.append(f"{spec.name} ({spec.location}): moved_from: {old}, but {old} is still declared: remove its "
                       "file (the rename), or this `moved_from:`")
        elif old in seen:
            out.append(f"{spec.name} ({spec.location}): moved_from: {old}, as {seen[old].name} "
                       f"({seen[old].location}) says too: one client can move to one name; remove one of them")
        seen.setdefault(old, spec)
    return out


def normalised(payload: dict[str, Any], normalise: Normalise) -> dict[str, Any]:
    """A saved or planned `desired` as the state records it (flat paths, normalised values)."""
    return {path: normalise(path, v) for path, v in flat_paths(payload).items()}
