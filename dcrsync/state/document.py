"""The sops document of a state, as text: its version 2 shape, and version 1 read. Pure.

sops's cost grows with the number of values in a document (about 0.13 ms a value, encrypted or not:
1.3 s to open a 10,000-client state that held one value a client), so a version 2 document holds a
handful of values whatever the number of clients:

- `clients`: one plain block, a line of JSON per client (`{"name": {"client_id": …, "held": […]}}`,
  sorted by name), so the file stays readable and a git diff names the clients that changed;
  `held` says which secrets the state keeps for it, so a read without the key knows;
- `secrets`: every secret in one value that sops encrypts (JSON: name -> its secrets), as a
  journal batch keeps its entries. sops gives every value a new data key at each write anyway, so
  one value loses nothing a diff could have shown.

A version 3 document is a version 2 one with one more encrypted value, `sealed`: the values client
files read from the environment, kept out of the plain sidecar (`dcrsync.state.sealed`). It is
written only when a record has such values, so that an older dcrsync, which would take the sidecar's
stand-ins for the values, refuses it ("upgrade") instead.

A version 1 document (a mapping per client, each secret its own encrypted value) is still read.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from dcrsync.errors import StateError
from dcrsync.guards.answers import OBJECT, Shape, inert, loads, misfit
from dcrsync.state.sealed import fits as sealed_shape

_Dumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

VERSION = 2
#: the version of a document that holds `SEALED` values
SEALED_VERSION = 3
#: versions this code reads (1: a YAML mapping per client, each secret its own encrypted value)
READS = (1, 2, 3)
#: the one encrypted value a version 2 document keeps every secret in
SECRETS = "secrets"
#: the encrypted value of a version 3 document: name -> the values its client read from the environment
SEALED = "sealed"
SECRET_KEYS = ("client_secret", "registration_access_token")
RECORDS = Shape("an object of client records",
                lambda v: isinstance(v, dict) and all(isinstance(r, dict) or r is None for r in v.values()))

Records = dict[str, dict[str, Any]]


def _restore(where: str, what: str) -> StateError:
    return StateError(f"{where} is not a dcrsync state ({what}); restore it from git or from the store's backup")


class _Dumper2(_Dumper):
    """Multi-line strings as literal blocks: the identity lines read one client a line in the file."""


def _literal(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper2.add_representer(str, _literal)


def line(value: Any) -> str:
    """Compact JSON on one line, ASCII only (printable in any YAML block, and no raw newline)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def dump(
    head: dict[str, Any], identities: Records, held: dict[str, list[str]], secrets: Records, sealed: Records | None = None
) -> bytes:
    """The plaintext of a version 2 document: `head` (version, serial, digests, journal key), then a
    line per client of `identities` (with the secrets it `held`), then `secrets` as one value; a
    version 3 one when there are `sealed` values (`dcrsync.state.sealed`), as one more value."""
    doc: dict[str, Any] = {"version": SEALED_VERSION if sealed else VERSION, **head}
    rows = []
    for name in sorted(identities):
        public = dict(identities[name])
        if held.get(name):
            public["held"] = held[name]
        rows.append(line({name: public}) + "\n")
    doc["clients"] = "".join(rows)
    kept = {n: s for n, s in secrets.items() if s}
    if kept:
        doc[SECRETS] = line(kept)  # encrypted by sops, as one value
    if sealed:
        doc[SEALED] = line(sealed)  # encrypted by sops, as one value
    return yaml.dump(doc, Dumper=_Dumper2, sort_keys=False, allow_unicode=True, width=1 << 30).encode()


def _json_lines(text: Any, where: str, what: str) -> list[Any]:
    """The values of a block of JSON lines; StateError in one line for anything else."""
    if not isinstance(text, str):
        raise _restore(where, f"its {what} is not text")
    rows = [row for row in text.split("\n") if row.strip()]  # not splitlines: it splits at U+2028 too
    try:
        return loads(("[" + ",".join(rows) + "]").encode())
    except ValueError as exc:
        raise _restore(where, f"its {what} is not JSON lines: {exc}") from None


def records(
    doc: dict[str, Any], where: str, encrypted: bool
) -> tuple[Records, dict[str, list[str]], Records, Records]:
    """(name -> identity, name -> the secrets it holds, name -> secrets, name -> sealed values) of a
    document of any version. Read without the key, a version 2 or 3 document's secrets and sealed
    values are not known (`held` says which secrets there are); a version 1 document's secrets are
    ENC[…] values among the identities."""
    if doc.get("version") == 1:
        wrong = misfit(doc, {"clients": RECORDS})
        if wrong:
            raise _restore(where, wrong)
        return {str(n): dict(d or {}) for n, d in (doc.get("clients") or {}).items()}, {}, {}, {}
    identities: Records = {}
    held_by: dict[str, list[str]] = {}
    for row in _json_lines(doc.get("clients") or "", where, "clients block"):
        if not (isinstance(row, dict) and len(row) == 1 and isinstance(next(iter(row.values())), dict)):
            raise _restore(where, "a line of its clients block is not one client")
        ((name, data),) = row.items()
        held = data.pop("held", [])
        if not isinstance(held, list) or any(k not in SECRET_KEYS for k in held) or set(data) & set(SECRET_KEYS):
            raise StateError(f"{where}: the record of {inert(name)} cannot be read (its secrets are not where they "
                             "belong); restore the state from git or from the store's backup")
        identities[name], held_by[name] = data, held
    secrets: Records = {}
    if not encrypted and doc.get(SECRETS):
        found = _json_lines(doc[SECRETS], where, "secrets")
        if len(found) != 1 or misfit({"": found[0]}, {"": OBJECT}) or not all(
            isinstance(v, dict) and set(v) <= set(SECRET_KEYS) for v in found[0].values()
        ):
            raise _restore(where, "its secrets are not one object of client secrets")
        secrets = found[0]
        unknown = sorted(set(secrets) - set(identities))
        if unknown:
            raise StateError(f"{where}: it keeps secrets for {inert(unknown[0])}, which it has no record of; restore "
                             "the state from git or from the store's backup")
    return identities, held_by, secrets, _sealed(doc, where, encrypted, identities)


def _sealed(doc: dict[str, Any], where: str, encrypted: bool, identities: Records) -> Records:
    """A version 3 document's sealed values (none read without the key)."""
    if encrypted or not doc.get(SEALED):
        return {}
    found = _json_lines(doc[SEALED], where, "sealed values")
    if len(found) != 1 or not sealed_shape(found[0]):
        raise _restore(where, "its sealed values are not one object of client values")
    unknown = sorted(set(found[0]) - set(identities))
    if unknown:
        raise StateError(f"{where}: it keeps values read from the environment for {inert(unknown[0])}, which it has "
                         "no record of; restore the state from git or from the store's backup")
    return found[0]
