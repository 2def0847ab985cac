"""Benchmark: `dcrsync validate` of N client files against a script that only parses them with libyaml.

    python -m tests.bench.bench_validate [--files 10000] [--rounds 7]

Paired runs (medians of the per-round ratios), each side a whole process started the same way:
- cold: the client cache empty (a fresh folder each round: the first run after a change to every
  file, or CI without a kept cache); target <= 2x the parse-only script;
- warm: the files unchanged since the last run (the cache of the previous run); reported;
- in-process: CPU of `run_validate` in this process when the files did not change; target <= 1 s;
- linear: cold per-file time at 1,000 against N.
`pytest -m bench tests/bench/bench_validate.py` runs a smaller version (the default run skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.bench.pairs import dcrsync_argv, paired, python, timed

TARGET_COLD = 2.0
TARGET_WARM_CPU = 1.0  # seconds

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
require_pkce: true
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

CONFIG = "clients: clients/\nvars: {domain: example.com}\nserver: {kind: hydra, admin_url: http://127.0.0.1:1}\n"

#: the least a script does to read the same files: walk the folder, parse every document with libyaml
PARSE_ONLY = r"""
import os, sys, yaml
n = 0
for root, dirs, files in os.walk(sys.argv[1]):
    for name in files:
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(root, name), "rb") as fh:
                n += sum(1 for _ in yaml.load_all(fh.read(), Loader=yaml.CSafeLoader))
print(n)
"""


def write_project(root: Path, n: int) -> Path:
    for i in range(n):
        sub = root / "clients" / f"team-{i % 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"client-{i:05d}.yaml").write_text(_TEMPLATES[i % 2].format(i=i))
    (root / "dcrsync.yaml").write_text(CONFIG)
    return root


def _validate(root: Path, cache: Path, n: int) -> float:
    env = {**os.environ, "DCRSYNC_CLIENT_CACHE": str(cache)}
    run = timed(dcrsync_argv("validate"), cwd=root, env=env)
    assert run.returncode == 0 and run.stdout.startswith(f"{n} clients in {n} files: 0 errors"), run.stdout[-500:]
    return run.wall


def _parse(root: Path, n: int) -> float:
    run = python(PARSE_ONLY, str(root / "clients"))
    assert run.returncode == 0 and run.stdout.strip() == str(n), run.stderr
    return run.wall


def warm_cpu(root: Path, cache: Path) -> float:
    """CPU seconds of `run_validate` in this process, the files unchanged since the last run."""
    from dcrsync.commands.validate import _config, run_validate

    os.environ["DCRSYNC_CLIENT_CACHE"] = str(cache)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        config = _config(None, None, root)
        run_validate((), config)  # the previous run (and this process's imports)
        best = []
        for _ in range(3):
            start = time.process_time()
            result = run_validate((), config)
            best.append(time.process_time() - start)
            assert result.ok
        return min(best)
    finally:
        os.chdir(cwd)


def measure(n: int, rounds: int, work: Path) -> dict:
    root = write_project(work / f"project-{n}", n)
    counter = iter(range(10_000))

    def cold() -> float:
        return _validate(root, work / f"cold-{n}-{next(counter)}", n)

    warm_cache = work / f"warm-{n}"
    _validate(root, warm_cache, n)
    _parse(root, n)
    figs = {
        "files": n,
        "cold": paired(lambda: _parse(root, n), cold, rounds).report(f"validate {n:,} files, cache empty"),
        "warm": paired(lambda: _parse(root, n), lambda: _validate(root, warm_cache, n), rounds).report(
            f"validate {n:,} files unchanged since the last run"),
        "in_process_cpu_unchanged_s": round(warm_cpu(root, warm_cache), 3),
    }
    figs["ok"] = figs["cold"]["ratio_median_of_pairs"] <= TARGET_COLD and \
        figs["in_process_cpu_unchanged_s"] <= TARGET_WARM_CPU
    return figs


def linear(small: dict, big: dict) -> float:
    """Per-file cold time at the big size over the small size's (1.00 = linear)."""
    return round((big["cold"]["dcrsync_median"] / big["files"]) / (small["cold"]["dcrsync_median"] / small["files"]), 2)


@pytest.mark.bench
def test_validate_ratios(tmp_path: Path) -> None:
    fig = measure(2_000, 3, tmp_path)
    print(json.dumps(fig))
    assert fig["ok"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dcrsync-bench-validate-") as tmp:
        small = measure(1_000, args.rounds, Path(tmp))
        print("validate:", json.dumps(small), flush=True)
        big = measure(args.files, args.rounds, Path(tmp))
        print("validate:", json.dumps(big), flush=True)
        print("validate: per-file cold time at", f"{args.files:,} over 1,000:", linear(small, big), flush=True)
    return 0 if big["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
