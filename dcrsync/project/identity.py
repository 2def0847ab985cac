"""Which project this is: the identity dcrsync writes into every ownership marker.

Two projects may share one server and one `owner:`; the project identity is what keeps each one's
prune, lost-state check, recover and import to its own clients. It is `project:` in dcrsync.yaml
when set (environments may set their own), else derived from what every checkout of the repository
shares and two repositories never do:

- the repository's `origin` remote (or its only remote), read from the git config files (no git
  command runs), without scheme, credentials, port and `.git`, lowercased:
  `git@github.com:Acme/oauth.git` and `https://ci-token:x@github.com/acme/oauth` are both
  `github.com/acme/oauth`. Every clone, machine, branch and CI runner of one repository agrees;
- the folder of dcrsync.yaml inside the repository, when it is not the root (two projects in one
  repository): `github.com/acme/oauth:deploy/oauth`;
- the `--env` chosen (each environment has its own state): `github.com/acme/oauth@staging`.

Without a remote there is nothing stable to derive it from: commands that need it say to set
`project:`. A renamed or moved repository derives another identity; its clients then read as
another project's (conflicts, never deletes), and the message names the old identity to set.
"""

from __future__ import annotations

import re
from pathlib import Path

from dcrsync.errors import ConfigError

#: what an explicit `project:` may hold (the schema says the same)
PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@~+-]{0,199}")
_SECTION = re.compile(r'^\s*\[\s*remote\s+"([^"]+)"\s*\]\s*$')
_ANY_SECTION = re.compile(r"^\s*\[")
_URL = re.compile(r"^\s*url\s*=\s*(.+?)\s*$", re.IGNORECASE)


def project_identity(explicit: str | None, config_dir: Path, environment: str | None) -> str:
    """`explicit` when set, else the identity derived from the repository (see the module doc)."""
    if explicit:
        return explicit
    found = _repository(config_dir)
    if found is None:
        raise ConfigError(
            f"{config_dir / 'dcrsync.yaml'}: this project has no identity: set `project:` in dcrsync.yaml (a name "
            "unique on the server, e.g. acme/oauth-clients); dcrsync derives one only from a git remote, and "
            "this folder has none"
        )
    root, url = found
    identity = normalise_remote(url)
    sub = config_dir.resolve().relative_to(root.resolve()).as_posix()
    if sub != ".":
        identity += f":{sub}"
    if environment:
        identity += f"@{environment}"
    return identity


def normalise_remote(url: str) -> str:
    """A remote URL as every clone agrees on it: host and path, no scheme, credentials, port or `.git`."""
    text = url.strip()
    scp = re.match(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$", text)  # git@host:org/repo
    if "://" in text:
        rest = text.split("://", 1)[1]
        host, _, path = rest.partition("/")
        host = host.rsplit("@", 1)[-1].split(":", 1)[0]
        text = f"{host}/{path}" if host else f"/{path}"
    elif scp and not text.startswith("/"):
        text = f"{scp.group(1)}/{scp.group(2)}"
    text = text.rstrip("/").removesuffix(".git").rstrip("/")
    return text.lower()


def _repository(start: Path) -> tuple[Path, str] | None:
    """(the work tree's root, the remote URL) of the git repository holding `start`, or None."""
    for folder in (start, *start.parents):
        dotgit = folder / ".git"
        if dotgit.is_dir():
            gitdir = dotgit
        elif dotgit.is_file():  # a worktree or a submodule: `gitdir: PATH`
            text = dotgit.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            gitdir = (folder / text.removeprefix("gitdir:").strip()).resolve()
        else:
            continue
        url = _remote_url(_common_dir(gitdir) / "config")
        return (folder, url) if url else None
    return None


def _common_dir(gitdir: Path) -> Path:
    """A linked worktree keeps its config in the main repository's folder (`commondir`)."""
    pointer = gitdir / "commondir"
    if pointer.is_file():
        return (gitdir / pointer.read_text(errors="replace").strip()).resolve()
    return gitdir


def _remote_url(config: Path) -> str | None:
    """`origin`'s URL, or the only remote's; None when there is none (or several and no origin)."""
    try:
        lines = config.read_text(errors="replace").splitlines()
    except OSError:
        return None
    urls: dict[str, str] = {}
    remote: str | None = None
    for line in lines:
        section = _SECTION.match(line)
        if section:
            remote = section.group(1)
            continue
        if _ANY_SECTION.match(line):
            remote = None
            continue
        url = _URL.match(line)
        if remote is not None and url and remote not in urls:
            urls[remote] = url.group(1).strip('"')
    if "origin" in urls:
        return urls["origin"]
    return next(iter(urls.values())) if len(urls) == 1 else None
