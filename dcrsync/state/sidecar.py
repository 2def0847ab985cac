"""The plain `.applied.json` sidecar's client entries, with the server representations kept once.

Every record keeps the server's whole representation after the last apply (`observed`, for `drift`'s
undeclared fields). Most of it is the same for every client of a server (defaults, empty lists, the
owner), so writing it whole for each client made the sidecar ~1.9 kB a client (18.5 MB for 10,000),
most of a no-change plan's reading. The slim shape keeps, once, the value most clients share for each
key (`observed_common`), and for each client only what differs (`observed_delta`) and the common keys
it lacks (`observed_absent`). Lossless: `decode(encode(x)) == x`, value types included.

Readers take both shapes: an entry with `observed` (what dcrsync wrote before) is used as it is. A
reader from before the slim shape sees no `observed` in a slim entry and reports the client as
"last applied before dcrsync kept the server's whole representation" until the next apply: it never
misreads one.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

COMMON = "observed_common"
DELTA = "observed_delta"
ABSENT = "observed_absent"
_SCALARS = (str, int, float, bool, type(None))


#: representations the common values are chosen from: the choice only sets how small the file is
SAMPLE = 64


def _canon(value: Any) -> Any:
    """A hashable stand-in that tells apart what JSON tells apart (`1`, `1.0` and `true` differ)."""
    kind = type(value)
    if kind in _SCALARS:
        return (kind.__name__, value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: types too, at every depth (`[1] == [True]` in Python, not in JSON)."""
    kind = type(a)
    if kind is not type(b) or a != b:
        return False
    if kind is list:
        return all(map(_same, a, b))
    if kind is dict:
        return all(_same(v, b[k]) for k, v in a.items())
    return True


_NONE = object()  # no common value for the key
_SCALAR_TYPES = frozenset(_SCALARS)


def common_values(observed: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Per key, the value more than half of the representations hold (none for a key without one)."""
    counts: dict[str, Counter[Any]] = {}
    first: dict[tuple[str, Any], Any] = {}
    for obs in observed:
        for key, value in obs.items():
            canon = _canon(value)
            counts.setdefault(key, Counter())[canon] += 1
            first.setdefault((key, canon), value)
    out: dict[str, Any] = {}
    half = len(observed) / 2
    for key, counter in counts.items():
        canon, n = counter.most_common(1)[0]
        if n > half and n > 1:
            out[key] = first[(key, canon)]
    return out


def encode(books: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The sidecar's body for these entries (name -> bookkeeping, `observed` whole): slim."""
    observed = [b["observed"] for b in books.values() if isinstance(b.get("observed"), dict)]
    common = common_values(observed[:SAMPLE])
    clients: dict[str, dict[str, Any]] = {}
    for name, entry in books.items():
        obs = entry.get("observed")
        if not isinstance(obs, dict):
            clients[name] = entry
            continue
        slim = {k: v for k, v in entry.items() if k != "observed"}
        delta = slim[DELTA] = {}
        for k, v in obs.items():  # what differs from the common value (`_same`, its common cases inline)
            c = common.get(k, _NONE)
            kind = type(v)
            if kind is type(c) and (v == c if kind in _SCALAR_TYPES else _same(v, c)):
                continue
            delta[k] = v
        absent = sorted(k for k in common if k not in obs)
        if absent:
            slim[ABSENT] = absent
        clients[name] = slim
    return {COMMON: common, "clients": clients}


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def dumps(version: int, books: dict[str, dict[str, Any]]) -> bytes:
    """The sidecar's bytes: valid JSON, each client's entry on a line of its own (sorted by name), so a
    git diff of the sidecar names the clients that changed; written by the C JSON encoder (an indented
    dump runs the pure-Python one: ~1 s for 10,000 clients)."""
    body = encode(books)
    line = _ENCODER.encode  # one encoder for every line (json.dumps builds one a call)
    rows = [f"{line(name)}:{line(body['clients'][name])}" for name in sorted(body["clients"])]
    head = f'{{"version":{line(version)},\n"{COMMON}":{line(body[COMMON])},\n"clients":{{'
    return (head + ("\n" + ",\n".join(rows) + "\n" if rows else "") + "}}\n").encode()


def decode(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> bookkeeping with `observed` whole again, from either shape. Never raises for a shape it
    does not know: what it cannot read is left out (the record then has no `observed`)."""
    clients = doc.get("clients")
    if not isinstance(clients, dict):
        return {}
    common = doc.get(COMMON)
    common = common if isinstance(common, dict) else {}
    out: dict[str, dict[str, Any]] = {}
    for name, entry in clients.items():
        if not isinstance(entry, dict):
            continue
        delta = entry.get(DELTA)
        if DELTA not in entry:
            out[name] = entry
            continue
        books = {k: v for k, v in entry.items() if k not in (DELTA, ABSENT)}
        if isinstance(delta, dict):
            absent = entry.get(ABSENT) or []
            gone = set(absent) if isinstance(absent, list) else set()
            observed = dict(common)
            for key in gone:
                observed.pop(key, None)
            observed.update(delta)
            books["observed"] = observed
        out[name] = books
    return out
