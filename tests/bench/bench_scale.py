"""Benchmark: a no-change plan from 1,000 to 30,000 Hydra clients — time and memory linear.

    python -m tests.bench.bench_scale [--sizes 1000,3000,10000,30000] [--rounds 3]

One project grows on one real Hydra (dcrsync apply creates each step's new clients). At each size,
paired rounds of the list-and-parse script and a no-change plan (client cache warm), medians; and
the plan process's own CPU and peak RSS. Linear means: what each further client costs the plan
process (CPU and peak memory) from one size to the next does not grow (within 1.3x), and the plan's
wall-time ratio to the script at the largest size stays <= 2 (wall time includes the server's
listing, which both wait for).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyrage
import yaml

from tests.bench.bench_hydra import dcrsync, list_and_parse, plan_run
from tests.bench.pairs import paired
from tests.servers.hydra import start_hydra


def grow(root: Path, admin_url: str, recipient: str, start: int, n: int) -> float:
    """Clients start..n-1 written and created on the server; seconds the apply took."""
    clients = root / "clients"
    clients.mkdir(parents=True, exist_ok=True)
    for i in range(start, n):
        body = {"name": f"c-{i:05d}", "client_name": f"Client {i}", "grant_types": ["authorization_code"],
                "response_types": ["code"], "redirect_uris": [f"https://app{i}.example.com/cb"],
                "token_endpoint_auth_method": "none", "require_pkce": True}
        (clients / f"c-{i:05d}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    config = {"clients": "clients/", "state": "state.sops.yaml", "sops": {"age": [recipient]},
              "server": {"kind": "hydra", "admin_url": admin_url}, "owner": "bench-scale", "project": "bench-scale",
              "safety": {"min_existing": 1_000_000, "max_update_percent": 100, "max_delete_percent": 100}}
    (root / "dcrsync.yaml").write_text(yaml.safe_dump(config))
    t = time.perf_counter()
    _, proc = dcrsync(root, "apply", "--auto-approve", "--parallelism", "16")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return time.perf_counter() - t


def at_size(root: Path, admin_url: str, n: int, rounds: int, work: Path) -> dict:
    cache = work / f"cache-{n}"
    plan_run(root, cache)  # the run before: the cache is warm
    rss: list[float] = []
    cpu: list[float] = []

    def plan() -> float:
        run = plan_run(root, cache)
        rss.append(run.rss_mb)
        cpu.append(run.cpu)
        return run.wall

    fig = paired(lambda: list_and_parse(admin_url, root).wall, plan, rounds).report(f"no-change plan, {n:,} clients")
    fig["clients"] = n
    fig["peak_rss_mb"] = round(statistics.median(rss), 1)
    # the plan process's own CPU (user + system); the least of the rounds, as CPU time only grows with noise
    fig["cpu_min"] = round(min(cpu), 3)
    return fig


def verdict(figs: list[dict]) -> dict:
    """Linear: what each further client costs the plan process (CPU, peak memory) from one size to the
    next does not grow, and its wall-time ratio to the script (linear by construction, bar the server's
    listing, which both wait for) stays <= 2 at the largest size. The first size carries the fixed
    start-up cost, so the growth is measured from the second step on."""
    def marginal(a: dict, b: dict, key: str, scale: float) -> float:
        return round((b[key] - a[key]) / (b["clients"] - a["clients"]) * scale, 3)

    steps = list(zip(figs, figs[1:], strict=False))
    cpu = [marginal(a, b, "cpu_min", 1000) for a, b in steps]
    wall = [marginal(a, b, "dcrsync_median", 1000) for a, b in steps]
    script = [marginal(a, b, "baseline_median", 1000) for a, b in steps]
    kb = [marginal(a, b, "peak_rss_mb", 1024) for a, b in steps]
    first = 1 if len(steps) > 2 else 0
    out = {
        "cpu_ms_per_further_client": cpu, "wall_ms_per_further_client": wall,
        "script_wall_ms_per_further_client": script, "kb_per_further_client": kb,
        "ratio_to_script_by_size": [f["ratio_median_of_pairs"] for f in figs],
        "cpu_marginal_growth": round(cpu[-1] / cpu[first], 2), "memory_marginal_growth": round(kb[-1] / kb[first], 2),
    }
    out["ok"] = out["cpu_marginal_growth"] <= 1.3 and out["memory_marginal_growth"] <= 1.3 and \
        figs[-1]["ratio_median_of_pairs"] <= 2.0
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,3000,10000,30000")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="dcrsync-bench-scale-"))
    identity = pyrage.x25519.Identity.generate()
    (work / "key.txt").write_text(f"{identity}\n")
    os.environ["SOPS_AGE_KEY_FILE"] = str(work / "key.txt")
    os.environ["DCRSYNC_CLIENT_CACHE"] = str(work / "client-cache")  # never the user's own cache
    hydra = start_hydra(work / "hydra")
    figs: list[dict] = []
    try:
        have = 0
        for n in sizes:
            took = grow(work / "project", hydra.admin_url, str(identity.to_public()), have, n)
            print(f"grew to {n:,} clients in {took:.0f}s", flush=True)
            have = n
            figs.append(at_size(work / "project", hydra.admin_url, n, args.rounds, work))
            print("scale:", json.dumps(figs[-1]), flush=True)
    finally:
        hydra.stop()
    result = verdict(figs)
    print("scale:", json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
