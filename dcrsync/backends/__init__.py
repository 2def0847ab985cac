"""Server families. A new family is one module here plus one line in FAMILIES."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlparse

from dcrsync.backends.base import Backend
from dcrsync.errors import ConfigError

FAMILIES: dict[str, str] = {
    "hydra": "dcrsync.backends.hydra:HydraBackend",
    "rfc7592": "dcrsync.backends.rfc7592:Rfc7592Backend",
    "keycloak": "dcrsync.backends.keycloak:KeycloakBackend",
}


def make_backend(server: dict[str, Any], *, parallelism: int = 4) -> Backend:
    kind = server.get("kind")
    target = FAMILIES.get(str(kind))
    if target is None:
        raise ConfigError(f"server.kind {kind!r} is not one of {', '.join(sorted(FAMILIES))}")
    for key, value in server.items():
        if key.endswith("url") and isinstance(value, (str, type(None))):
            parsed = urlparse(value or "")
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigError(
                    f"server.{key} is {value!r}, not an http(s) URL: set it in dcrsync.yaml "
                    "(or the environment variable it names)"
                )
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ConfigError(f"server.kind {kind!r} is not available in this build of dcrsync") from None
        raise ConfigError(
            f"server.kind {kind!r} needs the Python module {exc.name!r}, which is not installed: "
            f"reinstall dcrsync with its dependencies (pip install dcrsync)"
        ) from None
    return getattr(module, cls_name)(server, parallelism=parallelism)
