"""`${env:NAME}` and `${var:name}` in string values; `$${` writes a literal `${`."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping

_OPEN = re.compile(r"\$\$\{|\$\{")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")

_LITERAL = "write `$${` for a literal `${`"


class SubstitutionError(ValueError):
    """One line: which reference is wrong and how to fix it."""


def _did_you_mean(name: str, known: Mapping[str, str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.7)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _resolve(
    body: str,
    vars: Mapping[str, str],
    environ: Mapping[str, str],
    allow_vars: bool,
    keep_undefined_env: bool,
) -> str:
    kind, sep, name = body.partition(":")
    if kind == "env" and sep and _ENV_NAME.match(name):
        if name in environ:
            return environ[name]
        if keep_undefined_env:
            return "${" + body + "}"
        raise SubstitutionError(
            f"environment variable `{name}` is not set (used as `${{env:{name}}}`): "
            f"set it before running dcrsync, or {_LITERAL}"
        )
    if kind == "var" and sep and _VAR_NAME.match(name):
        if not allow_vars:
            raise SubstitutionError(
                f"`${{var:{name}}}` cannot be used here: vars may use `${{env:NAME}}` only"
            )
        if name in vars:
            return vars[name]
        raise SubstitutionError(
            f"variable `{name}` is not defined (used as `${{var:{name}}}`){_did_you_mean(name, vars)}: "
            "define it under `vars:` in dcrsync.yaml (or the chosen environment)"
        )
    raise SubstitutionError(
        f"`${{{body}}}` is not a valid reference: write `${{env:NAME}}` or `${{var:name}}`, or {_LITERAL}"
    )


def substitute(
    text: str,
    vars: Mapping[str, str],
    environ: Mapping[str, str],
    *,
    allow_vars: bool = True,
    keep_undefined_env: bool = False,
) -> str:
    """`text` with every reference replaced. Raises SubstitutionError for the first bad one.

    `keep_undefined_env` leaves `${env:X}` as written when X is unset (for commands that do not
    need the value, such as `validate` reading the server block).
    """
    if "${" not in text:
        return text
    out: list[str] = []
    pos = 0
    while True:
        match = _OPEN.search(text, pos)
        if match is None:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos : match.start()])
        if match.group() == "$${":
            out.append("${")
            pos = match.end()
            continue
        end = text.find("}", match.end())
        if end < 0:
            raise SubstitutionError(f"`${{` is not closed with `}}`: close it, or {_LITERAL}")
        out.append(_resolve(text[match.end() : end], vars, environ, allow_vars, keep_undefined_env))
        pos = end + 1


def substituter(
    vars: Mapping[str, str], environ: Mapping[str, str], *, keep_undefined_env: bool = False
) -> Callable[[str], str]:
    """A one-argument `substitute` bound to these vars and this environment."""

    def run(text: str) -> str:
        return substitute(text, vars, environ, keep_undefined_env=keep_undefined_env)

    return run
