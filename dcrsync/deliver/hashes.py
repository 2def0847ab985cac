"""The keyed hash of one delivery, kept in the state and written beside the delivered copy. Pure.

It says whether a copy is what the state would deliver now, without printing or storing a secret:
the key is derived from the client's secret, so the hash tells nothing to whoever reads it without
that secret (a manifest's annotation, the state's plain sidecar), and a new secret makes every
delivery of the client stale.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

PREFIX = "hmac-sha256:"
_CONTEXT = b"dcrsync delivery v1\0"


def delivery_hash(secret: str | None, target_id: str, content: Mapping[str, Any]) -> str:
    """HMAC-SHA256 over the target and what it delivers, keyed by the client's secret (or by a fixed
    key when the client has none, whose bundles then hold nothing secret)."""
    key = hashlib.sha256(_CONTEXT + (secret or "").encode()).digest()
    blob = json.dumps({"target": target_id, "content": content}, sort_keys=True, separators=(",", ":"))
    return PREFIX + hmac.new(key, blob.encode(), hashlib.sha256).hexdigest()
