"""JSON Schema errors as one-line diagnostics at the line:col of the node at fault."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dcrsync.families import BLOCKS
from dcrsync.load.fastcheck import FastCheck
from dcrsync.load.yamlsource import Path_
from dcrsync.model import Diagnostic, Location

if TYPE_CHECKING:  # jsonschema is imported when a value fails the compiled check (dcrsync.load.fastcheck)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError


class Locator(Protocol):
    """Where a path of the validated value is written (a Document, or a view over one)."""

    @property
    def start(self) -> Location: ...

    def loc(self, path: Path_) -> Location: ...

    def key_loc(self, path: Path_) -> Location: ...


SCHEMA_DIR = Path(__file__).parent.parent / "schemas"  # dcrsync/schemas


class ErrorSource(Protocol):
    def iter_errors(self, instance: Any) -> Iterator[ValidationError]: ...


class Checked:
    """A schema's validator: a compiled yes for values that pass (dcrsync.load.fastcheck), and jsonschema's
    Draft 2020-12 validator, imported and built when a value does not, to find and word its errors.
    A run whose files and config all pass never imports jsonschema (~50 ms)."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.passes = FastCheck(schema)
        self._full: Draft202012Validator | None = None

    @property
    def full(self) -> Draft202012Validator:
        if self._full is None:
            from jsonschema import Draft202012Validator

            self._full = Draft202012Validator(self.schema)
        return self._full

    def evolve(self, **changes: Any) -> Draft202012Validator:
        return self.full.evolve(**changes)

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        return iter(()) if self.passes(instance) else self.full.iter_errors(instance)


@cache
def validator(name: str) -> Checked:
    """The validator for `schemas/<name>.schema.json` (built once per process). A client file may carry
    the block of every registered family; one the schema does not describe (yet) is checked as a mapping."""
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    if name == "client":
        for block in BLOCKS:
            schema["properties"].setdefault(block, {"type": "object"})
    return Checked(schema)


_SCALAR = (str, int, float, bool, type(None))


def _frozen(value: Any) -> Hashable | None:
    """A hashable stand-in for a scalar or a list of scalars (types kept: `1` is not `true`)."""
    if isinstance(value, _SCALAR):
        return (type(value), value)
    if isinstance(value, list) and all(isinstance(v, _SCALAR) for v in value):
        return tuple((type(v), v) for v in value)
    return None


class MemoValidator:
    """Validates like `Draft202012Validator(schema)`, remembering each top-level property's errors.

    Thousands of client files repeat the same grant types, response types, scopes and auth
    methods; jsonschema re-derives a validator for every keyword it descends into, so checking
    those values once per distinct value makes validation ~3x faster. The top-level keywords
    (type, required, additionalProperties) run on every document with the property subschemas
    replaced by `true`. This is exact when the subschemas do not refer elsewhere ($ref) and nothing
    depends on which properties were evaluated; otherwise every document is validated in full.
    """

    MAX_ENTRIES = 100_000

    def __init__(self, full: Checked | Draft202012Validator) -> None:
        schema = full.schema
        text = json.dumps(schema)
        self.full = full
        self.exact = isinstance(schema, dict) and not any(
            word in text
            for word in ('"$ref"', '"$dynamicRef"', '"unevaluatedProperties"', '"dependentSchemas"')
        )
        self._properties: dict[str, Any] = schema.get("properties", {}) if self.exact else {}
        self._parts: tuple[Any, dict[str, Any]] | None = None  # built at the first document that fails
        self.memo: dict[tuple[str, Hashable], list[ValidationError]] = {}
        self.passes = FastCheck(schema)  # a compiled yes for documents that pass (dcrsync.load.fastcheck)

    @property
    def shell(self) -> Any:
        return self._built()[0]

    @property
    def properties(self) -> dict[str, Any]:
        return self._built()[1]

    def _built(self) -> tuple[Any, dict[str, Any]]:
        if self._parts is None:
            schema, props = self.full.schema, self._properties
            shell = self.full.evolve(schema={**schema, "properties": dict.fromkeys(props, True)})
            self._parts = (shell, {key: self.full.evolve(schema=sub) for key, sub in props.items()})
        return self._parts

    @property
    def schema(self) -> Any:
        return self.full.schema

    def _property_errors(self, key: str, value: Any) -> list[ValidationError]:
        frozen = _frozen(value)
        if frozen is not None:
            known = self.memo.get((key, frozen))
            if known is not None:
                return known
        errors = list(self.properties[key].iter_errors(value))
        for error in errors:
            error.path.appendleft(key)
            error.schema_path.extendleft((key, "properties"))
        if frozen is not None and len(self.memo) < self.MAX_ENTRIES:
            self.memo[(key, frozen)] = errors
        return errors

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        if self.passes(instance):
            return
        if not self.exact:
            yield from getattr(self.full, "full", self.full).iter_errors(instance)
            return
        yield from self.shell.iter_errors(instance)
        if isinstance(instance, dict):
            for key, value in instance.items():
                if key in self.properties:
                    yield from self._property_errors(key, value)


@cache
def client_validator() -> MemoValidator:
    """The validator for client documents (built once per process)."""
    return MemoValidator(validator("client"))


_TYPE_NAMES = {
    "string": "text",
    "array": "a list",
    "object": "a mapping",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_name(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _camel_to_snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower().replace("-", "_")


def suggest(key: str, known: Iterable[str]) -> str | None:
    """The known key the user most likely meant, if one is close enough."""
    known = list(known)
    snake = _camel_to_snake(key)
    if snake != key and snake in known:
        return snake
    for candidate in dict.fromkeys((key, snake)):
        close = difflib.get_close_matches(candidate, known, n=1, cutoff=0.75)
        if close:
            return close[0]
    return None


def unknown_key_message(key: str, parent: str, known: Iterable[str], elsewhere: Mapping[str, str]) -> str:
    where = f" in `{parent}`" if parent else ""
    if key in elsewhere:
        return f"unknown field `{key}`{where}: {elsewhere[key]}"
    guess = suggest(key, known)
    if guess:
        return f"unknown field `{key}`{where}: did you mean `{guess}`?"
    return f"unknown field `{key}`{where}: remove it, or check the spelling against the schema"


def _alternatives(error: ValidationError) -> str | None:
    """For anyOf/oneOf of enums and patterns: 'one of a, b or text matching ^urn:'."""
    options: list[str] = []
    for sub in error.context or []:
        if sub.relative_path:
            continue
        if sub.validator == "enum":
            options.extend(str(v) for v in sub.validator_value)
        elif sub.validator == "pattern":
            options.append(f"text matching `{sub.validator_value}`")
    return ", ".join(options) if options else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def describe(error: ValidationError, field: str) -> str:
    """One line for one schema error on the value at `field`."""
    v, value, instance = error.validator, error.validator_value, error.instance
    got = f" (got {short(instance)})"
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if custom and v not in ("required", "additionalProperties"):
        return f"`{field}` {custom}" + ("" if v == "not" else got)
    if v == "type":
        types = value if isinstance(value, list) else [value]
        wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in types)
        hint = ""
        if "array" in types and isinstance(instance, str):
            hint = f": write it as a list, e.g. [{short(instance)}]"
        return f"`{field}` must be {wanted}, not {_kind(instance)}{got}{hint}"
    if v == "enum":
        options = ", ".join(str(o) for o in value)
        guess = suggest(instance, [str(o) for o in value]) if isinstance(instance, str) else None
        tail = f": did you mean `{guess}`?" if guess else ""
        return f"`{field}` must be one of {options}{got}{tail}"
    if v == "const":
        return f"`{field}` must be {short(value)}{got}"
    if v in ("anyOf", "oneOf"):
        options = _alternatives(error)
        if options:
            return f"`{field}` must be one of {options}{got}"
        if error.context:
            from jsonschema.exceptions import best_match

            inner = best_match(error.context)
            return describe(inner, field_name([*error.absolute_path, *inner.relative_path]) or field)
    if v == "pattern":
        return f"`{field}` must match `{value}`{got}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": "≥", "maximum": "≤", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return f"`{field}` must be {op} {value}{got}"
    if v == "minItems":
        return f"`{field}` needs at least {_plural(value, 'item')}"
    if v == "maxItems":
        return f"`{field}` takes at most {_plural(value, 'item')}"
    if v == "minLength":
        return (
            f"`{field}` must not be empty" if value == 1 else f"`{field}` needs at least {value} characters"
        )
    if v == "maxLength":
        return f"`{field}` takes at most {value} characters"
    return f"`{field}` {error.message}"


def _required_message(missing: str, parent: str) -> str:
    if missing == "name" and not parent:
        return "missing `name`: every client needs one, its stable key in git (e.g. `name: billing-web`)"
    where = f" in `{parent}`" if parent else ""
    return f"missing required field `{missing}`{where}: add it"


def _diagnostics_for(
    error: ValidationError, doc: Locator, rule: str, elsewhere: Mapping[str, Mapping[str, str]]
) -> Iterator[Diagnostic]:
    path = tuple(error.absolute_path)
    parent = field_name(path)
    v = error.validator
    if v == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        for key in error.instance:
            if key in known or any(p.search(key) for p in patterns):
                continue
            hints = elsewhere.get(parent, {})
            yield _diag(doc.key_loc((*path, key)), rule, unknown_key_message(key, parent, known, hints))
        return
    if v == "required" and isinstance(error.instance, dict):
        for missing in error.validator_value:
            if missing not in error.instance:
                at = doc.key_loc(path) if path else doc.start
                yield _diag(at, rule, _required_message(missing, parent))
        return
    if "propertyNames" in error.schema_path:
        custom = error.schema.get("errorMessage") or f"must match `{error.validator_value}`"
        message = f"key `{error.instance}` in `{parent}` {custom}"
        yield _diag(doc.key_loc((*path, str(error.instance))), rule, message)
        return
    if v == "not" or v is None:  # a forbidden field: point at its key
        yield _diag(doc.key_loc(path), rule, describe(error, parent))
        return
    if v == "uniqueItems" and isinstance(error.instance, list):
        seen: list[Any] = []
        for i, item in enumerate(error.instance):
            if item in seen:
                message = f"`{parent}` lists {short(item)} twice: remove one"
                yield _diag(doc.loc((*path, i)), rule, message)
                return
            seen.append(item)
    yield _diag(doc.loc(path), rule, describe(error, parent or "document"))


def _diag(location: Location, rule: str, message: str) -> Diagnostic:
    return Diagnostic(location, "error", rule, message)


def schema_diagnostics(
    check: ErrorSource,
    doc: Locator,
    value: Any = None,
    *,
    rule: str = "schema",
    elsewhere: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Diagnostic]:
    """Every schema error of `value` (default: the document's value), located in `doc`, deduplicated.

    `elsewhere` maps a parent field ("" for the top) to keys that are unknown there but belong
    somewhere else (``{"": {"audience": "move it under `hydra:`"}}``), for better "did you mean" hints.
    """
    instance = value if value is not None else getattr(doc, "value", None)
    out: dict[tuple[Location, str], Diagnostic] = {}
    for error in check.iter_errors(instance):
        for diag in _diagnostics_for(error, doc, rule, elsewhere or {}):
            out.setdefault((diag.location, diag.message), diag)
    return sorted(out.values(), key=lambda d: d.location)
