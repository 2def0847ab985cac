"""dcrsync.yaml: finding it, environments, substitution, validation errors at FILE:LINE:COL."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcrsync.errors import ConfigError
from dcrsync.load.config import Config, Safety, default_config, find_config, load_config
from tests.support.unit_helpers import write

BASE = """\
clients: [clients/*.yaml, more/]
state: state/base.sops.yaml
sops: {age: [age1qqqq]}
server:
  kind: hydra
  admin_url: ${env:ADMIN_URL}
  token: ${env:ADMIN_TOKEN}
  page_size: 100
owner: team-a
prune: true
safety: {max_update_percent: 50, min_existing: 3}
vars:
  domain: example.com
  port: 8443
environments:
  staging:
    server: {admin_url: "https://hydra.${var:domain}:${var:port}"}
    vars: {domain: staging.example.com}
    state: state/staging.sops.yaml
    prune: false
  kc:
    server: {kind: keycloak, url: "https://kc.example.com", realm: main}
"""
ENV = {"ADMIN_URL": "http://127.0.0.1:4445", "ADMIN_TOKEN": "t0k"}


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config_error(path: Path, env: str | None = None, environ: dict[str, str] | None = None, **kw) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env, environ if environ is not None else ENV, **kw)
    return str(info.value)


# --- find_config ----------------------------------------------------------------------------


def test_find_config_order(root: Path) -> None:
    write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: x}\n")
    write(root, "other.yaml", "x")
    write(root, "env.yaml", "x")
    assert find_config("other.yaml", {"DCRSYNC_CONFIG": "env.yaml"}, root) == root / "other.yaml"
    assert find_config(None, {"DCRSYNC_CONFIG": "env.yaml"}, root) == root / "env.yaml"
    assert find_config(None, {}, root) == root / "dcrsync.yaml"
    assert find_config(None, {}, root / "nowhere") is None


def test_find_config_missing_explicit(root: Path) -> None:
    with pytest.raises(ConfigError, match=r"^nope.yaml: no such file \(from --config\): fix the path$"):
        find_config("nope.yaml", {}, root)
    with pytest.raises(ConfigError, match=r"^gone.yaml: no such file \(from DCRSYNC_CONFIG\): fix the path$"):
        find_config(None, {"DCRSYNC_CONFIG": "gone.yaml"}, root)


def test_default_config(root: Path) -> None:
    config = default_config(root)
    assert (config.path, config.base_dir, config.clients, config.state) == (
        None,
        root,
        ["clients/"],
        root / "dcrsync.state.sops.yaml",
    )


# --- loading --------------------------------------------------------------------------------


def test_base_config(root: Path) -> None:
    write(root, ".sops.yaml", "creation_rules: []\n")
    path = write(root, "proj/dcrsync.yaml", BASE)
    config = load_config(path, None, ENV)
    assert config == Config(
        path=path,
        base_dir=root / "proj",
        clients=["clients/*.yaml", "more/"],
        state=root / "proj/state/base.sops.yaml",
        sops_age=["age1qqqq"],
        sops_config=root / ".sops.yaml",
        server_settings={"kind": "hydra", "admin_url": "http://127.0.0.1:4445", "token": "t0k", "page_size": 100},
        owner="team-a",
        prune=True,
        safety=Safety(max_update_percent=50.0, max_delete_percent=30.0, min_existing=3),
        vars={"domain": "example.com", "port": "8443"},
        environment=None,
        environments=("kc", "staging"),
    )


def test_defaults(root: Path) -> None:
    config = load_config(
        write(root, "dcrsync.yaml", "server: {kind: rfc7592, registration_url: https://r}\n")
    )
    assert config.clients == ["clients/"]
    assert config.state == root / "dcrsync.state.sops.yaml"
    assert (config.owner, config.prune, config.safety, config.vars, config.sops_age) == (
        "dcrsync",
        False,
        Safety(),
        {},
        [],
    )


def test_environment_overlay(root: Path) -> None:
    config = load_config(write(root, "dcrsync.yaml", BASE), "staging", {"ADMIN_TOKEN": "t0k"})
    assert config.environment == "staging"
    assert config.server == {
        "kind": "hydra",
        "admin_url": "https://hydra.staging.example.com:8443",
        "token": "t0k",
        "page_size": 100,
    }
    assert config.vars == {"domain": "staging.example.com", "port": "8443"}
    assert config.state == root / "state/staging.sops.yaml"
    assert config.prune is False


def test_environment_with_another_server_kind_replaces_the_block(root: Path) -> None:
    path = write(
        root, "dcrsync.yaml", BASE.replace("realm: main}", "realm: main, admin: {username: u, password: p}}")
    )
    config = load_config(path, "kc", {})
    assert config.server == {
        "kind": "keycloak",
        "url": "https://kc.example.com",
        "realm": "main",
        "admin": {"username": "u", "password": "p"},
    }


def test_merged_server_is_validated_at_the_overlay(root: Path) -> None:
    assert config_error(write(root, "dcrsync.yaml", BASE), "kc") == (
        "dcrsync.yaml:22:5: missing required field `admin` in `server`: add it"
    )


def test_unknown_environment(root: Path) -> None:
    assert config_error(write(root, "dcrsync.yaml", BASE), "stagin") == (
        "dcrsync.yaml:15:1: unknown environment `stagin` (did you mean `staging`?): dcrsync.yaml defines kc, staging"
    )


def test_unknown_environment_without_environments(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: x}\n")
    assert (
        config_error(path, "prod")
        == "dcrsync.yaml:1:1: unknown environment `prod`: dcrsync.yaml defines none"
    )


# --- substitution ---------------------------------------------------------------------------


UNSET_TOKEN = (
    "dcrsync.yaml:7:10: environment variable `ADMIN_TOKEN` is not set (used as `${env:ADMIN_TOKEN}`): "
    "set it before running dcrsync, or write `$${` for a literal `${`"
)


def test_undefined_env_in_server_fails_when_the_server_is_used(root: Path) -> None:
    path = write(root, "dcrsync.yaml", BASE)
    config = load_config(path, None, {"ADMIN_URL": "x"})  # reading the file needs no server secret
    assert (config.family, config.server_settings["token"]) == ("hydra", "${env:ADMIN_TOKEN}")
    with pytest.raises(ConfigError) as info:
        config.server  # noqa: B018 - what a command that contacts the server reads
    assert str(info.value) == UNSET_TOKEN
    assert config_error(path, environ={"ADMIN_URL": "x"}, need_server=True) == UNSET_TOKEN


def test_every_unset_server_reference_is_counted(root: Path) -> None:
    config = load_config(write(root, "dcrsync.yaml", BASE), None, {})
    with pytest.raises(ConfigError, match=r"^dcrsync.yaml:6:14: environment variable `ADMIN_URL` .* \(and 1 more\)$"):
        config.server  # noqa: B018


def test_a_bad_reference_in_server_still_fails_at_once(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: '${envv:X}'}\n")
    assert config_error(path, environ={}).startswith("dcrsync.yaml:1:34: `${envv:X}` is not a valid reference")


def test_need_server_false_keeps_unset_server_references(root: Path) -> None:
    config = load_config(write(root, "dcrsync.yaml", BASE), None, {}, need_server=False)
    assert config.server_settings["admin_url"] == "${env:ADMIN_URL}"


def test_need_server_false_still_needs_vars(root: Path) -> None:
    path = write(
        root, "dcrsync.yaml", "server: {kind: hydra, admin_url: x}\nvars:\n  home: ${env:HOME_DIR}\n"
    )
    assert config_error(path, environ={}, need_server=False).startswith(
        "dcrsync.yaml:3:9: environment variable `HOME_DIR` is not set"
    )


def test_var_inside_vars_is_refused(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: x}\nvars:\n  a: x\n  b: ${var:a}\n")
    assert config_error(path) == (
        "dcrsync.yaml:4:6: `${var:a}` cannot be used here: vars may use `${env:NAME}` only"
    )


def test_undefined_var_in_config(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: 'https://${var:host}'}\n")
    assert config_error(path) == (
        "dcrsync.yaml:1:34: variable `host` is not defined (used as `${var:host}`): define it under `vars:` in "
        "dcrsync.yaml (or the chosen environment)"
    )


# --- validation -----------------------------------------------------------------------------


def test_unknown_server_field_suggests(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server:\n  kind: hydra\n  admin_url: x\n  pagesize: 10\n")
    assert (
        config_error(path)
        == "dcrsync.yaml:4:3: unknown field `pagesize` in `server`: did you mean `page_size`?"
    )


def test_misspelt_server_key_is_named_not_reported_missing(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server:\n  kind: hydra\n  admin_ulr: http://127.0.0.1:4445\n")
    assert config_error(path) == "dcrsync.yaml:3:3: unknown field `admin_ulr` in `server`: did you mean `admin_url`?"


def test_misspelt_key_in_an_environment_overlay(root: Path) -> None:
    path = write(root, "dcrsync.yaml", BASE.replace("server: {admin_url:", "server: {admin_ulr:"))
    assert config_error(path, "staging") == (
        "dcrsync.yaml:17:14: unknown field `admin_ulr` in `environments.staging.server`: did you mean `admin_url`?"
    )


def test_missing_kind_field(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server:\n  kind: rfc7592\n")
    assert config_error(path) == (
        "dcrsync.yaml:1:1: missing required field `registration_url` in `server`: add it"
    )


def test_bad_kind(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server:\n  kind: hydr\n  admin_url: x\n")
    assert config_error(path) == (
        'dcrsync.yaml:2:9: `server.kind` must be one of hydra, rfc7592, keycloak (got "hydr"): did you mean `hydra`?'
    )


def test_keycloak_admin_credentials(root: Path) -> None:
    path = write(
        root, "dcrsync.yaml", "server:\n  kind: keycloak\n  url: x\n  realm: r\n  admin: {username: u}\n"
    )
    assert config_error(path) == (
        "dcrsync.yaml:5:10: `server.admin` needs either `client_id` and `client_secret`, or `username` and "
        '`password` (got {"username": "u"})'
    )


def test_page_size_range(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: x, page_size: 1000}\n")
    assert config_error(path) == "dcrsync.yaml:1:48: `server.page_size` must be ≤ 500 (got 1000)"


def test_missing_server(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "clients: clients/\n")
    assert config_error(path) == "dcrsync.yaml:1:1: missing required field `server`: add it"


def test_several_errors_are_counted(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: x}\nprune: maybe\nowner: 'a b'\n")
    assert (
        config_error(path)
        == 'dcrsync.yaml:2:8: `prune` must be true or false, not text (got "maybe") (and 1 more)'
    )


def test_bad_var_name(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: x}\nvars:\n  my domain: x\n")
    assert config_error(path) == (
        "dcrsync.yaml:3:3: key `my domain` in `vars` must be a name of letters, digits, '_' or '-'"
    )


def test_bad_environment_overlay_field(root: Path) -> None:
    path = write(
        root, "dcrsync.yaml", "server: {kind: hydra, admin_url: x}\nenvironments:\n  dev: {stat: x}\n"
    )
    assert config_error(path) == (
        "dcrsync.yaml:3:9: unknown field `stat` in `environments.dev`: did you mean `state`?"
    )


def test_yaml_error_in_config(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server: {kind: hydra\n")
    assert config_error(path).startswith("dcrsync.yaml:2:1: invalid YAML: ")


def test_empty_config(root: Path) -> None:
    assert config_error(write(root, "dcrsync.yaml", "# nothing\n")) == (
        "dcrsync.yaml: the file is empty: it needs at least a `server:` block"
    )


def test_config_not_a_mapping(root: Path) -> None:
    assert config_error(write(root, "dcrsync.yaml", "- a\n")) == (
        "dcrsync.yaml:1:1: dcrsync.yaml must be a mapping (`clients: …`, `server: …`)"
    )


def test_config_with_two_documents(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: x}\n---\nowner: b\n")
    assert config_error(path) == (
        "dcrsync.yaml:3:1: dcrsync.yaml holds one YAML document: remove this `---` and what follows"
    )


def test_duplicate_key_in_config(root: Path) -> None:
    path = write(root, "dcrsync.yaml", "server: {kind: hydra, admin_url: x}\nowner: a\nowner: b\n")
    assert config_error(path) == "dcrsync.yaml:3:1: duplicate key `owner` (first at line 2): keep only one"


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "dcrsync.yaml"
    config = load_config(example, "staging", {"HYDRA_ADMIN_URL": "http://127.0.0.1:4445"})
    assert config.server == {"kind": "hydra", "admin_url": "http://127.0.0.1:4445"}
    assert config.vars["domain"] == "staging.example.com"
