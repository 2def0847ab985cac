"""`dcrsync validate`: output formats, exit codes, config handling; one run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dcrsync.cli import cli
from dcrsync.model import Diagnostic, Location
from dcrsync.render.diagnostics import Summary, github_annotation, render_github
from tests.support.unit_helpers import write

ROOT = Path(__file__).resolve().parent.parent

BASELINE = "lint: {profile: baseline}"  # these tests pin the earlier rules' output; test_profile.py the default
CONFIG = """\
clients: clients/
server: {kind: hydra, admin_url: "${env:SOME_UNSET_ADMIN_URL}"}
vars: {domain: example.com}
environments:
  staging: {vars: {domain: staging.example.org}}
""" + BASELINE + "\n"
GOOD = "name: web\nredirect_uris: ['https://app.${var:domain}/cb']\n"
SPA = "name: spa\nredirect_uris: ['https://spa.example.com/cb']\ntoken_endpoint_auth_method: none\n"
BAD = "name: bad\nredirect_uri: [https://x.example.com/cb]\n"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DCRSYNC_CONFIG", raising=False)
    monkeypatch.delenv("SOME_UNSET_ADMIN_URL", raising=False)
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(cli, ["validate", *args], catch_exceptions=False)


def test_valid_project_exits_0(root: Path) -> None:
    write(root, "dcrsync.yaml", CONFIG)
    write(root, "clients/web.yaml", GOOD)
    result = run()
    assert result.exit_code == 0, result.output
    assert result.output == "1 client in 1 file: 0 errors, 0 warnings\n"


def test_errors_exit_1_sorted_with_summary(root: Path) -> None:
    write(root, "dcrsync.yaml", CONFIG)
    write(root, "clients/b.yaml", BAD)
    write(root, "clients/a.yaml", SPA + "---\n" + GOOD)
    result = run()
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "clients/a.yaml:3:29: warning[DCR008]: public client without PKCE: write `require_pkce: true` (the app "
        "must then send a S256 code_challenge)",
        "clients/b.yaml:2:1: error[schema]: unknown field `redirect_uri`: did you mean `redirect_uris`?",
        "3 clients in 2 files: 1 error, 1 warning",
    ]


def test_warnings_pass_unless_strict(root: Path) -> None:
    write(root, "clients/spa.yaml", SPA)
    assert run("--profile", "baseline").exit_code == 0
    strict = run("--strict", "--profile", "baseline")
    assert strict.exit_code == 1
    assert strict.output.endswith("1 client in 1 file: 0 errors, 1 warning\n")


def test_paths_override_the_config_but_keep_its_vars(root: Path) -> None:
    write(root, "dcrsync.yaml", CONFIG)
    write(root, "clients/bad.yaml", BAD)
    write(root, "other/web.yaml", GOOD)
    assert run("other").exit_code == 0
    assert run("other/web.yaml", "clients/bad.yaml").exit_code == 1


def test_env_selects_vars(root: Path) -> None:
    write(root, "dcrsync.yaml", CONFIG)
    write(
        root,
        "clients/web.yaml",
        "name: web\nclient_name: ${var:domain}\nredirect_uris: ['https://x.example.com/cb']\n",
    )
    result = run("--env", "staging", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.output)["valid"] is True


def test_explicit_config_elsewhere(root: Path) -> None:
    write(root, "proj/dcrsync.yaml", CONFIG)
    write(root, "proj/clients/web.yaml", GOOD + "bogus: 1\n")
    result = run("--config", "proj/dcrsync.yaml")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"{os.path.join('proj', 'clients', 'web.yaml')}:3:1: error[schema]: unknown field `bogus`: remove it, "
        "or check the spelling against the schema"
    )


def test_json_format(root: Path) -> None:
    write(root, "clients/a.yaml", BAD)
    write(root, "clients/b.yaml", SPA)
    result = run("--format", "json", "--profile", "baseline")
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body == {
        "version": 1,
        "profile": "baseline",
        "server_kind": None,
        "environment": None,
        "refresh_token_rotation": None,
        "policy": None,
        "valid": False,
        "clients": 2,
        "files": 2,
        "errors": 1,
        "warnings": 1,
        "ignored": 0,
        "excepted": 0,
        "diagnostics": [
            {
                "file": "clients/a.yaml",
                "line": 2,
                "col": 1,
                "severity": "error",
                "rule": "schema",
                "message": "unknown field `redirect_uri`: did you mean `redirect_uris`?",
                "why": None,
            },
            {
                "file": "clients/b.yaml",
                "line": 3,
                "col": 29,
                "severity": "warning",
                "rule": "DCR008",
                "message": "public client without PKCE: write `require_pkce: true` (the app must then send a S256 "
                "code_challenge)",
                "why": "without a secret, PKCE (S256) is what stops a stolen authorization code being redeemed; "
                "make sure the app sends a code_challenge",
            },
        ],
        "ignored_diagnostics": [],
        "declared": [  # the client that loaded (a.yaml did not): its file's metadata, the plan's `desired` shape
            {
                "name": "spa",
                "source": "clients/b.yaml:1:1",
                "labels": {},
                "description": None,
                "desired": {"redirect_uris": ["https://spa.example.com/cb"], "token_endpoint_auth_method": "none"},
            }
        ],
    }


def test_json_strict_marks_warnings_invalid(root: Path) -> None:
    write(root, "clients/b.yaml", SPA)
    result = run("--format", "json", "--strict")
    assert result.exit_code == 1 and json.loads(result.output)["valid"] is False


def test_github_format(root: Path) -> None:
    write(root, "clients/a.yaml", BAD)
    write(root, "clients/b.yaml", SPA)
    result = run("--format", "github", "--profile", "baseline")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "::error file=clients/a.yaml,line=2,col=1,title=dcrsync schema::unknown field `redirect_uri`: did you mean "
        "`redirect_uris`?",
        "::warning file=clients/b.yaml,line=3,col=29,title=dcrsync DCR008::public client without PKCE: write "
        "`require_pkce: true` (the app must then send a S256 code_challenge)",
        "2 clients in 2 files: 1 error, 1 warning",
    ]


def test_github_escaping() -> None:
    # a message is one line whatever it quotes (`Diagnostic` makes a newline visible); a file name
    # may hold one, and must not end the workflow command
    d = Diagnostic(Location("a,b:\nc.yaml", 3, 4), "error", "yaml", "100% bad\r\nsecond line")
    assert (
        github_annotation(d)
        == "::error file=a%2Cb%3A%0Ac.yaml,line=3,col=4,title=dcrsync yaml::100%25 bad␍␊second line"
    )
    whole_file = Diagnostic(Location("gone/", 0, 0), "error", "load", "`gone/` does not exist: fix the path")
    assert render_github([whole_file], Summary(0, 0, 1, 0)).splitlines()[0] == (
        "::error file=gone/,title=dcrsync load::`gone/` does not exist: fix the path"
    )


def test_no_config_and_no_clients_folder(root: Path) -> None:
    result = run()
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "clients: error[load]: `clients/` does not exist: fix the path",
        "0 clients in 0 files: 1 error, 0 warnings",
    ]


def test_config_error_is_one_line(root: Path) -> None:
    write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: x}\nprune: maybe\n")
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert result.output == 'error: dcrsync.yaml:2:8: `prune` must be true or false, not text (got "maybe")\n'


def test_env_without_config(root: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", "--env", "staging"])
    assert result.exit_code == 1
    assert result.output == "error: --env staging: there is no dcrsync.yaml here to define environments\n"


def test_examples_validate() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dcrsync", "validate"],
        cwd=ROOT / "examples",
        env={k: v for k, v in os.environ.items() if k not in ("DCRSYNC_CONFIG", "HYDRA_ADMIN_URL")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == "10 clients in 9 files: 0 errors, 0 warnings"


def test_subprocess_bad_input_exits_1_without_traceback(tmp_path: Path) -> None:
    write(tmp_path, "clients/syntax.yaml", "name: a\nscope: [\n")
    write(tmp_path, "clients/latin1.yaml", b"name: b\nclient_name: \xe9\n")
    write(
        tmp_path,
        "clients/bomb.yaml",
        "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
    )
    write(tmp_path, "clients/deep.yaml", "x: " + "[" * 100_000 + "]" * 100_000 + "\n")
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "dcrsync", "validate", "clients"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    out = proc.stdout.splitlines()
    assert [line.split(": ")[0:2] for line in out[:-1]] == [
        ["clients/bomb.yaml:3:4", "error[yaml]"],
        ["clients/deep.yaml:1:1004", "error[yaml]"],
        ["clients/latin1.yaml:2:14", "error[load]"],
        ["clients/syntax.yaml:3:1", "error[yaml]"],
    ]
    assert out[-1] == "1 client in 4 files: 4 errors, 0 warnings"


# --- the server family, ignores, and what needs no server ----------------------------------

NATIVE = "name: app\nredirect_uris: [com.example.app:/cb]\ngrant_types: [implicit]\nresponse_types: [id_token]\n"


def test_family_comes_from_the_config(root: Path) -> None:
    write(root, "clients/app.yaml", NATIVE)
    assert [line.split(": ")[1] for line in run("clients", "--profile", "baseline").output.splitlines()[:-1]] == [
        "error[DCR003]", "warning[DCR007]"
    ]  # no dcrsync.yaml: any family, application_type is demanded
    write(root, "dcrsync.yaml", "server: {kind: keycloak, url: x, realm: r, admin: {username: u, password: '${env:KC_PW_UNSET}'}}\n")
    result = run("--profile", "baseline")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "clients/app.yaml:3:15: warning[DCR007]: the implicit grant is discouraged (OAuth 2.0 Security BCP): "
        "use authorization_code with PKCE",
        "1 client in 1 file: 0 errors, 1 warning",
    ]


IGNORING = CONFIG.replace(BASELINE, "lint:\n  ignore:\n    DCR008: PKCE is enforced server-wide\n  profile: baseline")
PKCE_LINE = "public client without PKCE: write `require_pkce: true` (the app must then send a S256 code_challenge)"


def test_project_ignore_is_listed_and_counted(root: Path) -> None:
    write(root, "dcrsync.yaml", IGNORING)
    write(root, "clients/spa.yaml", SPA)
    result = run("--strict")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"clients/spa.yaml:3:29: ignored[DCR008]: {PKCE_LINE} (ignored at dcrsync.yaml:8:5: PKCE is enforced "
        "server-wide)",
        "1 client in 1 file: 0 errors, 0 warnings, 1 ignored",
    ]
    body = json.loads(run("--format", "json").output)
    assert (body["valid"], body["warnings"], body["ignored"], body["diagnostics"]) == (True, 0, 1, [])
    [ignored] = body["ignored_diagnostics"]
    assert ignored == {
        "file": "clients/spa.yaml", "line": 3, "col": 29, "severity": "warning", "rule": "DCR008",
        "message": PKCE_LINE, "why": ignored["why"], "reason": "PKCE is enforced server-wide",
        "ignored_in": "project", "ignored_at": {"file": "dcrsync.yaml", "line": 8, "col": 5},
    }


def test_client_ignore_through_the_cli(root: Path) -> None:
    write(root, "dcrsync.yaml", CONFIG)
    write(root, "clients/spa.yaml", SPA + "lint: {ignore: {DCR008: the SDK always sends S256}}\n")
    result = run()
    assert result.exit_code == 0
    assert result.output.splitlines()[0].endswith("(ignored at clients/spa.yaml:4:17: the SDK always sends S256)")


def test_bad_project_ignore_is_one_line_at_its_place(root: Path) -> None:
    write(root, "dcrsync.yaml", CONFIG.replace(BASELINE, "lint:\n  ignore:\n    DCR008: ''\n  profile: baseline"))
    write(root, "clients/spa.yaml", SPA)
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert result.output == (
        "error: dcrsync.yaml:8:13: `lint.ignore.DCR008` needs the reason the rule does not apply, as text "
        "(e.g. \"PKCE is enforced server-wide\") (got \"\")\n"
    )


def test_misspelt_server_key_names_itself(root: Path) -> None:
    write(root, "dcrsync.yaml", "server:\n  kind: hydra\n  admin_ulr: http://127.0.0.1:4445\n")
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert result.output == "error: dcrsync.yaml:3:3: unknown field `admin_ulr` in `server`: did you mean `admin_url`?\n"


UNSET_SECRET = "server: {kind: hydra, admin_url: 'http://127.0.0.1:9', token: '${env:DCRSYNC_TEST_UNSET_TOKEN}'}\n" + BASELINE + "\n"


def test_state_commands_need_no_server_secret_but_plan_does(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DCRSYNC_TEST_UNSET_TOKEN", raising=False)
    write(root, "dcrsync.yaml", UNSET_SECRET)
    write(root, "clients/web.yaml", "name: web\nredirect_uris: ['https://app.example.com/cb']\n")
    listed = CliRunner().invoke(cli, ["state", "list"])
    assert (listed.exit_code, listed.output) == (0, "")
    shown = CliRunner().invoke(cli, ["state", "show", "web"])
    assert shown.exit_code == 1 and "is not in" in shown.output and "DCRSYNC_TEST_UNSET_TOKEN" not in shown.output
    assert run().exit_code == 0
    planned = CliRunner().invoke(cli, ["plan"])
    assert planned.exit_code == 1
    assert planned.output == (
        "error: dcrsync.yaml:1:63: environment variable `DCRSYNC_TEST_UNSET_TOKEN` is not set (used as "
        "`${env:DCRSYNC_TEST_UNSET_TOKEN}`): set it before running dcrsync, or write `$${` for a literal `${`\n"
    )


def test_a_field_the_family_enforces_server_wide_is_a_note_not_a_finding(root: Path) -> None:
    """On Hydra `require_pkce` is a server setting: validate says so at once, even under --strict."""
    write(root, "dcrsync.yaml", CONFIG)
    write(root, "clients/spa.yaml", SPA + "require_pkce: true\n")
    r = subprocess.run([sys.executable, "-m", "dcrsync", "validate", "--strict", "--format", "json"],
                       cwd=root, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["valid"] is True  # stdout stays the machine contract
    (note,) = [line for line in r.stderr.splitlines() if line.startswith("note: ")]
    assert "require_pkce" in note and "oauth2.pkce.enforced" in note and "spa" in note
    write(root, "dcrsync.yaml", CONFIG.replace("kind: hydra, admin_url", "kind: keycloak, url"))
    r = subprocess.run([sys.executable, "-m", "dcrsync", "validate"], cwd=root, capture_output=True, text=True)
    assert "note: " not in r.stderr  # Keycloak holds it per client
