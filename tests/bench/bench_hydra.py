"""Benchmarks against a real Ory Hydra: plan over 10,000 clients, apply of 1,000 creates.

    python -m tests.bench.bench_hydra [--clients 10000] [--creates 1000]

Each figure is a ratio against a baseline measured in the same run on the same server, since
these machines are shared and noisy (paired rounds, medians: tests/bench/pairs.py): a script that
lists every client and parses every client file for plan (target <= 2x), a bare httpx POST loop at
the same concurrency for apply (target <= 1.15x).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyrage
import yaml

from tests.bench.pairs import Timed, dcrsync_argv, paired, python, timed
from tests.servers.hydra import start_hydra


def write_project(root: Path, admin_url: str, recipient: str, owner: str, n: int, confidential: bool) -> None:
    clients = root / "clients"
    clients.mkdir(parents=True)
    for i in range(n):
        body = {"name": f"c-{i:05d}", "client_name": f"Client {i}"}
        if confidential:
            body |= {"grant_types": ["client_credentials"], "scope": "openid"}
        else:
            body |= {"grant_types": ["authorization_code"], "response_types": ["code"],
                     "redirect_uris": [f"https://app{i}.example.com/cb"], "token_endpoint_auth_method": "none", "require_pkce": True}
        (clients / f"c-{i:05d}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    config = {"clients": "clients/", "state": "state.sops.yaml", "sops": {"age": [recipient]},
              "server": {"kind": "hydra", "admin_url": admin_url}, "owner": owner, "project": owner,
              "safety": {"min_existing": 1_000_000}}
    (root / "dcrsync.yaml").write_text(yaml.safe_dump(config))


def dcrsync(root: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dcrsync", *args, "--config", str(root / "dcrsync.yaml")],
                          capture_output=True, text=True, cwd=root)
    return time.perf_counter() - start, proc


def bare_creates(admin_url: str, n: int, parallelism: int, owner: str) -> float:
    with httpx.Client(base_url=admin_url, limits=httpx.Limits(max_connections=parallelism * 2)) as http:
        def one(i: int) -> None:
            http.post("/admin/clients", json={"client_name": f"b{i}", "grant_types": ["client_credentials"],
                                              "scope": "openid", "owner": owner}).raise_for_status()
        start = time.perf_counter()
        with ThreadPoolExecutor(parallelism) as pool:
            list(pool.map(one, range(n)))
        return time.perf_counter() - start


#: the least a script does for the same inputs as a no-change plan: list every client (all pages) and parse
#: every client file with libyaml
LIST_AND_PARSE = r"""
import os, sys, httpx, yaml
admin, folder = sys.argv[1], sys.argv[2]
n = docs = 0
with httpx.Client(base_url=admin, timeout=60) as http:
    params = {"page_size": 500}
    while True:
        r = http.get("/admin/clients", params=params)
        page = r.json()
        n += len(page)
        nxt = r.links.get("next", {}).get("url")
        if not page or not nxt:
            break
        params = {"page_size": 500, "page_token": httpx.URL(nxt).params["page_token"]}
for root, dirs, files in os.walk(folder):
    for name in files:
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(root, name), "rb") as fh:
                docs += sum(1 for _ in yaml.load_all(fh.read(), Loader=yaml.CSafeLoader))
print(n, docs)
"""


def list_and_parse(admin_url: str, root: Path) -> Timed:
    run = python(LIST_AND_PARSE, admin_url, str(root / "clients"))
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def plan_run(root: Path, cache: Path) -> Timed:
    env = {**os.environ, "DCRSYNC_CLIENT_CACHE": str(cache)}
    run = timed(dcrsync_argv("plan", "--detailed-exitcode", "--config", str(root / "dcrsync.yaml")), cwd=root, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run


def seed(root: Path, admin_url: str, recipient: str, owner: str, n: int) -> None:
    """The project's n clients created on the server by dcrsync apply (server and state seeded)."""
    write_project(root, admin_url, recipient, owner, n, confidential=False)
    t = time.perf_counter()
    _, proc = dcrsync(root, "apply", "--auto-approve", "--parallelism", "16")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    print(f"seeded {n} clients with dcrsync apply in {time.perf_counter() - t:.1f}s", flush=True)


def bench_plan(admin_url: str, recipient: str, n: int, work: Path, rounds: int = 5) -> dict:
    """A no-change plan, paired with the list-and-parse script: the client cache warm (files unchanged
    since the last run: the target, <= 2x) and empty (reported)."""
    root = work / "plan"
    seed(root, admin_url, recipient, "bench-plan", n)
    from dcrsync.backends.hydra import HydraBackend

    backend = HydraBackend({"kind": "hydra", "admin_url": admin_url})
    count = {"n": 0}  # requests counted in-process through an httpx event hook
    backend.http.event_hooks["request"].append(lambda req: count.__setitem__("n", count["n"] + 1))
    fetched = backend.fetch()
    backend.close()
    warm_cache, cold = work / "plan-cache", iter(range(1000))
    plan_run(root, warm_cache)
    rss: list[float] = []

    def warm() -> float:
        run = plan_run(root, warm_cache)
        rss.append(run.rss_mb)
        return run.wall

    warm_fig = paired(lambda: list_and_parse(admin_url, root).wall, warm, rounds).report(
        f"no-change plan, {n:,} clients, files unchanged since the last run")
    cold_fig = paired(lambda: list_and_parse(admin_url, root).wall,
                      lambda: plan_run(root, work / f"plan-cold-{next(cold)}").wall, rounds).report(
        f"no-change plan, {n:,} clients, client cache empty")
    budget = math.ceil(len(fetched.clients) / 500) + 2
    return {
        "clients_on_server": len(fetched.clients), "http_requests": count["n"], "request_budget": budget,
        "warm": warm_fig, "cold": cold_fig, "peak_rss_mb": round(max(rss), 1),
        "ok": count["n"] <= budget and warm_fig["ratio_median_of_pairs"] <= 2.0,
    }


def delete_all(admin_url: str, parallelism: int) -> None:
    """Every client on the server deleted (between benchmark rounds)."""
    with httpx.Client(base_url=admin_url, timeout=60) as http:
        ids: list[str] = []
        params: dict = {"page_size": 500}
        while True:
            r = http.get("/admin/clients", params=params)
            ids += [c["client_id"] for c in r.json()]
            nxt = r.links.get("next", {}).get("url")
            if not r.json() or not nxt:
                break
            params = {"page_size": 500, "page_token": httpx.URL(nxt).params["page_token"]}
        with ThreadPoolExecutor(parallelism) as pool:
            list(pool.map(lambda cid: http.delete(f"/admin/clients/{cid}"), ids))


def bench_apply(admin_url: str, recipient: str, n: int, parallelism: int, work: Path, rounds: int = 5) -> dict:
    """A bare POST loop and a dcrsync apply (in this process, as the loop) in alternating order, `rounds`
    times each after a warm-up round of each; the median of the per-round ratios (target <= 1.15). The
    report also splits each apply's time: before its first create is sent, its creates (the parallel
    step, whose ratio to the bare loop of the same round is given too), and after the last answer."""
    from click.testing import CliRunner

    from dcrsync.apply.applier import Applier
    from dcrsync.cli import cli

    counter = iter(range(1000))
    waves: list[tuple[float, float]] = []  # (start, end) of each parallel step of the apply running
    phases: list[dict[str, float]] = []

    def ours() -> float:
        k = next(counter)
        root = work / f"apply-{k}"
        write_project(root, admin_url, recipient, f"bench-apply-{k}", n, confidential=True)
        waves.clear()
        start = time.perf_counter()
        result = CliRunner().invoke(cli, ["apply", "--config", str(root / "dcrsync.yaml"), "--auto-approve",
                                          "--parallelism", str(parallelism)], catch_exceptions=False)
        end = time.perf_counter()
        assert result.exit_code == 0, result.output[-3000:]
        phases.append({"before": waves[0][0] - start, "creates": waves[-1][1] - waves[0][0], "after": end - waves[-1][1]})
        return end - start

    bare = iter(range(1000))

    def cleared(run: Callable[[], float]) -> Callable[[], float]:
        """Each side starts from an empty server: otherwise the apply, which lists the server first,
        would list every client the earlier rounds created (the bare loop lists nothing)."""
        def go() -> float:
            took = run()
            delete_all(admin_url, parallelism)
            return took
        return go

    plain = Applier._parallel

    def timed_step(self: Applier, jobs: list) -> None:
        if not jobs:
            return plain(self, jobs)
        began = time.perf_counter()
        try:
            return plain(self, jobs)
        finally:
            waves.append((began, time.perf_counter()))

    delete_all(admin_url, parallelism)
    # the apply includes loading the YAML, listing the server, planning, journaling every secret
    # and writing the encrypted state through sops; the bare loop only POSTs. Both run in this process,
    # so one uncounted round of each comes first: the apply's first round also imports what apply loads
    # on first use and compiles the schema check (~0.15-0.25 s, once per process; the bare loop's httpx
    # is imported before it is timed), which `bench_cli` and `bench_validate` measure as processes.
    Applier._parallel = timed_step
    try:
        pairs = paired(cleared(lambda: bare_creates(admin_url, n, parallelism, f"bare-{next(bare)}")), cleared(ours),
                       rounds, warmup=1)
    finally:
        Applier._parallel = plain
    fig = pairs.report(f"apply of {n:,} creates at parallelism {parallelism} vs a bare httpx POST loop (after a warm-up round)")
    counted = phases[1:]  # phases[0] is the warm-up round's
    fig["phases_median_s"] = {k: round(statistics.median(p[k] for p in counted), 3) for k in ("before", "creates", "after")}
    fig["creates_vs_bare_median"] = round(statistics.median(p["creates"] / b for p, b in zip(counted, pairs.baseline, strict=True)), 3)
    fig["ok"] = fig["ratio_median_of_pairs"] <= 1.15
    return fig


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--creates", type=int, default=1_000)
    ap.add_argument("--parallelism", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5, help="paired rounds (medians)")
    ap.add_argument("--only", choices=["plan", "apply"], help="run one benchmark")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dcrsync-bench-"))
    identity = pyrage.x25519.Identity.generate()
    (work / "key.txt").write_text(f"{identity}\n")
    os.environ["SOPS_AGE_KEY_FILE"] = str(work / "key.txt")
    os.environ["DCRSYNC_CLIENT_CACHE"] = str(work / "client-cache")  # never the user's own cache
    # each benchmark on its own fresh Hydra, so neither lists the other's clients
    apply_fig = plan_fig = {"ok": True}
    if args.only in (None, "apply"):
        hydra = start_hydra(work / "hydra-apply")
        try:
            apply_fig = bench_apply(hydra.admin_url, str(identity.to_public()), args.creates, args.parallelism,
                                    work, rounds=args.rounds)
            print("apply:", apply_fig, flush=True)
        finally:
            hydra.stop()
    if args.only in (None, "plan"):
        hydra = start_hydra(work / "hydra-plan")
        try:
            plan_fig = bench_plan(hydra.admin_url, str(identity.to_public()), args.clients, work, rounds=args.rounds)
            print("plan:", plan_fig, flush=True)
        finally:
            hydra.stop()
    return 0 if apply_fig["ok"] and plan_fig["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
