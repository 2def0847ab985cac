"""The value of one YAML document, built from its nodes: plain JSON-like values (a date stays the text
written), `${env:…}` / `${var:…}` substituted in each string where it is written, and every problem
reported at its node: duplicate keys, tags, keys that are not text, `<<` of a non-mapping, values
nested too deep, an anchor that contains itself, and aliases that expand too far ("billion laughs")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dcrsync.load.substitute import SubstitutionError
from dcrsync.model import Diagnostic, Location

#: nesting of the values we build (a client is a few levels deep)
MAX_DEPTH = 100
#: nodes built again because an alias points at them, per document ("billion laughs" guard)
MAX_ALIAS_NODES = 10_000

TAG_STR = "tag:yaml.org,2002:str"
TAG_NULL = "tag:yaml.org,2002:null"
TAG_BOOL = "tag:yaml.org,2002:bool"
TAG_INT = "tag:yaml.org,2002:int"
TAG_FLOAT = "tag:yaml.org,2002:float"
TAG_MERGE = "tag:yaml.org,2002:merge"
TAG_SEQ = "tag:yaml.org,2002:seq"
TAG_MAP = "tag:yaml.org,2002:map"
#: kept as the text the user wrote: a date is not a JSON type
_AS_TEXT = frozenset({"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value", "tag:yaml.org,2002:binary"})

_CONSTRUCTOR = SafeConstructor()
_SCALARS: dict[str, Callable[[ScalarNode], Any]] = {
    TAG_NULL: _CONSTRUCTOR.construct_yaml_null,
    TAG_BOOL: _CONSTRUCTOR.construct_yaml_bool,
    TAG_INT: _CONSTRUCTOR.construct_yaml_int,
    TAG_FLOAT: _CONSTRUCTOR.construct_yaml_float,
}

Substituter = Callable[[str], Any]  # a whole-value list/map var yields a list/map


def tag_name(tag: str) -> str:
    """`!!python/object` rather than `tag:yaml.org,2002:python/object`."""
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


def node_location(file: str, node: Node) -> Location:
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


class _Abort(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


class Builder:
    """Builds the value of one document from its nodes, reporting what is wrong on the way."""

    def __init__(self, file: str, substitute: Substituter | None, diagnostics: list[Diagnostic]) -> None:
        self.file = file
        self.substitute = substitute
        self.diagnostics = diagnostics
        self.errors = 0
        self.locations: list[Location] = []
        self.seen: set[int] = set()  # collection nodes built at least once
        self.active: set[int] = set()  # collection nodes being built (cycle check)
        self.in_alias = 0  # > 0 while building a node a second time (through an alias)
        self.alias_nodes = 0
        self.alias_root: Node | None = None  # the outermost node being built again
        self.aborted = False

    def report(self, node: Node, rule: str, message: str) -> None:
        loc = node_location(self.file, node)
        self.diagnostics.append(Diagnostic(loc, "error", rule, message))
        self.locations.append(loc)
        self.errors += 1

    def document(self, root: Node) -> Any:
        try:
            return self.build(root, 0)
        except _Abort as abort:
            self.report(abort.node, "yaml", abort.message)
            self.aborted = True
            return None

    def build(self, node: Node, depth: int) -> Any:
        if self.in_alias:
            self.alias_nodes += 1
            if self.alias_nodes > MAX_ALIAS_NODES:
                raise _Abort(
                    self.alias_root or node,
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} values (the anchor here is used too often): "
                    "write the values out instead of nesting aliases",
                )
        if type(node) is ScalarNode:
            return self.scalar(node)
        if depth >= MAX_DEPTH:
            raise _Abort(node, f"values are nested more than {MAX_DEPTH} levels deep: flatten this")
        key = id(node)
        if key in self.active:
            raise _Abort(node, "this anchor contains an alias to itself: a recursive value cannot be built")
        again = key in self.seen
        self.seen.add(key)
        self.active.add(key)
        if again and not self.in_alias:
            self.alias_root = node
        self.in_alias += again
        try:
            if type(node) is MappingNode:
                return self.mapping(node, depth)
            return self.sequence(node, depth)
        finally:
            self.in_alias -= again
            self.active.discard(key)

    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag == TAG_STR:
            value = node.value
            if self.substitute is not None and "$" in value:
                try:
                    value = self.substitute(value)
                except SubstitutionError as exc:
                    self.report(node, "subst", str(exc))
            return value
        construct = _SCALARS.get(tag)
        if construct is not None:
            try:
                return construct(node)
            except (ConstructorError, ValueError):
                self.report(
                    node,
                    "yaml",
                    f"`{node.value}` is not a valid {tag_name(tag)}: quote it to keep it as text",
                )
                return node.value
        if tag not in _AS_TEXT:
            self.report(
                node, "yaml", f"unsupported tag `{tag_name(tag)}`: write a plain YAML value without a tag"
            )
        return node.value

    def sequence(self, node: SequenceNode, depth: int) -> list[Any]:
        if node.tag != TAG_SEQ:
            self.report(
                node, "yaml", f"unsupported tag `{tag_name(node.tag)}`: write a plain YAML list without a tag"
            )
        return [self.build(item, depth + 1) for item in node.value]

    def mapping(self, node: MappingNode, depth: int) -> dict[str, Any]:
        if node.tag != TAG_MAP:
            self.report(
                node,
                "yaml",
                f"unsupported tag `{tag_name(node.tag)}`: write a plain YAML mapping without a tag",
            )
        out: dict[str, Any] = {}
        first: dict[str, Node] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == TAG_MERGE:
                merges.append(value_node)
                continue
            if type(key_node) is not ScalarNode:
                self.report(key_node, "yaml", "a key must be plain text, not a list or a mapping")
                continue
            key = key_node.value
            if key in first:
                line = first[key].start_mark.line + 1
                self.report(key_node, "yaml", f"duplicate key `{key}` (first at line {line}): keep only one")
            else:
                first[key] = key_node
            out[key] = self.build(value_node, depth + 1)
        for merge in merges:
            self.merge_into(out, merge, depth)
        return out

    def merge_into(self, out: dict[str, Any], merge: Node, depth: int) -> None:
        sources = merge.value if type(merge) is SequenceNode else [merge]
        for source in sources:
            if type(source) is not MappingNode:
                self.report(
                    source, "yaml", "`<<` merges mappings only: point it at a mapping (`<<: *defaults`)"
                )
                continue
            for key, value in self.build(source, depth + 1).items():
                out.setdefault(key, value)
