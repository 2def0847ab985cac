"""A cold load's later files read by a forked helper while this process reads the earlier ones.

A client file the cache (`dcrsync.load.clientcache`) does not hold costs ~0.2 ms of CPU to parse,
check, locate and lint: at 10,000 files, most of a cold `validate`. Where a second CPU is there, a
forked child reads the later files into cache entries (the entries a clean load keeps, with their
lint findings) while the parent reads the earlier ones; the parent then takes the child's entries as
if they came from the cache file, so a file the child read cleanly is a cache hit, and every other
file (refused, in error, reading the environment) is read by the parent as usual. The child's work
is only a hint: whatever goes wrong with it (it dies, its answer is cut short), the parent reads
those files itself and loses only time.

Only where it pays and is safe: Linux (macOS's system libraries are not safe to use after a fork,
and Windows has none), two CPUs or more, at least `MIN_FILES` files not in the cache, and no other
thread running (a fork copies the calling thread alone: a lock another thread holds would stay held
in the child). `DCRSYNC_PARALLEL_LOAD=0` turns it off.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: below this many files, a fork and the entries' round trip cost more than they save
MIN_FILES = 2000
#: the share of the files this process reads itself: the child is a little slower a file (each page it
#: writes is copied), and the parent then takes the child's entries
OWN_SHARE = 0.52


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worth_it(files: int, environ: Mapping[str, str] = os.environ) -> bool:
    """A helper may read some of the files: `files` of them are not in the cache."""
    return (
        files >= MIN_FILES
        and environ.get("DCRSYNC_PARALLEL_LOAD", "") != "0"
        and sys.platform.startswith("linux")
        and threading.active_count() == 1
        and _cpus() >= 2
    )


def split(files: int) -> int:
    """How many of the files this process reads itself (the helper reads the rest)."""
    return int(files * OWN_SHARE)


@dataclass
class Helper:
    """A forked child working on its share; `collect` its answer once, or `cancel` it."""

    pid: int
    fd: int
    done: bool = False

    def collect(self) -> dict[str, Any]:
        """The child's entries (shown name -> cache entry); empty when it failed in any way."""
        chunks: list[bytes] = []
        try:
            while chunk := os.read(self.fd, 1 << 20):
                chunks.append(chunk)
        except OSError:
            chunks = []
        code = self._reap()
        if code != 0 or not chunks:
            return {}
        try:
            out = marshal.loads(b"".join(chunks))  # our own child's, through a pipe only we hold
        except (ValueError, EOFError, TypeError):
            return {}
        return out if isinstance(out, dict) else {}

    def cancel(self) -> None:
        """Stop the child and reap it (the parent leaves without its answer)."""
        if not self.done:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap()

    def _reap(self) -> int:
        if self.done:
            return 1
        self.done = True
        with contextlib.suppress(OSError):
            os.close(self.fd)
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return 1
        return os.waitstatus_to_exitcode(status)


def start(work: Callable[[], dict[str, Any]]) -> Helper | None:
    """Fork a child that runs `work` and sends back what it returns; None when it cannot start."""
    try:
        read, write = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid == 0:  # the child: never returns, never runs the parent's exit handlers or flushes its output
        code = 1
        try:
            os.close(read)
            view = memoryview(marshal.dumps(work()))
            while view:
                view = view[os.write(write, view):]
            code = 0
        except BaseException:  # noqa: BLE001, S110 - the parent reads the files itself
            pass
        finally:
            os._exit(code)
    os.close(write)
    return Helper(pid, read)
