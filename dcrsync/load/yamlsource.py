"""YAML with line marks.

PyYAML composes the text into nodes (libyaml's `CSafeLoader` when present: ~15x faster than the pure
Python one); this module builds plain JSON-like values from those nodes itself, so that:

- every value keeps the node it came from, and any path (``("redirect_uris", 1)``) maps back to a
  1-based ``line:col`` (`Document.loc`, `Document.key_loc`);
- duplicate keys, unsupported tags, recursive aliases and alias bombs are errors, not surprises;
- `${env:X}` / `${var:x}` substitution can run on each string scalar and fail at its exact position.

Errors never raise: they come back as `Diagnostic`s with rule ``"yaml"``, ``"load"`` or ``"subst"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dcrsync.load.substitute import SubstitutionError
from dcrsync.model import Diagnostic, Location

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVED: dict[str, str] = {}
_RESOLVED_MAX = 50_000


class YamlLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """libyaml's loader when PyYAML was built with it, else the pure-Python one (same nodes, slower).

    Resolving a plain scalar's implicit tag runs a few regular expressions in Python for every
    scalar; client files repeat the same keys and values, so the answers are memoised.
    """

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0]:
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_RESOLVED) < _RESOLVED_MAX and len(value) < 200:
                    _RESOLVED[value] = tag
            return tag
        return super().resolve(kind, value, implicit)


MAX_FILE_BYTES = 16 * 1024 * 1024
#: libyaml's composer recurses in C: very deep flow nesting ("[[[[…") overflows its stack and
#: kills the process, so such text is refused before it reaches the parser
MAX_FLOW_DEPTH = 1000
#: nesting of the values we build (a client is a few levels deep)
MAX_DEPTH = 100
#: nodes built again because an alias points at them, per document ("billion laughs" guard)
MAX_ALIAS_NODES = 10_000

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
#: kept as the text the user wrote: a date is not a JSON type
_AS_TEXT = frozenset({"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value", "tag:yaml.org,2002:binary"})

_CONSTRUCTOR = SafeConstructor()
_SCALARS: dict[str, Callable[[ScalarNode], Any]] = {
    _NULL: _CONSTRUCTOR.construct_yaml_null,
    _BOOL: _CONSTRUCTOR.construct_yaml_bool,
    _INT: _CONSTRUCTOR.construct_yaml_int,
    _FLOAT: _CONSTRUCTOR.construct_yaml_float,
}

Substituter = Callable[[str], Any]  # a whole-value list/map var yields a list/map
Path_ = Sequence[str | int]


def tag_name(tag: str) -> str:
    """`!!python/object` rather than `tag:yaml.org,2002:python/object`."""
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


def node_location(file: str, node: Node) -> Location:
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


def _error(file: str, line: int, col: int, rule: str, message: str) -> Diagnostic:
    return Diagnostic(Location(file, line, col), "error", rule, message)


@dataclass
class Document:
    """One YAML document: its value and the nodes it was built from."""

    file: str
    root: Node
    value: Any
    errors: int = 0  # how many error diagnostics building it produced
    aborted: bool = False  # building stopped (alias bomb, recursion, nesting): `value` is None
    error_locations: frozenset[Location] = frozenset()  # where those errors are

    @property
    def start(self) -> Location:
        return node_location(self.file, self.root)

    def _walk(self, path: Path_) -> tuple[Node | None, Node]:
        """The (key node, value node) at `path`, or the deepest ancestor found on the way."""
        key_node: Node | None = None
        node = self.root
        for part in path:
            found = _child(node, part)
            if found is None:
                return None, node
            key_node, node = found
        return key_node, node

    def loc(self, path: Path_) -> Location:
        """Where the value at `path` starts (or its nearest ancestor when the path is absent)."""
        return node_location(self.file, self._walk(path)[1])

    def key_loc(self, path: Path_) -> Location:
        """Where the key of the last step of `path` is written (the value for list items)."""
        key_node, node = self._walk(path)
        return node_location(self.file, key_node if key_node is not None else node)

    def top_pairs(self) -> dict[str, tuple[Node, Node]]:
        """The root mapping's keys -> (key node, value node), `<<` merges resolved."""
        return mapping_pairs(self.root) if isinstance(self.root, MappingNode) else {}


@dataclass
class ParsedFile:
    file: str
    documents: list[Document] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    empty: bool = False  # readable, but without a single non-empty document


def mapping_pairs(node: MappingNode) -> dict[str, tuple[Node, Node]]:
    """Explicit keys (the last of duplicates) win over keys merged in with `<<` (the first merge wins)."""
    explicit: dict[str, tuple[Node, Node]] = {}
    merged: dict[str, tuple[Node, Node]] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if isinstance(source, MappingNode):
                    for k, pair in mapping_pairs(source).items():
                        merged.setdefault(k, pair)
        elif isinstance(key_node, ScalarNode):
            explicit[key_node.value] = (key_node, value_node)
    return {**merged, **explicit}


def _child(node: Node, part: str | int) -> tuple[Node | None, Node] | None:
    if isinstance(node, MappingNode):
        return mapping_pairs(node).get(str(part))
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


# --- reading ---------------------------------------------------------------------------------


def decode(data: bytes, file: str) -> tuple[str | None, Diagnostic | None]:
    """UTF-8 text without a BOM, or a diagnostic at the first byte that is not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        col = len(data[line_start : exc.start].decode("utf-8", "replace")) + 1
        message = f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x}): save it as UTF-8"
        return None, _error(file, line, col, "load", message)
    return (text[1:] if text.startswith("\ufeff") else text), None


def _read_bytes(path: str | Path, limit: int) -> bytes | None:
    """The file's bytes, or None when it holds more than `limit`. Reads in chunks: asking for
    `limit` bytes at once makes Python allocate all of them for every small file."""
    chunks: list[bytes] = []
    total = 0
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(_CHUNK):
            total += len(chunk)
            if total > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


_CHUNK = 64 * 1024


def read_text(path: str | Path, file: str) -> tuple[str | None, Diagnostic | None]:
    try:
        data = _read_bytes(path, MAX_FILE_BYTES)
    except IsADirectoryError:
        return None, _error(file, 0, 0, "load", "is a folder, not a YAML file")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return None, _error(file, 0, 0, "load", f"cannot read the file: {reason}")
    if data is None:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        message = f"the file is larger than {limit} MiB: split it into smaller files"
        return None, _error(file, 0, 0, "load", message)
    return decode(data, file)


def load_file(path: str | Path, file: str, substitute: Substituter | None = None) -> ParsedFile:
    """Read and parse one file; `file` is the name diagnostics show."""
    text, problem = read_text(path, file)
    if text is None:
        return ParsedFile(file, diagnostics=[problem] if problem else [])
    return parse_text(text, file, substitute)


def parse_bytes(data: bytes, file: str, substitute: Substituter | None = None) -> ParsedFile:
    """`load_file` of bytes already read (at most MAX_FILE_BYTES)."""
    text, problem = decode(data, file)
    if text is None:
        return ParsedFile(file, diagnostics=[problem] if problem else [])
    return parse_text(text, file, substitute)


# --- parsing ---------------------------------------------------------------------------------

_BRACKETS = re.compile(r"[\[\]{}]")


def _flow_too_deep(text: str) -> tuple[int, int] | None:
    """The (line, col) where bracket nesting passes MAX_FLOW_DEPTH, if it does. Quotes are ignored:
    this only has to stop hostile text, and a real client file is nowhere near the limit."""
    if text.count("[") + text.count("{") <= MAX_FLOW_DEPTH:
        return None
    depth = 0
    for match in _BRACKETS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_FLOW_DEPTH:
            pos = match.start()
            line_start = text.rfind("\n", 0, pos) + 1
            return text.count("\n", 0, pos) + 1, pos - line_start + 1
    return None


_HINTS = (
    ("found character that cannot start any token", "\t", "YAML does not allow tabs: indent with spaces"),
    ("found a tab character", None, "YAML does not allow tabs: indent with spaces"),
    ("mapping values are not allowed", None, "quote a value that contains ': ', or check the indentation"),
    ("did not find expected key", None, "check the indentation of this line and the one above"),
    ("found undefined alias", None, "define the anchor (`&name`) before using `*name`, in the same document"),
)


def _yaml_message(exc: yaml.MarkedYAMLError, lines: list[str]) -> str:
    problem = exc.problem or "invalid YAML"
    message = f"invalid YAML: {problem}"
    pm, cm = exc.problem_mark, exc.context_mark
    if exc.context and cm is not None and pm is not None and cm.line != pm.line:
        message += f" ({exc.context} at line {cm.line + 1})"
    char = ""
    if pm is not None and pm.line < len(lines) and pm.column < len(lines[pm.line]):
        char = lines[pm.line][pm.column]
    for prefix, at_char, hint in _HINTS:
        if problem.startswith(prefix) and (at_char is None or char == at_char):
            return f"{message}: {hint}"
    return message


def _yaml_error(exc: yaml.YAMLError, text: str, file: str) -> Diagnostic:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        return _error(file, line, col, "yaml", _yaml_message(exc, text.splitlines()))
    if isinstance(exc, yaml.reader.ReaderError):
        pos = min(exc.position, len(text))
        line_start = text.rfind("\n", 0, pos) + 1
        line, col = text.count("\n", 0, pos) + 1, pos - line_start + 1
        message = f"invalid YAML: character #x{exc.character:04x} is not allowed ({exc.reason}): remove it"
        return _error(file, line, col, "yaml", message)
    return _error(file, 1, 1, "yaml", f"invalid YAML: {exc}")


def _is_empty(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL and node.value in ("", "~", "null")


def parse_text(text: str, file: str, substitute: Substituter | None = None) -> ParsedFile:
    """All documents of one YAML text. A syntax error ends the file; earlier documents are kept."""
    parsed = ParsedFile(file)
    deep = _flow_too_deep(text)
    if deep is not None:
        message = f"invalid YAML: brackets nested more than {MAX_FLOW_DEPTH} levels deep"
        parsed.diagnostics.append(_error(file, deep[0], deep[1], "yaml", message))
        return parsed
    loader = YamlLoader(text)
    try:
        for root in _nodes(loader, text, file, parsed.diagnostics):
            if _is_empty(root):
                continue
            builder = _Builder(file, substitute, parsed.diagnostics)
            value = builder.document(root)
            located = frozenset(builder.locations)
            parsed.documents.append(
                Document(file, root, value, builder.errors, builder.aborted, located)
            )
    finally:
        loader.dispose()
    parsed.empty = not parsed.documents and not parsed.diagnostics
    return parsed


def _nodes(loader: Any, text: str, file: str, diagnostics: list[Diagnostic]) -> Iterator[Node]:
    while True:
        try:
            if not loader.check_node():
                return
            node = loader.get_node()
        except yaml.YAMLError as exc:
            diagnostics.append(_yaml_error(exc, text, file))
            return
        yield node


class _Abort(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


class _Builder:
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
        if tag == _STR:
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
        if node.tag != _SEQ:
            self.report(
                node, "yaml", f"unsupported tag `{tag_name(node.tag)}`: write a plain YAML list without a tag"
            )
        return [self.build(item, depth + 1) for item in node.value]

    def mapping(self, node: MappingNode, depth: int) -> dict[str, Any]:
        if node.tag != _MAP:
            self.report(
                node,
                "yaml",
                f"unsupported tag `{tag_name(node.tag)}`: write a plain YAML mapping without a tag",
            )
        out: dict[str, Any] = {}
        first: dict[str, Node] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
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
