"""Benchmark: `dcrsync --help` against `python -c "import click"`, paired runs (target: ratio <= 2).

    python -m tests.bench.bench_cli [--rounds 15]

Both are whole processes started the same way (this Python), back to back, in alternating order;
the figure is the median of the per-round ratios of wall time.
"""

from __future__ import annotations

import argparse
import json
import sys

from tests.bench.pairs import dcrsync_argv, paired, python, timed

TARGET = 2.0


def bench_help(rounds: int) -> dict:
    def baseline() -> float:
        return python("import click").wall

    def ours() -> float:
        run = timed(dcrsync_argv("--help"))
        assert run.returncode == 0 and "validate" in run.stdout, run.stderr
        return run.wall

    baseline(), ours()  # warm the page cache for both
    fig = paired(baseline, ours, rounds).report("dcrsync --help vs python -c 'import click'")
    fig["ok"] = fig["ratio_median_of_pairs"] <= TARGET
    return fig


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    fig = bench_help(ap.parse_args().rounds)
    print("help:", json.dumps(fig), flush=True)
    return 0 if fig["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
