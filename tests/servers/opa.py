"""The Open Policy Agent (`opa`) the Rego library in examples/policy/ is tested with: built from its Go
module by scripts/build-opa.sh (run here when missing) into `$CACHE/bin/opa-<version>/opa`;
`DCRSYNC_OPA_BIN` points at another build. opa is a command, not a server: nothing to start or stop.

    opa = opa_binary()
    run_opa("test", "examples/policy")                         # -> CompletedProcess
    run_opa("eval", "-d", "examples/policy", "-I", "--format", "json", "data.dcrsync.rfc9700.deny", input=text)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.servers.launch import REPO_ROOT, cache_dir, installed_binary

OPA_VERSION = "v1.22.4"  # keep in line with scripts/build-opa.sh


def opa_binary() -> Path:
    """`DCRSYNC_OPA_BIN`, else the cached build (built now if missing)."""
    cached = cache_dir() / "bin" / f"opa-{OPA_VERSION}" / "opa"
    return installed_binary("DCRSYNC_OPA_BIN", cached, "build-opa.sh", env={"DCRSYNC_OPA_VERSION": OPA_VERSION},
                            timeout=3600)


def run_opa(*args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`opa ARGS…` in the repository's root, its output captured as text."""
    return subprocess.run(
        [str(opa_binary()), *args], input=input, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT,
    )
