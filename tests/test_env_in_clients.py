"""Issue 16 item 1: environment variables stay out of client files (against the real Hydra).

A client file reads only the variables `client_env:` lists, never one the `server:` or `state:`
block uses (directly, through a `${var:…}`, or in another environment); anything else is an error at
its file:line before anything is sent. A value read is shown as `(from env:NAME)` in every format,
the saved plan holds the reference, apply reads it from its own environment, and a value that
changed between plan and apply makes the plan stale without printing it.
"""

from __future__ import annotations

import json

import pytest

from tests.support.hydra_api import clients_of, create_client, get_client, put_client
from tests.support.project import make_project

pytestmark = pytest.mark.hydra

TOKEN = "hydra-admin-token-7f3a9c"  # what the admin token holds in these tests: never in any output
NAME_1, NAME_2, NAME_3 = "Zebra name one 4411", "Zebra name two 5522", "Zebra name three 6633"
HOST = "cbhost-9d8e7f.example.com"


@pytest.fixture
def project(tmp_path, hydra, age_key, monkeypatch, request):
    monkeypatch.setenv("HYDRA_ADMIN_TOKEN", TOKEN)
    server = {"kind": "hydra", "admin_url": hydra.admin_url, "token": "${env:HYDRA_ADMIN_TOKEN}"}
    owner = "t-env-" + "".join(c if c.isalnum() else "-" for c in request.node.name[5:40])
    return make_project(tmp_path / "proj", server, age_key, owner)


def _client(body: str) -> str:
    return "name: app\ngrant_types: [client_credentials]\n" + body


def test_a_credential_in_a_client_file_is_refused_at_its_line_before_anything_is_sent(project, hydra):
    project.write_client("app", _client('client_name: "${env:HYDRA_ADMIN_TOKEN}"\n'))
    for command in ("validate", "plan", "apply"):
        r = project.run(command, *(["--auto-approve"] if command == "apply" else []))
        assert r.exit_code == 1, r.output
        assert "app.yaml:3:14: error[subst]: `${env:HYDRA_ADMIN_TOKEN}` reads `HYDRA_ADMIN_TOKEN`, which " \
               "dcrsync.yaml's `server:` block uses: client files may never read" in r.output, r.output
        assert TOKEN not in r.output
    assert clients_of(hydra.admin_url, project.owner) == []


@pytest.mark.parametrize(
    ("config", "body", "expected"),
    [
        # not listed at all
        ({}, 'client_name: "${env:HOME}"\n', "`${env:HOME}` reads `HOME`, which dcrsync.yaml does not list for client files: add it under `client_env:`"),
        # through a var defined from the admin token
        ({"vars": {"tok": "${env:HYDRA_ADMIN_TOKEN}"}}, 'client_name: "x ${var:tok}"\n',
         "`${var:tok}` (defined from `${env:HYDRA_ADMIN_TOKEN}` in dcrsync.yaml) reads `HYDRA_ADMIN_TOKEN`, which dcrsync.yaml's `server:` block uses"),
        # the store's DSN, used only by another environment's state:
        ({"environments": {"prod": {"state": {"kind": "postgres", "dsn": "${env:PG_DSN}"}}}}, "contacts: ['${env:PG_DSN}']\n",
         "`${env:PG_DSN}` reads `PG_DSN`, which dcrsync.yaml's `state:` block uses"),
    ],
)
def test_what_a_client_file_may_not_read(project, monkeypatch, config, body, expected):
    monkeypatch.setenv("PG_DSN", "postgresql://u:dsn-password-31337@db/x")
    project.set_config(**config)
    project.write_client("app", _client(body))
    r = project.run("validate")
    assert r.exit_code == 1 and "app.yaml:3:" in r.output and expected in r.output, r.output
    assert TOKEN not in r.output and "dsn-password" not in r.output


@pytest.mark.parametrize("name", ["HYDRA_ADMIN_TOKEN", "PROD_TOKEN"])
def test_client_env_can_never_list_a_credential(project, name):
    project.set_config(client_env=["APP_NAME", name], environments={"prod": {"server": {"token": "${env:PROD_TOKEN}"}}})
    r = project.run("validate")
    assert r.exit_code == 1, r.output
    assert f"`{name}` is used by the `server:` block: client files may never read it; remove it from client_env" in r.output


def _outputs(project) -> dict[str, str]:
    """The plan in every format, and the saved plan file."""
    out = {fmt: project.run("plan", "--format", fmt).output for fmt in ("text", "markdown", "json")}
    r = project.run("plan", "--out", str(project.root / "plan.json"))
    assert r.exit_code == 0, r.output
    out["plan.json"] = (project.root / "plan.json").read_text()
    return out


def test_a_listed_variable_is_shown_by_name_and_applied_by_value(project, hydra, monkeypatch):
    monkeypatch.setenv("APP_NAME", NAME_1)
    monkeypatch.setenv("CB_HOST", HOST)
    project.set_config(client_env=["APP_NAME", "CB_HOST"], vars={"host": "${env:CB_HOST}"})
    project.write_client("app", "name: app\nclient_name: '${env:APP_NAME}'\ngrant_types: [authorization_code]\n"
                                "redirect_uris: ['https://${var:host}/cb']\nresponse_types: [code]\n")
    for where, text in _outputs(project).items():
        assert NAME_1 not in text and HOST not in text, (where, text)
        assert "(from env:APP_NAME)" in text and "(from env:CB_HOST)" in text, (where, text)
    saved = json.loads((project.root / "plan.json").read_text())["changes"][0]
    assert saved["desired"]["client_name"] == "${env:APP_NAME}"
    assert saved["desired"]["redirect_uris"] == ["https://${env:CB_HOST}/cb"]
    assert saved["env"] == {"client_name": ["APP_NAME"], "redirect_uris": ["CB_HOST"]}
    r = project.run("apply", str(project.root / "plan.json"))
    assert r.exit_code == 0 and NAME_1 not in r.output, r.output
    (live,) = clients_of(hydra.admin_url, project.owner)
    assert (live["client_name"], live["redirect_uris"]) == (NAME_1, [f"https://{HOST}/cb"])
    assert "No changes." in project.run("plan").output

    monkeypatch.setenv("APP_NAME", NAME_2)
    text = project.run("plan").output
    assert '~ client_name: "(not shown: the field is read from the environment)" -> "(from env:APP_NAME)"' in text, text
    assert NAME_1 not in text and NAME_2 not in text


def test_a_value_changed_between_plan_and_apply_makes_the_saved_plan_stale(project, hydra, monkeypatch):
    monkeypatch.setenv("APP_NAME", NAME_1)
    project.set_config(client_env=["APP_NAME"])
    project.write_client("app", _client("client_name: '${env:APP_NAME}'\n"))
    assert project.run("apply", "--auto-approve").exit_code == 0
    plan = str(project.root / "plan.json")

    monkeypatch.setenv("APP_NAME", NAME_2)  # plan: the name changes to NAME_2 …
    assert project.run("plan", "--out", plan).exit_code == 0
    monkeypatch.setenv("APP_NAME", NAME_1)  # … but at apply the variable holds the server's value again
    r = project.run("apply", plan)
    assert r.exit_code == 1, r.output
    assert "the plan is stale: app (client_name: env:APP_NAME changed since the plan)" in r.output
    assert NAME_1 not in r.output and NAME_2 not in r.output

    project.write_client("app", _client("client_name: '${env:APP_NAME}'\ncontacts: [ops@example.com]\n"))
    assert project.run("plan", "--out", plan).exit_code == 0  # only contacts change …
    monkeypatch.setenv("APP_NAME", NAME_3)  # … and at apply the name would change too
    r = project.run("apply", plan)
    assert r.exit_code == 1 and "env:APP_NAME changed since the plan" in r.output and NAME_3 not in r.output, r.output

    monkeypatch.setenv("APP_NAME", NAME_2)
    assert project.run("plan", "--out", plan).exit_code == 0
    r = project.run("apply", plan)  # the same value as at plan time: applied
    assert r.exit_code == 0, r.output
    (live,) = clients_of(hydra.admin_url, project.owner)
    assert get_client(hydra.admin_url, live["client_id"])["client_name"] == NAME_2


def test_a_saved_plan_naming_an_unlisted_variable_is_refused(project, monkeypatch):
    monkeypatch.setenv("APP_NAME", NAME_1)
    project.set_config(client_env=["APP_NAME"])
    project.write_client("app", _client("client_name: '${env:APP_NAME}'\n"))
    plan = project.root / "plan.json"
    assert project.run("plan", "--out", str(plan)).exit_code == 0
    project.set_config(client_env=[])  # the project no longer lets client files read it
    r = project.run("apply", str(plan))
    assert r.exit_code == 1 and "the plan's `client_name`: `${env:APP_NAME}` reads `APP_NAME`, which dcrsync.yaml " \
        "does not list for client files" in r.output, r.output


def test_lint_messages_never_quote_a_value_read_from_the_environment(project, monkeypatch):
    monkeypatch.setenv("CB_HOST", HOST)
    project.set_config(client_env=["CB_HOST"])
    project.write_client("app", "name: app\ngrant_types: [authorization_code]\nresponse_types: [code]\n"
                                "redirect_uris: ['https://${env:CB_HOST}/cb#frag']\n")
    for fmt in ("text", "json", "github"):
        r = project.run("validate", "--format", fmt)
        assert r.exit_code == 1 and "DCR002" in r.output, r.output
        assert HOST not in r.output and "https://(from env:CB_HOST)/cb#frag" in r.output, r.output


def test_name_and_client_id_cannot_be_read_from_the_environment(project, monkeypatch):
    monkeypatch.setenv("APP_NAME", "app")
    project.set_config(client_env=["APP_NAME"])
    project.write_client("app", "name: ${env:APP_NAME}\ngrant_types: [client_credentials]\n")
    r = project.run("validate")
    assert r.exit_code == 1 and "`name` cannot be read from the environment" in r.output, r.output



def test_drift_of_a_field_read_from_the_environment_shows_neither_value(project, hydra, monkeypatch):
    monkeypatch.setenv("APP_NAME", NAME_1)
    project.set_config(client_env=["APP_NAME"])
    project.write_client("app", _client("client_name: '${env:APP_NAME}'\n"))
    assert project.run("apply", "--auto-approve").exit_code == 0
    (live,) = clients_of(hydra.admin_url, project.owner)
    put_client(hydra.admin_url, {**live, "client_name": NAME_3})  # by hand, behind dcrsync's back
    for fmt in ("text", "markdown", "json"):
        r = project.run("drift", "--format", fmt)
        assert r.exit_code == 2 and "(from env:APP_NAME)" in r.output, r.output
        assert NAME_1 not in r.output and NAME_3 not in r.output, r.output


def test_a_value_read_anywhere_in_a_client_file_is_never_printed(project, monkeypatch):
    """Not only fields: a lint reason read from the environment is masked in validate's output too."""
    monkeypatch.setenv("CB_HOST", HOST)
    project.set_config(client_env=["CB_HOST"])
    project.write_client("app", "name: app\ngrant_types: [password]\nlint: {ignore: {DCR010: 'ask ${env:CB_HOST}'}}\n")
    r = project.run("validate")
    assert "ignored[DCR010]" in r.output and "ask (from env:CB_HOST)" in r.output and HOST not in r.output, r.output


def test_values_read_from_the_environment_are_kept_encrypted_in_the_state(project, hydra, monkeypatch):
    """The plain `.applied.json` (in git, or a shared store) and the journal never hold such a value:
    the state's encrypted document does, and plan and drift read it back, with or without the key."""
    monkeypatch.setenv("APP_NAME", NAME_1)
    monkeypatch.setenv("CB_HOST", HOST)
    project.set_config(client_env=["APP_NAME", "CB_HOST"], vars={"host": "${env:CB_HOST}"})
    project.write_client("app", "name: app\nclient_name: '${env:APP_NAME}'\ngrant_types: [authorization_code]\n"
                                "redirect_uris: ['https://${var:host}/cb']\nresponse_types: [code]\n")
    assert project.run("apply", "--auto-approve").exit_code == 0
    files = [p for p in project.root.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".applied.json") for p in files), files
    for path in files:
        data = path.read_bytes()
        assert NAME_1.encode() not in data and HOST.encode() not in data, path
    assert "No changes." in project.run("plan").output
    assert project.run("drift").exit_code == 0
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")  # a pull request's jobs: no key
    r = project.run("plan")
    assert r.exit_code == 0 and "No changes." in r.output, r.output
    r = project.run("drift")
    assert r.exit_code == 0, r.output


def test_an_imported_or_recovered_client_that_reads_the_environment_is_kept_encrypted_too(project, hydra, monkeypatch):
    monkeypatch.setenv("APP_NAME", NAME_1)
    project.set_config(client_env=["APP_NAME"])
    made = create_client(hydra.admin_url, {"client_name": NAME_1, "grant_types": ["client_credentials"]})
    project.write_client("app", _client(f"client_id: {made['client_id']}\nclient_name: '${{env:APP_NAME}}'\n"))
    r = project.run("import", "app", made["client_id"])
    assert r.exit_code == 0 and NAME_1 not in r.output, r.output
    for path in (p for p in project.root.rglob("*") if p.is_file()):
        assert NAME_1.encode() not in path.read_bytes(), path
    assert "No changes." in project.run("plan").output
    for path in project.root.glob("dcrsync.state.*"):  # the state lost: rebuilt from the server's markers
        path.unlink()
    r = project.run("state", "recover")
    assert r.exit_code == 0 and NAME_1 not in r.output, r.output
    for path in (p for p in project.root.rglob("*") if p.is_file()):
        assert NAME_1.encode() not in path.read_bytes(), path
    assert "No changes." in project.run("plan").output


def test_a_state_an_older_dcrsync_wrote_loses_the_values_at_the_next_apply(project, hydra, monkeypatch):
    """States written before values were sealed hold them in the sidecar: the next apply, even one with
    nothing to change, writes the state again without them."""
    from dcrsync.project.opening import open_project

    monkeypatch.setenv("APP_NAME", NAME_1)
    project.set_config(client_env=["APP_NAME"])
    project.write_client("app", _client("client_name: '${env:APP_NAME}'\n"))
    assert project.run("apply", "--auto-approve").exit_code == 0
    opened = open_project(str(project.config), None)
    opened.unlock()
    with opened.store.locked():  # the record as an older dcrsync kept it: nothing marked sealed
        state = opened.store.read()
        state.clients["app"].sealed = {}
        opened.store.commit(state)
    sidecar = next(project.root.glob("*.applied.json"))
    assert NAME_1.encode() in sidecar.read_bytes()
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 0 and "Nothing to do." in r.output, r.output
    assert NAME_1.encode() not in sidecar.read_bytes()
    assert "No changes." in project.run("plan").output
