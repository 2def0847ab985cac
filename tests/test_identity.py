"""The project identity's default: what every checkout of one repository agrees on, and two
repositories never do (issue 17 item 1). Real git repositories, clones and worktrees."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dcrsync.errors import ConfigError
from dcrsync.project.identity import normalise_remote, project_identity

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(cwd), *args],
                   check=True, capture_output=True)


def repo(path: Path, remote: str | None) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    if remote:
        git(path, "remote", "add", "origin", remote)
    (path / "dcrsync.yaml").write_text("server: {kind: hydra, admin_url: http://127.0.0.1:1}\n")
    git(path, "add", "dcrsync.yaml")
    git(path, "commit", "-q", "-m", "first")
    return path


@pytest.mark.parametrize("url", [
    "https://github.com/Acme/oauth-clients.git",
    "https://ci-token:s3cret@github.com/acme/oauth-clients",
    "git@github.com:acme/oauth-clients.git",
    "ssh://git@github.com:22/acme/oauth-clients.git/",
])
def test_every_way_to_name_one_remote_is_one_identity(url):
    # a laptop's ssh clone and a CI runner's token URL are the same project; no credential is kept
    assert normalise_remote(url) == "github.com/acme/oauth-clients"


def test_clones_branches_and_worktrees_agree_and_two_repositories_differ(tmp_path):
    one = repo(tmp_path / "payments", "https://github.com/acme/payments.git")
    clone = tmp_path / "elsewhere" / "checkout"  # another machine's clone, under another folder name
    subprocess.run(["git", "clone", "-q", str(one), str(clone)], check=True, capture_output=True)
    git(clone, "remote", "set-url", "origin", "git@github.com:acme/payments.git")
    git(one, "branch", "feature")
    worktree = tmp_path / "wt"
    git(one, "worktree", "add", "-q", str(worktree), "feature")
    other = repo(tmp_path / "checkout-app", "https://github.com/acme/checkout.git")

    ids = {project_identity(None, where, None) for where in (one, clone, worktree)}
    assert ids == {"github.com/acme/payments"}
    assert project_identity(None, other, None) == "github.com/acme/checkout"


def test_the_folder_and_the_environment_tell_projects_of_one_repository_apart(tmp_path):
    root = repo(tmp_path / "mono", "https://gitlab.example.com/platform/mono.git")
    (root / "teams" / "billing").mkdir(parents=True)
    assert project_identity(None, root / "teams" / "billing", None) == "gitlab.example.com/platform/mono:teams/billing"
    assert project_identity(None, root, "staging") == "gitlab.example.com/platform/mono@staging"


def test_project_in_dcrsync_yaml_wins(tmp_path):
    root = repo(tmp_path / "r", "https://github.com/acme/r.git")
    assert project_identity("acme/oauth", root, "prod") == "acme/oauth"


def test_without_a_remote_the_error_says_to_set_project(tmp_path):
    for where in (repo(tmp_path / "local-only", None), tmp_path):
        with pytest.raises(ConfigError) as err:
            project_identity(None, where, None)
        assert "set `project:` in dcrsync.yaml" in str(err.value) and "\n" not in str(err.value)
