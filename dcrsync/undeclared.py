"""Which undeclared fields of one client changed on the server since the last apply. Pure: no I/O.

At every apply the state keeps the server's whole representation of the client (`observed`).
`changes` compares it with the representation the server gives now and names each raw field that
changed: top-level keys, one key deeper for objects (Keycloak `attributes`, Hydra `metadata`),
and one item by name for lists of named objects (Keycloak `protocolMappers`).

A raw field is left out when it is the server form of a field the YAML declares, or of dcrsync's
ownership marker: those are declared drift, reported once, elsewhere. The backend's own reader
(`raw -> LiveClient`) decides it: the field is put back alone into the old representation, and
if that moves a declared path or the marker, it belongs to them. No mapping table is repeated here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from dcrsync.model import SENSITIVE, SERVER_OWNED, LiveClient, shown

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


def kept_by_apply(
    changes_to_apply: Iterable[Any], records: dict[str, Any], live_by_name: dict[str, LiveClient], read: Reader
) -> list[str]:
    """One warning per client the plan rewrites whose undeclared fields someone changed on the
    server since the last apply: the apply keeps those edits, and `drift` stops naming them.

    Without it a reviewer would bless a hand edit without seeing it (`changes_to_apply`: the plan's
    changes; `records`: the state's, by name).
    """
    out: list[str] = []
    for change in changes_to_apply:
        if change.action not in REOBSERVED:
            continue
        record = records.get(change.moved_from or change.name)
        live = live_by_name.get(change.name)
        if record is None or live is None or record.observed is None:
            continue
        found = changes(record.observed, live.raw, set(record.applied) | set(record.desired), read)
        if found:
            paths = ", ".join(f"`{c.path}{'[' + c.item + ']' if c.item else ''}`" for c in found)
            out.append(
                f"{change.name}: {paths} changed on the server outside dcrsync since the last apply; this "
                "apply keeps the server's value and `dcrsync drift` stops reporting it (declare it to manage it)"
            )
    return out
