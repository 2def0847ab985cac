"""Benchmark: a no-change plan from 1,000 to 30,000 Hydra clients — time and memory linear.

    python -m tests.bench.bench_scale [--sizes 1000,3000,10000,30000] [--rounds 3]

One project grows on one real Hydra (dcrsync apply creates each step's new clients). At each size,
paired rounds of the list-and-parse script and a no-change plan (client cache warm), medians; and
the plan process's peak RSS. Linear means: what each further client costs the plan (time and peak
memory) from one size to the next does not grow faster than the script's (which is linear by
construction, bar the server), and the plan's ratio to the script at the largest size stays <= 2.
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
    """Linear: what each further client costs (time, memory) does not grow with the size, and the ratio to
    the script (linear by construction) stays flat. The first size carries the fixed start-up cost, so
    the marginal costs are compared from the second size on."""
    def marginal(a: dict, b: dict, key: str) -> float:
        return (b[key] - a[key]) / (b["clients"] - a["clients"])

    steps = list(zip(figs, figs[1:]))
    ms = [round(marginal(a, b, "dcrsync_median") * 1000, 3) for a, b in steps]
    base = [round(marginal(a, b, "baseline_median") * 1000, 3) for a, b in steps]
    kb = [round(marginal(a, b, "peak_rss_mb") * 1024, 1) for a, b in steps]
    ratios = [f["ratio_median_of_pairs"] for f in figs]
    growth = ms[-1] / ms[1] if len(ms) > 2 else ms[-1] / ms[0]
    base_growth = base[-1] / base[1] if len(base) > 2 else base[-1] / base[0]
    return {
        "ms_per_further_client": ms, "script_ms_per_further_client": base, "kb_per_further_client": kb,
        "ratio_to_script_by_size": ratios,
        "marginal_time_growth": round(growth, 2), "script_marginal_time_growth": round(base_growth, 2),
        "ok": growth <= 1.3 * max(base_growth, 1.0) and kb[-1] <= 1.3 * kb[0] and ratios[-1] <= 2.0,
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
