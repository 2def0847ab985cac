"""Benchmark: a no-change plan from 1,000 to 30,000 Hydra clients — time and memory linear.

    python -m tests.bench.bench_scale [--sizes 1000,3000,10000,30000] [--rounds 3]

One project grows on one real Hydra (dcrsync apply creates each step's new clients). At each size,
paired rounds of the list-and-parse script and a no-change plan (client cache warm), medians; and
the plan process's peak RSS. Linear means the plan's ratio to the script (which is linear by
construction) stays flat, its time per client at the largest size is within 1.3x of the smallest's,
and its memory per client above the smallest size's does not grow.
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
                "token_endpoint_auth_method": "none"}
        (clients / f"c-{i:05d}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    config = {"clients": "clients/", "state": "state.sops.yaml", "sops": {"age": [recipient]},
              "server": {"kind": "hydra", "admin_url": admin_url}, "owner": "bench-scale",
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

    def plan() -> float:
        run = plan_run(root, cache)
        rss.append(run.rss_mb)
        return run.wall

    fig = paired(lambda: list_and_parse(admin_url, root).wall, plan, rounds).report(f"no-change plan, {n:,} clients")
    fig["clients"] = n
    fig["peak_rss_mb"] = round(statistics.median(rss), 1)
    return fig


def verdict(figs: list[dict]) -> dict:
    small, big = figs[0], figs[-1]
    per_client = (big["dcrsync_median"] / big["clients"]) / (small["dcrsync_median"] / small["clients"])
    mem = [(f["peak_rss_mb"] - small["peak_rss_mb"]) / (f["clients"] - small["clients"]) * 1024 for f in figs[1:]]
    ratios = [f["ratio_median_of_pairs"] for f in figs]
    return {
        "time_per_client_largest_over_smallest": round(per_client, 2),
        "kb_per_client_above_smallest": [round(m, 1) for m in mem],
        "ratio_to_script_by_size": ratios,
        "ok": per_client <= 1.3 and mem[-1] <= 1.2 * max(mem[0], 1.0) and max(ratios) <= 2.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,3000,10000,30000")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="dcrsync-bench-scale-"))
    identity = pyrage.x25519.Identity.generate()
    (work / "key.txt").write_text(f"{identity}\n")
    os.environ["SOPS_AGE_KEY_FILE"] = str(work / "key.txt")
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
