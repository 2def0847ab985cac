"""Values client files read from the environment (`client_env:`), kept out of the plain sidecar. Pure.

A plan shows such a value as `(from env:X)` and a saved plan holds only the reference; the state must
not undo that, and its `.applied.json` sidecar is plain text in git or in a shared store. So a
record whose client read the environment at its last apply (`ClientRecord.sealed`: path -> the
variables) is split in two when the state is written:

- the sidecar keeps a stand-in (`STAND_IN`) at those paths of `desired` and `applied`, and no
  `observed` at all (the server's representation holds the same values, under names and shapes the
  server chooses);
- the values at those paths, and the representation, go into the sops document's `sealed` value,
  which sops encrypts like the secrets.

Read with the key, `join` makes each record whole again. Read without it (a pull request's plan), the
stand-ins say that a value is kept, not what it is: drift passes over them, and a saved plan's record
fingerprint is taken over the stand-ins either way (`masked`). The journal batch that records such an
apply is encrypted too (`records.has_secret`).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any

STAND_IN = "(kept encrypted: read from the environment)"

Sealed = Mapping[str, Any]  # path -> the variables its value was read from


def masked(values: Mapping[str, Any], sealed: Container[str]) -> dict[str, Any]:
    """`values` with the stand-in at every path of `sealed` it has."""
    return {k: STAND_IN if k in sealed else v for k, v in values.items()}


def unread(value: Any, path: str, sealed: Container[str]) -> bool:
    """`value` is the stand-in of a sealed path: the state was read without the key, so the value is
    not known here (neither equal nor different to anything)."""
    return value == STAND_IN and path in sealed


def split(books: dict[str, Any], sealed: Sealed) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(what the sidecar keeps, what the encrypted document keeps) of one record's bookkeeping
    (`ClientRecord.bookkeeping`: `applied` absent when it equals `desired`)."""
    if not sealed:
        return books, None
    desired = books.get("desired") or {}
    applied = books.get("applied", desired)
    hidden: dict[str, Any] = {
        "desired": {p: desired[p] for p in sealed if p in desired},
        "applied": {p: applied[p] for p in sealed if p in applied},
    }
    plain = {k: v for k, v in books.items() if k != "observed"}
    plain["desired"] = masked(desired, sealed)
    if "applied" in books:
        plain["applied"] = masked(applied, sealed)
    if books.get("observed") is not None:
        hidden["observed"] = books["observed"]
    return plain, hidden


def join(books: dict[str, Any], hidden: Mapping[str, Any]) -> dict[str, Any]:
    """One record's bookkeeping whole again: the sidecar's entry with the encrypted values put back."""
    out = dict(books)
    desired = dict(books.get("desired") or {})
    applied = dict(books.get("applied", desired))
    desired.update(hidden.get("desired") or {})
    applied.update(hidden.get("applied") or {})
    out["desired"], out["applied"] = desired, applied
    if isinstance(hidden.get("observed"), dict):
        out["observed"] = hidden["observed"]
    # every path it holds a value for stays sealed, whatever the (plain, editable) sidecar says
    given = books.get("sealed") if isinstance(books.get("sealed"), dict) else {}
    out["sealed"] = {**{p: [] for p in [*(hidden.get("desired") or {}), *(hidden.get("applied") or {})]}, **given}
    return out


def fits(hidden: Any) -> bool:
    """The decrypted `sealed` value has the shape `split` gives (name -> its encrypted parts)."""
    return isinstance(hidden, dict) and all(
        isinstance(h, dict) and set(h) <= {"desired", "applied", "observed"}
        and all(isinstance(v, dict) for v in h.values())
        for h in hidden.values()
    )
