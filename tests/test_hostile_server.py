"""Issue 16 item 5 end to end: text a real Hydra holds is inert wherever dcrsync shows it.

Hydra takes any caller-chosen `client_id` (escapes, newlines, bidi overrides, backticks: checked
here by creating them; one with a `/` it creates but cannot address afterwards) and any
`client_name`, `owner` and `metadata`. Clients made by hand with
colour, a window title, an OSC 52 clipboard write, a forged plan line and live Markdown go through
`export`, `import`, `state list`, `plan` and `drift` in text, Markdown and JSON: nothing reaches the
terminal raw, nothing in the comment renders live, and the JSON keeps the exact values. The error
line is checked with an error that carries such text (no real server puts it in an error).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dcrsync.cli import cli
from dcrsync.errors import BackendError
from tests.support.hydra_api import create_client, get_client, put_client
from tests.support.inert_checks import FORGED, assert_inert_markdown, assert_no_raw_control
from tests.support.project import make_project

pytestmark = pytest.mark.hydra

ESCAPES = "\x1b[31mRED\x1b]0;owned\x07\x1b]52;c;ZXZpbA==\x07"
#: no `/`: Hydra creates such a client but its own routes cannot address it afterwards (404)
IDS = [f"esc{ESCAPES}", "nl\n  + create evil  [pending]", "bidi\u202eevil`](javascript:x) @alice <b>"]
NAME = f"Billing {ESCAPES}\n{FORGED}\u2066 <img src=x> [x](http://evil.example) @alice #1"
METADATA = {"note": "`](http://evil.example) <script> \x1b[2J", "k\u202e": "\x85v\x07"}


@pytest.fixture
def project(tmp_path, hydra, age_key, request):
    owner = "t-hostile-" + request.node.name[5:30].replace("_", "-")
    for client_id in IDS:
        create_client(hydra.admin_url, {
            "client_id": client_id + owner, "client_name": NAME, "owner": owner, "metadata": METADATA,
            "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic",
        })
    p = make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": hydra.admin_url}, age_key, owner)
    p.hand_owner = owner  # type: ignore[attr-defined]
    return p


def _shown(result) -> str:
    out = result.output + (result.stderr if result.stderr_bytes else "")
    assert "Traceback" not in out, out
    assert_no_raw_control(out)
    return out


def test_hostile_clients_are_inert_through_export_import_plan_and_drift(project, hydra):
    owner = project.hand_owner
    exported = project.root / "exported"
    r = project.run("export", "--out", str(exported), "--owner", owner)
    _shown(r)
    assert r.exit_code == 0 and "Wrote 3 client file(s)" in r.output, r.output
    for path in exported.glob("*.yaml"):
        assert_no_raw_control(path.read_text())  # the files hold escapes (`\e`), never the raw bytes

    r = project.run("import", "--owner", owner)
    out = _shown(r)
    assert r.exit_code == 0 and "Imported 3 client(s)" in out, out
    assert "client esc␛[31mRED␛]0;owned␇␛]52;c;ZXZpbA==␇" in out and "nl␊  + create evil" in out

    listed = _shown(project.run("state", "list"))
    assert "bidi<U+202E>evil`](javascript:x) @alice <b>" in listed
    listed_json = json.loads(_shown(project.run("state", "list", "--format", "json")))
    assert {row["client_id"] for row in listed_json} == {i + owner for i in IDS}  # exact, escaped in JSON

    assert "No changes." in _shown(project.run("plan"))
    # someone changes the clients by hand on the server: drift, and the plan that undoes it
    for client_id in IDS:
        live = get_client(hydra.admin_url, client_id + owner)
        put_client(hydra.admin_url, {**live, "client_name": NAME + " (edited)", "metadata": {
            **live["metadata"], "note": "[pwn](http://evil.example)\n- [ ] \x1b[5m"}})
    for fmt in ("text", "markdown", "json"):
        r = project.run("drift", "--format", fmt)
        assert r.exit_code == 2, r.output
        out = _shown(r)
        if fmt == "markdown":
            assert_inert_markdown(out)
        if fmt == "text":
            assert "esc␛[31mRED" in out and not any(line.startswith(FORGED) for line in out.splitlines())
        if fmt == "json":
            assert {c["client_id"] for c in json.loads(out)["clients"]} == {i + owner for i in IDS}
    for fmt in ("text", "markdown", "json"):
        r = project.run("plan", "--format", fmt)
        assert r.exit_code == 0, r.output
        out = _shown(r)
        if fmt == "markdown":
            assert_inert_markdown(out)
            assert "&#96;&#93;(http&#58;//evil.example)" in out
        if fmt == "text":
            assert "3 to update" in out and "client_id nl␊  + create evil  [pending]" in out


def test_the_error_line_is_inert(monkeypatch, tmp_path):
    """An error carrying a server's own words (an `error_description` with escapes and a newline)."""
    from dcrsync.commands import plan as plan_command

    def refuse(*_args, **_kwargs):
        raise BackendError(f"HTTP 400 invalid_client_metadata: {ESCAPES}\n{FORGED}\u202e")

    monkeypatch.setattr(plan_command, "open_project", refuse)
    r = CliRunner().invoke(cli, ["plan"], catch_exceptions=False)
    assert r.exit_code == 1
    assert r.output == "error: HTTP 400 invalid_client_metadata: ␛[31mRED␛]0;owned␇␛]52;c;ZXZpbA==␇\nerror:   + create evil<U+202E>\n"
