"""Issue 17 item 13: environments carried through.

`require_env: true` refuses a command without `--env`; a client file names the environments it
exists in; `vars` hold lists and maps. Written as a platform team's steps: staging and prod on one
real Hydra, each with its own state, owner and redirect URIs.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dcrsync.cli import cli
from dcrsync.errors import ConfigError
from dcrsync.load.config import load_config
from dcrsync.project.clients import in_environment, load_project
from tests.support.listener import Listener
from tests.support.project import readable

CONFIG = """\
require_env: true
project: envs
server: {kind: hydra, admin_url: "%(url)s"}
owner: envs
lint: {profile: baseline}
vars:
  callbacks: ["https://staging.example.com/cb", "https://staging.example.com/cb2"]
  hosts: {web: staging.example.com, api: api.staging.example.com}
environments:
  staging:
    state: state/staging.sops.yaml
    owner: envs-staging
  prod:
    state: state/prod.sops.yaml
    owner: envs-prod
    vars:
      callbacks: ["https://example.com/cb"]
      hosts: {web: example.com}
"""

WEB = """\
name: web
client_name: Web
redirect_uris: ${var:callbacks}
client_uri: https://${var:hosts.web}/
grant_types: [authorization_code]
response_types: [code]
"""

CANARY = """\
name: canary
environments: [staging]
client_name: Canary on ${var:hosts.api}
grant_types: [client_credentials]
"""


def write_project(root: Path, url: str = "http://127.0.0.1:4445", age: str | None = None) -> Path:
    (root / "clients").mkdir(parents=True, exist_ok=True)
    text = CONFIG % {"url": url}
    if age:
        text += f"sops: {{age: [{age}]}}\n"
    (root / "dcrsync.yaml").write_text(text)
    (root / "clients/web.yaml").write_text(WEB)
    (root / "clients/canary.yaml").write_text(CANARY)
    return root / "dcrsync.yaml"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_require_env_refuses_every_command_without_env_before_any_request(tmp_path: Path):
    listener = Listener().start()
    try:
        config = write_project(tmp_path, listener.url)
        c = str(config)
        for command in (["validate", "--config", c], ["plan", "--config", c], ["apply", "--config", c, "--auto-approve"],
                        ["drift", "--config", c], ["state", "list", "--config", c]):
            r = run(*command)
            assert r.exit_code == 1, (command, r.output)
            assert r.stderr.strip().endswith(
                "dcrsync.yaml:1:1: this project says `require_env: true`: pass --env NAME (one of: prod, staging)"
            ), r.stderr
            assert len(r.stderr.strip().splitlines()) == 1
        assert run("validate", "--config", str(config), "--env", "prod").exit_code == 0
    finally:
        listener.stop()
    assert listener.connections == 0


def test_vars_lists_and_maps_become_values_and_environments_override_them(tmp_path: Path):
    config = write_project(tmp_path)
    staging = load_project(load_config(config, "staging", {}))
    prod = load_project(load_config(config, "prod", {}))
    assert not staging.errors and not prod.errors, [d.format() for d in staging.errors + prod.errors]
    web = {s.name: s for s in staging.clients}["web"]
    assert web.fields["redirect_uris"] == ["https://staging.example.com/cb", "https://staging.example.com/cb2"]
    assert web.fields["client_uri"] == "https://staging.example.com/"
    web = {s.name: s for s in prod.clients}["web"]
    assert web.fields["redirect_uris"] == ["https://example.com/cb"]
    assert web.fields["client_uri"] == "https://example.com/"
    # a map overlay merges key by key: prod keeps the base's `api`
    canary = {s.name: s for s in prod.clients}["canary"]
    assert canary.fields["client_name"] == "Canary on api.staging.example.com"


@pytest.mark.parametrize(("line", "message"), [
    ("client_name: Web ${var:callbacks}",
     "`callbacks` is a list: use `${var:callbacks}` as the whole value, or one item of it as `${var:callbacks.0}`"),
    ("client_name: ${var:hosts.db}", "variable `hosts` has no key `db` (used as `${var:hosts.db}`)"),
    ("client_name: ${var:callbacks.5}", "variable `callbacks` has no item 5"),
    ("client_name: ${var:hostz.web}", "variable `hostz` is not defined (used as `${var:hostz.web}`) (did you mean `hosts`?)"),
])
def test_a_wrong_reference_to_a_list_or_map_is_an_error_at_its_line(tmp_path: Path, line: str, message: str):
    config = write_project(tmp_path)
    (tmp_path / "clients/web.yaml").write_text(WEB.replace("client_name: Web", line))
    r = run("validate", "--config", str(config), "--env", "staging")
    assert r.exit_code == 1
    assert f"clients/web.yaml:2:14: error[subst]: {message}" in r.output, r.output


def test_a_list_var_that_is_not_what_the_field_takes_is_a_schema_error(tmp_path: Path):
    config = write_project(tmp_path)
    (tmp_path / "clients/web.yaml").write_text(WEB.replace("client_uri: https://${var:hosts.web}/",
                                                           "client_uri: ${var:callbacks}"))
    r = run("validate", "--config", str(config), "--env", "staging")
    assert r.exit_code == 1 and "clients/web.yaml:4:13: error[schema]:" in r.output, r.output


def test_a_client_exists_only_in_the_environments_it_names(tmp_path: Path):
    config = write_project(tmp_path)
    for env, names in (("staging", ["canary", "web"]), ("prod", ["web"])):
        cfg = load_config(config, env, {})
        assert sorted(s.name for s in in_environment(load_project(cfg).clients, cfg.environment)) == names
    # a name dcrsync.yaml does not define is an error at its item: a typo would drop the client everywhere
    (tmp_path / "clients/canary.yaml").write_text(CANARY.replace("[staging]", "[staging, prdo]"))
    r = run("validate", "--config", str(config), "--env", "staging")
    assert r.exit_code == 1
    assert ("clients/canary.yaml:2:25: error[environments]: canary: environment `prdo` is not defined in "
            "dcrsync.yaml (it defines: prod, staging): fix the name") in r.output, r.output


def test_vars_keep_env_references_inside_lists(tmp_path: Path):
    path = tmp_path / "dcrsync.yaml"
    path.write_text('server: {kind: hydra, admin_url: "http://127.0.0.1:1"}\n'
                    'vars: {audiences: ["${env:AUD}", static]}\n')
    assert load_config(path, None, {"AUD": "from-env"}).vars == {"audiences": ["from-env", "static"]}
    with pytest.raises(ConfigError, match=r"dcrsync.yaml:2:.*`AUD` is not set"):
        load_config(path, None, {})


def test_staging_and_prod_plan_and_apply_their_own_clients(tmp_path: Path, hydra, age_key):
    config = write_project(tmp_path, hydra.admin_url, age_key.recipient)
    for env in ("staging", "prod"):
        r = run("apply", "--config", str(config), "--env", env, "--auto-approve")
        assert r.exit_code == 0, r.output
    states = {env: readable(yaml.safe_load((tmp_path / f"state/{env}.sops.yaml").read_text()))
              for env in ("staging", "prod")}
    assert sorted(states["staging"]["clients"]) == ["canary", "web"]
    assert sorted(states["prod"]["clients"]) == ["web"]
    for env in ("staging", "prod"):
        r = run("plan", "--config", str(config), "--env", env, "--format", "json", "--detailed-exitcode")
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["summary"]["create"] == 0
    # the canary leaves staging: with prune it is deleted there, and prod never had it
    (tmp_path / "clients/canary.yaml").write_text(textwrap.dedent(CANARY).replace("[staging]", "[prod]"))
    r = run("plan", "--config", str(config), "--env", "prod", "--format", "json")
    assert [(c["action"], c["name"]) for c in json.loads(r.stdout)["changes"]] == [("create", "canary")]
