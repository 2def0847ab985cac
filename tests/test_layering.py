"""The layout holds: each folder imports only the folders below it (read from every module's imports),
the pure core loads no I/O module, and no module or function outgrows its size."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dcrsync"

#: the ground: the vocabulary every folder may import; within it, each may import only what is listed
GROUND: dict[str, set[str]] = {
    "errors": set(),
    "families": set(),
    "guards": {"errors"},
    "model": {"families", "guards"},
}
#: folder (or top-level module) -> what it may import besides the ground and itself, from the bottom up;
#: the README's "Layout" table and each folder's docstring ("May import: …") say the same
MAY_IMPORT: dict[str, set[str]] = {
    "load": set(),
    "net": set(),
    "state": {"load", "net"},
    "backends": {"state", "net"},
    "lint": {"load", "backends"},
    "plan": {"load", "state"},
    "policy": {"load", "state", "lint", "plan"},
    "deliver": {"load", "state", "net", "backends", "plan"},
    "project": {"load", "state", "net", "backends", "lint", "plan", "policy", "deliver"},
    "apply": {"load", "state", "net", "backends", "lint", "plan", "policy", "deliver", "project"},
    "audit": {"load", "state", "net", "backends", "lint", "plan", "policy", "project"},
    "render": {"state", "lint", "plan", "audit"},
    "github": {"load", "net"},
    "commands": {"load", "state", "net", "backends", "lint", "plan", "policy", "deliver", "project", "apply",
                 "audit", "render", "github"},
    "cli": {"render"},  # and each command, imported by name when it runs (COMMANDS)
    "__main__": {"cli"},
}

#: the pure core: importing any of these loads no store, no sops, no HTTP, no lock, no thread
PURE_FOLDERS = ("guards", "load", "plan", "lint", "policy")
PURE_MODULES = ["dcrsync.model", "dcrsync.errors", "dcrsync.families", "dcrsync.state.records",
                "dcrsync.state.sidecar", "dcrsync.state.sealed", "dcrsync.backends.discovery", "dcrsync.backends.hydra_map",
                "dcrsync.backends.rfc7592_map", "dcrsync.backends.keycloak.mapping",
                "dcrsync.backends.keycloak.limits", "dcrsync.backends.keycloak.rotation", "dcrsync.audit.clients",
                "dcrsync.audit.posture", "dcrsync.audit.report", "dcrsync.deliver.declared",
                "dcrsync.deliver.planning", "dcrsync.project.clients"]
FORBIDDEN = ["dcrsync.state.store", "dcrsync.state.groupcommit", "dcrsync.state.sops", "dcrsync.net.http",
             "dcrsync.net.gate", "dcrsync.backends.hydra", "dcrsync.backends.rfc7592",
             "dcrsync.backends.keycloak.backend", "httpx", "fcntl", "threading", "subprocess"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _room(module: str) -> str:
    """The folder (or top-level module) a module belongs to: `dcrsync.plan.diff` -> `plan`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "dcrsync"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every dcrsync module `path` imports: at the top, inside functions (lazy) and for
    type hints alike; `from dcrsync.x import y` counts as `dcrsync.x.y` when y is a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "dcrsync"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "dcrsync":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((node.lineno, sub if sub in MODULES else node.module))
    return found


def _allowed(room: str) -> set[str]:
    if room == "dcrsync":  # the package's own __init__: its version, nothing else
        return {"dcrsync"}
    if room in GROUND:
        return GROUND[room] | {room, "dcrsync"}
    return set(GROUND) | MAY_IMPORT[room] | {room, "dcrsync"}  # `dcrsync` itself: its __version__


def test_every_import_stays_inside_the_table():
    """A folder imports the ground and the folders its row names, nothing above it."""
    wrong = []
    for module, path in MODULES.items():
        room = _room(module)
        for line, imported in _imports(path):
            if _room(imported) not in _allowed(room):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {room} imports {imported}")
    assert wrong == []


def test_the_table_covers_the_package_and_runs_one_way():
    rooms = {_room(m) for m in MODULES} - {"dcrsync"}
    assert rooms == set(GROUND) | set(MAY_IMPORT)  # a new folder is placed in the table first
    below: dict[str, set[str]] = {}

    def reach(room: str, path: tuple[str, ...] = ()) -> set[str]:
        assert room not in path, f"the table runs back up: {' -> '.join((*path, room))}"
        if room not in below:
            direct = GROUND[room] if room in GROUND else set(GROUND) | MAY_IMPORT[room]
            below[room] = set(direct).union(*(reach(r, (*path, room)) for r in direct))
        return below[room]

    for room in rooms:
        reach(room)


def test_modules_named_in_strings_live_where_their_importer_may_reach():
    """The lazy imports by name: a family's backend is in backends/ (imported by `backends.make_backend`),
    a command in commands/ (imported by `cli`), and each one exists."""
    from dcrsync.cli import COMMANDS
    from dcrsync.families import FAMILIES

    named = [(f.backend, "backends") for f in FAMILIES.values()] + [(c, "commands") for c in COMMANDS.values()]
    for target, folder in named:
        module = target.split(":")[0]
        assert module in MODULES and _room(module) == folder, target


def _may_import_line(text: str) -> set[str] | None:
    match = re.search(r"May import: (.*?)\.\s*$", text, re.S)
    if match is None:
        return None
    said = set()
    for item in re.split(r",\s*|\s+and\s+", " ".join(match.group(1).split())):
        item = item.strip("` ")
        if item == "the ground":
            said |= set(GROUND)
        elif item == "every folder":
            said |= set(GROUND) | MAY_IMPORT["commands"]
        elif item and item != "nothing":
            said.add(item)
    return said


def test_each_folder_says_what_it_holds_and_what_it_may_import():
    """Every folder opens with a paragraph; its last sentence is the table's row."""
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        room = init.parent.name
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        expected = GROUND.get(room, set(GROUND) | MAY_IMPORT.get(room, set()))
        assert _may_import_line(doc) == expected, f"{init.relative_to(ROOT)}: 'May import: …' says otherwise"


def test_the_readme_layout_table_matches():
    """The README's "Layout" table: one row per folder, `may import` as the table says."""
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `dcrsync/(\w+)/?(?:\.py)?` \|.*\| (.*) \|$", line)
        if match:
            rows[match.group(1)] = _may_import_line(f"May import: {match.group(2)}.")
    for room in [*GROUND, *MAY_IMPORT]:
        if room in ("cli", "__main__"):
            continue
        expected = GROUND[room] if room in GROUND else set(GROUND) | MAY_IMPORT[room]
        assert rows.get(room) == expected, f"README row for dcrsync/{room}"


def _loaded(modules: list[str], blocked: tuple[str, ...] = ()) -> list[str]:
    """Which FORBIDDEN modules importing `modules` loads, in a fresh interpreter."""
    code = (
        "import sys, json\n"
        f"for m in {blocked!r}: sys.modules[m] = None\n"  # importing a blocked module fails loudly
        f"for m in {modules!r}: __import__(m)\n"
        f"print(json.dumps(sorted(m for m in {FORBIDDEN!r} if sys.modules.get(m) is not None)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


CORE = sorted({m for m in MODULES if _room(m) in PURE_FOLDERS} | set(PURE_MODULES))


def test_core_modules_load_no_io_module():
    # jsonschema (through attrs) may import `threading` for its own caches: the schema check is the one
    # place a third party brings it in, so it is looked at apart below (lint, policy and audit reach it
    # through the policy file's schema)
    through_schema = {m for m in CORE if m.startswith(("dcrsync.load", "dcrsync.lint", "dcrsync.policy",
                                                       "dcrsync.audit", "dcrsync.project"))}
    assert _loaded([m for m in CORE if m not in through_schema]) == []
    assert _loaded(CORE) in ([], ["threading"])


def test_loader_brings_threading_only_through_jsonschema():
    code = (
        "import sys\n"
        "import jsonschema\n"
        "had = 'threading' in sys.modules\n"
        "import dcrsync.load.clients, dcrsync.lint\n"
        "print(had)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    if "threading" in _loaded(CORE):
        assert out.stdout.strip() == "True", "threading is loaded by dcrsync itself, not by jsonschema"


def test_the_check_itself_sees_an_io_module():
    code = "import sys, dcrsync.state.store; print('dcrsync.state.sops' in sys.modules and 'fcntl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_the_import_check_itself_sees_an_import_that_runs_back_up(tmp_path):
    """The static check reads lazy imports too: a function in plan/ importing apply/ is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from dcrsync.apply.applier import Applier\n    from dcrsync import render\n")
    rooms = {_room(m) for _, m in _imports(bad)}
    assert rooms == {"apply", "render"} and not rooms <= _allowed("plan")


def test_a_missing_dependency_is_named(tmp_path):
    """Without httpx, the error names the missing module instead of blaming the build."""
    code = (
        "import sys\n"
        "sys.modules['httpx'] = None\n"
        "from dcrsync.backends import make_backend\n"
        "from dcrsync.errors import ConfigError\n"
        "try:\n"
        "    make_backend({'kind': 'hydra', 'admin_url': 'http://127.0.0.1:1'})\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "needs the Python module 'httpx'" in out.stdout and "not available in this build" not in out.stdout


def test_a_command_usage_error_is_one_line_and_exit_1(tmp_path):
    """Exit 2 means "changes" to dcrsync's callers: a command's usage error must not use it."""
    r = subprocess.run([sys.executable, "-m", "dcrsync", "import", "only-a-name"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("error: ") and "Usage:" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_no_module_is_longer_than_four_hundred_lines():
    """One job a module: one that outgrows 400 lines is split along a seam (a job of its own), not halved."""
    long = [f"{p.relative_to(ROOT)} ({n} lines)" for p in MODULES.values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400]
    assert long == []


def test_no_function_is_longer_than_sixty_lines():
    """Small units: a function that outgrows a screen is split where its parts have names."""
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > 60:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({size} lines)")
    assert long == []
