"""Which lane a test runs in: `pure` (no server, no program started) and the one Keycloak worker.

A test is `pure` when nothing in its fixture closure starts a server or holds an age key (sops runs
with one), and its module names none of the ways a test starts a program: `subprocess`,
`sys.executable`, the launchers in tests/servers, the family harnesses in tests/harness. The rule
leans to "not pure"; `forbid_programs` makes a wrong `pure` fail loudly rather than pass slowly.

Under pytest-xdist (`--dist loadgroup`) the tests that talk to Keycloak all go to one worker: one
JVM for the run. Two workers (two JVMs) had been the choice while a new realm cost 2-3 s of CPU (its
RSA keys); with cheap realms (tests/servers/keycloak.py `QUICK_KEYS`) the Keycloak tests take about
as long as any other worker's share (255 s of test time), and the second JVM cost more CPU than the
split saved: the whole suite took 258 s with one, 263-306 s with two. The pure tests run last,
short fillers that even out the workers' ends.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

#: fixtures that start a real server or make the age key sops encrypts the state with
SERVER_FIXTURES = frozenset({"hydra", "oidc_provider", "postgres", "s3", "age_key"})
#: what a module says when it starts a program (a server, sops, git, python, bash, opa, …)
STARTS_PROGRAMS = re.compile(r"\bsubprocess\b|\bsys\.executable\b|\btests\.servers\b|\btests\.harness\b")
#: fixtures of the test modules that stand up a Keycloak realm
KEYCLOAK_FIXTURES = frozenset({"kc", "kc_project", "kc_realm", "keycloak", "keycloak_server", "realm", "realms"})


@cache
def _module_starts_programs(path: Path) -> bool:
    return bool(STARTS_PROGRAMS.search(path.read_text(encoding="utf-8")))


def is_pure(item: pytest.Item) -> bool:
    if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return False
    return not _module_starts_programs(Path(item.path))


def needs_keycloak(item: pytest.Item) -> bool:
    return "keycloak" in item.nodeid.lower() or bool(KEYCLOAK_FIXTURES & set(getattr(item, "fixturenames", ())))


def mark(items: list[pytest.Item]) -> None:
    """`pure` on the tests that start nothing; the xdist group `keycloak` on those that use it."""
    for item in items:
        if is_pure(item):
            item.add_marker(pytest.mark.pure)
        elif needs_keycloak(item):
            item.add_marker(pytest.mark.xdist_group("keycloak"))


def check_grouped(config: pytest.Config, ids: list[str]) -> None:
    """Under `--dist loadgroup` the Keycloak tests a worker collected must carry their group in their node
    id (xdist's suffix `@keycloak`), or xdist scatters them and every worker starts its own JVM:
    pytest-xdist 3.8 renames `item._nodeid`, which pytest 9.2 no longer reads (hence pytest<9.2)."""
    if config.getoption("dist", None) != "loadgroup":
        return
    scattered = [i for i in ids if "keycloak" in i.lower() and "@" not in i]
    if scattered and not any("@" in i for i in ids):
        pytest.exit(
            f"pytest-xdist did not group the Keycloak tests (first: {scattered[0]}): this pytest and "
            "pytest-xdist do not work together; install the versions pyproject.toml pins "
            "(bash scripts/bootstrap.sh)",
            returncode=4,
        )


def pure_last(items: list[pytest.Item]) -> None:
    """The tests that wait on servers first, the quick pure ones after (each in its collected order)."""
    items.sort(key=lambda item: item.get_closest_marker("pure") is not None)


def forbid_programs(monkeypatch: pytest.MonkeyPatch, nodeid: str) -> None:
    """In a `pure` test, starting any program is an error that names the test and the program."""
    def refuse(self, args, *rest, **kw):
        program = args if isinstance(args, str | bytes) else next(iter(args), "?")
        raise AssertionError(
            f"{nodeid} is marked pure but starts {program!s}: request the server fixture it needs, "
            "or name the program in its module (tests/support/lanes.py)"
        )

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
