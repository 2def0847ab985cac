"""Which undeclared fields of one client changed on the server since the last apply. Pure: no I/O.

At every apply the state keeps the server's whole representation of the client (`observed`).
`changes` compares it with the representation the server gives now and names each raw field that
changed: top-level keys, one key deeper for objects (Keycloak `attributes`, Hydra `metadata`),
and one item by name for lists of named objects (Keycloak `protocolMappers`).

A raw field is left out when it is the server form of a field the YAML declares, or of dcrsync's
ownership marker: those are declared drift, reported once, elsewhere. The backend's own reader
(`raw -> LiveClient`) decides it: the field is put back alone into the old representation, and
if that moves a declared path or the marker, it belongs to them. No mapping table is repeated here.

A plan makes each such edit a decision a reviewer sees where the client is (`decide`): a row of the
client's change, kept as the new baseline by an apply that rewrites the client anyway (`accept`), or
put back to the last apply's value when the client is strict (`reset`: `restored` builds the
representation the update then starts from).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from dcrsync.model import SENSITIVE, SERVER_OWNED, ClientSpec, LiveClient, fingerprint, shown
from dcrsync.plan.changes import spec_payload
from dcrsync.plan.plan import Change as PlanChange
from dcrsync.plan.plan import FieldChange
from dcrsync.state.records import record_fingerprint

Change = Literal["added", "removed", "changed"]
Reader = Callable[[dict[str, Any]], LiveClient]

#: keys the server owns (timestamps, registration URI: a Hydra write answers them unlike a read)
#: or that are never kept (secrets)
IGNORED = SERVER_OWNED | {"client_secret", "secret", "registrationAccessToken"}
_ABSENT = object()
_PLAIN = re.compile(r"^\d+$|^(true|false)$")


@dataclass(frozen=True)
class UndeclaredChange:
    #: the raw key, `key.subkey` for a key inside an object, or the list's key for a named item
    path: str
    change: Change
    before: Any = None
    after: Any = None
    #: the item's `name` when `path` is a list of named objects (a Keycloak protocol mapper)
    item: str | None = None


def same(a: Any, b: Any) -> bool:
    """Equal as a server means it: null, absent, "", [] and {} alike; lists of scalars as sets."""
    if _empty(a) and _empty(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        try:
            return sorted(a, key=repr) == sorted(b, key=repr)
        except TypeError:  # pragma: no cover - repr always sorts
            return a == b
    return a == b


def _empty(v: Any) -> bool:
    return v is _ABSENT or v is None or v == "" or v == [] or v == {}


def safe(key: str, value: Any) -> Any:
    """A value as a report may show it: anything under a key naming a secret is `(sensitive)`,
    unless it is plainly not one (a flag, a number, a timestamp)."""
    if value is None or isinstance(value, (bool, int, float)):
        return shown(key, value)
    if "secret" in key.lower() and not (isinstance(value, str) and _PLAIN.match(value)):
        return SENSITIVE
    if key in ("registration_access_token", "registrationAccessToken"):
        return SENSITIVE
    return shown(key, value)


def _named(items: Any) -> dict[str, dict[str, Any]] | None:
    """{name: item} when `items` is a list of objects each with a unique `name`, else None."""
    if not isinstance(items, list) or not items:
        return None
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or item["name"] in out:
            return None
        out[item["name"]] = item
    return out


def _strip_id(item: Any) -> Any:
    """A named item without the id the server gave it (a re-created mapper is the same mapper)."""
    return {k: v for k, v in item.items() if k != "id"} if isinstance(item, dict) else item


def _kind(before: Any, after: Any) -> Change:
    if _empty(before):
        return "added"
    if _empty(after):
        return "removed"
    return "changed"


# --- where the two representations differ ------------------------------------------------------
@dataclass(frozen=True)
class _Spot:
    key: str
    sub: str | None  # a key inside an object, or an item name
    named: bool  # `sub` is an item of a list of named objects
    before: Any
    after: Any


def _spots(before: dict[str, Any], after: dict[str, Any]) -> Iterator[_Spot]:
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if b == a or key in IGNORED or same(b, a):
            continue
        if isinstance(b, dict) or isinstance(a, dict):
            bd = b if isinstance(b, dict) else {}
            ad = a if isinstance(a, dict) else {}
            if (isinstance(b, dict) or _empty(b)) and (isinstance(a, dict) or _empty(a)):
                for sub in sorted(set(bd) | set(ad)):
                    sb, sa = bd.get(sub, _ABSENT), ad.get(sub, _ABSENT)
                    if not same(sb, sa) and sub not in IGNORED:
                        yield _Spot(key, sub, False, sb, sa)
                continue
        bn = {} if _empty(b) else _named(b)
        an = {} if _empty(a) else _named(a)
        if bn is not None and an is not None:
            for name in sorted(set(bn) | set(an)):
                ib, ia = _strip_id(bn.get(name, _ABSENT)), _strip_id(an.get(name, _ABSENT))
                if ib is _ABSENT or ia is _ABSENT or ib != ia:
                    yield _Spot(key, name, True, ib, ia)
            continue
        yield _Spot(key, None, False, b, a)


def _put_back(rep: dict[str, Any], spot: _Spot, now: dict[str, Any]) -> dict[str, Any]:
    """`rep` with only `spot` set to what the server has now."""
    trial = dict(rep)
    if spot.sub is None:
        if spot.key in now:
            trial[spot.key] = now[spot.key]
        else:
            trial.pop(spot.key, None)
    elif spot.named:
        items = [i for i in (trial.get(spot.key) or []) if not (isinstance(i, dict) and i.get("name") == spot.sub)]
        items += [i for i in (now.get(spot.key) or []) if isinstance(i, dict) and i.get("name") == spot.sub]
        trial[spot.key] = items
    else:
        inner = dict(trial.get(spot.key) or {})
        current = now.get(spot.key) if isinstance(now.get(spot.key), dict) else {}
        if spot.sub in current:
            inner[spot.sub] = current[spot.sub]
        else:
            inner.pop(spot.sub, None)
        trial[spot.key] = inner
    return trial


def changes(
    observed: dict[str, Any], now: dict[str, Any], declared: Iterable[str], read: Reader
) -> list[UndeclaredChange]:
    """What changed in `now` against `observed` outside the declared paths and the marker."""
    spots = list(_spots(observed, now))
    if not spots:  # the usual case: no reader call at all
        return []
    declared = set(declared)
    base = read(observed)
    out: list[UndeclaredChange] = []
    for spot in spots:
        trial = read(_put_back(observed, spot, now))
        if (trial.managed_name, trial.owner, trial.project, trial.serial) != (
            base.managed_name, base.owner, base.project, base.serial
        ):
            continue  # the ownership marker: declared drift names it
        if any(trial.fields.get(p, _ABSENT) != base.fields.get(p, _ABSENT) for p in declared):
            continue  # the server form of a declared field: declared drift names it
        if trial.fields == base.fields and trial.client_id == base.client_id:
            continue  # nothing the family reads (Keycloak's `multivalued` it adds to a mapper at first use)
        before = None if spot.before is _ABSENT else spot.before
        after = None if spot.after is _ABSENT else spot.after
        if spot.named:
            out.append(UndeclaredChange(spot.key, _kind(before, after), _safe_item(before), _safe_item(after), spot.sub))
        else:
            path = spot.key if spot.sub is None else f"{spot.key}.{spot.sub}"
            leaf = spot.key if spot.sub is None else spot.sub
            out.append(UndeclaredChange(path, _kind(before, after), safe(leaf, before), safe(leaf, after)))
    return out


def _safe_item(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    out = {}
    for k, v in item.items():
        if isinstance(v, dict):
            out[k] = {ck: safe(ck, cv) for ck, cv in v.items()}
        else:
            out[k] = safe(k, v)
    return out


def default_reader(raw: dict[str, Any]) -> LiveClient:
    """For a family whose paths are its raw keys (RFC 7592): fields are the representation."""
    return LiveClient(client_id=str(raw.get("client_id") or ""), fields=dict(raw), raw=raw)


#: actions after which the state keeps the server's representation anew (`observed`)
REOBSERVED = frozenset({"update", "rotate", "move"})
#: how a plan row treats a hand edit: kept as the new baseline, or put back (`strict: true`)
ACCEPT, RESET = "accept", "reset"


def shown_path(change: UndeclaredChange) -> str:
    """The edit's path as a plan row names it: `webOrigins`, `attributes.KEY`, `protocolMappers[NAME]`."""
    return f"{change.path}[{change.item}]" if change.item else change.path


def _spot_path(spot: _Spot) -> str:
    if spot.sub is None:
        return spot.key
    return f"{spot.key}[{spot.sub}]" if spot.named else f"{spot.key}.{spot.sub}"


def hand_edits(record: Any, live: LiveClient, declared: Iterable[str], read: Reader) -> list[UndeclaredChange]:
    """What changed on the server outside dcrsync since the last apply, outside the declared paths."""
    if record is None or record.observed is None:
        return []
    return changes(record.observed, live.raw, set(declared) | set(record.applied) | set(record.desired), read)


def restored(observed: dict[str, Any], now: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """`now` with the hand edits at `paths` (as `shown_path` names them) put back to `observed`."""
    wanted, out = set(paths), dict(now)
    for spot in _spots(observed, now):
        if _spot_path(spot) in wanted:
            out = _put_back(out, spot, observed)
    return out


def with_baseline(spec: ClientSpec, change: PlanChange, record: Any, live: LiveClient) -> ClientSpec:
    """The spec an apply sends for `change`: with the representation its reset rows put back, if any."""
    paths = [f.path for f in change.fields if f.kind == RESET]
    if not paths or record is None or record.observed is None:
        return spec
    return replace(spec, baseline=restored(record.observed, live.raw, paths))


@dataclass
class Decision:
    """Which client's hand edits a plan keeps or resets: `strict(name)` says; `restorable(key)` is
    False for a raw key the family cannot write back (it is then kept, with a warning)."""

    strict: Callable[[str], bool]
    restorable: Callable[[str], bool]
    read: Reader


def rows(edits: list[UndeclaredChange], strict: bool, restorable: Callable[[str], bool]) -> list[FieldChange]:
    """One plan row per hand edit: put back (strict, where the family can) or kept as the baseline."""
    out = []
    for c in edits:
        if strict and restorable(c.path.split(".", 1)[0]):
            out.append(FieldChange(shown_path(c), c.after, c.before, RESET))
        else:
            out.append(FieldChange(shown_path(c), c.before, c.after, ACCEPT))
    return out


def decide(
    changes_: list[PlanChange], specs: Mapping[str, ClientSpec], records: Mapping[str, Any],
    live_by_name: Mapping[str, LiveClient], how: Decision,
) -> tuple[list[PlanChange], list[str]]:
    """The plan's changes with each hand edit of an undeclared field as a row of its client's change:
    kept as the new baseline where the apply rewrites the client anyway, put back where the client is
    strict (then an update of its own, cause drift, if nothing else changes). Returns (the changes,
    a warning for each edit strict cannot put back). Never a separate note at the bottom of the plan:
    a reviewer sees the decision where the client is."""
    by_name = {c.name: c for c in changes_}
    out, warnings = list(changes_), []
    for name, spec in specs.items():
        live, change = live_by_name.get(name), by_name.get(name)
        strict = how.strict(name)
        if live is None or (change is None and not strict) or (change is not None and change.action not in REOBSERVED):
            continue
        record = records.get((change.moved_from if change is not None else None) or name)
        found = rows(hand_edits(record, live, spec.declared(), how.read), strict, how.restorable)
        resets = [r for r in found if r.kind == RESET]
        warnings += [f"{name}: `{r.path}` changed on the server outside dcrsync, and strict cannot put it back "
                     "on this server: it is kept; declare it to manage it" for r in found if strict and r.kind == ACCEPT]
        if change is None:
            if not resets:
                continue
            change = PlanChange(
                "update", name, live.client_id, "drift", [], None, str(spec.location), spec_payload(spec),
                fingerprint(live), live.updated_at, record=record_fingerprint(record),
            )
            out.append(change)
        change.fields.extend(found)
        if resets and change.cause == "pending":
            change.cause = "both"
    return out, warnings
