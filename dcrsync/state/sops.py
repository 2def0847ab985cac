"""The only code that runs the `sops` binary. Plaintext goes through pipes, never through files."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dcrsync.errors import SopsError

#: only these keys are encrypted; everything else in the state stays readable (and diffable)
ENCRYPTED_REGEX = "^(client_secret|registration_access_token|journal_key|secrets|sealed)$"
#: the ways sops finds age identities besides its default key file
AGE_KEY_SOURCES = ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE")
HOW_TO_MAKE_A_KEY = 'to make one, see "Make an age key" in the README'
_RECIPIENT = re.compile(rb"recipient:\s*(age1[0-9a-z]+)")


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


def default_age_key_file(environ: Mapping[str, str] = os.environ) -> Path:
    """Where sops looks for age keys when no variable names them (its `getUserConfigDir`)."""
    home = Path(environ.get("HOME") or Path.home())
    xdg = environ.get("XDG_CONFIG_HOME")
    if sys.platform == "darwin":  # Go's os.UserConfigDir ignores XDG_CONFIG_HOME there; sops does not
        base = Path(xdg) if xdg else home / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(environ.get("APPDATA") or home)
    else:
        base = Path(xdg) if xdg else home / ".config"
    return base / "sops" / "age" / "keys.txt"


def age_key_configured(environ: Mapping[str, str] = os.environ) -> bool:
    """An age identity is set up where sops looks for one (it may still not open a given file)."""
    return any(environ.get(name) for name in AGE_KEY_SOURCES) or default_age_key_file(environ).exists()


def recipients(ciphertext: bytes) -> list[str]:
    """The age recipients a sops document is encrypted for (read without a key)."""
    return list(dict.fromkeys(m.decode() for m in _RECIPIENT.findall(ciphertext)))


def _recipients(ciphertext: bytes) -> str:
    found = recipients(ciphertext)
    return f" (its age recipients: {', '.join(found)})" if found else ""


def missing_key(
    what: str, stderr: str, ciphertext: bytes = b"", environ: Mapping[str, str] = os.environ
) -> str:
    """Why no key could open `what`, said as the user can act on it: a key file that is not there or
    not readable, no key configured at all, or a key that is not one of the recipients."""
    head = f"sops could not decrypt {what}"
    key_file = environ.get("SOPS_AGE_KEY_FILE")
    if key_file:
        path = Path(key_file).expanduser()
        if not path.exists():
            return (
                f"{head}: SOPS_AGE_KEY_FILE={key_file} does not exist; point SOPS_AGE_KEY_FILE at your age key "
                f"file (a line AGE-SECRET-KEY-1…), or unset it to use {default_age_key_file(environ)}; "
                + HOW_TO_MAKE_A_KEY
            )
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            return (
                f"{head}: SOPS_AGE_KEY_FILE={key_file} cannot be read ({exc.strerror}); "
                "make it a file readable by this user (chmod 600, owned by you)"
            )
        if "failed to parse" in stderr:
            return (
                f"{head}: SOPS_AGE_KEY_FILE={key_file} holds no age key sops can read; "
                f"it must hold lines AGE-SECRET-KEY-1…; {HOW_TO_MAKE_A_KEY}"
            )
        return (
            f"{head}: the age key in SOPS_AGE_KEY_FILE={key_file} is not one of its recipients"
            f"{_recipients(ciphertext)}; use a key that matches one of them, or have a holder of one add your "
            "public key (`age-keygen -y KEYFILE` prints it) to the recipients (sops.age in dcrsync.yaml, or "
            ".sops.yaml) and run `dcrsync state rekey`"
        )
    default = default_age_key_file(environ)
    if not any(environ.get(name) for name in AGE_KEY_SOURCES) and not default.exists():
        return (
            f"{head}: no age key is configured{_recipients(ciphertext)}; set SOPS_AGE_KEY_FILE to your age key "
            f"file (or put it at {default}); {HOW_TO_MAKE_A_KEY}"
        )
    return (
        f"{head}: none of your keys can open it{_recipients(ciphertext)}; "
        "point SOPS_AGE_KEY_FILE at an age key that is a recipient of the state, or have a holder of one add "
        "your public key to the recipients and run `dcrsync state rekey`"
    )


class _Probe:
    """A test value encrypted on another thread: started early, awaited before the first write."""

    def __init__(self, run: Callable[[], object]) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(run,), name="dcrsync-sops-probe", daemon=True)
        self.thread.start()

    def _run(self, run: Callable[[], object]) -> None:
        try:
            run()
        except BaseException as exc:  # noqa: BLE001 - whatever it was, it is raised where the check is awaited
            self.error = exc

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


@dataclass
class Sops:
    age_recipients: list[str] = field(default_factory=list)
    config_path: Path | None = None  # a .sops.yaml; used when no recipients are given
    binary: str = field(default_factory=find_sops)
    timeout: float = 300.0
    _probes: dict[str, _Probe] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def probe(self, filename: str) -> None:
        """sops can encrypt a file of this name for its recipients (a test value); SopsError if not.
        Checked once per name: a probe `probe_soon` started earlier is awaited, not run again."""
        self.probe_soon(filename).wait()

    def probe_soon(self, filename: str) -> _Probe:
        """Start `probe` on another thread (sops runs as its own process, so the command goes on)."""
        with self._lock:
            found = self._probes.get(filename)
            if found is None:
                found = self._probes[filename] = _Probe(lambda: self.encrypt(
                    b"probe: dcrsync\n", filename, what="a test value (checking the state's recipients)"))
            return found

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SOPS_DISABLE_VERSION_CHECK"] = "1"  # sops otherwise calls out to the internet
        return env

    def _run(self, args: list[str], data: bytes, what: str, subject: str = "") -> bytes:
        return self._finish(self._start(args), data, what, subject)

    def _start(self, args: list[str]) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen([self.binary, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=self._env())
        except FileNotFoundError as exc:
            raise SopsError(f"cannot run sops at {self.binary}: {exc.strerror}") from None

    def _finish(self, proc: subprocess.Popen[bytes], data: bytes, what: str, subject: str = "") -> bytes:
        """Feed a started sops its input (through a pipe: no plaintext on disk) and take its output."""
        try:
            stdout, raw_err = proc.communicate(data, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise SopsError(f"sops timed out after {self.timeout:.0f} s while {what}") from None
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.returncode != 0:
            stderr = raw_err.decode(errors="replace")
            if proc.returncode == 128 or "Failed to get the data key" in stderr:
                raise SopsError(missing_key(subject or what, stderr, data))
            raise SopsError(self._explain(proc.returncode, stderr, what))
        return stdout

    def _explain(self, code: int, stderr: str, what: str) -> str:
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
        return self._run(self._encrypt_args(filename, encrypted_regex), plaintext, f"encrypting {what}")

    def encrypt_soon(
        self, filename: str, what: str = "the state", encrypted_regex: str = ENCRYPTED_REGEX
    ) -> Encrypting:
        """`encrypt`, with sops started now and its plaintext given later (`Encrypting.finish`): the
        process's start-up (~20 ms) overlaps the caller's making of that plaintext."""
        return Encrypting(self, self._start(self._encrypt_args(filename, encrypted_regex)), f"encrypting {what}")

    def _encrypt_args(self, filename: str, encrypted_regex: str) -> list[str]:
        args = ["--encrypt", "--input-type", "yaml", "--output-type", "yaml"]
        args += ["--encrypted-regex", encrypted_regex, "--filename-override", filename]
        if self.age_recipients:
            args += ["--age", ",".join(self.age_recipients)]
        elif self.config_path is not None:
            args[:0] = ["--config", str(self.config_path)]
        args.append("/dev/stdin")
        return args

    def decrypt(self, ciphertext: bytes, what: str = "the state") -> bytes:
        args = ["--decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"]
        if self.config_path is not None:
            args[:0] = ["--config", str(self.config_path)]
        return self._run(args, ciphertext, f"decrypting {what}", subject=what)

    def encrypt_for(
        self, recipients: list[str], plaintext: bytes, filename: str, what: str, encrypted_regex: str
    ) -> bytes:
        """Encrypt for `recipients` alone (a delivered manifest: its consumer's keys, never the
        state's), whatever dcrsync.yaml or .sops.yaml name for the state. No recipients: refused."""
        if not recipients:
            raise SopsError(f"refusing to encrypt {what} for no recipients: name its recipient set's keys")
        other = replace(self, age_recipients=list(recipients), config_path=None)
        return other.encrypt(plaintext, filename, what=what, encrypted_regex=encrypted_regex)


@dataclass
class Encrypting:
    """A sops encryption started ahead of its plaintext (`Sops.encrypt_soon`): `finish` it with the
    plaintext, or `cancel` it (leaving its `with` block unfinished does); either way the process is
    waited for."""

    sops: Sops
    proc: subprocess.Popen[bytes]
    what: str

    def __enter__(self) -> Encrypting:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.returncode is None:
            self.cancel()

    def finish(self, plaintext: bytes) -> bytes:
        return self.sops._finish(self.proc, plaintext, self.what)

    def cancel(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()
