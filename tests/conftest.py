"""Session fixtures: real servers started once, age keys made per session, a project factory."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest

from tests.support import lanes, properties
from tests.support.project import AgeKey, Project, make_project


def pytest_configure(config: pytest.Config) -> None:
    """The pure lane alone (`-m pure`) runs the fixed-count properties with fewer examples
    (tests/support/properties.py `examples`); any other selection runs them all."""
    if (config.getoption("markexpr", "") or "").strip() == "pure":
        os.environ[properties.QUICK_LANE] = "1"


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    lanes.mark(items)
    lanes.pure_last(items)


@pytest.hookimpl(optionalhook=True)  # only with pytest-xdist
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    lanes.check_grouped(node.config, ids)


@pytest.fixture(autouse=True)
def _pure_starts_nothing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test in the `pure` lane that starts a program fails, naming it (tests/support/lanes.py)."""
    if request.node.get_closest_marker("pure"):
        lanes.forbid_programs(monkeypatch, request.node.nodeid)


@pytest.fixture(scope="session", autouse=True)
def client_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The client-file cache of every run in this session lives in the session's temp folder (never the
    user's ~/.cache); runs that load the same unchanged files in one session read it, as users' do."""
    folder = tmp_path_factory.mktemp("client-cache")
    old = os.environ.get("DCRSYNC_CLIENT_CACHE")
    os.environ["DCRSYNC_CLIENT_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("DCRSYNC_CLIENT_CACHE", None)
    else:
        os.environ["DCRSYNC_CLIENT_CACHE"] = old


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    """dcrsync.load.gcpause freezes what a command builds, for the command's process; in this long-lived
    test process, each test's objects go back to the collector when it ends."""
    yield
    gc.unfreeze()


@pytest.fixture(scope="session")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgeKey]:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path_factory.mktemp("age") / "key.txt"
    path.write_text(f"{identity}\n")
    path.chmod(0o600)
    old = os.environ.get("SOPS_AGE_KEY_FILE")
    os.environ["SOPS_AGE_KEY_FILE"] = str(path)
    yield AgeKey(path, str(identity.to_public()))
    if old is None:
        os.environ.pop("SOPS_AGE_KEY_FILE", None)
    else:
        os.environ["SOPS_AGE_KEY_FILE"] = old


@pytest.fixture(scope="session")
def hydra(tmp_path_factory: pytest.TempPathFactory):
    from tests.servers.hydra import start_hydra

    instance = start_hydra(tmp_path_factory.mktemp("hydra"))
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory):
    """A node oidc-provider rotating registration tokens, open registration (tests/servers/oidc_provider.py)."""
    from tests.servers.oidc_provider import start_oidc_provider

    instance = start_oidc_provider(tmp_path_factory.mktemp("oidc-provider"), rotate_rat=True)
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory):
    """A throwaway PostgreSQL cluster (tests/servers/postgres.py); `.dsn` to connect."""
    from tests.servers.postgres import start_postgres

    instance = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory):
    """A real S3 server (MinIO, tests/servers/s3.py); `.endpoint`, `.client()`."""
    from tests.servers.s3 import start_minio

    instance = start_minio(tmp_path_factory.mktemp("s3"))
    yield instance
    instance.stop()


@pytest.fixture
def hydra_project(tmp_path: Path, hydra, age_key: AgeKey, request: pytest.FixtureRequest) -> Project:
    owner = "t-" + request.node.name.replace("_", "-").replace("[", "-").replace("]", "")[:40]
    return make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": hydra.admin_url}, age_key, owner)


@pytest.fixture(params=["file", "postgres", "s3"])
def any_store(request, hydra_project, monkeypatch) -> Project:
    """A Hydra project whose state is in each store in turn: the file, PostgreSQL, MinIO (`.kind`)."""
    from tests.support.stores import use_shared_store

    if request.param == "file":
        hydra_project.kind = "file"
        return hydra_project
    return use_shared_store(hydra_project, request.param, request, monkeypatch)


@pytest.fixture(autouse=True)
def _forget_masked_values() -> Iterator[None]:
    """Values a test's client files read from the environment are masked in every later output of
    the process (`dcrsync.guards.masking`): forget them after each test, as a new dcrsync process would."""
    yield
    from dcrsync.guards import masking

    masking.clear()
