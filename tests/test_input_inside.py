"""Issue 16 item 4: what a branch may make dcrsync read stays inside the project, and is bounded.

A symlink in clients/ that leads out of the project, a client file a `clients:` glob finds outside
it, a software statement read from outside it, a FIFO that would block the read, and client files
that together hold more than `MAX_TOTAL_BYTES` are refused at their path; a `state:` path outside
the project is named by `validate`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dcrsync.cli import cli
from dcrsync.load.bounds import MAX_TOTAL_BYTES
from tests.support.unit_helpers import write

CONFIG = 'server: {kind: hydra, admin_url: "http://127.0.0.1:9"}\n'
CLIENT = "name: {name}\ngrant_types: [client_credentials]\n"
#: what a file outside the project holds: it must never reach any output
SECRET = "very-secret-value-0123"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    write(root, "dcrsync.yaml", CONFIG)
    write(root, "clients/ok.yaml", CLIENT.format(name="ok"))
    write(tmp_path, "outside/secret.yaml", f"name: leak\nclient_name: {SECRET}\nbad_field: {SECRET}\n")
    monkeypatch.chdir(root)
    monkeypatch.delenv("DCRSYNC_CONFIG", raising=False)
    return root


def validate(*args: str):
    return CliRunner().invoke(cli, ["validate", *args], catch_exceptions=False)


def test_a_symlink_out_of_the_project_is_refused_at_its_path(project: Path) -> None:
    os.symlink(project.parent / "outside" / "secret.yaml", project / "clients" / "evil.yaml")
    for args in ((), ("clients/",), ("clients/evil.yaml",)):
        r = validate(*args)
        assert r.exit_code == 1, r.output
        assert r.output.startswith("clients/evil.yaml: error[load]: leads outside the project (to "), r.output
        assert SECRET not in r.output and "leak" not in r.output


def test_a_symlinked_folder_out_of_the_project_is_refused_too(project: Path) -> None:
    os.symlink(project.parent / "outside", project / "clients" / "more")
    write(project, "dcrsync.yaml", CONFIG + "clients: ['clients/**/*.yaml']\n")
    r = validate()
    assert r.exit_code == 1 and "clients/more/secret.yaml: error[load]: leads outside the project" in r.output, r.output
    assert SECRET not in r.output


def test_a_clients_glob_outside_the_project_is_refused(project: Path) -> None:
    write(project, "dcrsync.yaml", CONFIG + "clients: ['../outside/*.yaml']\n")
    r = validate()
    assert r.exit_code == 1 and "secret.yaml: error[load]: is outside the project" in r.output, r.output
    assert SECRET not in r.output


def test_a_symlink_inside_the_project_is_read(project: Path) -> None:
    write(project, "shared/base.yaml", CLIENT.format(name="shared"))
    os.symlink(project / "shared" / "base.yaml", project / "clients" / "shared.yaml")
    r = validate()
    assert r.exit_code == 0 and r.output.endswith("2 clients in 2 files: 0 errors, 0 warnings\n"), r.output


def test_a_software_statement_file_outside_the_project_is_refused(project: Path) -> None:
    write(project, "clients/portal.yaml", CLIENT.format(name="portal") + "software_statement: {file: ../../outside/secret.yaml}\n")
    r = validate()
    assert r.exit_code == 1, r.output
    assert "clients/portal.yaml:3:21: error[load]: software_statement file `../../outside/secret.yaml` is outside the project" in r.output
    assert SECRET not in r.output


def test_a_fifo_is_refused_instead_of_blocking(project: Path) -> None:
    os.mkfifo(project / "clients" / "pipe.yaml")
    r = validate()
    assert r.exit_code == 1 and "clients/pipe.yaml: error[load]: is not a regular file" in r.output, r.output


def test_the_client_files_together_are_capped(project: Path) -> None:
    """Five files of 15 MiB took 1.1 GB and 63 s: the reading stops at the project's cap."""
    big = MAX_TOTAL_BYTES // 3 + 100
    for i in range(5):
        (project / "clients" / f"big-{i}.yaml").write_text(CLIENT.format(name=f"big-{i}") + "#" * (big - 60) + "\n")
    started = time.monotonic()
    r = validate()
    took = time.monotonic() - started
    assert r.exit_code == 1, r.output
    limit = MAX_TOTAL_BYTES // (1024 * 1024)
    refused = f"clients/big-2.yaml: error[load]: the client files together hold more than {limit} MiB"
    assert refused in r.output, r.output
    assert "big-3.yaml" not in r.output and "big-4.yaml" not in r.output and "ok.yaml" not in r.output
    assert took < 20, f"validate took {took:.1f} s"


def test_a_state_path_outside_the_project_is_named_by_validate(project: Path) -> None:
    write(project, "dcrsync.yaml", CONFIG + "state: ../elsewhere/state.sops.yaml\n")
    r = validate()
    assert r.exit_code == 0, r.output
    assert (
        f"dcrsync.yaml:2:8: warning[state]: state: {project.parent}/elsewhere/state.sops.yaml is outside the "
        f"project ({project}): apply writes the state there"
    ) in r.output
    assert validate("--strict").exit_code == 1
    write(project, "dcrsync.yaml", CONFIG + "state: state/here.sops.yaml\n")
    assert "warning[state]" not in validate().output
