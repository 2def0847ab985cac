"""Shared state stores against the file store, in the same run on the same Hydra: apply of 1,000
creates (target ≤ 1.2× the file store) and plan over 10,000 clients (target ≤ 1.1×).

    python -m tests.bench.bench_stores [--creates 1000] [--clients 10000] [--rounds 3]

Real PostgreSQL and MinIO (tests/servers/), each store measured alternately with the file store,
best of `rounds` each, so the shared machine's noise hits all sides alike.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pyrage
import yaml

from tests.bench.bench_hydra import dcrsync, write_project
from tests.servers.hydra import start_hydra
from tests.servers.postgres import start_postgres
from tests.servers.s3 import start_minio

BUCKET = "bench-state"


def stores(pg, s3, label: str) -> dict[str, object]:
    return {
        "file": "state.sops.yaml",
        "postgres": {"kind": "postgres", "dsn": pg.dsn, "name": label},
        "s3": {"kind": "s3", "endpoint": s3.endpoint, "bucket": BUCKET, "prefix": f"{label}/",
               "access_key_id": s3.access_key, "secret_access_key": s3.secret_key},
    }


def set_state(root: Path, state: object) -> None:
    path = root / "dcrsync.yaml"
    config = yaml.safe_load(path.read_text())
    config["state"] = state
    path.write_text(yaml.safe_dump(config))


def bench_apply(hydra, pg, s3, recipient: str, n: int, parallelism: int, rounds: int, work: Path) -> dict:
    times: dict[str, list[float]] = {"file": [], "postgres": [], "s3": []}
    for k in range(rounds):
        for kind in times:
            label = f"apply-{kind}-{k}"
            root = work / label
            write_project(root, hydra.admin_url, recipient, label, n, confidential=True)
            set_state(root, stores(pg, s3, label)[kind])
            wall, proc = dcrsync(root, "apply", "--auto-approve", "--parallelism", str(parallelism))
            assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
            times[kind].append(wall)
            print(f"apply {kind} round {k}: {wall:.2f}s", flush=True)
    best = {k: min(v) for k, v in times.items()}
    out = {"creates": n, "parallelism": parallelism, **{f"{k}_s": [round(x, 2) for x in v] for k, v in times.items()},
           "postgres_ratio": round(best["postgres"] / best["file"], 2), "s3_ratio": round(best["s3"] / best["file"], 2)}
    out["ok"] = out["postgres_ratio"] <= 1.2 and out["s3_ratio"] <= 1.2
    return out


def bench_plan(hydra, pg, s3, recipient: str, n: int, rounds: int, work: Path) -> dict:
    root = work / "plan"
    write_project(root, hydra.admin_url, recipient, "bench-plan", n, confidential=False)
    t = time.perf_counter()
    _, proc = dcrsync(root, "apply", "--auto-approve", "--parallelism", "16")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    print(f"seeded {n} clients in {time.perf_counter() - t:.1f}s", flush=True)
    targets = stores(pg, s3, "plan")
    os.environ["DCRSYNC_S3_ENDPOINT"] = s3.endpoint
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = s3.access_key, s3.secret_key
    for spec in (pg.dsn, f"s3://{BUCKET}/plan/"):
        _, proc = dcrsync(root, "state", "migrate", "--to", spec)
        assert proc.returncode == 0, proc.stderr[-2000:]
    targets["postgres"] = {"kind": "postgres", "dsn": pg.dsn}  # migrate wrote the default state name
    times: dict[str, list[float]] = {"file": [], "postgres": [], "s3": []}
    for k in range(rounds):
        for kind in times:
            set_state(root, targets[kind])
            wall, proc = dcrsync(root, "plan", "--detailed-exitcode")
            assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
            times[kind].append(wall)
            print(f"plan {kind} round {k}: {wall:.2f}s", flush=True)
    best = {k: min(v) for k, v in times.items()}
    out = {"clients": n, **{f"{k}_s": [round(x, 2) for x in v] for k, v in times.items()},
           "postgres_ratio": round(best["postgres"] / best["file"], 2), "s3_ratio": round(best["s3"] / best["file"], 2)}
    out["ok"] = out["postgres_ratio"] <= 1.1 and out["s3_ratio"] <= 1.1
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--creates", type=int, default=1_000)
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--parallelism", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=["plan", "apply"])
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dcrsync-bench-stores-"))
    identity = pyrage.x25519.Identity.generate()
    (work / "key.txt").write_text(f"{identity}\n")
    os.environ["SOPS_AGE_KEY_FILE"] = str(work / "key.txt")
    os.environ["DCRSYNC_CLIENT_CACHE"] = str(work / "client-cache")  # never the user's own cache
    recipient = str(identity.to_public())
    pg, s3 = start_postgres(work / "pg"), start_minio(work / "s3")
    with s3.client() as c:
        c.create_bucket(BUCKET)
    figs = []
    try:
        if args.only in (None, "apply"):
            hydra = start_hydra(work / "hydra-apply")
            try:
                figs.append(bench_apply(hydra, pg, s3, recipient, args.creates, args.parallelism, args.rounds, work))
                print("apply:", figs[-1], flush=True)
            finally:
                hydra.stop()
        if args.only in (None, "plan"):
            hydra = start_hydra(work / "hydra-plan")
            try:
                figs.append(bench_plan(hydra, pg, s3, recipient, args.clients, args.rounds, work))
                print("plan:", figs[-1], flush=True)
            finally:
                hydra.stop()
    finally:
        pg.stop()
        s3.stop()
    return 0 if all(f["ok"] for f in figs) else 1


if __name__ == "__main__":
    sys.exit(main())
