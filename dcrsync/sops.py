"""The only code that runs the `sops` binary. Plaintext goes through pipes, never through files."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dcrsync.errors import SopsError

#: only these keys are encrypted; everything else in the state stays readable (and diffable)
ENCRYPTED_REGEX = "^(client_secret|registration_access_token)$"


def cache_dir() -> Path:
    return Path(os.environ.get("DCRSYNC_CACHE") or Path.home() / ".cache" / "dcrsync")


def find_sops() -> str:
    """`DCRSYNC_SOPS`, then `sops` on PATH, then the one scripts/install-sops.sh put in the cache."""
    explicit = os.environ.get("DCRSYNC_SOPS")
    if explicit:
        if not Path(explicit).is_file():
            raise SopsError(f"DCRSYNC_SOPS names {explicit}, which does not exist")
        return explicit
    on_path = shutil.which("sops")
    if on_path:
        return on_path
    cached = sorted(glob.glob(str(cache_dir() / "bin" / "sops-*" / "sops")))
    if cached:
        return cached[-1]
    raise SopsError("sops not found: install it (scripts/install-sops.sh) or set DCRSYNC_SOPS to its path")


@dataclass
class Sops:
    age_recipients: list[str] = field(default_factory=list)
    config_path: Path | None = None  # a .sops.yaml; used when no recipients are given
    binary: str = field(default_factory=find_sops)
    timeout: float = 300.0

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SOPS_DISABLE_VERSION_CHECK"] = "1"  # sops otherwise calls out to the internet
        return env

    def _run(self, args: list[str], data: bytes, what: str) -> bytes:
        try:
            proc = subprocess.run(
                [self.binary, *args],
                input=data,
                capture_output=True,
                env=self._env(),
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise SopsError(f"cannot run sops at {self.binary}: {exc.strerror}") from None
        except subprocess.TimeoutExpired:
            raise SopsError(f"sops timed out after {self.timeout:.0f} s while {what}") from None
        if proc.returncode != 0:
            raise SopsError(self._explain(proc.returncode, proc.stderr.decode(errors="replace"), what))
        return proc.stdout

    def _explain(self, code: int, stderr: str, what: str) -> str:
        if code == 128 or "Failed to get the data key" in stderr:
            return (
                f"sops could not decrypt {what}: none of your keys can open it; "
                "point SOPS_AGE_KEY_FILE at an age key that is a recipient of the state"
            )
        if code == 51 or "MAC mismatch" in stderr:
            return (
                f"sops refused {what}: MAC mismatch, the file was edited outside dcrsync; "
                "restore it from git (only dcrsync writes the state)"
            )
        if "no matching creation rules" in stderr or "config file not found" in stderr:
            return (
                f"sops has no recipients for {what}: set sops.age in dcrsync.yaml "
                "or add a creation rule to .sops.yaml"
            )
        last = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
        return f"sops failed ({code}) while {what}: {last[-1] if last else 'no message'}"

    def encrypt(
        self, plaintext: bytes, filename: str, what: str = "the state", encrypted_regex: str = ENCRYPTED_REGEX
    ) -> bytes:
        args = ["--encrypt", "--input-type", "yaml", "--output-type", "yaml"]
        args += ["--encrypted-regex", encrypted_regex, "--filename-override", filename]
        if self.age_recipients:
            args += ["--age", ",".join(self.age_recipients)]
        elif self.config_path is not None:
            args[:0] = ["--config", str(self.config_path)]
        args.append("/dev/stdin")
        return self._run(args, plaintext, f"encrypting {what}")

    def decrypt(self, ciphertext: bytes, what: str = "the state") -> bytes:
        args = ["--decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"]
        if self.config_path is not None:
            args[:0] = ["--config", str(self.config_path)]
        return self._run(args, ciphertext, f"decrypting {what}")
