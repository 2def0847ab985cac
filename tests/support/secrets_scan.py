"""Look for plaintext secrets in every file below some folders."""

from __future__ import annotations

import os
import re
from pathlib import Path

TOKEN = re.compile(rb"[A-Za-z0-9_\-.~+/=]{16,}")


def files_containing(secrets: set[str], roots: list[Path], max_bytes: int = 64 << 20) -> list[tuple[Path, str]]:
    """Every (file, secret) where the secret appears in plaintext in the file."""
    wanted = {s.encode() for s in secrets}
    hits: list[tuple[Path, str]] = []
    for root in roots:
        for folder, _dirs, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                try:
                    if not path.is_file() or path.stat().st_size > max_bytes:
                        continue
                    data = path.read_bytes()
                except OSError:
                    continue
                for secret in wanted:
                    if secret in data:
                        hits.append((path, secret.decode()))
    return hits
