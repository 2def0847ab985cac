"""A cache of client files that loaded cleanly, keyed by their content: a file that did not change
since the last run is not parsed, substituted or schema-checked again.

What is kept: per file (by the name diagnostics show), the sha256 of its bytes and of the values of the
`${var:…}` it names (never an environment value: `_refs_digest`), the ClientSpecs it gave, and its lint
findings (`dcrsync.lint.cache`). Only files without a single diagnostic are kept (a cache never hides an
error or a warning), and never one whose client reads another file (`software_statement: {file: …}`).
Nothing is kept that a plan does not print or a saved plan does not hold: client files declare no secret.

When it is void: the whole cache file names a *context* — dcrsync's own code and schemas (a digest of
the package's files), the Python and PyYAML versions, jsonschema's installed files, the bytes of dcrsync.yaml, the
chosen environment, the working and base folders, the client paths, and every `DCRSYNC_*` variable —
and a file of another context is not read. A file whose bytes or named variables changed misses.

Where: `$DCRSYNC_CLIENT_CACHE`, else `$XDG_CACHE_HOME/dcrsync/clients` (`~/.cache/dcrsync/clients`),
one file per project, outside the repository: a pull request cannot plant one, and a checkout or CI
cache restore never carries one in. Every cache file is authenticated (HMAC-SHA256) with a random
key kept beside it (mode 0600; a folder or key another user could write is not used at all), so a
file written by anyone without that key, or damaged, is ignored, never trusted; only an
authenticated body is decoded (with `marshal`: a tenth of JSON's cost, and safe only because nothing
unauthenticated reaches it). `DCRSYNC_CLIENT_CACHE=off` turns the cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib.util
import json
import marshal
import os
import re
import secrets
import stat
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcrsync.load.yamlsource import MAX_FILE_BYTES, _read_bytes
from dcrsync.model import SOFTWARE_STATEMENT, ClientSpec, Ignore, Location

if TYPE_CHECKING:
    from dcrsync.load.clients import LoadResult
    from dcrsync.load.config import Config

FORMAT = 1
OFF = "off"
#: cache files not used for this long are removed when another one is written
MAX_AGE_SECONDS = 14 * 24 * 3600
_REFS = re.compile(rb"\$\{(env|var):([^}]*)\}")


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where cache files live, or None when the cache is off."""
    chosen = environ.get("DCRSYNC_CLIENT_CACHE")
    if chosen == OFF:
        return None
    if chosen:
        return Path(chosen)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dcrsync" / "clients"


def package_files(root: Path) -> list[Path]:
    """dcrsync's code and schemas (`schemas/` is a link in a source checkout: followed)."""
    found = [
        Path(folder) / name
        for folder, _, names in os.walk(root, followlinks=True)
        for name in names
        if name.endswith((".py", ".json"))
    ]
    return sorted(found)


@cache
def code_digest() -> str:
    """sha256 over dcrsync's own files (code and schemas) and the versions of what parses and checks
    (jsonschema's by its installed files: `importlib.metadata` alone costs ~15-25 ms to import)."""
    import yaml

    root = Path(__file__).parent.parent  # the whole package, dcrsync/
    digest = hashlib.sha256()
    for path in package_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    extra = [sys.version, yaml.__version__, str(getattr(yaml, "__with_libyaml__", False)), _installed("jsonschema")]
    digest.update("\0".join(extra).encode())
    return digest.hexdigest()


def _installed(module: str) -> str:
    """Where a module is installed, with its top file's size and time (found without importing it)."""
    try:
        spec = importlib.util.find_spec(module)
        origin = spec.origin if spec is not None else None
        info = os.stat(origin) if origin else None
    except (ImportError, ValueError, OSError):
        return "absent"
    return f"{origin}:{info.st_size}:{info.st_mtime_ns}" if info is not None else "absent"


def _refs_digest(data: bytes, vars: Mapping[str, Any]) -> str:
    """The values of the `${var:…}` a file names (`vars`: those that read no environment variable). Never an
    environment value: no kept file depends on one, and a comment may name a credential's (see the README)."""
    if b"${var:" not in data:
        return ""
    named = sorted({name.decode("utf-8", "replace") for kind, name in _REFS.findall(data) if kind == b"var"})
    values = [(n, vars.get(n.split(".")[0])) for n in named]  # a.b: all of a
    return hashlib.sha256(json.dumps(values, default=str).encode()).hexdigest()


def for_project(config: Config, paths: Sequence[str] | None = None) -> ClientCache:
    """The cache of `config`'s clients (or of `paths`, as `validate PATH…` names them)."""
    config_digest = ""
    if config.path is not None:
        try:
            config_digest = hashlib.sha256(config.path.read_bytes()).hexdigest()
        except OSError:
            return ClientCache(None, "")
    where = [str(config.path or ""), config.environment or "", os.getcwd()]
    clients = list(paths) if paths is not None else list(config.clients)
    return ClientCache.open([*where, str(config.base_dir), json.dumps(clients), config_digest])


def cached_read(cache: ClientCache | None, full: str, vars: Mapping[str, Any]) -> tuple[bytes | None, str]:
    """(the file's bytes, its cache key), or (None, "") without a cache or when the loader must read
    it itself to say what is wrong (unreadable, too large)."""
    if cache is None:
        return None, ""
    try:
        data = _read_bytes(full, MAX_FILE_BYTES)
    except OSError:
        return None, ""
    if data is None:
        return None, ""
    return data, cache.key(data, vars)


def cacheable(result: LoadResult, diagnostics_before: int, clients_from: int) -> bool:
    """A file that loaded without a diagnostic, none of whose clients reads another file."""
    if len(result.diagnostics) != diagnostics_before:
        return False
    return not any(SOFTWARE_STATEMENT in spec.fields for spec in result.clients[clients_from:])


# --- ClientSpec <-> cached form ---------------------------------------------------------------------


def _flat(locations: Mapping[str, Location]) -> list[Any]:
    """[key, line, col, key, line, col, …]: a tenth of the objects of a mapping of pairs to write and read."""
    out: list[Any] = []
    for key, loc in locations.items():
        out += (key, loc.line, loc.col)
    return out


def _spec_out(spec: ClientSpec) -> dict[str, Any]:
    return {
        "n": spec.name, "f": spec.fields, "b": spec.blocks, "c": spec.client_id,
        "l": [spec.location.line, spec.location.col], "fl": _flat(spec.field_locations),
        "il": {k: [n for loc in items for n in (loc.line, loc.col)] for k, items in spec.item_locations.items()},
        "li": {k: [v.reason, v.at.line, v.at.col] for k, v in spec.lint_ignore.items()},
        "lb": spec.labels, "d": spec.description,
        "x": {k: getattr(spec, k) for k in _PLAIN},
    }


#: ClientSpec fields the loader sets from dcrsync's own keys, cached as they are (marshal takes them);
#: `test_clientcache` fails when ClientSpec gains a field neither here nor handled above
_PLAIN = ("environments", "strict", "moved_from", "protected", "deliver", "rotate", "rotation")


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("not a mapping")
    return value


_INT, _STR = {int}, {str}


def _spec_in(file: str, doc: dict[str, Any]) -> ClientSpec:
    """A ClientSpec from its cached form; TypeError/ValueError/KeyError when the form is not one. (The
    cache file is authenticated: these checks catch a writer's mistake, not an attacker.)"""
    name, client_id, description = doc["n"], doc["c"], doc["d"]
    if not isinstance(name, str) or not isinstance(client_id, str | None) or not isinstance(description, str | None):
        raise TypeError("not a client")
    flat, (line, col) = doc["fl"], doc["l"]
    keys, lines, cols = flat[0::3], flat[1::3], flat[2::3]
    kinds = {type(line), type(col), *map(type, lines), *map(type, cols)}
    items: dict[str, list[Location]] = {}
    for key, pairs in _dict(doc["il"]).items():
        kinds.update(map(type, pairs))
        items[key] = list(map(Location, repeat(file), pairs[0::2], pairs[1::2]))
        if len(pairs) % 2:
            raise ValueError("not a list of locations")
    if kinds != _INT or not set(map(type, keys)) <= _STR or len(keys) != len(cols):
        raise TypeError("not a location")
    return ClientSpec(
        name=name,
        fields=_dict(doc["f"]),
        location=Location(file, line, col),
        client_id=client_id,
        blocks={k: _dict(v) for k, v in _dict(doc["b"]).items()},
        field_locations=dict(zip(keys, map(Location, repeat(file), lines, cols), strict=True)),
        item_locations=items,
        lint_ignore={k: Ignore(str(r), Location(file, n, c)) for k, (r, n, c) in _dict(doc["li"]).items()},
        labels=_dict(doc["lb"]),
        description=description,
        **_plain(doc["x"]),
    )


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """The `_PLAIN` fields from their cached form (a tuple of environments came back a tuple)."""
    if set(_dict(values)) != set(_PLAIN):
        raise KeyError("not this version's fields")
    return values


# --- the cache -------------------------------------------------------------------------------


@dataclass
class Hit:
    """A file's clients as they loaded last time."""

    specs: list[ClientSpec]


@dataclass
class ClientCache:
    """The cache of one project (one context); `lookup` and `keep` per file, `save` once."""

    path: Path | None  # None: a cache that keeps nothing (off, or its folder unusable)
    context: str
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)  # shown -> {"k": key, "d": [docs]}
    used: set[str] = field(default_factory=set)
    changed: bool = False
    hits: int = 0
    lint_context: str = ""  # what the lint findings kept were found in (`lint_in`)
    #: shown -> key of the entries a helper made from the bytes it read this run (`take`): not read again
    fresh: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, parts: Sequence[str], environ: Mapping[str, str] = os.environ) -> ClientCache:
        """The cache for the context `parts` (plus code and `DCRSYNC_*` variables); empty when there is
        none, or it does not authenticate, or it is of another context."""
        folder = cache_dir(environ)
        env = sorted((k, v) for k, v in environ.items() if k.startswith("DCRSYNC_"))
        context = hashlib.sha256(json.dumps([FORMAT, code_digest(), list(parts), env]).encode()).hexdigest()
        if folder is None:
            return cls(None, context)
        where = hashlib.sha256(json.dumps(list(parts[:3])).encode()).hexdigest()[:40]
        out = cls(folder / f"{where}.json", context)
        out.entries, out.lint_context = _read(out.path, context)
        return out

    def key(self, data: bytes, vars: Mapping[str, Any]) -> str:
        return hashlib.sha256(data).hexdigest() + _refs_digest(data, vars)

    def lookup(self, shown: str, key: str) -> Hit | None:
        """The file's clients when its content and named variables are those kept, else None."""
        entry = self.entries.get(shown)
        if entry is None or entry.get("k") != key:
            return None
        try:
            specs = [_spec_in(shown, _dict(doc)) for doc in entry["d"]]
        except (KeyError, TypeError, ValueError):
            return None
        self.used.add(shown)
        self.hits += 1
        return Hit(specs)

    def keep(self, shown: str, key: str, specs: Sequence[ClientSpec]) -> None:
        """Remember a file that loaded without a single diagnostic."""
        self.entries[shown] = {"k": key, "d": [_spec_out(s) for s in specs]}
        self.used.add(shown)
        self.changed = True

    def take(self, entries: Mapping[str, Any]) -> int:
        """Entries another process made this run (`dcrsync.load.prefill`) from the bytes it read, as if
        read from the cache file: the loader takes each file's key from them (`fresh`) instead of
        reading the file again; how many were taken."""
        taken = 0
        for shown, got in entries.items():
            if isinstance(shown, str) and isinstance(got, dict) and isinstance(got.get("k"), str):
                self.entries[shown] = got
                self.fresh[shown] = got["k"]
                taken += 1
        self.changed |= taken > 0
        return taken

    def save(self) -> None:
        """Write the cache when it changed (files kept or gone since). Never fails the command."""
        if self.path is None:
            return
        if not self.changed and self.used == self.entries.keys():
            with contextlib.suppress(OSError):
                os.utime(self.path)  # in use: not pruned
            return
        files = {k: self.entries[k] for k in sorted(self.used)}
        body = {"format": FORMAT, "context": self.context, "lint_context": self.lint_context, "files": files}
        try:
            write_authenticated(self.path, marshal.dumps(body))
            _prune(self.path.parent)
        except OSError:
            pass  # a cache that cannot be written is a slower next run, not a failure


def _private(path: Path) -> None:
    """OSError unless `path` is this user's and nobody else may write it (not a link)."""
    st = os.lstat(path)
    if st.st_uid != os.getuid() or st.st_mode & 0o022 or stat.S_ISLNK(st.st_mode):
        raise PermissionError(f"{path} is not this user's alone")


def _key(folder: Path) -> bytes:
    """The folder's HMAC key, made (mode 0600) when there is none. OSError when the folder or the key
    could be written by someone else (then nothing is read from or written to the cache)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _private(folder)
    path = folder / "key"
    if not path.exists():
        tmp = folder / f".key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # the first writer's key wins; a second reads it
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    _private(path)
    data = path.read_bytes()
    if len(data) < 32:
        raise PermissionError(f"{path} is not a key")
    return data


def authenticated(path: Path) -> bytes | None:
    """The body of a file `write_authenticated` wrote with its folder's key, or None (unreadable, or not authentic)."""
    try:
        raw = path.read_bytes()
        key = _key(path.parent)
    except OSError:
        return None
    mac, _, body = raw.partition(b"\n")
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).hexdigest().encode()):
        return None
    return body


def _read(path: Path, context: str) -> tuple[dict[str, dict[str, Any]], str]:
    """The entries (and lint context) of an authenticated cache file of this context; nothing for
    anything else."""
    body = authenticated(path)
    if body is None:
        return {}, ""
    try:
        doc = marshal.loads(body)  # authenticated above: only what this folder's key holder wrote
        if doc.get("format") != FORMAT or doc.get("context") != context:
            return {}, ""
        files = {k: v for k, v in _dict(doc["files"]).items() if isinstance(v, dict)}
        lint = doc.get("lint_context")
        return files, lint if isinstance(lint, str) else ""
    except (ValueError, KeyError, TypeError, AttributeError, EOFError):
        return {}, ""


def write_authenticated(path: Path, body: bytes) -> None:
    """`body` written to `path` (atomically, mode 0600) after its HMAC under the folder's key."""
    key = _key(path.parent)
    data = hmac.new(key, body, hashlib.sha256).hexdigest().encode() + b"\n" + body
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _prune(folder: Path) -> None:
    """Remove cache files nobody used for MAX_AGE_SECONDS (projects moved or deleted)."""
    import time

    limit = time.time() - MAX_AGE_SECONDS
    for entry in os.scandir(folder):
        if (entry.name.endswith(".json") or entry.name.startswith("check-")) and entry.stat().st_mtime < limit:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
