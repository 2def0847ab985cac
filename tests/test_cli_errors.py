"""Every command error is one line and exit 1 (exit 2 means "changes" in dcrsync's contract)."""

from __future__ import annotations

import subprocess
import sys

import yaml


def test_export_from_an_rfc7592_server_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "clients").mkdir()
    (tmp_path / "dcrsync.yaml").write_text(yaml.safe_dump({
        "clients": "clients/", "owner": "t",
        "server": {"kind": "rfc7592", "registration_url": "http://127.0.0.1:9/reg"},
    }))
    r = subprocess.run([sys.executable, "-m", "dcrsync", "export"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "Usage:" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "no list API" in r.stderr
