"""A compiled yes/no schema check for documents that pass; jsonschema still explains those that fail.

jsonschema walks the schema for every document (~150 µs a client file); fastjsonschema turns the
schema into Python code once (~0.1 s) and checks a client in ~25 µs. It only ever answers "valid":
a document it refuses is checked again by jsonschema, which finds and words the errors, so any case
where the two disagree costs time, never a wrong answer — as long as fastjsonschema never accepts
what jsonschema refuses. That holds for the keywords below, whose meaning is the same in draft 7
(what fastjsonschema implements) and 2020-12 (what the schemas are written in), with `enum` values
all text (`true == 1` in Python) and a `$ref` only alone, to `#/$defs/…` (draft 7 ignores what
stands beside a `$ref`); a schema using anything else is not compiled, and jsonschema
checks every document. `tests/test_fastcheck.py` holds the two to that, with Hypothesis.

`format` is left out: jsonschema treats it as a note (dcrsync checks no formats), fastjsonschema
would check it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: keywords whose meaning is the same in draft 7 and 2020-12 (`items` as one schema only)
CHECKED = frozenset({
    "type", "enum", "const", "pattern", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "required", "properties",
    "additionalProperties", "patternProperties", "propertyNames", "items", "not", "anyOf", "oneOf", "allOf",
    "if", "then", "else", "minProperties", "maxProperties", "$ref", "$defs",
})
#: notes: no effect on validity in jsonschema as dcrsync runs it
NOTES = frozenset({"$schema", "$id", "title", "description", "examples", "errorMessage", "format", "default",
                   "$comment"})
#: keywords whose value is a map of schemas, a list of schemas, one schema
_MAPS = frozenset({"properties", "patternProperties", "$defs"})
_LISTS = frozenset({"anyOf", "oneOf", "allOf"})
_ONE = frozenset({"additionalProperties", "propertyNames", "items", "not", "if", "then", "else"})


class Unsupported(ValueError):
    """The schema uses something this check does not compile faithfully."""


def _plain(value: Any) -> bool:
    return isinstance(value, str) or value is None


def strip(schema: Any) -> Any:
    """The schema without its notes, for fastjsonschema; Unsupported when it cannot be compiled faithfully."""
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        raise Unsupported("a schema must be a mapping or a boolean")
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in NOTES:
            continue
        if key not in CHECKED:
            raise Unsupported(f"keyword {key}")
        if key == "$ref" and (not str(value).startswith("#/$defs/") or set(schema) - NOTES != {"$ref"}):
            raise Unsupported("a $ref beside other keywords (ignored in draft 7), or not to #/$defs/")
        if key in ("enum", "const"):
            values = value if key == "enum" else [value]
            if not all(_plain(v) for v in values):
                raise Unsupported("enum or const of non-text values (true == 1 in Python)")
        if key in _MAPS:
            value = {k: strip(v) for k, v in value.items()}
        elif key in _LISTS:
            value = [strip(v) for v in value]
        elif key in _ONE:
            if key == "items" and not isinstance(value, dict | bool):
                raise Unsupported("items as a list means another thing in 2020-12")
            value = strip(value)
        out[key] = value
    return out


#: values left to jsonschema before the schema is compiled: compiling costs what jsonschema spends on
#: ~400 client files (measured with callgrind), so a small project or one document (dcrsync.yaml)
#: never pays for it, and a large one pays once
COMPILE_AFTER = 300


def _keeping() -> bool:
    from dcrsync.load.checkcache import usable

    return usable()


class FastCheck:
    """`check(value)` is True when the value surely passes the schema; False means "ask jsonschema".
    With a folder to keep compiled checks in (`load.checkcache`, `keep`), compiled (or read back) at the
    first call: a run whose inputs pass then never imports jsonschema. Without one, compiled at the call
    after the first `after`. Without fastjsonschema, or for a schema it cannot take, always False."""

    def __init__(self, schema: Any, after: int = COMPILE_AFTER, keep: bool = True) -> None:
        self.schema = schema
        self.after = after
        self.keep = keep
        self._compiled: Callable[[Any], Any] | None = None
        self._tried = False

    def _compile(self) -> Callable[[Any], Any] | None:
        self._tried = True
        try:
            definition = strip(self.schema)
        except Unsupported:
            return None
        if self.keep:
            from dcrsync.load.checkcache import compiled

            return compiled(definition)
        try:
            import fastjsonschema
        except ImportError:
            return None
        try:
            return fastjsonschema.compile(definition, use_default=False)
        except fastjsonschema.JsonSchemaDefinitionException:
            return None

    def prepare(self) -> None:
        """Compile (or read back) now, where the first call would: a forked helper then shares it."""
        if not self._tried and self.keep and _keeping():
            self._compiled = self._compile()

    def __call__(self, value: Any) -> bool:
        if not self._tried:
            if self.after > 0 and not (self.keep and _keeping()):
                self.after -= 1
                return False
            self._compiled = self._compile()
        if self._compiled is None:
            return False
        try:
            self._compiled(value)
        except Exception:  # noqa: BLE001 - any refusal (or surprise) hands the value to jsonschema
            return False
        return True
