"""dcrsync.yaml as a document: read (one YAML mapping), the chosen environment merged over the base with
every merged value traced back to where it is written, and every string substituted. Each problem is
a ConfigError at its ``FILE:LINE:COL:`` (a misspelt key said once, with its "did you mean")."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dcrsync.errors import ConfigError
from dcrsync.load.schemacheck import suggest
from dcrsync.load.substitute import SubstitutionError
from dcrsync.load.yamlsource import Document, load_file
from dcrsync.model import Diagnostic, Location

PathKey = tuple[str | int, ...]


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


_MISSING = re.compile(r"missing required field `([^`]+)`(?: in `([^`]+)`)?")
_TYPO = re.compile(r"unknown field `[^`]+`(?: in `([^`]+)`)?: did you mean `([^`]+)`\?")


def _without_typo_echoes(errors: list[Diagnostic]) -> list[Diagnostic]:
    """A misspelt key (`admin_ulr`) is also a missing one (`admin_url`): keep only the error that
    names the misspelling, at its line, with its "did you mean"."""
    meant = {(m[1] or "", m[2]) for d in errors if (m := _TYPO.match(d.message))}
    if not meant:
        return errors
    return [d for d in errors if not ((m := _MISSING.match(d.message)) and (m[2] or "", m[1]) in meant)]


def config_error(diagnostics: list[Diagnostic]) -> ConfigError:
    errors = sorted((d for d in diagnostics if d.severity == "error"), key=lambda d: d.location)
    errors = _without_typo_echoes(errors)
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    where = str(first.location) if first.location.line else first.location.file
    return ConfigError(f"{where}: {first.message}{more}")


def read_document(path: Path) -> Document:
    shown = _shown(path)
    parsed = load_file(path, shown)
    if parsed.diagnostics:
        raise config_error(parsed.diagnostics)
    if not parsed.documents:
        raise ConfigError(f"{shown}: the file is empty: it needs at least a `server:` block")
    if len(parsed.documents) > 1:
        extra = parsed.documents[1].start
        raise ConfigError(
            f"{extra}: dcrsync.yaml holds one YAML document: remove this `---` and what follows"
        )
    doc = parsed.documents[0]
    if not isinstance(doc.value, dict):
        raise ConfigError(f"{doc.start}: dcrsync.yaml must be a mapping (`clients: …`, `server: …`)")
    return doc


def _merge(base: Any, overlay: Any, at: PathKey, over_at: PathKey, origins: dict[PathKey, PathKey]) -> Any:
    """Deep merge: mappings key by key, anything else replaced. `origins` records, for each merged
    path the overlay wrote, the path it came from in the file."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = _merge(base.get(key), value, (*at, key), (*over_at, key), origins)
        return out
    origins[at] = over_at
    return overlay


def with_environment(
    raw: dict[str, Any], env_name: str | None, where: Location
) -> tuple[dict[str, Any], dict[PathKey, PathKey]]:
    """The document with environment `env_name` merged in, and where each overlaid value came from."""
    base = {k: v for k, v in raw.items() if k != "environments"}
    origins: dict[PathKey, PathKey] = {}
    if env_name is None:
        return base, origins
    envs = raw.get("environments") or {}
    if env_name not in envs:
        known = ", ".join(sorted(envs)) or "none"
        guess = suggest(env_name, envs)
        hint = f" (did you mean `{guess}`?)" if guess else ""
        raise ConfigError(f"{where}: unknown environment `{env_name}`{hint}: dcrsync.yaml defines {known}")
    overlay = dict(envs[env_name] or {})
    over_server = overlay.get("server")
    base_kind = base["server"].get("kind")
    if isinstance(over_server, dict) and over_server.get("kind", base_kind) != base_kind:
        base = {**base, "server": None}  # another server family: its fields do not mix with the base's
    merged = _merge(base, overlay, (), ("environments", env_name), origins)
    return merged, origins


def origin_of(path: PathKey, origins: Mapping[PathKey, PathKey]) -> PathKey:
    """Where in the file the merged value at `path` was written."""
    for n in range(len(path), -1, -1):
        if path[:n] in origins:
            return (*origins[path[:n]], *path[n:])
    return path


def substitute_all(
    value: Any,
    path: PathKey,
    resolve: Callable[[PathKey, str], str],
    locate: Callable[[PathKey], Location],
) -> Any:
    """`value` with every string resolved; a bad reference is a ConfigError at its line:col."""
    if isinstance(value, str):
        try:
            return resolve(path, value)
        except SubstitutionError as exc:
            raise ConfigError(f"{locate(path)}: {exc}") from None
    if isinstance(value, dict):
        return {k: substitute_all(v, (*path, k), resolve, locate) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_all(v, (*path, i), resolve, locate) for i, v in enumerate(value)]
    return value


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def environments_at(doc: Document, env_name: str | None) -> Location:
    """Where `environments:` is written; `require_env: true` refuses a command run without `--env`
    (which would use the base block)."""
    if env_name is None and doc.value.get("require_env") is True:
        known = ", ".join(sorted(doc.value.get("environments") or {})) or "none defined"
        raise ConfigError(
            f"{doc.key_loc(('require_env',))}: this project says `require_env: true`: "
            f"pass --env NAME (one of: {known})"
        )
    return doc.key_loc(("environments",)) if "environments" in doc.value else doc.start


class MergedView:
    """Locates paths of the merged config in the file: overlaid values at their overlay's line."""

    def __init__(self, doc: Document, origins: Mapping[PathKey, PathKey]) -> None:
        self.doc = doc
        self.origins = origins

    @property
    def start(self) -> Location:
        return self.doc.start

    def loc(self, path: PathKey) -> Location:
        return self.doc.loc(origin_of(tuple(path), self.origins))

    def key_loc(self, path: PathKey) -> Location:
        return self.doc.key_loc(origin_of(tuple(path), self.origins))
