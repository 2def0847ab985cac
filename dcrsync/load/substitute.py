"""`${env:NAME}` and `${var:name}` in string values; `$${` writes a literal `${`.

A var may hold a list or a map: a value that is exactly one reference to it (`redirect_uris:
${var:callbacks}`) becomes that list or map; `${var:name.key}` (or `.0` for a list item) picks one
value out of it, also inside text.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dcrsync.load.envrefs import ClientEnv

_OPEN = re.compile(r"\$\$\{|\$\{")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*\Z")
_WHOLE_VAR = re.compile(r"\$\{var:([^}]*)\}\Z")

_LITERAL = "write `$${` for a literal `${`"


class SubstitutionError(ValueError):
    """One line: which reference is wrong and how to fix it."""


def _did_you_mean(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.7)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _resolve(
    body: str,
    vars: Mapping[str, Any],
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
        value = lookup(name, vars)
        if isinstance(value, (list, dict)):
            kind = "a list" if isinstance(value, list) else "a map"
            pick = f"${{var:{name}.0}}" if isinstance(value, list) else f"${{var:{name}.KEY}}"
            raise SubstitutionError(
                f"`{name}` is {kind}: use `${{var:{name}}}` as the whole value, or one item of it as `{pick}`"
            )
        return text_of(value)
    raise SubstitutionError(
        f"`${{{body}}}` is not a valid reference: write `${{env:NAME}}` or `${{var:name}}`, or {_LITERAL}"
    )


def text_of(value: Any) -> str:
    """A scalar var as text: YAML's `true`, not Python's `True`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lookup(name: str, vars: Mapping[str, Any]) -> Any:
    """The var `name` (`a.b.0` walks maps by key and lists by index)."""
    head, *rest = name.split(".")
    if head not in vars:
        raise SubstitutionError(
            f"variable `{head}` is not defined (used as `${{var:{name}}}`){_did_you_mean(head, vars)}: "
            "define it under `vars:` in dcrsync.yaml (or the chosen environment)"
        )
    value, walked = vars[head], head
    for part in rest:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            what = f"has no key `{part}`" if isinstance(value, dict) else (
                f"has no item {part}" if isinstance(value, list) else "is not a list or map")
            raise SubstitutionError(f"variable `{walked}` {what} (used as `${{var:{name}}}`): fix the reference or the var")
        walked = f"{walked}.{part}"
    return value


def substitute(
    text: str,
    vars: Mapping[str, Any],
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
    vars: Mapping[str, Any], environ: Mapping[str, str], *, keep_undefined_env: bool = False
) -> Callable[[str], Any]:
    """A one-argument `substitute` bound to these vars and this environment; a value that is exactly
    one reference to a list or map var becomes a copy of it."""

    def run(text: str) -> Any:
        whole = _WHOLE_VAR.match(text)
        if whole and _VAR_NAME.match(whole.group(1)):
            value = lookup(whole.group(1), vars)
            if isinstance(value, (list, dict)):
                return copy.deepcopy(value)
        return substitute(text, vars, environ, keep_undefined_env=keep_undefined_env)

    return run


class EnvStr(str):
    """A string a client file took (in whole or in part) from the environment.

    `names`: the variables it read; `template`: its text with those references kept (`${env:X}`),
    which a saved plan carries instead of the value; `parts`: (value, name) of each variable read,
    so that no message prints them."""

    names: tuple[str, ...]
    template: str
    parts: tuple[tuple[str, str], ...]

    def __new__(cls, value: str, names: tuple[str, ...], template: str, parts: tuple[tuple[str, str], ...]) -> EnvStr:
        obj = super().__new__(cls, value)
        obj.names, obj.template, obj.parts = names, template, parts
        return obj

    def __getnewargs__(self) -> tuple[str, tuple[str, ...], str, tuple[tuple[str, str], ...]]:  # type: ignore[override]
        return str(self), self.names, self.template, self.parts


def client_substituter(vars: Mapping[str, Any], environ: Mapping[str, str], env: ClientEnv) -> Callable[[str], Any]:
    """`substitute` for client files: a variable `env` does not allow is a SubstitutionError, and a
    string that reads the environment comes back as an EnvStr."""

    def run(text: str) -> Any:
        if "${" not in text:
            return text
        whole = _WHOLE_VAR.match(text)
        if whole and _VAR_NAME.match(whole.group(1)):
            value = lookup(whole.group(1), vars)
            if isinstance(value, (list, dict)):
                _not_from_env(whole.group(1), env)
                return copy.deepcopy(value)
        parts: list[tuple[str, str]] = []
        template = _template(text, lambda kind, name: _piece(kind, name, vars, env, parts))
        value = substitute(text, vars, environ)  # every reference read is allowed: now read them
        if not parts:
            return value
        read = tuple((environ[name], name) for _, name in parts)
        if substitute(template, {}, environ, allow_vars=False) != value:
            raise SubstitutionError("a `$` right before `${env:…}` cannot be kept as a reference in a saved plan: separate them")
        return EnvStr(value, tuple(sorted({n for _, n in read})), template, read)

    return run


def _template(text: str, piece: Callable[[str, str], str]) -> str:
    """`text` with each reference replaced by `piece(kind, name)` (literals `$${` kept as written)."""
    pieces: list[str] = []
    pos = 0
    for match in _OPEN.finditer(text):
        if match.start() < pos:
            continue
        pieces.append(text[pos : match.start()])
        pos = match.end()
        end = text.find("}", match.end())
        if match.group() == "$${" or end < 0:
            pieces.append(match.group())
            continue
        kind, _, name = text[match.end() : end].partition(":")
        pieces.append(piece(kind, name))
        pos = end + 1
    pieces.append(text[pos:])
    return "".join(pieces)


def _piece(kind: str, name: str, vars: Mapping[str, Any], env: ClientEnv, parts: list[tuple[str, str]]) -> str:
    """The template of one reference, after checking that it may be read (each variable read is
    added to `parts`)."""

    def check(var: str, ref: str) -> None:
        problem = env.refusal(var, ref)
        if problem is not None:
            raise SubstitutionError(problem)

    if kind == "env" and _ENV_NAME.match(name):
        check(name, f"`${{env:{name}}}`")
        parts.append(("env", name))
        return "${env:" + name + "}"
    if kind == "var" and name in env.var_env and isinstance(vars.get(name), str):
        for var_name in env.var_env[name]:
            check(var_name, f"`${{var:{name}}}` (defined from `${{env:{var_name}}}` in dcrsync.yaml)")
            parts.append(("var", var_name))
        return env.var_templates[name]
    if kind == "var" and _VAR_NAME.match(name) and name.split(".")[0] in vars:
        _not_from_env(name, env)
        value = lookup(name, vars)
        if not isinstance(value, (list, dict)):  # else substitute says how to use a list or map
            return text_of(value).replace("${", "$${")
    return "${" + kind + ":" + name + "}"  # substitute says what is wrong with it


def _not_from_env(name: str, env: ClientEnv) -> None:
    head = name.split(".")[0]
    if head in env.var_env:
        raise SubstitutionError(
            f"`${{var:{name}}}`: the list or map var `{head}` is defined from the environment, which a "
            "client file can read only as text: write `${env:NAME}` where the value is needed instead"
        )
