"""One client document -> a `ClientSpec`: the schema check (a field written at the wrong level is named
as such), names unique across the project's files, where each field and list item is written, and
the software statement a client reads from a file (which must lie inside the project)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

from dcrsync.families import BLOCKS
from dcrsync.load.bounds import outside
from dcrsync.load.schemacheck import client_validator, schema_diagnostics, validator
from dcrsync.load.yamlsource import Document, mapping_pairs, node_location
from dcrsync.model import (
    EXTENSIONS,
    SOFTWARE_STATEMENT,
    ClientSpec,
    Diagnostic,
    Ignore,
    Location,
    statement_claims,
)

#: keys that are not portable metadata: kept apart in ClientSpec (`lint`, `labels`, `description`,
#: `environments`, `strict`, `moved_from`, `protected`, `deliver`, `rotate` and `rotation` are
#: dcrsync's own, never sent)
_RESERVED = (
    "name", "client_id", "lint", "labels", "description", "environments", "strict", "moved_from", "protected",
    "deliver", "rotate", "rotation", *BLOCKS,
)


@cache
def _misplaced() -> dict[str, dict[str, str]]:
    """Fields written at the wrong level: a block's own key at the top (`audience` is Hydra-only),
    a portable one inside a block whose keys the schema lists."""
    top = validator("client").schema["properties"]
    out: dict[str, dict[str, str]] = {"": {}}
    for block in BLOCKS.values():
        own = (top.get(block.name) or {}).get("properties")
        if not own:  # a free-form block: any key may be the family's own
            continue
        out[""].update({
            k: f"it is {block.title}-only: move it under `{block.name}:`" for k in own if k not in top
        })
        out[block.name] = {
            k: f"it is portable: write it at the top level, not under `{block.name}:`"
            for k in top
            if k not in own and k not in _RESERVED
        }
    return out


def _item_locations(file: str, node: SequenceNode) -> list[Location]:
    return [node_location(file, n) for n in node.value]


def _nested_items(
    file: str, path: str, node: MappingNode, items: dict[str, list[Location]], fields: dict[str, Location]
) -> None:
    """Item locations of every list under a mapping, by dotted path (`keycloak.serviceAccountRoles.realm`),
    and where each value under it is written (`keycloak.attributes.access.token.lifespan`)."""
    for sub, (_, sub_node) in mapping_pairs(node).items():
        fields[f"{path}.{sub}"] = node_location(file, sub_node)
        if isinstance(sub_node, SequenceNode):
            items[f"{path}.{sub}"] = _item_locations(file, sub_node)
        elif isinstance(sub_node, MappingNode):
            _nested_items(file, f"{path}.{sub}", sub_node, items, fields)


def _locations(
    file: str, pairs: dict[str, tuple[Node, Node]]
) -> tuple[dict[str, Location], dict[str, list[Location]]]:
    """field_locations and item_locations of a ClientSpec, from its document's top-level pairs."""
    fields: dict[str, Location] = {}
    items: dict[str, list[Location]] = {}
    for key, (_, value_node) in pairs.items():
        fields[key] = node_location(file, value_node)
        if isinstance(value_node, SequenceNode):
            items[key] = _item_locations(file, value_node)
        elif key == EXTENSIONS and isinstance(value_node, MappingNode):
            for sub, (key_node, _) in mapping_pairs(value_node).items():
                fields[f"{EXTENSIONS}.{sub}"] = node_location(file, key_node)
        elif key in BLOCKS and isinstance(value_node, MappingNode):
            _nested_items(file, key, value_node, items, fields)
    return fields, items


def lint_ignores(doc: Document, block: Any) -> dict[str, Ignore]:
    """`lint: {ignore: {RULE: reason}}` of a document that passed the schema, each at its key."""
    ignore = block.get("ignore") if isinstance(block, dict) else None
    if not isinstance(ignore, dict):
        return {}
    return {rule: Ignore(reason, doc.key_loc(("lint", "ignore", rule))) for rule, reason in ignore.items()}


def to_client(doc: Document, pairs: dict[str, tuple[Node, Node]] | None = None) -> ClientSpec:
    """A ClientSpec from a document that passed the schema."""
    value: dict[str, Any] = doc.value
    pairs = doc.top_pairs() if pairs is None else pairs
    field_locations, item_locations = _locations(doc.file, pairs)
    return ClientSpec(
        name=value["name"],
        fields={k: v for k, v in value.items() if k not in _RESERVED},
        location=node_location(doc.file, pairs["name"][0]),
        client_id=value.get("client_id"),
        blocks={name: dict(value[name]) for name in BLOCKS if value.get(name)},
        field_locations=field_locations,
        item_locations=item_locations,
        lint_ignore=lint_ignores(doc, value.get("lint")) if "lint" in value else {},
        labels=dict(value.get("labels") or {}),
        description=value.get("description"),
        environments=tuple(value["environments"]) if "environments" in value else None,
        strict=value.get("strict"),
        moved_from=value.get("moved_from"),
        protected=bool(value.get("protected", False)),
        deliver=value.get("deliver"),
        rotate=value.get("rotate"),
        rotation=None if value.get("rotation") is None else str(value["rotation"]),
    )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return "a single value"


def claim_name(name: str, where: Location, names: dict[str, Location], out: list[Diagnostic]) -> bool:
    """Record where `name` is defined; False (and an error) when an earlier document has it."""
    first = names.get(name)
    if first is not None:
        message = f"client name `{name}` is already used at {first}: names must be unique, rename one"
        out.append(Diagnostic(where, "error", "duplicate", message))
        return False
    names[name] = where
    return True


def check_document(
    doc: Document, names: dict[str, Location], out: list[Diagnostic], root: str | None = None
) -> ClientSpec | None:
    """Validate one document; record its name in `names`; the ClientSpec when it has no error."""
    value = doc.value
    if doc.aborted:
        return None
    if not isinstance(value, dict):
        message = f"a client must be a mapping of fields (`name: …`), not {_kind(value)}"
        out.append(Diagnostic(doc.start, "error", "schema", message))
        return None
    errors = doc.errors
    pairs = doc.top_pairs()
    name = value.get("name")
    if isinstance(name, str) and "name" in pairs:
        errors += not claim_name(name, node_location(doc.file, pairs["name"][1]), names, out)
    problems = schema_diagnostics(client_validator(), doc, elsewhere=_misplaced())
    if doc.error_locations:  # one problem per place: the YAML error already explains the value
        problems = [d for d in problems if d.location not in doc.error_locations]
    out.extend(problems)
    if errors or problems:
        return None
    spec = to_client(doc, pairs)
    problem = _read_statement(spec, root)
    if problem is not None:
        out.append(Diagnostic(spec.where(SOFTWARE_STATEMENT), "error", "load", problem))
        return None
    return spec


def _read_statement(spec: ClientSpec, root: str | None = None) -> str | None:
    """`software_statement: {file: …}` read (relative to the client file, inside the project when
    `root` is given) and checked to be a JWT whose claims decode; what is wrong, or None."""
    value = spec.fields.get(SOFTWARE_STATEMENT)
    if value is None:
        return None
    if isinstance(value, dict):
        path = os.path.join(os.path.dirname(spec.location.file), str(value["file"]))
        if outside(path, root) is not None:
            return f"software_statement file `{value['file']}` is outside the project: keep it inside {root}"
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            return f"software_statement file `{value['file']}` cannot be read ({exc.strerror}): fix the path"
        spec.fields[SOFTWARE_STATEMENT] = value
    if statement_claims(value) is None:
        return "software_statement is not a JWT whose claims decode (header.claims.signature, base64url JSON)"
    return None
