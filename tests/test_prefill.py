"""A cold load's later files read by a forked helper (dcrsync.load.prefill) give exactly what one
process gives: the same clients, errors, duplicate names across the two shares, lint findings and
ignored findings, cold and from the cache the helper's entries were saved in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

#: `dcrsync validate --format json` with the helper used from 10 files on; says on stderr how many
#: files the helper read
RUN = r"""
import sys
from dcrsync.load import clientcache, prefill
prefill.MIN_FILES = 10
take = clientcache.ClientCache.take
def counted(self, entries):
    n = take(self, entries)
    print(f"helper read {n} files", file=sys.stderr)
    return n
clientcache.ClientCache.take = counted
from dcrsync.cli import main
sys.argv = ["dcrsync", "validate", "--format", "json"]
main()
"""


def _client(i: int, **extra: object) -> str:
    body = {"name": f"app-{i:02d}", "client_name": f"App {i}", "grant_types": ["authorization_code"],
            "response_types": ["code"], "redirect_uris": [f"https://app{i}.${{var:domain}}/cb"],
            "token_endpoint_auth_method": "client_secret_basic", "require_pkce": True, **extra}
    return yaml.safe_dump(body, sort_keys=False)


def _project(root: Path) -> Path:
    clients = root / "clients"
    clients.mkdir(parents=True)
    for i in range(40):
        (clients / f"c-{i:02d}.yaml").write_text(_client(i))
    # in the helper's share (the later files): a name the parent's share also has, a name twice
    # in the helper's share, a schema error, a lint finding, an ignored lint finding, an empty file
    (clients / "c-30.yaml").write_text(_client(3))
    (clients / "c-33.yaml").write_text(_client(32))
    (clients / "c-35.yaml").write_text(_client(35, colour="blue"))
    (clients / "c-36.yaml").write_text(_client(36, redirect_uris=["http://app36.example.com/cb"]))
    (clients / "c-37.yaml").write_text(_client(37, redirect_uris=["http://app37.example.com/cb"],
                                               lint={"ignore": {"DCR003": "a test app on plain http"}}))
    (clients / "c-38.yaml").write_text("# nothing here yet\n")
    (root / "dcrsync.yaml").write_text(yaml.safe_dump({
        "clients": "clients/", "vars": {"domain": "example.com"},
        "server": {"kind": "hydra", "admin_url": "http://127.0.0.1:1"}, "project": "prefill",
    }))
    return root


def _validate(root: Path, cache: Path, helper: bool) -> tuple[dict, str]:
    env = {**os.environ, "DCRSYNC_CLIENT_CACHE": str(cache), "DCRSYNC_PARALLEL_LOAD": "1" if helper else "0"}
    r = subprocess.run([sys.executable, "-c", RUN], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 1) and r.stdout.startswith("{"), r.stdout[-2000:] + r.stderr[-2000:]
    return json.loads(r.stdout), r.stderr


def test_a_helper_reads_the_later_files_and_the_result_is_the_same(tmp_path: Path):
    root = _project(tmp_path / "project")
    alone, said = _validate(root, tmp_path / "cache-alone", helper=False)
    assert "helper read" not in said
    shared, said = _validate(root, tmp_path / "cache-shared", helper=True)
    taken = int(said.split("helper read ")[1].split()[0])
    assert 10 <= taken < 20  # the later files it read cleanly (not the duplicates, the error or the empty file)
    assert shared == alone
    rules = {(d["file"].rsplit("/", 1)[-1], d["rule"]) for d in alone["diagnostics"]}
    assert {("c-30.yaml", "duplicate"), ("c-33.yaml", "duplicate"), ("c-35.yaml", "schema"),
            ("c-36.yaml", "DCR003"), ("c-38.yaml", "empty")} <= rules
    assert [(d["file"], d["rule"]) for d in alone["ignored_diagnostics"]] == [("clients/c-37.yaml", "DCR003")]
    # the cache the helper's entries went into serves the next run with the same findings
    again, said = _validate(root, tmp_path / "cache-shared", helper=True)
    assert again == alone and "helper read" not in said  # nothing to read: no helper
