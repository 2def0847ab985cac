"""Client YAML -> `ClientSpec`s, with every problem as a `FILE:LINE:COL` diagnostic.

Paths are folders (every ``*.yaml`` / ``*.yml`` below, hidden ones skipped), files, or globs, relative
to `base_dir`. Each document is built with line marks (`dcrsync.load.yamlsource`), substituted
(`${env:X}`, `${var:x}`), checked against `schemas/client.schema.json`, and turned into a ClientSpec
when it has no error. `load_project` adds the lint rules.

Input stays inside the project (`dcrsync.load.bounds`): a project's client files (and the software
statements they read with `file:`) must resolve inside its folder, and the files together are read
only up to `MAX_TOTAL_BYTES`. Client files read only the environment variables dcrsync.yaml lists for
them (`dcrsync.load.envrefs`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from yaml.nodes import MappingNode, Node, SequenceNode

from dcrsync.families import BLOCKS
from dcrsync.guards import masking
from dcrsync.load import envrefs
from dcrsync.load.bounds import MAX_TOTAL_BYTES, outside, oversize
from dcrsync.load.clientcache import cacheable, cached_read, for_project
from dcrsync.load.envrefs import ClientEnv
from dcrsync.load.gcpause import long_lived
from dcrsync.load.schemacheck import client_validator, schema_diagnostics, validator
from dcrsync.load.substitute import client_substituter
from dcrsync.load.yamlsource import Document, load_file, mapping_pairs, node_location, parse_bytes
from dcrsync.model import (
    EXTENSIONS,
    SOFTWARE_STATEMENT,
    ClientSpec,
    Diagnostic,
    Ignore,
    Location,
    statement_claims,
)

if TYPE_CHECKING:
    from dcrsync.load.clientcache import ClientCache
    from dcrsync.load.config import Config
    from dcrsync.model import Suppressed

YAML_SUFFIXES = (".yaml", ".yml")
_GLOB_CHARS = frozenset("*?[")
_EMPTY: Mapping[str, str] = MappingProxyType({})
_NO_ENV = ClientEnv()
#: keys that are not portable metadata: kept apart in ClientSpec (`lint`, `labels`, `description`,
#: `environments`, `strict`, `moved_from`, `protected`, `deliver`, `rotate` and `rotation` are
#: dcrsync's own, never sent)
_RESERVED = (
    "name", "client_id", "lint", "labels", "description", "environments", "strict", "moved_from", "protected",
    "deliver", "rotate", "rotation", *BLOCKS,
)


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


# --- finding files ---------------------------------------------------------------------------


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


# --- one document -> ClientSpec ---------------------------------------------------------------


@cache
def _misplaced() -> dict[str, dict[str, str]]:
    """Fields written at the wrong level: a block's own key at the top (`audience` is Hydra-only),
    a portable one inside a block whose keys the schema lists."""
    top = validator("client").schema["properties"]
    out: dict[str, dict[str, str]] = {"": {}}
    for block in BLOCKS.values():
        own = (top.get(block.name) or {}).get("properties")
        if not own:  # a free-form block: any key may be the family's own
            continue
        out[""].update({
            k: f"it is {block.title}-only: move it under `{block.name}:`" for k in own if k not in top
        })
        out[block.name] = {
            k: f"it is portable: write it at the top level, not under `{block.name}:`"
            for k in top
            if k not in own and k not in _RESERVED
        }
    return out


def _item_locations(file: str, node: SequenceNode) -> list[Location]:
    return [node_location(file, n) for n in node.value]


def _nested_items(
    file: str, path: str, node: MappingNode, items: dict[str, list[Location]], fields: dict[str, Location]
) -> None:
    """Item locations of every list under a mapping, by dotted path (`keycloak.serviceAccountRoles.realm`),
    and where each value under it is written (`keycloak.attributes.access.token.lifespan`)."""
    for sub, (_, sub_node) in mapping_pairs(node).items():
        fields[f"{path}.{sub}"] = node_location(file, sub_node)
        if isinstance(sub_node, SequenceNode):
            items[f"{path}.{sub}"] = _item_locations(file, sub_node)
        elif isinstance(sub_node, MappingNode):
            _nested_items(file, f"{path}.{sub}", sub_node, items, fields)


def _locations(
    file: str, pairs: dict[str, tuple[Node, Node]]
) -> tuple[dict[str, Location], dict[str, list[Location]]]:
    """field_locations and item_locations of a ClientSpec, from its document's top-level pairs."""
    fields: dict[str, Location] = {}
    items: dict[str, list[Location]] = {}
    for key, (_, value_node) in pairs.items():
        fields[key] = node_location(file, value_node)
        if isinstance(value_node, SequenceNode):
            items[key] = _item_locations(file, value_node)
        elif key == EXTENSIONS and isinstance(value_node, MappingNode):
            for sub, (key_node, _) in mapping_pairs(value_node).items():
                fields[f"{EXTENSIONS}.{sub}"] = node_location(file, key_node)
        elif key in BLOCKS and isinstance(value_node, MappingNode):
            _nested_items(file, key, value_node, items, fields)
    return fields, items


def lint_ignores(doc: Document, block: Any) -> dict[str, Ignore]:
    """`lint: {ignore: {RULE: reason}}` of a document that passed the schema, each at its key."""
    ignore = block.get("ignore") if isinstance(block, dict) else None
    if not isinstance(ignore, dict):
        return {}
    return {rule: Ignore(reason, doc.key_loc(("lint", "ignore", rule))) for rule, reason in ignore.items()}


def to_client(doc: Document, pairs: dict[str, tuple[Node, Node]] | None = None) -> ClientSpec:
    """A ClientSpec from a document that passed the schema."""
    value: dict[str, Any] = doc.value
    pairs = doc.top_pairs() if pairs is None else pairs
    field_locations, item_locations = _locations(doc.file, pairs)
    return ClientSpec(
        name=value["name"],
        fields={k: v for k, v in value.items() if k not in _RESERVED},
        location=node_location(doc.file, pairs["name"][0]),
        client_id=value.get("client_id"),
        blocks={name: dict(value[name]) for name in BLOCKS if value.get(name)},
        field_locations=field_locations,
        item_locations=item_locations,
        lint_ignore=lint_ignores(doc, value.get("lint")) if "lint" in value else {},
        labels=dict(value.get("labels") or {}),
        description=value.get("description"),
        environments=tuple(value["environments"]) if "environments" in value else None,
        strict=value.get("strict"),
        moved_from=value.get("moved_from"),
        protected=bool(value.get("protected", False)),
        deliver=value.get("deliver"),
        rotate=value.get("rotate"),
        rotation=None if value.get("rotation") is None else str(value["rotation"]),
    )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return "a single value"


def claim_name(name: str, where: Location, names: dict[str, Location], out: list[Diagnostic]) -> bool:
    """Record where `name` is defined; False (and an error) when an earlier document has it."""
    first = names.get(name)
    if first is not None:
        message = f"client name `{name}` is already used at {first}: names must be unique, rename one"
        out.append(Diagnostic(where, "error", "duplicate", message))
        return False
    names[name] = where
    return True


def check_document(
    doc: Document, names: dict[str, Location], out: list[Diagnostic], root: str | None = None
) -> ClientSpec | None:
    """Validate one document; record its name in `names`; the ClientSpec when it has no error."""
    value = doc.value
    if doc.aborted:
        return None
    if not isinstance(value, dict):
        message = f"a client must be a mapping of fields (`name: …`), not {_kind(value)}"
        out.append(Diagnostic(doc.start, "error", "schema", message))
        return None
    errors = doc.errors
    pairs = doc.top_pairs()
    name = value.get("name")
    if isinstance(name, str) and "name" in pairs:
        errors += not claim_name(name, node_location(doc.file, pairs["name"][1]), names, out)
    problems = schema_diagnostics(client_validator(), doc, elsewhere=_misplaced())
    if doc.error_locations:  # one problem per place: the YAML error already explains the value
        problems = [d for d in problems if d.location not in doc.error_locations]
    out.extend(problems)
    if errors or problems:
        return None
    spec = to_client(doc, pairs)
    problem = _read_statement(spec, root)
    if problem is not None:
        out.append(Diagnostic(spec.where(SOFTWARE_STATEMENT), "error", "load", problem))
        return None
    return spec


def _read_statement(spec: ClientSpec, root: str | None = None) -> str | None:
    """`software_statement: {file: …}` read (relative to the client file, inside the project when
    `root` is given) and checked to be a JWT whose claims decode; what is wrong, or None."""
    value = spec.fields.get(SOFTWARE_STATEMENT)
    if value is None:
        return None
    if isinstance(value, dict):
        path = os.path.join(os.path.dirname(spec.location.file), str(value["file"]))
        if outside(path, root) is not None:
            return f"software_statement file `{value['file']}` is outside the project: keep it inside {root}"
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            return f"software_statement file `{value['file']}` cannot be read ({exc.strerror}): fix the path"
        spec.fields[SOFTWARE_STATEMENT] = value
    if statement_claims(value) is None:
        return "software_statement is not a JWT whose claims decode (header.claims.signature, base64url JSON)"
    return None


# --- public API ------------------------------------------------------------------------------


def _files(
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
) -> LoadResult:
    """Load, substitute and schema-check every client under `paths`. Never raises for bad input.

    With `root` (the project's folder), a file that resolves outside it is refused (with `strict`
    False, only one that a symlink leads out of it: paths given on the command line). Client files
    read only the environment variables `env` allows (`envrefs`). With a `cache`, a file whose bytes
    (and the variables it names) are those of a clean load before gives its clients again without
    being parsed (`dcrsync.load.clientcache`); a file that reads the environment is never cached."""
    cwd = os.getcwd()
    base = os.path.abspath(base_dir) if base_dir is not None else cwd
    real_root = os.path.realpath(root) if root is not None else None
    result = LoadResult()
    read_env = [0]
    substitute = client_substituter(vars, environ, env)

    def subst(text: str) -> str:
        value = substitute(text)
        if value is not text and hasattr(value, "names"):
            read_env[0] += 1
            for read, name in value.parts:  # wherever it lands (a field, a lint reason): never printed
                masking.register(read, name)
        return value

    names: dict[str, Location] = {}
    total = 0
    folders: dict[str, str] = {}
    with long_lived():  # dcrsync.load.gcpause
        for full, shown in _files(paths, base, cwd, result.diagnostics):
            result.files.append(shown)
            refused = outside(full, real_root, strict, folders)
            total, too_big = oversize(full, total) if refused is None else (total, None)
            if refused or too_big:
                result.diagnostics.append(Diagnostic(Location(shown, 0, 0), "error", "load", refused or too_big or ""))
                if too_big and total > MAX_TOTAL_BYTES:
                    break
                continue
            data, key = cached_read(cache, full, vars, environ)
            hit = cache.lookup(shown, key) if cache is not None and key else None
            if hit is not None:
                replay(hit.specs, names, result)
                continue
            before, first, reads = len(result.diagnostics), len(result.clients), read_env[0]
            _load_one(full, shown, data, subst, names, result, real_root, lambda reads=reads: read_env[0] != reads)
            if cache is not None and key and read_env[0] == reads and cacheable(result, before, first):
                cache.keep(shown, key, result.clients[first:])
    if read_env[0]:
        result.diagnostics = _masked(result.diagnostics)
    result.sort()
    return result


def _from_env(spec: ClientSpec, out: list[Diagnostic]) -> ClientSpec | None:
    """The spec with its fields read from the environment noted (`envrefs.mark`), or None."""
    problem = envrefs.mark(spec)
    if problem is None:
        return spec
    where = spec.where("client_id") if problem.startswith("`client_id`") else spec.location
    out.append(Diagnostic(where, "error", "subst", problem))
    return None


def _masked(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
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


def add_lint(result: LoadResult, config: Config, cache: ClientCache | None = None) -> None:
    """Lint `result`'s clients for the config's server family and profile, with the project's ignores;
    then the organisation's policy (`policy:`), with its exceptions. With a `cache`, files linted
    before in the same context are not linted again."""
    from dcrsync.lint import Profile, run

    profile = Profile(config.lint_profile, config.refresh_token_rotation)
    if cache is not None:
        from dcrsync.lint.cache import lint_cached

        linted = lint_cached(cache, result.clients, config.family, config.lint_ignore, profile)
    else:
        linted = run(result.clients, config.family, config.lint_ignore, profile)
    diagnostics, suppressed = linted.diagnostics, linted.suppressed
    if config.policy_path is not None:
        from dcrsync.policy import check_clients

        checked = check_clients(result.clients, config, diagnostics)
        diagnostics, suppressed = checked.diagnostics, [*suppressed, *checked.suppressed]
    masked = any(c.env_refs for c in result.clients)
    result.diagnostics.extend(_masked(diagnostics) if masked else diagnostics)
    result.suppressed.extend(suppressed)


def unknown_environments(clients: Sequence[ClientSpec], known: Sequence[str]) -> list[Diagnostic]:
    """An `environments:` entry that dcrsync.yaml does not define, at its line (a typo would
    otherwise drop the client from every environment)."""
    out = []
    for spec in clients:
        for i, name in enumerate(spec.environments or ()):
            if name not in known:
                listed = ", ".join(known) or "none"
                out.append(Diagnostic(
                    spec.where_item("environments", i), "error", "environments",
                    f"{spec.name}: environment `{name}` is not defined in dcrsync.yaml (it defines: {listed}): fix the name",
                ))
    return out


def in_environment(clients: Sequence[ClientSpec], environment: str | None) -> list[ClientSpec]:
    """The clients that exist in `environment` (`--env`; None: the base, where a client that names
    its environments does not exist)."""
    return [s for s in clients if s.environments is None or environment in s.environments]


def load_project(config: Config) -> LoadResult:
    """Every client of the project, with lint diagnostics appended (`--target` is checked by plan)."""
    with long_lived():  # dcrsync.load.gcpause: the clients live until the command ends
        cache = for_project(config)
        result = load_clients(
            config.clients, vars=config.vars, base_dir=config.base_dir, root=config.base_dir, env=config.client_env,
            cache=cache,
        )
        add_lint(result, config, cache)
        cache.save()
    if config.path is not None:  # without a dcrsync.yaml no environment is known, nor checked
        result.diagnostics.extend(unknown_environments(result.clients, config.environments))
    result.diagnostics.extend(delivery_problems(result.clients, config))
    result.sort()
    return result


def delivery_problems(clients: list[ClientSpec], config: Config) -> list[Diagnostic]:
    """`deliver:` targets dcrsync.yaml does not allow (outside the roots, unknown recipient sets, …)."""
    from dcrsync.deliver.declared import Settings, check

    return check(clients, Settings.of_config(config))
