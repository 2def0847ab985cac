"""A live client as the YAML a user would write: declared-worthy fields only. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from dcrsync.families import BLOCKS
from dcrsync.model import SECRET_FIELDS, SERVER_OWNED, LiveClient

Normalise = Callable[[str, Any], Any]
SCHEMA = Path(__file__).parent.parent / "schemas" / "client.schema.json"  # dcrsync/schemas
#: never written: ours, or the server's own
SKIP = {"name", "client_id", *BLOCKS, *SECRET_FIELDS, *SERVER_OWNED}


@cache
def _known() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    schema = json.loads(SCHEMA.read_text())
    props = schema["properties"]
    portable = frozenset(k for k in props if k not in SKIP)
    blocks = {
        family: frozenset((props.get(family) or {}).get("properties") or {})
        for family in BLOCKS
    }
    return portable, blocks


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def to_document(
    name: str,
    live: LiveClient,
    normalise: Normalise,
    defaults: dict[str, Any] | None = None,
    skip: Iterable[str] = (),
) -> dict[str, Any]:
    """`name`, `client_id`, then every field the server holds that is neither empty nor a default."""
    portable, blocks = _known()
    defaults = defaults or {}
    skipped = set(skip)
    doc: dict[str, Any] = {"name": name, "client_id": live.client_id}
    nested: dict[str, dict[str, Any]] = {}
    for path in sorted(live.fields):
        value = live.fields[path]
        if _empty(value) or path in skipped:
            continue
        if path in defaults and normalise(path, value) == normalise(path, defaults[path]):
            continue
        family, _, key = path.partition(".")
        if key:
            if family in blocks and (not blocks[family] or key in blocks[family]):
                nested.setdefault(family, {})[key] = value
        elif path in portable:
            doc[path] = value
    doc.update({k: v for k, v in nested.items() if v})
    return doc


def escape_refs(value: Any) -> Any:
    """Every `${` in a string value as `$${`: the file then loads back to exactly the server's value."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, list):
        return [escape_refs(v) for v in value]
    if isinstance(value, dict):
        return {k: escape_refs(v) for k, v in value.items()}
    return value


def document_for(name: str, live: LiveClient, backend: Any) -> dict[str, Any]:
    """`to_document` with what the backend knows of its own defaults, `${` escaped."""
    doc = to_document(
        name, live, backend.normalise, backend.defaults, backend.export_skip
    )
    return {k: escape_refs(v) for k, v in doc.items()}


def reserved(live: LiveClient, backend: Any) -> str | None:
    """Why dcrsync must never manage `live` (a server's built-in, dcrsync's own admin), or None."""
    return backend.reserved(live)


def owned_by(live: LiveClient, owner: str) -> bool:
    """`owner` in dcrsync's marker, or (Hydra) in the client's own `owner` field."""
    return live.owner == owner or live.raw.get("owner") == owner


def exportable(clients: Iterable[LiveClient], backend: Any) -> tuple[list[LiveClient], list[tuple[LiveClient, str]]]:
    """(the clients worth a file, the ones left out with the reason)."""
    kept: list[LiveClient] = []
    left: list[tuple[LiveClient, str]] = []
    for live in clients:
        why = reserved(live, backend)
        if why:
            left.append((live, why))
        else:
            kept.append(live)
    return kept, left


def slug(text: str) -> str:
    out = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63]
    return out if out and out[0].isalnum() else ("c-" + out)[:63]


def unique_names(wanted: Iterable[str], taken: Iterable[str] = ()) -> list[str]:
    """A valid dcrsync name for each wanted one, unique among themselves and unlike any `taken`."""
    used = set(taken)
    out = []
    for name in wanted:
        base = slug(name)
        candidate, n = base, 1
        while candidate in used:
            n += 1
            candidate = f"{base[:58]}-{n}"
        used.add(candidate)
        out.append(candidate)
    return out


def dump(doc: dict[str, Any]) -> str:
    """The file's text. A server may put bidi overrides or a C1 control in a value, which YAML would
    write as they are: such a file is written with every non-ASCII character escaped instead."""
    header = "# yaml-language-server: $schema=https://raw.githubusercontent.com/dcrsync/dcrsync/main/schemas/client.schema.json\n"
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    if not all(ch.isprintable() or ch == "\n" for ch in text):
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=False, default_flow_style=False)
    return header + text
