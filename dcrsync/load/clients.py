"""Client YAML -> `ClientSpec`s, with every problem as a `FILE:LINE:COL` diagnostic.

The files (`load.files`) are each read once, built with line marks (`dcrsync.load.yamlsource`),
substituted (`${env:X}`, `${var:x}`) and checked document by document (`load.document`); a file that
did not change since a clean load is not read again (`load.clientcache`). The project's checks on top
(lint, policy, environments, deliveries) are `dcrsync.project.clients`'.

Input stays inside the project (`dcrsync.load.bounds`): a project's client files (and the software
statements they read with `file:`) must resolve inside its folder, and the files together are read
only up to `MAX_TOTAL_BYTES`. Client files read only the environment variables dcrsync.yaml lists for
them (`dcrsync.load.envrefs`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dcrsync.guards import masking
from dcrsync.load import envrefs, prefill
from dcrsync.load.bounds import MAX_TOTAL_BYTES, outside, oversize
from dcrsync.load.clientcache import cacheable, cached_read
from dcrsync.load.document import check_document, claim_name
from dcrsync.load.envrefs import ClientEnv
from dcrsync.load.files import client_files
from dcrsync.load.gcpause import long_lived
from dcrsync.load.schemacheck import client_validator
from dcrsync.load.substitute import client_substituter
from dcrsync.load.yamlsource import load_file, parse_bytes
from dcrsync.model import ClientSpec, Diagnostic, Location

if TYPE_CHECKING:
    from dcrsync.load.clientcache import ClientCache
    from dcrsync.model import Suppressed

_EMPTY: Mapping[str, str] = MappingProxyType({})
#: the project's lint of some clients, keeping each file's findings in the cache (`dcrsync.lint.cache`)
Lint = Callable[["ClientCache", list[ClientSpec]], object]
_NO_ENV = ClientEnv()


@dataclass
class LoadResult:
    clients: list[ClientSpec] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every file read, as shown in diagnostics
    documents: int = 0  # non-empty YAML documents seen (valid or not)
    suppressed: list[Suppressed] = field(default_factory=list)  # lint findings ignored on purpose

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def sort(self) -> None:
        self.diagnostics.sort(key=lambda d: (d.location.file, d.location.line, d.location.col, d.rule))


def load_clients(
    paths: Sequence[str | Path],
    *,
    vars: Mapping[str, Any] = _EMPTY,
    environ: Mapping[str, str] = os.environ,
    base_dir: Path | None = None,
    root: Path | None = None,
    strict: bool = True,
    env: ClientEnv = _NO_ENV,
    cache: ClientCache | None = None,
    lint: Lint | None = None,
) -> LoadResult:
    """Load, substitute and schema-check every client under `paths`. Never raises for bad input.

    With `root` (the project's folder), a file that resolves outside it is refused (with `strict`
    False, only one that a symlink leads out of it: paths given on the command line). Client files
    read only the environment variables `env` allows (`envrefs`). With a `cache`, a file whose bytes
    (and the variables it names) are those of a clean load before gives its clients again without
    being parsed (`dcrsync.load.clientcache`); a file that reads the environment is never cached.
    With many files the later ones may be read by a forked helper (`dcrsync.load.prefill`), which lints
    its files with `lint` (the project's lint, keeping its findings in the cache: `dcrsync.lint.cache`)."""
    cwd = os.getcwd()
    base = os.path.abspath(base_dir) if base_dir is not None else cwd
    real_root = os.path.realpath(root) if root is not None else None
    result = LoadResult()
    read_env = [0]
    subst = _counting(client_substituter(vars, environ, env), read_env, register=True)
    key_vars = _plain(vars, env)
    names: dict[str, Location] = {}
    total = 0
    folders: dict[str, str] = {}
    with long_lived():  # dcrsync.load.gcpause
        files = list(client_files(paths, base, cwd, result.diagnostics))
        own, helper = len(files), None
        if cache is not None and prefill.worth_it(sum(shown not in cache.entries for _, shown in files)):
            own = prefill.split(len(files))  # a second CPU reads the later files
            client_validator().passes.prepare()  # compiled once, before the fork, for both
            helper = prefill.start(lambda: _entries(files[own:], cache, vars, environ, env, real_root, strict, lint))
        try:
            for at, (full, shown) in enumerate(files):
                if at == own and helper is not None and cache is not None:
                    _meet(helper, cache, lint, result)
                total = _one(full, shown, result, names, folders, total, cache, key_vars, subst, read_env,
                             real_root, strict)
                if total < 0:
                    break
        finally:
            if helper is not None:
                helper.cancel()
    if read_env[0]:
        result.diagnostics = masked_diagnostics(result.diagnostics)
    result.sort()
    return result


def _plain(vars: Mapping[str, Any], env: ClientEnv) -> dict[str, Any]:
    """The vars whose values a cache key may hold: those defined without reading the environment."""
    return {k: v for k, v in vars.items() if k not in env.var_env}


def _counting(substitute: Callable[[str], Any], reads: list[int], register: bool) -> Callable[[str], Any]:
    """`substitute`, counting in `reads` the values it read from the environment (and, `register`,
    registering each so that it is never printed: `guards.masking`)."""
    def subst(text: str) -> Any:
        value = substitute(text)
        if value is not text and hasattr(value, "names"):
            reads[0] += 1
            for read, name in value.parts if register else ():  # wherever it lands: never printed
                masking.register(read, name)
        return value

    return subst


def _meet(helper: prefill.Helper, cache: ClientCache, lint: Lint | None, result: LoadResult) -> None:
    """This process's share is read: its lint findings kept (as the helper keeps its share's), then
    the helper's entries taken."""
    if lint is not None:
        lint(cache, result.clients)
    cache.take(helper.collect())


def _one(full: str, shown: str, result: LoadResult, names: dict[str, Location], folders: dict[str, str],
         total: int, cache: ClientCache | None, key_vars: Mapping[str, Any], subst: Any,
         read_env: list[int], real_root: str | None, strict: bool) -> int:
    """One file of `load_clients`: refused, from the cache, or loaded (and kept); the bytes read so
    far, or -1 when the project's files together are too large to read more. `key_vars`: the vars a
    cache key may hold (`_plain`)."""
    result.files.append(shown)
    refused = outside(full, real_root, strict, folders)
    total, too_big = oversize(full, total) if refused is None else (total, None)
    if refused or too_big:
        result.diagnostics.append(Diagnostic(Location(shown, 0, 0), "error", "load", refused or too_big or ""))
        return -1 if too_big and total > MAX_TOTAL_BYTES else total
    fresh = cache.fresh.get(shown) if cache is not None else None  # the helper read it this run: its key
    hit = cache.lookup(shown, fresh) if cache is not None and fresh else None
    data, key = (None, "") if hit is not None else cached_read(cache, full, key_vars)
    if hit is None and cache is not None and key:
        hit = cache.lookup(shown, key)
    if hit is not None:
        replay(hit.specs, names, result)
        return total
    before, first, reads = len(result.diagnostics), len(result.clients), read_env[0]
    _load_one(full, shown, data, subst, names, result, real_root, lambda reads=reads: read_env[0] != reads)
    if cache is not None and key and read_env[0] == reads and cacheable(result, before, first):
        cache.keep(shown, key, result.clients[first:])
    return total


def _entries(files: list[tuple[str, str]], cache: ClientCache, vars: Mapping[str, Any], environ: Mapping[str, str],
             env: ClientEnv, real_root: str | None, strict: bool, lint: Lint | None) -> dict[str, Any]:
    """What the helper of `load_clients` sends back (`dcrsync.load.prefill`): the cache entry of each
    file of `files` the cache does not hold that loads cleanly on its own without reading the
    environment, linted by `lint` when given. Files are refused as the parent refuses them, before
    they are read. Runs in the forked child: `cache` is its own copy."""
    names: dict[str, Location] = {}
    folders: dict[str, str] = {}
    local = LoadResult()
    reads = [0]
    subst = _counting(client_substituter(vars, environ, env), reads, register=False)
    key_vars = _plain(vars, env)
    kept: list[str] = []
    for full, shown in files:
        if outside(full, real_root, strict, folders) is not None or oversize(full, 0)[1] is not None:
            continue
        data, key = cached_read(cache, full, key_vars)
        if not key or (cache.entries.get(shown) or {}).get("k") == key:
            continue
        before, first, read = len(local.diagnostics), len(local.clients), reads[0]
        _load_one(full, shown, data, subst, names, local, real_root, lambda read=read: reads[0] != read)
        if reads[0] == read and cacheable(local, before, first):
            cache.keep(shown, key, local.clients[first:])
            kept.append(shown)
    if lint is not None:
        done = set(kept)
        lint(cache, [c for c in local.clients if c.location.file in done])
    return {shown: cache.entries[shown] for shown in kept}


def _from_env(spec: ClientSpec, out: list[Diagnostic]) -> ClientSpec | None:
    """The spec with its fields read from the environment noted (`envrefs.mark`), or None."""
    problem = envrefs.mark(spec)
    if problem is None:
        return spec
    where = spec.where("client_id") if problem.startswith("`client_id`") else spec.location
    out.append(Diagnostic(where, "error", "subst", problem))
    return None


def masked_diagnostics(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics whose messages quote no value read from the environment."""
    return [d if (m := masking.mask(d.message)) == d.message else Diagnostic(d.location, d.severity, d.rule, m) for d in diagnostics]


def replay(specs: Sequence[ClientSpec], names: dict[str, Location], result: LoadResult) -> None:
    """A cached file's clients, as `check_document` would give them (names still unique across files)."""
    for spec in specs:
        result.documents += 1
        if claim_name(spec.name, spec.field_locations["name"], names, result.diagnostics):
            result.clients.append(spec)


def _load_one(
    full: str, shown: str, data: bytes | None, subst: Any, names: dict[str, Location], result: LoadResult,
    root: str | None, read_env: Callable[[], bool],
) -> None:
    """Parse, substitute and check one file (its bytes when already read) into `result`; its clients
    noted as reading the environment when `read_env()` says the file did."""
    parsed = load_file(full, shown, subst) if data is None else parse_bytes(data, shown, subst)
    result.diagnostics.extend(parsed.diagnostics)
    if parsed.empty:
        message = "the file holds no client: add one, or delete the file"
        result.diagnostics.append(Diagnostic(Location(shown, 1, 1), "warning", "empty", message))
    for doc in parsed.documents:
        result.documents += 1
        client = check_document(doc, names, result.diagnostics, root)
        if client is not None and read_env():
            client = _from_env(client, result.diagnostics)
        if client is not None:
            result.clients.append(client)
