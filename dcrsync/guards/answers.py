"""What a server answered, decoded: JSON of the shape the caller expects, or one line that says what
came back instead, from where, and what to do.

A broken or hostile server (a captive portal's HTML with a 200, a proxy's error page, a list where
an object belongs, JSON nested a million deep) must never crash dcrsync: every backend reads its
answers through `decode`, which refuses them as a `BadAnswer`. Pure: bytes in, values out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from dcrsync.errors import BadAnswer

#: deeper JSON than this is refused: client metadata is a few levels deep, and the code that compares,
#: fingerprints and stores values recurses
MAX_DEPTH = 64
SNIPPET = 60

_KIND = {dict: "a JSON object", list: "a JSON list", str: "a JSON string", bool: "a JSON boolean",
         int: "a JSON number", float: "a JSON number", type(None): "JSON null"}


class Answer(Protocol):
    """What `decode` reads of an httpx.Response."""

    status_code: int
    content: bytes

    @property
    def headers(self) -> Any: ...

    @property
    def request(self) -> Any: ...


def inert(text: str, limit: int = SNIPPET) -> str:
    """Server-chosen text made safe to print on one line: controls and bidi marks escaped, clipped."""
    out = []
    for ch in " ".join(text.split()):
        out.append(ch if ch.isprintable() else f"\\u{ord(ch):04x}")
    shown = "".join(out)
    return shown if len(shown) <= limit else f"{shown[:limit]}… ({len(text)} characters)"


def kind_of(value: Any) -> str:
    return _KIND.get(type(value), type(value).__name__)


def depth_over(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when `value` nests lists / objects more than `limit` deep (no recursion: a stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def loads(body: bytes, deep: bool = False) -> Any:
    """JSON from `body`; ValueError (with what was wrong) for anything else, nesting deeper than
    MAX_DEPTH included (`deep`: only as deep as the parser itself allows)."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise ValueError("bytes that are not UTF-8 text") from None
    # each level opens with a `{` or `[`: a body with fewer of them than the limit cannot nest past it
    few = body.count(b"{") + body.count(b"[") <= MAX_DEPTH if isinstance(body, bytes) else False
    if not deep and not few and isinstance(value, (dict, list)) and depth_over(value):
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def came_back(answer: Answer) -> str:
    """What an answer that is not JSON looks like, in a few words (its type and its first characters)."""
    body = answer.content or b""
    ctype = str(answer.headers.get("content-type", "") or "").split(";")[0].strip().lower()
    if not body.strip():
        return "an empty body"
    text = body[:2048].decode("utf-8", "replace")
    lowered = text.lstrip().lower()
    if "html" in ctype or lowered.startswith(("<!doctype html", "<html")):
        start = lowered.find("<title>")
        title = text[start + 7:lowered.find("</title>", start)] if start >= 0 else ""
        return f"an HTML page{f' ({inert(title)!r})' if title.strip() else ''}"
    return f"{ctype or 'a body'} starting {inert(text)!r}"


def where(answer: Answer) -> str:
    url = answer.request.url
    try:
        return str(url.copy_with(query=None))
    except AttributeError:
        return str(url)


def decode(answer: Answer, what: str, shape: type = dict, hint: str = "") -> Any:
    """The answer's JSON, which must be a `shape` (dict or list); `BadAnswer` otherwise.

    `what` names the call (`list clients`), `hint` what the user can do (default: check the URL)."""
    todo = hint or "check that the URL in dcrsync.yaml is the server's API (not a proxy or login page)"
    try:
        value = loads(answer.content)
    except ValueError as exc:
        reason = str(exc)
        if not reason.startswith(("JSON nested", "bytes")):
            reason = came_back(answer)
        raise BadAnswer(
            f"{where(answer)} answered {reason} (HTTP {answer.status_code}) to `{what}`, where JSON was "
            f"expected: {todo}"
        ) from None
    if not isinstance(value, shape):
        raise BadAnswer(
            f"{where(answer)} answered {kind_of(value)} (HTTP {answer.status_code}) to `{what}`, where "
            f"{kind_of(shape())} was expected: {todo}"
        )
    return value


@dataclass(frozen=True)
class Shape:
    """What a value of an answer must be for dcrsync to read it (null always fits: "not set")."""

    name: str
    fits: Callable[[Any], bool]
    #: null (or missing) does not fit either
    required: bool = False


TEXT = Shape("text", lambda v: isinstance(v, str))
TEXTS = Shape("a list of text", lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v))
OBJECT = Shape("an object", lambda v: isinstance(v, dict))
FLAG = Shape("true or false", lambda v: isinstance(v, bool))
OBJECTS = Shape("a list of objects", lambda v: isinstance(v, list) and all(isinstance(i, dict) for i in v))
NUMBER = Shape("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
ID = Shape("text", lambda v: isinstance(v, str) and bool(v), required=True)
TEXT_MAP = Shape("an object of text values",
                 lambda v: isinstance(v, dict) and all(isinstance(i, str) or i is None for i in v.values()))


def odd_segment(path: str) -> str | None:
    """The first segment of a URL path built from server-given ids that would not stay one segment
    (`.` or `..`, which climb; `?`, `#` or a backslash, which end the path; a space or a control
    character); None when every segment is plain. An id the server chose must never steer a call
    carrying the admin token to another endpoint."""
    for segment in path.split("/")[1:]:
        if segment in (".", "..") or any(c in "?#\\" or not c.isprintable() or c.isspace() for c in segment):
            return segment
    return None


def misfit(item: dict[str, Any], shapes: Mapping[str, Shape]) -> str | None:
    """The first key of `item` that does not have its shape, said in a few words; None when all do."""
    for key, shape in shapes.items():
        value = item.get(key)
        if (value is not None or shape.required) and not shape.fits(value):
            return f"its `{key}` is {kind_of(value)}, not {shape.name}"
    return None


def objects(
    items: list[Any], key: str, answer: Answer, what: str, shapes: Mapping[str, Shape] | None = None,
    noun: str = "client",
) -> list[dict[str, Any]]:
    """`items` when each is a JSON object with a non-empty string `key` and the `shapes` dcrsync
    reads it by; `BadAnswer` naming the first that is not."""
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadAnswer(
                f"{where(answer)} answered a list whose item {index} is {kind_of(item)}, not a {noun} "
                f"(to `{what}`): check that the URL in dcrsync.yaml is the server's API"
            )
        value = item.get(key)
        wrong = f"its `{key}` is {kind_of(value)}" if not isinstance(value, str) or not value else None
        wrong = wrong or misfit(item, shapes or {})
        if wrong:
            named = f" {inert(value)!r}" if isinstance(value, str) and value else f" (item {index})"
            raise BadAnswer(
                f"{where(answer)} answered a {noun}{named} dcrsync cannot read to `{what}`: {wrong}; the "
                "server's answer is broken (nothing was recorded from it)"
            )
    return items


def text_or_none(value: Any) -> str | None:
    """A string a server sent where text belongs; None for anything else (a list, a number, null)."""
    return value if isinstance(value, str) else None
