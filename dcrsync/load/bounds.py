"""What a project may make dcrsync read: files inside its folder, and not too much of them.

A branch controls `clients:`, the client files and what they point at. A file that resolves outside
the project's folder (a symlink out of `clients/`, a glob that reaches out) is refused, as is anything
that is not a plain file (a FIFO would block the read); the client files together are read only up
to `MAX_TOTAL_BYTES` (each one is bounded by `yamlsource.MAX_FILE_BYTES`).
"""

from __future__ import annotations

import os
import stat

from dcrsync.load.yamlsource import MAX_FILE_BYTES

#: what the client files of one project may hold together
MAX_TOTAL_BYTES = 2 * MAX_FILE_BYTES


def _real(full: str, folders: dict[str, str]) -> str:
    """`os.path.realpath(full)`, with each folder resolved once per load (thousands of files share a few)."""
    if os.path.islink(full):
        return os.path.realpath(full)
    folder, name = os.path.split(full)
    if folder not in folders:
        folders[folder] = os.path.realpath(folder)
    return os.path.join(folders[folder], name)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def outside(full: str, root: str | None, strict: bool = True, folders: dict[str, str] | None = None) -> str | None:
    """Why `full` may not be read from the project whose real folder is `root`: it is a symlink that
    leads out of it, or (`strict`) it is outside it at all; None when it may be read. `folders`: the
    real path of each folder seen so far in this load."""
    if root is None:
        return None
    real = _real(full, {} if folders is None else folders)
    if _inside(real, root):
        return None
    if _inside(os.path.abspath(full), root):
        return f"leads outside the project (to {real}): client files must stay inside {root}; replace the symlink by the file"
    if strict:
        return f"is outside the project ({root}): client files must be inside the folder of dcrsync.yaml"
    return None


def oversize(full: str, total: int) -> tuple[int, str | None]:
    """The total after reading `full`, and why it must not be read (not a regular file, or the
    project's files together hold more than MAX_TOTAL_BYTES)."""
    try:
        info = os.stat(full)
    except OSError:
        return total, None  # reading it says what is wrong
    if not stat.S_ISREG(info.st_mode):
        return total, None if stat.S_ISDIR(info.st_mode) else "is not a regular file: client files must be plain files"
    total += info.st_size
    if total > MAX_TOTAL_BYTES:
        limit = MAX_TOTAL_BYTES // (1024 * 1024)
        return total, f"the client files together hold more than {limit} MiB: this one and those after it were not read"
    return total, None
