"""YAML with line marks.

PyYAML composes the text into nodes (libyaml's `CSafeLoader` when present: ~15x faster than the pure
Python one); dcrsync builds plain JSON-like values from those nodes itself (`load.yamlvalues`), so that:

- every value keeps the node it came from, and any path (``("redirect_uris", 1)``) maps back to a
  1-based ``line:col`` (`Document.loc`, `Document.key_loc`);
- duplicate keys, unsupported tags, recursive aliases and alias bombs are errors, not surprises;
- `${env:X}` / `${var:x}` substitution can run on each string scalar and fail at its exact position.

This module reads (bounded, UTF-8) and parses (bounded nesting, YAML errors worded with a hint);
errors never raise: they come back as `Diagnostic`s with rule ``"yaml"``, ``"load"`` or ``"subst"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dcrsync.load.yamlvalues import TAG_MERGE, TAG_NULL, Builder, Substituter, node_location
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

Path_ = Sequence[str | int]


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
        if key_node.tag == TAG_MERGE:
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
    return isinstance(node, ScalarNode) and node.tag == TAG_NULL and node.value in ("", "~", "null")


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
            builder = Builder(file, substitute, parsed.diagnostics)
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
