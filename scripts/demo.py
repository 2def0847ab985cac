"""Run by scripts/demo.sh: examples/ against a local real Hydra, in a fresh work folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyrage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.hydra import start_hydra  # noqa: E402


def step(title: str, *args: str, ok: tuple[int, ...] = (0,)) -> None:
    print(f"\n$ dcrsync {' '.join(args)}    # {title}", flush=True)
    code = subprocess.call([sys.executable, "-m", "dcrsync", *args], cwd=WORK)
    if code not in ok:
        sys.exit(f"demo: `dcrsync {' '.join(args)}` exited {code}")


WORK = Path(os.environ.get("DEMO_DIR") or tempfile.mkdtemp(prefix="dcrsync-demo-"))


def main() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    shutil.copytree(ROOT / "examples", WORK, ignore=shutil.ignore_patterns("workflows"))
    config = WORK / "dcrsync.yaml"  # a folder outside git has no remote to derive the project's identity from
    config.write_text(config.read_text() + "project: example-platform/demo\n")
    identity = pyrage.x25519.Identity.generate()
    key = WORK / "age-key.txt"
    key.write_text(f"{identity}\n")
    key.chmod(0o600)
    # the throwaway key is the state's only recipient, through a .sops.yaml as a repository has
    (WORK / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: .*\n    age: {identity.to_public()}\n"
    )
    os.environ["SOPS_AGE_KEY_FILE"] = str(key)
    # the examples' authorization-code clients declare `require_pkce: true` (lint profile rfc9700): on
    # Hydra that is a server setting, on for every client
    hydra = start_hydra(WORK / ".hydra", extra_env={"OAUTH2_PKCE_ENFORCED": "true"})
    os.environ["HYDRA_ADMIN_URL"] = hydra.admin_url
    try:
        print(f"Ory Hydra {hydra.binary.name} is up: admin {hydra.admin_url}, public {hydra.public_url}")
        step("schema + lint, no network", "validate")
        step("what would change", "plan", "--detailed-exitcode", ok=(2,))
        step("create the clients, secrets into the sops state", "apply", "--auto-approve")
        step("nothing left to do", "plan", "--detailed-exitcode")
        step("what the state records (no key needed)", "state", "list")
    finally:
        hydra.stop()
    state = WORK / "dcrsync.state.sops.yaml"
    print(f"\nThe encrypted state is {state} (age key: {key}).")
    print(f"Read a secret: cd {WORK} && SOPS_AGE_KEY_FILE={key} {ROOT}/.venv/bin/dcrsync state secret billing-web")
    print("demo: OK")


if __name__ == "__main__":
    main()
