"""A bundle: the key -> value mapping one delivery hands its consumer, and its text formats. Pure.

Values come from the state (client_id, client_secret) and the server's metadata (issuer,
token_endpoint, discovery_url); key names are the consumer's (`keys:`, a preset).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping

from dcrsync.errors import DcrsyncError

FORMATS = ("value", "json", "env", "dotenv")
_PLAIN = re.compile(r"^[A-Za-z0-9_./:@%+=,~-]*$")


class BundleError(DcrsyncError):
    """A value a delivery needs is not known (no secret in the state, no issuer, …)."""


def bundle(client: str, keys: Mapping[str, str], values: Mapping[str, str | None]) -> dict[str, str]:
    """`keys` (bundle key -> source) filled from `values` (source -> value)."""
    out: dict[str, str] = {}
    for key, source in keys.items():
        value = values.get(source)
        if value is None:
            raise BundleError(f"{client}: {key} needs {source}, which {_why(source)}")
        out[key] = value
    return out


def _why(source: str) -> str:
    if source == "client_secret":
        return ("the state does not hold (a public client has none; after an import, record it with "
                "`dcrsync state set-secret` or issue one with `dcrsync rotate-secret`)")
    if source == "client_id":
        return "the client does not have yet (it is not created)"
    return ("dcrsync could not read from the server's metadata: set `delivery.issuer` in dcrsync.yaml "
            "(the issuer URL apps use)")


def as_text(values: Mapping[str, str], fmt: str) -> str:
    """The bundle as `json`, `env` (`export KEY='value'`, for a shell's eval) or `dotenv` (`KEY=value`,
    double-quoted where needed, as dotenv readers and docker compose take it); newline-terminated."""
    if fmt == "json":
        return json.dumps(dict(values), indent=2, sort_keys=False) + "\n"
    if fmt == "env":
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items())
    if fmt == "dotenv":
        return "".join(f"{k}={_dotenv_value(v)}\n" for k, v in values.items())
    raise ValueError(fmt)


def _dotenv_value(value: str) -> str:
    if _PLAIN.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
