"""Text that came from outside (a server, a plan file, a branch's YAML) made inert where it is shown.

A server chooses client_ids, names, error descriptions and every value it returns. Printed raw, an
escape sequence would colour a reviewer's terminal, set its title or write its clipboard (OSC 52), a
newline would forge a plan line, a bidi override would reorder what is read, and in a pull-request
comment a backtick, a bracket or an `@` would open a code span, a link or a mention. This module is
the one place that makes such text harmless; every renderer goes through it:

- `visible`: a string with every control character (C0, DEL, C1), bidi and other invisible format
  character, line or paragraph separator and lone surrogate replaced by a visible stand-in (`␛`,
  `␊`, `<U+202E>`), clipped with its length past `MAX_CHARS`, and without any value a client file
  read from the environment (`masking`).
- `data`: the same for every string inside a plan, drift report, findings or state (a copy; the
  object itself is untouched): renderers of text then add their own colours and newlines only.
- `md` and `code`: a string for a Markdown body, every character Markdown or HTML could read
  written as an HTML character reference (`&#96;` for a backtick), so nothing in it is markup, a
  link, a mention or an issue reference (an `@` or `#` also gets a word joiner after it: GitHub
  finds mentions, e-mail links and issue references in decoded text); `code` puts it in `<code>`.
- `json_text`: JSON text with the same characters written as `\\uXXXX` escapes (the values unchanged).

Pure (strings in, strings out), but for `masking`: the values client files read from the environment.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from typing import Any

from dcrsync.guards import masking

#: a string longer than this is shown clipped, with its length
MAX_CHARS = 2000
#: a whole line printed by the CLI (an error, a warning, a progress line) may be longer
LINE_CHARS = 8000

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
#: format characters that are part of ordinary text (emoji sequences): kept
_KEPT = frozenset({"\u200d"})
#: what Markdown (GitHub's) or HTML would read: code spans, emphasis, links, images, HTML and
#: autolinks, entities, tables, escapes, math, mentions, issue references, `scheme:` and `www.`
#: autolinks; an `_` between two letters or digits is never emphasis and is left as it is
_SYNTAX = re.compile(r"[\\`*~\[\]<>&|$@#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|:(?=//)|(?<=[wW]{3})\.")


def unsafe(ch: str) -> bool:
    """A character a terminal or a browser would act on or hide rather than show."""
    return ch not in _KEPT and unicodedata.category(ch) in _UNSAFE_CATEGORIES


def _stand_in(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures: ␀ … ␛ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def visible(text: str, limit: int = MAX_CHARS) -> str:
    """`text` with nothing a terminal would interpret, clipped to `limit` characters with its length,
    and no value a client file read from the environment (`masking`)."""
    text = masking.mask(text)
    if not text.isprintable():  # every character `unsafe` finds is one Python calls unprintable
        text = "".join(_stand_in(ch) if unsafe(ch) else ch for ch in text)
    if len(text) > limit:
        return f"{text[:limit]}… ({len(text)} characters)"
    return text


def line(text: str) -> str:
    """One line the CLI prints (an error, a warning): inert, and never more than one line."""
    return visible(text, LINE_CHARS)


def lines(text: str, prefix: str) -> str:
    """A message of one or more lines (one per problem), each line inert and starting with `prefix`:
    a newline a server put in its words then starts a line that says it is part of this message,
    never one that passes for a plan line."""
    return "\n".join(prefix + line(part) for part in text.split("\n"))


def data(value: Any) -> Any:
    """A copy of `value` (dataclasses, named tuples, dicts, lists, sets) with every string `visible`."""
    if type(value) in _ATOMS:  # most leaves of a plan: nothing inside to make visible
        return value
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {data(k): data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [data(v) for v in value]
    if isinstance(value, tuple):
        items = [data(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, set | frozenset):
        return type(value)(data(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _dataclass(value)
    return value


#: values with no string inside (the common leaves of a plan), returned as they are
_ATOMS = frozenset({int, float, bool, type(None)})


def _dataclass(value: Any) -> Any:
    init, later = _fields(type(value))
    copy = type(value)(**{name: data(getattr(value, name)) for name in init})
    for name in later:
        object.__setattr__(copy, name, getattr(value, name))
    return copy


@functools.cache
def _fields(kind: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names of a dataclass's fields set by its __init__, and of the others."""
    every = dataclasses.fields(kind)
    return tuple(f.name for f in every if f.init), tuple(f.name for f in every if not f.init)


def _reference(match: re.Match[str]) -> str:
    char = match.group()
    if char in "@#":  # GitHub finds mentions, e-mail links and issue references in the decoded text:
        return f"&#{ord(char)};&#8288;"  # a word joiner after the sign breaks each
    return f"&#{ord(char)};"


def md(text: str, limit: int = MAX_CHARS) -> str:
    """`text` for a Markdown body: visible, on one line, with no character Markdown or HTML reads."""
    return _SYNTAX.sub(_reference, visible(text, limit))


def code(text: str, limit: int = MAX_CHARS) -> str:
    """`text` as inline code in a Markdown body (ids, names, paths, values)."""
    return f"<code>{md(text, limit)}</code>"


def json_text(text: str) -> str:
    """JSON text with every `unsafe` character escaped (`\\u202e`); the values it holds are unchanged."""
    if text.isprintable() or all(not unsafe(ch) for ch in text if ch != "\n"):
        return text
    return "".join(_json_escape(ch) if ch != "\n" and unsafe(ch) else ch for ch in text)


def _json_escape(ch: str) -> str:
    code_point = ord(ch)
    if code_point <= 0xFFFF:
        return f"\\u{code_point:04x}"
    high, low = divmod(code_point - 0x10000, 0x400)
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"
