"""Compiled schema checks kept between runs, so that a run whose inputs pass never imports jsonschema.

fastjsonschema turns a schema into Python source (~12 ms) that `compile()` makes code (~40 ms); jsonschema,
which a run needs only to word a failure, costs 60-250 ms to import. The compiled code of each schema is
kept in the client cache's folder (`load.clientcache.cache_dir`) as marshal'ed code, named after the
schema, fastjsonschema's version, the Python and dcrsync's own code digest, and authenticated with the
folder's HMAC key like every cache file: a file written by anyone without that key, or damaged, is
compiled again, never run. Without a cache folder (`DCRSYNC_CLIENT_CACHE=off`) nothing is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dcrsync.load.clientcache import authenticated, cache_dir, code_digest, write_authenticated

PREFIX = "check-"


def usable() -> bool:
    """A folder to keep compiled checks in is configured."""
    return cache_dir() is not None


def compiled(definition: Any) -> Callable[[Any], Any] | None:
    """fastjsonschema's check of `definition` (a schema `fastcheck.strip` gave), kept code when there is
    some, else compiled now and kept; None when fastjsonschema is missing or refuses the schema."""
    try:
        import fastjsonschema
    except ImportError:
        return None
    folder = cache_dir()
    name = json.dumps([definition, fastjsonschema.VERSION, sys.version, code_digest()], sort_keys=True)
    path = folder / f"{PREFIX}{hashlib.sha256(name.encode()).hexdigest()[:40]}.bin" if folder else None
    code = _read(path) if path is not None else None
    if code is None:
        try:
            source = fastjsonschema.compile_to_code(definition, use_default=False)
        except fastjsonschema.JsonSchemaDefinitionException:
            return None
        code = compile(source, "<dcrsync schema check>", "exec")
        if path is not None:
            with contextlib.suppress(OSError):
                write_authenticated(path, marshal.dumps(code))
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - code fastjsonschema generated from dcrsync's own schema
    check = namespace.get("validate")
    return check if callable(check) else None


def _read(path: Path) -> types.CodeType | None:
    body = authenticated(path)
    if body is None:
        return None
    try:
        code = marshal.loads(body)  # authenticated: only what this folder's key holder wrote
    except (ValueError, EOFError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None
