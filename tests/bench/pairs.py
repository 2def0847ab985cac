"""What the benchmarks share: a command timed as a process, and paired runs reported as medians.

The machine is shared and noisy, so every figure is a ratio against a baseline measured in the same
run: each round runs the baseline and dcrsync back to back (in alternating order), and the report
gives the median of each side and the median of the per-round ratios, with the load average before
and after so a reader knows how loaded the machine was.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

# Both sides run as `pip install` leaves them, with their modules' bytecode at hand: a machine that sets
# PYTHONDONTWRITEBYTECODE (this one does) would otherwise have every dcrsync run compile its ~190 modules
# from source (~0.15 s), which no installed dcrsync does. The bytecode goes under the venv, as in scripts/test.sh.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ.setdefault("PYTHONPYCACHEPREFIX", str(Path(sys.prefix) / "pycache"))


@dataclass
class Timed:
    wall: float  # seconds
    cpu: float  # user + system seconds of the process
    rss_mb: float  # its peak resident set
    returncode: int
    stdout: str
    stderr: str


def timed(argv: list[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Timed:
    """Run a process; its wall time, and its own CPU time and peak RSS (os.wait4's rusage)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=dict(env) if env is not None else None, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Timed(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode,
                     out.read(), err.read())


def python(code: str, *args: str, **kw) -> Timed:
    return timed([sys.executable, "-c", code, *args], **kw)


def dcrsync_argv(*args: str) -> list[str]:
    """The `dcrsync` command of this Python's environment (its console script), else `python -m dcrsync`."""
    script = Path(sys.executable).with_name("dcrsync")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "dcrsync", *args]


@dataclass
class Paired:
    baseline: list[float]
    ours: list[float]
    load_before: float
    load_after: float

    @property
    def ratios(self) -> list[float]:
        return [o / b for o, b in zip(self.ours, self.baseline, strict=True)]

    @property
    def ratio(self) -> float:
        """The median of the per-round ratios."""
        return statistics.median(self.ratios)

    def report(self, what: str, unit: str = "s") -> dict[str, object]:
        return {
            "what": what,
            "baseline_median": round(statistics.median(self.baseline), 3),
            "dcrsync_median": round(statistics.median(self.ours), 3),
            "ratio_median_of_pairs": round(self.ratio, 2),
            "ratios": [round(r, 2) for r in self.ratios],
            "unit": unit,
            "load_average": [round(self.load_before, 1), round(self.load_after, 1)],
        }


def paired(baseline: Callable[[], float], ours: Callable[[], float], rounds: int, warmup: int = 0) -> Paired:
    """`rounds` rounds of both, back to back, the order alternating round by round; first `warmup`
    rounds of each that are not counted (where both run in this process: the first round of each pays
    its one-time costs, such as the modules it imports on first use)."""
    for _ in range(warmup):
        baseline()
        ours()
    load_before = os.getloadavg()[0]
    b: list[float] = []
    o: list[float] = []
    for k in range(rounds):
        if k % 2 == 0:
            b.append(baseline())
            o.append(ours())
        else:
            o.append(ours())
            b.append(baseline())
    return Paired(b, o, load_before, os.getloadavg()[0])
