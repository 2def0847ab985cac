"""Compiled schema checks kept between runs (dcrsync.load.checkcache): a run whose files and config pass
never imports jsonschema, a file at fault still gets jsonschema's words, and a kept check that is not
authentic is compiled again, never run."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

CONFIG = "clients: clients/\nserver: {kind: hydra, admin_url: http://127.0.0.1:1}\nlint: {profile: baseline}\n"
GOOD = "name: svc\nclient_name: Service\ngrant_types: [client_credentials]\nscope: api.read\n"


def _project(root: Path) -> Path:
    (root / "clients").mkdir(parents=True)
    (root / "dcrsync.yaml").write_text(CONFIG)
    (root / "clients" / "svc.yaml").write_text(GOOD)
    return root


def _validate(root: Path, cache: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """`dcrsync validate` as a user runs it, and the modules it imported (`python -X importtime`)."""
    env = {**os.environ, "DCRSYNC_CLIENT_CACHE": str(cache)}
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "dcrsync", "validate"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=120)
    modules = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    return run, modules


def test_runs_whose_files_pass_never_import_jsonschema_and_a_fault_is_still_worded(tmp_path: Path) -> None:
    root, cache = _project(tmp_path / "p"), tmp_path / "cache"
    for _ in range(2):  # the first run compiles and keeps the checks, the second reads them back
        run, modules = _validate(root, cache)
        assert run.returncode == 0 and "1 client in 1 file: 0 errors" in run.stdout, run.stdout + run.stderr
        assert "jsonschema" not in modules
    assert len(list(cache.glob("check-*.bin"))) == 2  # the client and the config schema

    (root / "clients" / "svc.yaml").write_text(GOOD.replace("client_credentials", "client_credential"))
    run, modules = _validate(root, cache)
    assert run.returncode == 1 and "svc.yaml:3:" in run.stdout and "must be a grant type" in run.stdout, run.stdout
    assert "jsonschema" in modules  # imported to find and word the error


def test_a_kept_check_that_is_not_authentic_is_compiled_again_never_run(tmp_path: Path) -> None:
    root, cache = _project(tmp_path / "p"), tmp_path / "cache"
    assert _validate(root, cache)[0].returncode == 0
    planted = marshal.dumps(compile("raise SystemExit('the planted check ran')", "planted", "exec"))
    kept = sorted(cache.glob("check-*.bin"))
    assert len(kept) == 2
    for path in kept:  # a writer without the folder's key: the MAC cannot match
        path.write_bytes(b"0" * 64 + b"\n" + planted)
    (root / "clients" / "svc.yaml").write_text(GOOD.replace("api.read", "api.write"))  # checked again, not cached
    run, _ = _validate(root, cache)
    assert run.returncode == 0 and "planted" not in run.stdout + run.stderr, run.stdout + run.stderr
    assert all(planted not in path.read_bytes() for path in kept)  # compiled again, and kept authentic
