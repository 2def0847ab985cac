"""Which files are client files: a folder (every ``*.yaml`` / ``*.yml`` below, hidden ones skipped), a
file or a glob, relative to the base folder; each file once, named as the user would type it."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from dcrsync.model import Diagnostic, Location

YAML_SUFFIXES = (".yaml", ".yml")
_GLOB_CHARS = frozenset("*?[")


def _shown(path: str, cwd: str) -> str:
    """A path as the user would type it: relative to the working directory when below it."""
    full = os.path.normpath(os.path.join(cwd, path))
    if full == cwd:
        return "."
    prefix = cwd.rstrip(os.sep) + os.sep
    return full[len(prefix) :] if full.startswith(prefix) else full


def _walk(folder: str) -> list[str]:
    """Every YAML file below `folder`, as paths relative to it, sorted; hidden entries skipped."""
    found: list[str] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(root, folder)
        for name in names:
            if name.endswith(YAML_SUFFIXES) and not name.startswith("."):
                found.append(name if rel == "." else os.path.join(rel, name))
    found.sort()
    return found


def expand(spec: str, base: str) -> list[str] | None:
    """Absolute paths of the YAML files `spec` names (a folder, file or glob), None if nothing."""
    full = os.path.join(base, spec)
    if _GLOB_CHARS.intersection(spec):
        # root_dir keeps glob characters in `base` itself literal
        matches = sorted(os.path.join(base, m) for m in glob.glob(spec, root_dir=base, recursive=True))
        files: list[str] = []
        for match in matches:
            if os.path.isdir(match):
                files.extend(os.path.join(match, f) for f in _walk(match))
            elif match.endswith(YAML_SUFFIXES):
                files.append(match)
        return files or None
    if os.path.isdir(full):
        return [os.path.join(full, f) for f in _walk(full)] or None
    if os.path.exists(full):
        return [full]
    return None


def _no_match(spec: str, base: str) -> str:
    full = os.path.join(base, spec)
    if os.path.isdir(full):
        return f"no *.yaml or *.yml file below `{spec}`: add client files or fix the path"
    if _GLOB_CHARS.intersection(spec):
        return f"no YAML file matches `{spec}`: fix the pattern"
    return f"`{spec}` does not exist: fix the path"


def client_files(
    paths: Sequence[str | Path], base: str, cwd: str, out: list[Diagnostic]
) -> Iterator[tuple[str, str]]:
    """(absolute path, shown name) of every file, each once, in the order given."""
    seen: set[str] = set()
    for spec in paths:
        spec = os.fspath(spec)
        found = expand(spec, base)
        if found is None:
            shown = _shown(os.path.join(base, spec), cwd)
            out.append(Diagnostic(Location(shown, 0, 0), "error", "load", _no_match(spec, base)))
            continue
        for full in found:
            if full not in seen:
                seen.add(full)
                yield full, _shown(full, cwd)
