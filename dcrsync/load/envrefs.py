"""Which environment variables client files may read, and what is shown of a value they read.

A pull request's plan runs with the admin token (and the store's keys) in its environment, and every
client field ends up in the plan, the saved plan and the pull-request comment. So a client file may
read only the variables `dcrsync.yaml` lists under `client_env:`, and never one its `server:` or
`state:` block uses (in any environment, directly or through a `${var:…}`); a `${var:x}` defined
from `${env:X}` counts as reading X. Every other reference is an error at its `file:line:col`.

A value read this way is a `substitute.EnvStr`: it knows the variables it came from and its text as a
template (`${env:X}` kept). Plans show such a field as `(from env:X)`, a saved plan carries the
template and never the value, and the value itself is registered with `masking` so that no message
prints it either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dcrsync.errors import ConfigError
from dcrsync.guards import masking

#: `${env:X}` and `${var:x}` in a text as written (`$${` is a literal and reads nothing)
_REFERENCE = re.compile(r"\$\$\{|\$\{(env|var):([A-Za-z_][A-Za-z0-9_-]*)\}")
#: the blocks whose variables are credentials or their addresses: never readable by client files
CREDENTIAL_BLOCKS = ("server", "state")


@dataclass(frozen=True)
class ClientEnv:
    """What client files may read from the environment (`Config.client_env`)."""

    #: variables `client_env:` lists
    allowed: frozenset[str] = frozenset()
    #: variable -> the dcrsync.yaml block that uses it (`server` or `state`): never readable
    forbidden: Mapping[str, str] = field(default_factory=dict)
    #: var -> the environment variables its definition reads (only vars that read one)
    var_env: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: var -> its definition as written (`${env:X}` kept), for vars that read the environment
    var_templates: Mapping[str, str] = field(default_factory=dict)

    def refusal(self, name: str, ref: str) -> str | None:
        """Why a client file may not read `name` (written as `ref`), or None when it may."""
        block = self.forbidden.get(name)
        if block is not None:
            return (
                f"{ref} reads `{name}`, which dcrsync.yaml's `{block}:` block uses: client files may never "
                "read a variable that holds or addresses a credential"
            )
        if name not in self.allowed:
            return (
                f"{ref} reads `{name}`, which dcrsync.yaml does not list for client files: add it under "
                "`client_env:` if this file may read it"
            )
        return None


def strings(value: Any) -> Iterator[str]:
    """Every string inside `value` (a string, or lists and mappings of values), in order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def references(value: Any) -> Iterator[tuple[str, str]]:
    """Every (`env`|`var`, name) referenced in the strings of `value`, as written."""
    for text in strings(value):
        if "${" in text:
            for m in _REFERENCE.finditer(text):
                if m.group(1):
                    yield m.group(1), m.group(2)


def _env_of(value: Any, var_env: Mapping[str, set[str]]) -> set[str]:
    """Environment variables `value` reads, directly or through vars."""
    out: set[str] = set()
    for kind, name in references(value):
        out |= {name} if kind == "env" else var_env.get(name, set())
    return out


def _layers(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The base document and each environment overlay."""
    envs = raw.get("environments") or {}
    return [raw, *(e for e in envs.values() if isinstance(e, dict))]


def client_env(raw: dict[str, Any], merged: dict[str, Any], locate: Any) -> ClientEnv:
    """The ClientEnv of one dcrsync.yaml (`raw` as written, `merged` with the chosen environment);
    a listed variable that a `server:` or `state:` block uses is a ConfigError at its line."""
    all_vars: dict[str, set[str]] = {}
    for layer in _layers(raw):
        for name, definition in (layer.get("vars") or {}).items():
            all_vars.setdefault(name, set()).update(n for k, n in references(definition) if k == "env")
    forbidden: dict[str, str] = {}
    for layer in _layers(raw):
        for block in CREDENTIAL_BLOCKS:
            for name in sorted(_env_of(layer.get(block), all_vars)):
                forbidden.setdefault(name, block)
    listed = list(merged.get("client_env") or [])
    for i, name in enumerate(listed):
        if name in forbidden:
            raise ConfigError(
                f"{locate(('client_env', i))}: `{name}` is used by the `{forbidden[name]}:` block: client files "
                "may never read it; remove it from client_env"
            )
    chosen = {k: str(v) for k, v in (merged.get("vars") or {}).items()}
    var_env = {k: tuple(sorted(_env_of(v, {}))) for k, v in chosen.items()}
    var_env = {k: v for k, v in var_env.items() if v}
    return ClientEnv(frozenset(listed), forbidden, var_env, {k: chosen[k] for k in var_env})


def where_env(value: Any) -> tuple[str, ...]:
    """The environment variables the strings inside `value` were read from (sorted; () for none)."""
    names: set[str] = set()
    _collect(value, names)
    return tuple(sorted(names))


def _collect(value: Any, names: set[str]) -> None:
    if isinstance(value, str):
        names.update(getattr(value, "names", ()))
    elif isinstance(value, dict):
        for v in value.values():
            _collect(v, names)
    elif isinstance(value, list):
        for v in value:
            _collect(v, names)


def template(value: Any) -> Any:
    """`value` with every string read from the environment as its template (`${env:X}` kept)."""
    if isinstance(value, str):
        return getattr(value, "template", value)
    if isinstance(value, dict):
        return {k: template(v) for k, v in value.items()}
    if isinstance(value, list):
        return [template(v) for v in value]
    return value


def env_values(value: Any) -> Iterator[tuple[str, str]]:
    """(the value of a variable, its name) for every variable the strings inside `value` read."""
    for text in strings(value):
        yield from getattr(text, "parts", ())


def shown(names: tuple[str, ...] | list[str]) -> str:
    """How a plan shows a value read from the environment: `(from env:X)`."""
    if not names:
        return "(from the environment)"
    return "(from " + ", ".join(f"env:{n}" for n in names) + ")"


#: how a plan shows the server's value of a field whose declared value is read from the environment
NOT_SHOWN = "(not shown: the field is read from the environment)"


def mark(spec: Any) -> str | None:
    """Note which of the spec's fields were read from the environment (`env_refs`, `env_templates`)
    and register the values read, never to be printed. `name` and `client_id`, which every plan and
    the state show, may not be read from it: what is wrong then, else None."""
    for key, value in (("name", spec.name), ("client_id", spec.client_id)):
        if where_env(value):
            return f"`{key}` cannot be read from the environment: every plan and the state show it"
    payload = {**spec.fields, **spec.blocks}
    for value, name in env_values(payload):
        masking.register(value, name)
    spec.env_refs = {p: names for p, v in spec.declared().items() if (names := where_env(v))}
    spec.env_templates = {k: template(v) for k, v in payload.items() if where_env(v)}
    return None


def hide(spec: Any, changes: list[Any], drift: bool = False) -> list[Any]:
    """Field changes of `spec` with every value read from the environment shown as `(from env:X)`
    and the server's value of such a field not at all: what a plan and a saved plan hold. For drift
    (`before` is what was applied, `after` the server's value now), the other way round."""
    return hide_refs(spec.env_refs if spec is not None else {}, changes, drift)


def hide_refs(env_refs: Mapping[str, Any], changes: list[Any], drift: bool = False) -> list[Any]:
    """`hide`, for the paths `env_refs` names (path -> the variables its value was read from)."""
    if not env_refs:
        return changes
    for f in changes:
        names = env_refs.get(f.path)
        if names is None:
            continue
        ours, theirs = (f.before, f.after) if drift else (f.after, f.before)
        ours = None if ours is None else shown(names)
        theirs = None if theirs is None else NOT_SHOWN
        f.before, f.after = (ours, theirs) if drift else (theirs, ours)
        f.items_added = f.items_removed = f.nested = None
    return changes


def attach(changes: list[Any], specs: Any) -> None:
    """Each change of a client some of whose fields were read from the environment says which
    top-level keys of its `desired` are templates, and of which variables (`Change.env`)."""
    by_name = {s.name: s for s in specs if s.env_templates}
    for change in changes:
        spec = by_name.get(change.name)
        if spec is not None and change.desired is not None:
            change.env = {k: list(where_env_template(v)) for k, v in spec.env_templates.items()}


def where_env_template(value: Any) -> tuple[str, ...]:
    """The variables a template (`${env:X}` kept) reads."""
    return tuple(sorted({name for kind, name in references(value) if kind == "env"}))
