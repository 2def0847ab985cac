"""Small helpers shared by the validate-stack tests (loader, lint, config, CLI)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

from dcrsync.lint import lint
from dcrsync.load.clients import LoadResult, load_clients
from dcrsync.load.envrefs import ClientEnv
from dcrsync.model import ClientSpec, Diagnostic


def write(root: Path, rel: str, text: str | bytes) -> Path:
    """Write `text` (dedented) to root/rel, creating folders."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(
    root: Path,
    text: str,
    *,
    name: str = "c.yaml",
    vars: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    client_env: Iterable[str] | None = None,
) -> LoadResult:
    """Write one client file under `root` (the working directory in tests) and load it. The file may
    read the variables `client_env` lists (by default, every one `environ` holds)."""
    write(root, name, text)
    env = ClientEnv(frozenset(client_env if client_env is not None else (environ or {})))
    return load_clients([name], vars=vars or {}, environ=environ or {}, base_dir=root, env=env)


def one_client(root: Path, text: str, **kw) -> ClientSpec:
    result = load(root, text, **kw)
    assert not result.diagnostics, [d.format() for d in result.diagnostics]
    assert len(result.clients) == 1
    return result.clients[0]


def lint_text(root: Path, text: str, **kw) -> list[Diagnostic]:
    return lint([one_client(root, text, **kw)])


def lines(diagnostics: Iterable[Diagnostic]) -> list[str]:
    """Diagnostics as the CLI prints them: FILE:LINE:COL: severity[RULE]: message."""
    return [d.format() for d in diagnostics]


def only(diagnostics: list[Diagnostic]) -> Diagnostic:
    assert len(diagnostics) == 1, lines(diagnostics)
    return diagnostics[0]


def at(d: Diagnostic) -> tuple[str, int, int]:
    return d.location.file, d.location.line, d.location.col
