"""Benchmark: `load_clients` + `lint` over N small client files (N = 1,000 / 5,000 / 10,000).

Run: `.venv/bin/python -m tests.bench.bench_validate` (asserts 10k < 3 s), or
`.venv/bin/pytest -m bench tests/bench/bench_validate.py` (the default test run skips it).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pytest

from dcrsync.lint import lint
from dcrsync.loader import load_clients

SIZES = (1_000, 5_000, 10_000)
BUDGET_10K = 3.0  # seconds

_TEMPLATES = (
    """name: web-{i}
client_name: Web app {i}
grant_types: [authorization_code, refresh_token]
response_types: [code]
redirect_uris:
  - https://app-{i}.${{var:domain}}/callback
  - http://127.0.0.1:8080/callback
scope: openid profile offline_access
token_endpoint_auth_method: client_secret_basic
contacts: [team-{i}@example.com]
""",
    """name: svc-{i}
client_name: Service {i}
grant_types: [client_credentials]
scope: api.read api.write
hydra:
  audience: [https://api.example.com]
  client_credentials_grant_access_token_lifespan: 1h0m0s
""",
)


def write_clients(root: Path, n: int) -> Path:
    folder = root / f"clients-{n}"
    for i in range(n):
        sub = folder / f"team-{i % 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"client-{i:05d}.yaml").write_text(_TEMPLATES[i % 2].format(i=i))
    return folder


def run_once(folder: Path) -> tuple[float, int, int]:
    start = time.perf_counter()
    result = load_clients([folder], vars={"domain": "example.com"}, environ={})
    diagnostics = lint(result.clients)
    elapsed = time.perf_counter() - start
    return elapsed, len(result.clients), len(result.errors) + len(diagnostics)


def measure(sizes: tuple[int, ...] = SIZES, repeat: int = 3) -> dict[int, float]:
    """Best-of-`repeat` seconds per size."""
    best: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            folder = write_clients(Path(tmp), n)
            times = []
            for _ in range(repeat):
                elapsed, count, problems = run_once(folder)
                assert count == n and problems == 0, (count, problems)
                times.append(elapsed)
            best[n] = min(times)
    return best


def report(best: dict[int, float]) -> str:
    lines = [f"{n:>6} files: {t:6.3f} s  ({t / n * 1e6:5.1f} µs/file)" for n, t in best.items()]
    lo, hi = min(best), max(best)
    ratio = (best[hi] / hi) / (best[lo] / lo)
    lines.append(f"per-file time at {hi:,} vs {lo:,}: x{ratio:.2f} (1.00 = linear)")
    return "\n".join(lines)


@pytest.mark.bench
def test_validate_10k_under_budget() -> None:
    best = measure()
    print(report(best))
    assert best[10_000] < BUDGET_10K


def main() -> int:
    best = measure()
    print(report(best))
    if best[10_000] >= BUDGET_10K:
        print(f"FAIL: 10,000 files took {best[10_000]:.2f} s (budget {BUDGET_10K} s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
