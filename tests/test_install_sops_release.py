"""scripts/install-sops-release.sh and the action step that runs it: the sops release binary, verified.

GitHub's release downloads cannot be reached from here, so a local `http.server` on 127.0.0.1 plays
the release host. What it serves is real: the sops binary the suite builds from upstream source
(tests/servers/launch.sops_binary) and a checksums file in the release's format, made here.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.servers.launch import sops_binary

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install-sops-release.sh"
ACTION = ROOT / ".github" / "actions" / "dcrsync" / "action.yml"
VERSION = "v3.10.2"
OS = {"Linux": "linux", "Darwin": "darwin"}[platform.system()]
ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
ASSET = f"sops-{VERSION}.{OS}.{ARCH}"
SUMS = f"sops-{VERSION}.checksums.txt"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Release:
    """A fake release host: <root>/<tag>/<asset>, served on 127.0.0.1; counts the downloads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.downloads: list[str] = []
        release = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                release.downloads.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def publish(self, binary: Path, listed_sum: str | None = None) -> Path:
        """Put `binary` up as the release asset, with a checksums file listing `listed_sum` (default: its own)."""
        folder = self.root / VERSION
        folder.mkdir(parents=True, exist_ok=True)
        asset = folder / ASSET
        shutil.copyfile(binary, asset)
        listed = listed_sum or sha256(asset)
        other = "0" * 64
        (folder / SUMS).write_text(f"{other}  sops-{VERSION}.exe\n{listed}  {ASSET}\n{other}  sops-{VERSION}.tar.gz\n")
        return asset

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def real_sops() -> Path:
    return sops_binary()


@pytest.fixture
def release(tmp_path: Path):
    host = Release(tmp_path / "releases")
    yield host
    host.stop()


def install(release: Release, cache: Path, pinned: str | None, **extra: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cache.parent),
        "DCRSYNC_CACHE": str(cache),
        "DCRSYNC_SOPS_VERSION": VERSION,
        "DCRSYNC_SOPS_RELEASES": release.url,
        **({"DCRSYNC_SOPS_SHA256": pinned} if pinned is not None else {}),
        **extra,
    }
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def installed(cache: Path) -> Path:
    return cache / "bin" / f"sops-{VERSION}-release" / "sops"


def tampered_copy(real_sops: Path, where: Path) -> Path:
    bad = where / "tampered-sops"
    shutil.copyfile(real_sops, bad)
    with bad.open("ab") as f:
        f.write(b"\x00evil")
    return bad


def test_verified_release_binary_is_installed_and_then_reused(release: Release, real_sops: Path, tmp_path: Path):
    good = sha256(release.publish(real_sops))
    cache = tmp_path / "cache"
    proc = install(release, cache, good.upper())  # a pinned sum may be written in capitals
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{installed(cache)}\n"
    assert sha256(installed(cache)) == good
    version = subprocess.run([str(installed(cache)), "--version"], env={"SOPS_DISABLE_VERSION_CHECK": "1"},
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and VERSION.lstrip("v") in version.stdout
    assert f"installed {installed(cache)} (sha256 {good}" in proc.stderr
    assert release.downloads == [f"/{VERSION}/{ASSET}", f"/{VERSION}/{SUMS}"]

    again = install(release, cache, good)
    assert again.returncode == 0 and again.stdout == proc.stdout and "reusing" in again.stderr
    assert len(release.downloads) == 2  # nothing downloaded again


def test_tampered_binary_is_refused(release: Release, real_sops: Path, tmp_path: Path):
    good = sha256(real_sops)
    release.publish(tampered_copy(real_sops, tmp_path), listed_sum=good)  # the checksums file is upstream's
    cache = tmp_path / "cache"
    proc = install(release, cache, good)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert f"REFUSED: {ASSET} has sha256 " in proc.stderr
    assert f"but the release's {SUMS} says {good}: the download was tampered with or corrupted; nothing installed" in proc.stderr
    assert not installed(cache).exists()
    assert not list((cache / "bin").glob(".sops-*"))  # the download is not left behind


def test_tampered_binary_with_a_matching_checksums_file_is_refused_by_the_pin(release: Release, real_sops: Path, tmp_path: Path):
    good = sha256(real_sops)
    bad = release.publish(tampered_copy(real_sops, tmp_path))  # whoever swapped the binary rewrote the checksums too
    cache = tmp_path / "cache"
    proc = install(release, cache, good)
    assert proc.returncode == 1 and proc.stdout == ""
    assert f"has sha256 {sha256(bad)} (as its {SUMS} says) but the pinned sum is {good}" in proc.stderr
    assert not installed(cache).exists()


def test_a_binary_already_in_the_cache_is_checked_too(release: Release, real_sops: Path, tmp_path: Path):
    good = sha256(release.publish(real_sops))
    cache = tmp_path / "cache"
    target = installed(cache)
    target.parent.mkdir(parents=True)
    shutil.copyfile(tampered_copy(real_sops, tmp_path), target)
    target.chmod(0o755)
    proc = install(release, cache, good)
    assert proc.returncode == 0, proc.stderr
    assert "reusing" not in proc.stderr and sha256(target) == good  # replaced by the verified download


def test_unsigned_asset_is_refused(release: Release, real_sops: Path, tmp_path: Path):
    release.publish(real_sops)
    sums = release.root / VERSION / SUMS
    sums.write_text("\n".join(line for line in sums.read_text().splitlines() if ASSET not in line) + "\n")
    proc = install(release, tmp_path / "cache", sha256(real_sops))
    assert proc.returncode == 1 and f"REFUSED: {SUMS} does not list {ASSET}" in proc.stderr


@pytest.mark.parametrize(
    ("pinned", "extra", "said"),
    [
        (None, {}, "no pinned sha256"),
        ("abc", {}, "no pinned sha256"),
        ("f" * 64, {"DCRSYNC_SOPS_VERSION": "v9.9.9"}, "could not download"),
    ],
    ids=["no-pin", "malformed-pin", "no-such-release"],
)
def test_no_verified_binary_means_build_from_source(release: Release, real_sops: Path, tmp_path: Path, pinned, extra, said):
    release.publish(real_sops)
    proc = install(release, tmp_path / "cache", pinned, **extra)
    assert proc.returncode == 3, proc.stderr
    assert said in proc.stderr and "build sops from source instead (scripts/install-sops.sh)" in proc.stderr
    assert proc.stdout == ""


def test_plain_http_is_refused_off_loopback(release: Release, tmp_path: Path):
    proc = install(release, tmp_path / "cache", "f" * 64, DCRSYNC_SOPS_RELEASES="http://releases.example.com/sops")
    assert proc.returncode == 1 and "must be an https:// URL" in proc.stderr
    assert not release.downloads


# -- the action step ------------------------------------------------------------------------------


def sops_step() -> dict:
    action = yaml.safe_load(ACTION.read_text())
    return next(s for s in action["runs"]["steps"] if s.get("id") == "sops")


def run_step(release: Release, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, dict[str, str], Path]:
    (tmp_path / "temp").mkdir(exist_ok=True)
    files = {name: tmp_path / name for name in ("github_output", "github_env", "github_path")}
    for f in files.values():
        f.write_text("")
    step = sops_step()
    pinned = {k: str(v) for k, v in step["env"].items() if k.startswith("SOPS_PINNED_")}
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DCRSYNC_CACHE": str(tmp_path / "cache"),
        "DCRSYNC_SOPS_RELEASES": release.url,
        "GITHUB_ACTION_PATH": str(ACTION.parent),
        "RUNNER_TEMP": str(tmp_path / "temp"),
        "RUNNER_OS": {"linux": "Linux", "darwin": "macOS"}[OS],
        "RUNNER_ARCH": {"amd64": "X64", "arm64": "ARM64"}[ARCH],
        "GITHUB_OUTPUT": str(files["github_output"]),
        "GITHUB_ENV": str(files["github_env"]),
        "GITHUB_PATH": str(files["github_path"]),
        "SOPS_VERSION": VERSION,
        "SOPS_SHA256_INPUT": "",
        **pinned,
        **env,
    }
    proc = subprocess.run(["bash", "-c", step["run"]], env=full, capture_output=True, text=True, timeout=120)
    outputs = dict(line.split("=", 1) for line in files["github_output"].read_text().splitlines())
    return proc, outputs, tmp_path / "cache"


def test_action_installs_the_verified_binary(release: Release, real_sops: Path, tmp_path: Path):
    good = sha256(release.publish(real_sops))
    proc, outputs, cache = run_step(release, tmp_path, SOPS_SHA256_INPUT=good)
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"from-source": "false"}
    assert (tmp_path / "github_path").read_text() == f"{installed(cache).parent}\n"
    assert (tmp_path / "github_env").read_text() == f"DCRSYNC_SOPS={installed(cache)}\n"


def test_action_fails_on_a_tampered_binary_and_does_not_fall_back(release: Release, real_sops: Path, tmp_path: Path):
    good = sha256(real_sops)
    release.publish(tampered_copy(real_sops, tmp_path), listed_sum=good)
    proc, outputs, cache = run_step(release, tmp_path, SOPS_SHA256_INPUT=good)
    assert proc.returncode == 1
    assert "::error title=dcrsync::the sops v3.10.2 release binary failed verification" in proc.stdout
    assert "from-source" not in outputs  # the source build does not run either
    assert (tmp_path / "github_env").read_text() == "" and not installed(cache).exists()


def test_action_builds_from_source_where_nothing_is_pinned(release: Release, real_sops: Path, tmp_path: Path):
    release.publish(real_sops)
    proc, outputs, _ = run_step(release, tmp_path, SOPS_VERSION="v3.9.4")  # not the pinned version, no sops-sha256
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"from-source": "true"}
    assert "building it from source" in proc.stdout and not release.downloads


def test_action_pins_the_upstream_sums_of_its_default_version():
    action = yaml.safe_load(ACTION.read_text())
    env = sops_step()["env"]
    assert action["inputs"]["sops-version"]["default"] == env["SOPS_PINNED_VERSION"] == VERSION
    assert f'SOPS_VERSION="${{DCRSYNC_SOPS_VERSION:-{VERSION}}}"' in (ROOT / "scripts" / "install-sops.sh").read_text()
    pins = {k: v for k, v in env.items() if k.startswith("SOPS_PINNED_") and k != "SOPS_PINNED_VERSION"}
    assert set(pins) == {"SOPS_PINNED_LINUX_X64", "SOPS_PINNED_LINUX_ARM64", "SOPS_PINNED_MACOS_X64", "SOPS_PINNED_MACOS_ARM64"}
    assert all(len(v) == 64 and set(v) <= set("0123456789abcdef") for v in pins.values())
    assert len(set(pins.values())) == 4
    # the source build runs only when the release step says so
    steps = {s.get("name"): s for s in action["runs"]["steps"]}
    for name in ("Restore sops built from source", "Set up Go (to build sops)", "Build sops from source"):
        assert "steps.sops.outputs.from-source == 'true'" in steps[name]["if"]
