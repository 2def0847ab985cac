"""Values client files read from the environment: registered when read, never printed.

Plans show such a field as `(from env:NAME)` by its path; this registry covers the free text around
it: a lint or schema message, a plan warning, an error from the server that quotes what it was
sent. Every line dcrsync prints goes through `guards.inert`, which calls `mask`. Values shorter than
`MIN_CHARS` are not searched for (they would blank out unrelated text); their fields are still
hidden by path.
"""

from __future__ import annotations

MIN_CHARS = 3
#: (value, variable name), longest value first; replaced whole on each registration, so a reader
#: in another thread always sees a complete tuple
_pairs: tuple[tuple[str, str], ...] = ()


def register(value: str, name: str) -> None:
    global _pairs
    if len(value) >= MIN_CHARS and all(value != v for v, _ in _pairs):
        _pairs = tuple(sorted((*_pairs, (value, name)), key=lambda p: -len(p[0])))


def mask(text: str) -> str:
    """`text` with every registered value replaced by `(from env:NAME)`, longest first."""
    for value, name in _pairs:
        if value in text:
            text = text.replace(value, f"(from env:{name})")
    return text


def clear() -> None:
    """Forget every value (a new project loaded in the same process, tests)."""
    global _pairs
    _pairs = ()
