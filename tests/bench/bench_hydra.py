"""Benchmarks against a real Ory Hydra: plan over 10,000 clients, apply of 1,000 creates.

    python -m tests.bench.bench_hydra [--clients 10000] [--creates 1000]

Each figure is a ratio against a baseline measured in the same run on the same server, since
these machines are shared and noisy: a bare paginated list for plan, a bare httpx POST loop at
the same concurrency for apply.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyrage
import yaml

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
                     "redirect_uris": [f"https://app{i}.example.com/cb"], "token_endpoint_auth_method": "none"}
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


def bare_list(admin_url: str) -> tuple[float, int]:
    start = time.perf_counter()
    n, pages = 0, 0
    with httpx.Client(base_url=admin_url) as http:
        params: dict = {"page_size": 500}
        while True:
            r = http.get("/admin/clients", params=params)
            pages += 1
            page = r.json()
            n += len(page)
            nxt = r.links.get("next", {}).get("url")
            if not page or not nxt:
                break
            params = {"page_size": 500, "page_token": httpx.URL(nxt).params["page_token"]}
    return time.perf_counter() - start, n


def bare_creates(admin_url: str, n: int, parallelism: int, owner: str) -> float:
    with httpx.Client(base_url=admin_url, limits=httpx.Limits(max_connections=parallelism * 2)) as http:
        def one(i: int) -> None:
            http.post("/admin/clients", json={"client_name": f"b{i}", "grant_types": ["client_credentials"],
                                              "scope": "openid", "owner": owner}).raise_for_status()
        start = time.perf_counter()
        with ThreadPoolExecutor(parallelism) as pool:
            list(pool.map(one, range(n)))
        return time.perf_counter() - start


def bench_plan(admin_url: str, recipient: str, n: int, work: Path) -> dict:
    owner = "bench-plan"
    root = work / "plan"
    write_project(root, admin_url, recipient, owner, n, confidential=False)
    t = time.perf_counter()
    _, proc = dcrsync(root, "apply", "--auto-approve", "--parallelism", "16")  # seeds server and state
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    print(f"seeded {n} clients with dcrsync apply in {time.perf_counter() - t:.1f}s", flush=True)
    # requests counted in-process through an httpx event hook
    from dcrsync.backends.hydra import HydraBackend
    backend = HydraBackend({"kind": "hydra", "admin_url": admin_url})
    count = {"n": 0}
    backend.http.event_hooks["request"].append(lambda req: count.__setitem__("n", count["n"] + 1))
    fetched = backend.fetch()
    backend.close()
    list_wall, listed = min(bare_list(admin_url) for _ in range(3))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    walls = []
    for _ in range(3):
        wall, proc = dcrsync(root, "plan", "--detailed-exitcode")
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        walls.append(wall)
    rss_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    wall = min(walls)
    budget = ceil_pages = math.ceil(listed / 500) + 2
    return {
        "clients_on_server": listed,
        "http_requests": fetched.requests,
        "http_requests_counted": count["n"],
        "request_budget": budget,
        "bare_list_s": round(list_wall, 3),
        "plan_wall_s": round(wall, 3),
        "ratio_plan_to_list": round(wall / list_wall, 2),
        "local_work_s": round(wall - 2 * list_wall, 3),
        "peak_rss_mb": round(rss_mb, 1),
        "ok": count["n"] <= ceil_pages and (wall <= 2 * list_wall + 3.0) and rss_mb < 400,
    }


def bench_apply(admin_url: str, recipient: str, n: int, parallelism: int, work: Path, rounds: int = 3) -> dict:
    """Alternate a bare POST loop and a dcrsync apply, `rounds` times each; compare the best of each."""
    from click.testing import CliRunner

    from dcrsync.cli import cli

    bare, ours = [], []
    for k in range(rounds):
        bare.append(bare_creates(admin_url, n, parallelism, f"bare-{k}"))
        root = work / f"apply-{k}"
        write_project(root, admin_url, recipient, f"bench-apply-{k}", n, confidential=True)
        start = time.perf_counter()
        result = CliRunner().invoke(cli, ["apply", "--config", str(root / "dcrsync.yaml"), "--auto-approve",
                                          "--parallelism", str(parallelism)], catch_exceptions=False)
        ours.append(time.perf_counter() - start)
        assert result.exit_code == 0, result.output[-3000:]
    b, o = min(bare), min(ours)
    # the apply includes loading the YAML, listing the server, planning, journaling every secret
    # through sops and writing the encrypted state; the bare loop only POSTs
    return {"creates": n, "parallelism": parallelism, "bare_httpx_s": [round(x, 2) for x in bare],
            "dcrsync_apply_s": [round(x, 2) for x in ours], "ratio_best": round(o / b, 2),
            "ok": o <= 1.3 * b}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--creates", type=int, default=1_000)
    ap.add_argument("--parallelism", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of each side (best of)")
    ap.add_argument("--only", choices=["plan", "apply"], help="run one benchmark")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dcrsync-bench-"))
    identity = pyrage.x25519.Identity.generate()
    (work / "key.txt").write_text(f"{identity}\n")
    os.environ["SOPS_AGE_KEY_FILE"] = str(work / "key.txt")
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
            plan_fig = bench_plan(hydra.admin_url, str(identity.to_public()), args.clients, work)
            print("plan:", plan_fig, flush=True)
        finally:
            hydra.stop()
    return 0 if apply_fig["ok"] and plan_fig["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
