"""The core is pure: importing it loads no store, no sops, no HTTP, no lock, no thread."""

from __future__ import annotations

import json
import subprocess
import sys

CORE = ["dcrsync.model", "dcrsync.plan.diff", "dcrsync.plan.plan", "dcrsync.plan.drift", "dcrsync.lint", "dcrsync.load.clients",
        "dcrsync.state.records", "dcrsync.plan.undeclared", "dcrsync.backends.discovery", "dcrsync.policy", "dcrsync.audit.clients",
        "dcrsync.audit.posture", "dcrsync.audit.report"]
FORBIDDEN = ["dcrsync.state.store", "dcrsync.state.groupcommit", "dcrsync.state.sops", "dcrsync.net.http", "dcrsync.backends.hydra",
             "dcrsync.backends.rfc7592", "dcrsync.backends.keycloak.backend", "httpx", "fcntl", "threading", "subprocess"]


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


def test_core_modules_load_no_io_module():
    # jsonschema (through attrs) imports `threading` for its own caches: the loader's schema check
    # is the one place a third party brings it in, so it is looked at apart below (policy and audit
    # reach it through lint and the policy file's schema)
    through_lint = ("dcrsync.load.clients", "dcrsync.lint", "dcrsync.policy", "dcrsync.audit.clients", "dcrsync.audit.report")
    pure = [m for m in CORE if m not in through_lint]
    assert _loaded(pure) == []
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


def test_no_function_is_longer_than_sixty_lines():
    """Small units: a function that outgrows a screen is split where its parts have names."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "dcrsync"
    long = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > 60:
                    long.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({size} lines)")
    assert long == []
