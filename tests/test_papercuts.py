"""Papercuts users hit: what a missing age key says, colour control, the README's YAML, the
examples' .gitignore, a quiet install."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyrage
import pytest
import yaml
from click.testing import CliRunner

from dcrsync.cli import cli
from dcrsync.load.schemacheck import validator
from dcrsync.state.records import ClientRecord, State
from dcrsync.state.sops import Sops
from dcrsync.state.store import FileStore

ROOT = Path(__file__).resolve().parent.parent
ANSI = "\x1b["
SECRET = "s3cret-value-for-a"
KEY_VARS = ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
            "XDG_CONFIG_HOME")


# --- a missing or wrong age key ------------------------------------------------------------------

def _new_key(path: Path) -> str:
    identity = pyrage.x25519.Identity.generate()
    path.write_text(f"{identity}\n")
    path.chmod(0o600)
    return str(identity.to_public())


@pytest.fixture
def encrypted_project(tmp_path: Path) -> tuple[Path, Path, str]:
    """A project whose state holds one secret, encrypted by the real sops for a fresh age key."""
    key = tmp_path / "right-key.txt"
    recipient = _new_key(key)
    root = tmp_path / "proj"
    root.mkdir()
    config = root / "dcrsync.yaml"
    config.write_text(yaml.safe_dump({
        "clients": "clients/", "state": "dcrsync.state.sops.yaml", "sops": {"age": [recipient]},
        "server": {"kind": "hydra", "admin_url": "http://127.0.0.1:9"}, "owner": "me",
    }))
    (root / "clients").mkdir()
    store = FileStore(root / "dcrsync.state.sops.yaml", Sops(age_recipients=[recipient]))
    store.write(State(clients={"a": ClientRecord(name="a", client_id="id-a", client_secret=SECRET)}))
    return config, key, recipient


def _secret(config: Path, home: Path, **env: str) -> subprocess.CompletedProcess:
    """`dcrsync state secret a` as a user runs it, with only the key variables given here."""
    base = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "dcrsync", "state", "secret", "a", "--config", str(config)],
        capture_output=True, text=True, env={**base, "HOME": str(home), **env}, cwd=config.parent,
    )


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and SECRET not in r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_the_right_key_opens_the_state(encrypted_project, tmp_path):
    config, key, _ = encrypted_project
    r = _secret(config, tmp_path / "home", SOPS_AGE_KEY_FILE=str(key))
    assert r.returncode == 0 and r.stdout.strip() == SECRET, r.stderr


def test_a_key_file_that_does_not_exist_is_named(encrypted_project, tmp_path):
    config, _, _ = encrypted_project
    missing = tmp_path / "x" / "key.txt"
    line = _one_error_line(_secret(config, tmp_path / "home", SOPS_AGE_KEY_FILE=str(missing)))
    assert f"SOPS_AGE_KEY_FILE={missing} does not exist" in line
    assert "none of your keys" not in line and "Make an age key" in line


def test_a_key_file_that_cannot_be_read_is_named(encrypted_project, tmp_path):
    config, _, _ = encrypted_project
    folder = tmp_path / "keys"  # a folder: unreadable as a file even for root
    folder.mkdir()
    line = _one_error_line(_secret(config, tmp_path / "home", SOPS_AGE_KEY_FILE=str(folder)))
    assert f"SOPS_AGE_KEY_FILE={folder} cannot be read" in line


def test_a_key_file_without_an_age_key_is_named(encrypted_project, tmp_path):
    config, _, _ = encrypted_project
    junk = tmp_path / "junk.txt"
    junk.write_text("not a key\n")
    line = _one_error_line(_secret(config, tmp_path / "home", SOPS_AGE_KEY_FILE=str(junk)))
    assert f"SOPS_AGE_KEY_FILE={junk} holds no age key" in line


def test_no_key_configured_says_how_to_provide_one(encrypted_project, tmp_path):
    config, _, recipient = encrypted_project
    home = tmp_path / "home"
    line = _one_error_line(_secret(config, home))
    assert "no age key is configured" in line and recipient in line
    assert "set SOPS_AGE_KEY_FILE" in line and str(home / ".config/sops/age/keys.txt") in line


def test_a_key_that_is_not_a_recipient_names_the_recipients(encrypted_project, tmp_path):
    config, _, recipient = encrypted_project
    other = tmp_path / "other-key.txt"
    _new_key(other)
    line = _one_error_line(_secret(config, tmp_path / "home", SOPS_AGE_KEY_FILE=str(other)))
    assert f"the age key in SOPS_AGE_KEY_FILE={other} is not one of its recipients" in line
    assert recipient in line


# --- colour ----------------------------------------------------------------------------------------

@pytest.fixture
def pending_project(hydra_project):
    """A project whose plan has a change to show (a create), against the real Hydra."""
    hydra_project.write_client("colourful", {"client_name": "C", "grant_types": ["client_credentials"]})
    return hydra_project


def _plan(project, *args: str, color: bool = True, env: dict | None = None, sub: tuple[str, ...] = ()) -> str:
    environ = {"NO_COLOR": None, "FORCE_COLOR": None, **(env or {})}
    r = CliRunner().invoke(cli, [*args, "plan", "--config", str(project.config), *sub], env=environ,
                           color=color, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "create" in r.output and "colourful" in r.output
    return r.output


@pytest.mark.hydra
def test_plan_is_coloured_on_a_terminal(pending_project):
    assert ANSI in _plan(pending_project)  # invoke(color=True) stands in for a terminal


@pytest.mark.hydra
def test_no_color_environment_turns_colour_off(pending_project):
    assert ANSI not in _plan(pending_project, env={"NO_COLOR": "1"})
    assert ANSI in _plan(pending_project, env={"NO_COLOR": ""})  # no-color.org: only a non-empty value


@pytest.mark.hydra
def test_no_color_flag_turns_colour_off_before_or_after_the_command(pending_project):
    assert ANSI not in _plan(pending_project, "--no-color")
    assert ANSI not in _plan(pending_project, sub=("--no-color",))


@pytest.mark.hydra
def test_color_flag_and_force_color_turn_colour_on_off_a_terminal(pending_project):
    assert ANSI not in _plan(pending_project, color=False)
    assert ANSI in _plan(pending_project, "--color", color=False)
    assert ANSI in _plan(pending_project, color=False, env={"FORCE_COLOR": "1"})
    assert ANSI in _plan(pending_project, "--color", env={"NO_COLOR": "1"})  # the flag beats the variable


def _in_a_terminal(args: list[str], cwd: Path, **env: str) -> bytes:
    """dcrsync run in a real pseudo-terminal, as a user at a shell runs it; its whole output."""
    import pty

    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes dcrsync
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "dcrsync", *args], {**base, **env})
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_validate_in_a_terminal_is_coloured_unless_told_not_to(tmp_path):
    folder = tmp_path / "project"  # one lint finding (an error under rfc9700, the default), coloured
    (folder / "clients").mkdir(parents=True)
    spa = "name: spa\nredirect_uris: [https://a.example.com/cb]\ntoken_endpoint_auth_method: none\n"
    (folder / "clients" / "spa.yaml").write_text(spa)

    def coloured(args: list[str], **env: str) -> bool:
        out = _in_a_terminal(args, folder, **env)
        assert b"1 error, 0 warnings" in out, out  # it ran and validated
        return ANSI.encode() in out

    assert coloured(["validate"])
    assert not coloured(["validate"], NO_COLOR="1")
    assert not coloured(["validate", "--no-color"])
    assert not coloured(["--no-color", "validate"])


# --- the README's YAML --------------------------------------------------------------------------------

class _StrictLoader(yaml.SafeLoader):
    """safe_load, but a key given twice in one mapping is an error (as dcrsync's own loader says)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    for key in keys:
        if keys.count(key) > 1:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _readme_yaml_blocks() -> list[tuple[int, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(r"^```yaml\n(.*?)^```", text, re.S | re.M)]


def test_every_yaml_block_in_the_readme_parses():
    blocks = _readme_yaml_blocks()
    assert len(blocks) >= 5
    for line, block in blocks:
        try:
            docs = list(yaml.load_all(block, Loader=_StrictLoader))  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            pytest.fail(f"README.md:{line}: a yaml block does not parse: {exc}")
        assert docs and all(d is not None for d in docs), f"README.md:{line}: an empty document"


def test_every_server_block_in_the_readme_is_a_valid_config():
    servers = [(line, doc) for line, block in _readme_yaml_blocks()
               for doc in yaml.safe_load_all(block) if isinstance(doc, dict) and "server" in doc]
    kinds = {doc["server"]["kind"] for _, doc in servers}
    assert {"hydra", "rfc7592", "keycloak"} <= kinds
    for line, doc in servers:
        config = {"clients": "clients/", "state": "s.sops.yaml", **doc}
        config.pop("sops", None)  # the README shows recipients as `age1…`
        errors = [e.message for e in validator("config").iter_errors(config)]
        assert not errors, f"README.md:{line}: {errors}"


# --- examples/.gitignore ---------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_examples_gitignore_keeps_runtime_files_out_and_the_state_in(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", repo)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    config = yaml.safe_load((repo / "dcrsync.yaml").read_text())
    paths = [Path(config["state"]), Path(config["environments"]["staging"]["state"])]
    ignored, kept = [], []
    for state in paths:
        store = FileStore(repo / state, None)
        kept += [store.path, store.sidecar_path]
        ignored += [store.lock_path, store.journal.dir / "000001.sops.yaml", store.journal.dir / "000002.json",
                    store.path.with_name(f".{store.path.name}.123.456.tmp")]
    kept += [repo / "dcrsync.yaml", repo / "clients" / "billing-web.yaml"]

    def is_ignored(path: Path) -> bool:
        rel = path.relative_to(repo)
        return subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", str(rel)]).returncode == 0

    assert [p for p in ignored if not is_ignored(p)] == []
    assert [p for p in kept if is_ignored(p)] == []


# --- a quiet install ------------------------------------------------------------------------------------

def test_installing_dcrsync_prints_no_license_deprecation(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--disable-pip-version-check",
         "--editable", str(ROOT)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "license" not in out.lower(), out
