"""The server families: making a backend for `server.kind`. A new family is one module here (or a
folder, like `keycloak/`) plus its line in `dcrsync.families.FAMILIES` (which also declares its
client-file block, if it has one). `base` holds the protocol with its defaults, `discovery` what an
authorization server says it supports; the families: `hydra` and `rfc7592` (each with its pure `_map`),
and `keycloak/`.

May import: the ground, state, net.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlparse

from dcrsync.backends.base import Backend
from dcrsync.errors import ConfigError
from dcrsync.families import FAMILIES
from dcrsync.guards.trust import Trust


def make_backend(server: dict[str, Any], *, parallelism: int = 4, trust: Trust | None = None) -> Backend:
    kind = server.get("kind")
    family = FAMILIES.get(str(kind))
    if family is None:
        raise ConfigError(f"server.kind {kind!r} is not one of {', '.join(sorted(FAMILIES))}")
    for key, value in server.items():
        if key.endswith("url") and isinstance(value, (str, type(None))):
            parsed = urlparse(value or "")
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigError(
                    f"server.{key} is {value!r}, not an http(s) URL: set it in dcrsync.yaml "
                    "(or the environment variable it names)"
                )
    module_name, cls_name = family.backend.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ConfigError(f"server.kind {kind!r} is not available in this build of dcrsync") from None
        raise ConfigError(
            f"server.kind {kind!r} needs the Python module {exc.name!r}, which is not installed: "
            f"reinstall dcrsync with its dependencies (pip install dcrsync)"
        ) from None
    return getattr(module, cls_name)(server, parallelism=parallelism, trust=trust)
