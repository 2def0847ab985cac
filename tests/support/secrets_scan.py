"""Look for plaintext secrets in every file below some folders.

A secret a test looks for was minted by a server during this test session, so only files written
since the session began can hold it: older files (most of a shared machine's temp folder) are
skipped by their modification time, not read. So are files over 8 MiB: the largest file dcrsync writes
in these tests (the state and journal of 400 clients) is well under 1 MiB, while the large ones are other
programs' (the sops binaries of the release tests, 45 MB each; servers' databases), and reading them for
300 secrets cost a crash test 30 s of CPU.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

TOKEN = re.compile(rb"[A-Za-z0-9_\-.~+/=]{16,}")
#: before any test of this session ran (imported at collection), with a minute's slack for clocks
SESSION_BEGAN = time.time() - 60


def files_containing(secrets: set[str], roots: list[Path], max_bytes: int = 8 << 20) -> list[tuple[Path, str]]:
    """Every (file, secret) where the secret appears in plaintext in the file."""
    wanted = {s.encode() for s in secrets}
    hits: list[tuple[Path, str]] = []
    for root in roots:
        for folder, _dirs, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                try:
                    info = path.stat()
                    if not path.is_file() or info.st_size > max_bytes or info.st_mtime < SESSION_BEGAN:
                        continue
                    data = path.read_bytes()
                except OSError:
                    continue
                for secret in wanted:
                    if secret in data:
                        hits.append((path, secret.decode()))
    return hits
