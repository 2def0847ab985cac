"""The client files `import` and `export` write: one for each adopted client that has none (named
uniquely, never over a file that is there), each checked by the schema and lint before anything
touches the server, a file that fails kept for the user to fix; and what a folder declares already."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dcrsync.backends.base import Backend
from dcrsync.load.clients import LoadResult, load_clients
from dcrsync.load.export import document_for, dump, unique_names
from dcrsync.project.clients import add_lint
from dcrsync.project.opening import Project

if TYPE_CHECKING:
    from dcrsync.apply.adopt import Candidate


def check_files(project: Project, paths: list[Path]) -> LoadResult:
    """Schema and lint for files import or export just wrote, as `dcrsync validate` checks them."""
    loaded = load_clients(paths, vars=project.config.vars, base_dir=project.config.base_dir, env=project.config.client_env)
    add_lint(loaded, project.config)  # for the server's family, with the project's ignores
    loaded.sort()
    return loaded


def write_files(project: Project, backend: Backend, todo: list[Candidate], taken: set[str]) -> list[str]:
    """Files for the candidates that have none; checked before anything touches the server. A file that
    fails the schema or lint is kept for the user to fix and its client left out of this import (one
    line each, returned); the others are adopted."""
    if not todo:
        return []
    folder = clients_dir(project)
    if folder.is_dir():  # never over a file that is there, whatever it holds
        taken = taken | {p.stem for p in folder.glob("*.y*ml")}
    names = unique_names(
        (c.live.managed_name or c.live.fields.get("client_name") or c.live.client_id for c in todo), taken
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for cand, name in zip(todo, names, strict=True):
        cand.name = name
        path = folder / f"{name}.yaml"
        path.write_text(dump(document_for(name, cand.live, backend)))
        cand.wrote = True
        paths.append(path)
    loaded = check_files(project, paths)
    first: dict[Path, str] = {}
    for diag in loaded.errors:
        first.setdefault(Path(diag.location.file).resolve(), diag.format())
    specs = {s.client_id: s for s in loaded.clients}
    failed: list[str] = []
    for cand, path in zip(todo, paths, strict=True):
        error = first.get(path.resolve())
        if error is None:
            cand.spec = specs[cand.live.client_id]
        else:
            failed.append(f"{cand.name} (client {cand.live.client_id}) was not imported: {error}; the file is "
                          "kept: fix it (or the client), then run `dcrsync import --all`")
    return failed


def declared_in(project: Project, folder: Path) -> tuple[dict[str, str], set[str]]:
    """What the client files in `folder` hold already: {client_id: its file}, and the names an export
    must not use there (every file's stem and every declared name), whether or not the files validate."""
    if not folder.is_dir():
        return {}, set()
    files = sorted({*folder.rglob("*.yaml"), *folder.rglob("*.yml")})
    taken = {p.stem for p in files}
    if not files:
        return {}, taken
    loaded = load_clients(files, vars=project.config.vars, base_dir=project.config.base_dir)
    taken |= {s.name for s in loaded.clients}
    return {s.client_id: s.location.file for s in loaded.clients if s.client_id}, taken


def clients_dir(project: Project) -> Path:
    first = project.config.clients[0] if project.config.clients else "clients/"
    path = project.config.base_dir / first
    if any(ch in first for ch in "*?["):
        path = project.config.base_dir / "clients"
    return path
