"""Killing an apply with SIGKILL at a chosen moment, for the crash-convergence tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def start_apply(project, log: Path, parallelism: int = 4, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """`dcrsync apply` as its own process group, its output in a file (a pipe nobody reads would block it)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dcrsync", "apply", "--config", str(project.config), "--auto-approve",
             "--parallelism", str(parallelism), *extra],
            stdout=out, stderr=subprocess.STDOUT, cwd=project.root, start_new_session=True,
        )


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], deadline: float = 120) -> bool:
    """SIGKILL the apply once `ready()` holds; False if it finished first."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        asked = time.monotonic()
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        # a probe that asks a server (a list) takes CPU the apply under test needs: at most half the time
        time.sleep(max(0.003, time.monotonic() - asked))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    pytest.fail("the apply neither finished nor reached the kill point in time")


def journal_batches(state: Path) -> int:
    journal = state.with_name(state.name + ".journal")
    try:
        return len([f for f in journal.iterdir() if not f.name.startswith(".")])
    except FileNotFoundError:  # not made yet, or folded and removed at the end
        return 0
