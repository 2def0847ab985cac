"""The client loader: every error path with its message and exact line:col."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from dcrsync.load.clients import load_clients
from dcrsync.load.config import Config
from dcrsync.load.yamlsource import MAX_FLOW_DEPTH, YamlLoader, parse_text
from dcrsync.model import Location
from dcrsync.project.clients import load_project
from tests.support.unit_helpers import at, lines, load, one_client, only, write

WEB = """\
name: billing-web
client_name: Billing Web
grant_types: [authorization_code, refresh_token]
response_types: [code]
redirect_uris:
  - https://billing.example.com/callback
  - https://billing.example.com/other
scope: openid offline_access
client_id: billing-web-id
hydra:
  audience: [https://api.example.com, https://api2.example.com]
  skip_consent: true
keycloak: {anything: 1}
"""


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_uses_libyaml_loader() -> None:
    assert issubclass(YamlLoader, yaml.CSafeLoader)


# --- a valid client -------------------------------------------------------------------------


def test_valid_client_becomes_clientspec(root: Path) -> None:
    c = one_client(root, WEB)
    assert c.name == "billing-web"
    assert c.client_id == "billing-web-id"
    assert c.fields == {
        "client_name": "Billing Web",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "redirect_uris": ["https://billing.example.com/callback", "https://billing.example.com/other"],
        "scope": "openid offline_access",
    }
    assert c.block("hydra") == {
        "audience": ["https://api.example.com", "https://api2.example.com"],
        "skip_consent": True,
    }
    assert c.block("keycloak") == {"anything": 1}
    assert c.location == Location("c.yaml", 1, 1)
    assert c.field_locations["scope"] == Location("c.yaml", 8, 8)
    assert c.field_locations["redirect_uris"] == Location("c.yaml", 6, 3)
    assert c.item_locations["redirect_uris"] == [Location("c.yaml", 6, 5), Location("c.yaml", 7, 5)]
    assert c.item_locations["grant_types"][1] == Location("c.yaml", 3, 35)
    assert c.item_locations["hydra.audience"][1] == Location("c.yaml", 11, 39)
    assert c.where_item("redirect_uris", 1) == Location("c.yaml", 7, 5)
    assert c.where_item("redirect_uris", 9) == Location("c.yaml", 6, 3)


def test_several_documents_per_file(root: Path) -> None:
    result = load(
        root, "name: a\ngrant_types: [client_credentials]\n---\nname: b\ngrant_types: [client_credentials]\n"
    )
    assert [c.name for c in result.clients] == ["a", "b"]
    assert result.clients[1].location == Location("c.yaml", 4, 1)
    assert result.documents == 2 and result.files == ["c.yaml"]


def test_empty_documents_between_separators_are_skipped(root: Path) -> None:
    result = load(root, "---\nname: a\n---\n---\n")
    assert [c.name for c in result.clients] == ["a"] and not result.diagnostics


def test_scalars_follow_yaml_types(root: Path) -> None:
    c = one_client(
        root, "name: a\ndefault_max_age: 0x10\nrequire_auth_time: yes\nsoftware_version: 2024-01-01\n"
    )
    assert c.fields == {"default_max_age": 16, "require_auth_time": True, "software_version": "2024-01-01"}


def test_merge_keys_and_aliases_within_budget(root: Path) -> None:
    c = one_client(
        root,
        """\
        name: a
        hydra:
          <<: {skip_consent: true, audience: &aud [x, y]}
          audience: [z]
          allowed_cors_origins: *aud
        """,
    )
    assert c.block("hydra") == {"skip_consent": True, "audience": ["z"], "allowed_cors_origins": ["x", "y"]}


def test_utf8_bom_is_accepted(root: Path) -> None:
    write(root, "c.yaml", "\ufeffname: a\n".encode())
    result = load_clients(["c.yaml"], environ={})
    assert [c.name for c in result.clients] == ["a"] and not result.diagnostics


# --- finding files --------------------------------------------------------------------------


def test_folder_is_walked_sorted_recursive_skipping_hidden(root: Path) -> None:
    for rel in (
        "clients/b.yaml",
        "clients/a.yml",
        "clients/sub/c.yaml",
        "clients/.hidden.yaml",
        "clients/.git/x.yaml",
    ):
        write(root, rel, f"name: {Path(rel).stem.strip('.')}\n")
    write(root, "clients/readme.md", "not yaml")
    result = load_clients(["clients"], environ={})
    assert result.files == ["clients/a.yml", "clients/b.yaml", os.path.join("clients", "sub", "c.yaml")]


def test_globs_files_and_duplicates(root: Path) -> None:
    write(root, "clients/a.yaml", "name: a\n")
    write(root, "clients/b.yaml", "name: b\n")
    write(root, "clients/notes.txt", "x")
    result = load_clients(["clients/*", "clients/a.yaml"], environ={})
    assert result.files == ["clients/a.yaml", "clients/b.yaml"]
    assert not result.diagnostics


def test_paths_are_relative_to_base_dir_and_shown_relative_to_cwd(root: Path) -> None:
    write(root, "project/clients/a.yaml", "name: a\nbogus: 1\n")
    result = load_clients(["clients/"], base_dir=root / "project", environ={})
    assert at(only(result.diagnostics)) == (os.path.join("project", "clients", "a.yaml"), 2, 1)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing/", "`missing/` does not exist: fix the path"),
        ("nothing-*.yaml", "no YAML file matches `nothing-*.yaml`: fix the pattern"),
        ("emptydir", "no *.yaml or *.yml file below `emptydir`: add client files or fix the path"),
    ],
)
def test_path_matching_nothing_is_an_error(root: Path, spec: str, message: str) -> None:
    (root / "emptydir").mkdir()
    d = only(load_clients([spec], environ={}).diagnostics)
    assert (d.severity, d.rule, d.message) == ("error", "load", message)
    assert d.location.line == 0  # the path as a whole


def test_unreadable_file(root: Path) -> None:
    (root / "clients").mkdir()
    (root / "clients" / "gone.yaml").symlink_to(root / "nowhere.yaml")
    d = only(load_clients(["clients"], environ={}).diagnostics)
    assert d.format() == "clients/gone.yaml:0:0: error[load]: cannot read the file: No such file or directory"


# --- YAML problems --------------------------------------------------------------------------


def test_empty_file_is_a_warning(root: Path) -> None:
    d = only(load(root, "# only a comment\n").diagnostics)
    assert d.format() == "c.yaml:1:1: warning[empty]: the file holds no client: add one, or delete the file"


def test_syntax_error_has_libyaml_mark(root: Path) -> None:
    d = only(load(root, "name: a\nclient_name: a: b\n").diagnostics)
    assert d.format() == (
        "c.yaml:2:15: error[yaml]: invalid YAML: mapping values are not allowed in this context: "
        "quote a value that contains ': ', or check the indentation"
    )


def test_syntax_error_keeps_earlier_documents(root: Path) -> None:
    result = load(root, "name: a\n---\nname: [b\n")
    assert [c.name for c in result.clients] == ["a"]
    assert at(only(result.diagnostics)) == ("c.yaml", 4, 1)


def test_tab_indentation_hint(root: Path) -> None:
    d = only(load(root, "name: a\nhydra:\n\tskip_consent: true\n").diagnostics)
    assert at(d) == ("c.yaml", 3, 1)
    assert d.message.endswith("YAML does not allow tabs: indent with spaces")


def test_control_character(root: Path) -> None:
    d = only(load(root, "name: a\nclient_name: x\x07y\n").diagnostics)
    assert d.format() == (
        "c.yaml:2:15: error[yaml]: invalid YAML: character #x0007 is not allowed "
        "(control characters are not allowed): remove it"
    )


def test_not_utf8(root: Path) -> None:
    write(root, "c.yaml", b"name: a\nclient_name: caf\xe9\n")
    d = only(load_clients(["c.yaml"], environ={}).diagnostics)
    assert d.format() == "c.yaml:2:17: error[load]: the file is not UTF-8 text (byte 0xe9): save it as UTF-8"


def test_duplicate_key_names_the_first(root: Path) -> None:
    result = load(root, "name: a\nscope: openid\nclient_name: x\nscope: email\n")
    d = only(result.diagnostics)
    assert d.format() == "c.yaml:4:1: error[yaml]: duplicate key `scope` (first at line 2): keep only one"
    assert result.clients == []


def test_document_that_is_not_a_mapping(root: Path) -> None:
    d = only(load(root, "name: a\n---\n- name: b\n").diagnostics)
    assert (
        d.format()
        == "c.yaml:3:1: error[schema]: a client must be a mapping of fields (`name: …`), not a list"
    )


def test_scalar_document(root: Path) -> None:
    d = only(load(root, "just text\n").diagnostics)
    assert (
        d.format() == "c.yaml:1:1: error[schema]: a client must be a mapping of fields (`name: …`), not text"
    )


def test_billion_laughs_fails_fast_with_a_line(root: Path) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{cur}: &{cur} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
    text = "name: boom\n" + "\n".join(levels) + "\n"
    start = time.perf_counter()
    result = load(root, text)
    elapsed = time.perf_counter() - start
    d = only(result.diagnostics)
    assert elapsed < 0.5
    # `d` is where expansion passes the budget: it repeats `c` (line 5) ten times
    assert d.format() == (
        "c.yaml:5:4: error[yaml]: aliases expand to more than 10,000 values (the anchor here is used too often): "
        "write the values out instead of nesting aliases"
    )
    assert result.clients == []


def test_recursive_alias(root: Path) -> None:
    d = only(load(root, "name: a\nhydra:\n  metadata: &m {self: *m}\n").diagnostics)
    assert d.format() == (
        "c.yaml:3:13: error[yaml]: this anchor contains an alias to itself: a recursive value cannot be built"
    )


def test_undefined_alias(root: Path) -> None:
    d = only(load(root, "name: a\nscope: *nope\n").diagnostics)
    assert at(d) == ("c.yaml", 2, 8)
    assert d.message.startswith("invalid YAML: found undefined alias")


def test_unsupported_tag(root: Path) -> None:
    d = only(load(root, "name: a\nclient_name: !!python/object:os.system x\n").diagnostics)
    assert d.format() == (
        "c.yaml:2:14: error[yaml]: unsupported tag `!!python/object:os.system`: write a plain YAML value without a tag"
    )


def test_complex_key(root: Path) -> None:
    d = only(load(root, "name: a\n? [x]\n: 1\n").diagnostics)
    assert d.format() == "c.yaml:2:3: error[yaml]: a key must be plain text, not a list or a mapping"


def test_merge_of_a_non_mapping(root: Path) -> None:
    d = only(load(root, "name: a\nhydra:\n  <<: [1]\n").diagnostics)
    assert d.format() == (
        "c.yaml:3:8: error[yaml]: `<<` merges mappings only: point it at a mapping (`<<: *defaults`)"
    )


def test_deep_flow_nesting_is_refused_before_libyaml() -> None:
    n = MAX_FLOW_DEPTH * 50  # deep enough to overflow libyaml's C stack if it got there
    parsed = parse_text("name: a\nx: " + "[" * n + "]" * n + "\n", "c.yaml")
    d = only(parsed.diagnostics)
    assert (
        d.format() == "c.yaml:2:1004: error[yaml]: invalid YAML: brackets nested more than 1000 levels deep"
    )


def test_deep_value_nesting(root: Path) -> None:
    d = only(load(root, "name: a\nhydra:\n  metadata: " + "[" * 150 + "]" * 150 + "\n").diagnostics)
    assert d.rule == "yaml" and d.message == "values are nested more than 100 levels deep: flatten this"


# --- substitution ---------------------------------------------------------------------------

SUBST = """\
name: a
redirect_uris:
  - https://app.${var:domain}/cb
  - "https://${env:HOST}/cb"
client_name: "$${var:domain} is literal"
"""


def test_substitution(root: Path) -> None:
    c = one_client(root, SUBST, vars={"domain": "example.com"}, environ={"HOST": "h.example.org"})
    assert c.fields["redirect_uris"] == ["https://app.example.com/cb", "https://h.example.org/cb"]
    assert c.fields["client_name"] == "${var:domain} is literal"


def test_undefined_var_is_located_and_suggests(root: Path) -> None:
    result = load(root, SUBST, vars={"domains": "x"}, environ={"HOST": "h"})
    d = only(result.diagnostics)
    assert d.format() == (
        "c.yaml:3:5: error[subst]: variable `domain` is not defined (used as `${var:domain}`) "
        "(did you mean `domains`?): define it under `vars:` in dcrsync.yaml (or the chosen environment)"
    )
    assert result.clients == []


def test_undefined_env(root: Path) -> None:
    d = only(load(root, SUBST, vars={"domain": "x"}, environ={}, client_env=["HOST"]).diagnostics)
    assert d.format() == (
        "c.yaml:4:5: error[subst]: environment variable `HOST` is not set (used as `${env:HOST}`): "
        "set it before running dcrsync, or write `$${` for a literal `${`"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "${domain}",
            "`${domain}` is not a valid reference: write `${env:NAME}` or `${var:name}`, or write `$${` for a literal `${`",
        ),
        (
            "${env:1X}",
            "`${env:1X}` is not a valid reference: write `${env:NAME}` or `${var:name}`, or write `$${` for a literal `${`",
        ),
        ("x ${var:a", "`${` is not closed with `}`: close it, or write `$${` for a literal `${`"),
    ],
)
def test_malformed_reference(root: Path, value: str, message: str) -> None:
    d = only(load(root, f'name: a\nclient_name: "{value}"\n').diagnostics)
    assert (at(d), d.rule, d.message) == (("c.yaml", 2, 14), "subst", message)


def test_keys_are_not_substituted(root: Path) -> None:
    d = only(load(root, "name: a\n${var:x}: 1\n").diagnostics)
    assert d.rule == "schema" and d.message.startswith("unknown field `${var:x}`")


# --- schema ---------------------------------------------------------------------------------


def schema_error(root: Path, text: str) -> str:
    d = only(load(root, text).diagnostics)
    assert d.rule == "schema" and d.severity == "error"
    return d.format()


def test_missing_name(root: Path) -> None:
    assert schema_error(root, "client_name: x\n") == (
        "c.yaml:1:1: error[schema]: missing `name`: every client needs one, its stable key in git "
        "(e.g. `name: billing-web`)"
    )


def test_bad_name(root: Path) -> None:
    assert schema_error(root, "name: Billing Web\n") == (
        "c.yaml:1:7: error[schema]: `name` must be 1-63 lowercase letters, digits or '-', starting with a "
        'letter or digit (got "Billing Web")'
    )


def test_unknown_field_did_you_mean(root: Path) -> None:
    assert schema_error(root, "name: a\nredirect_uri: [https://x.example/cb]\n") == (
        "c.yaml:2:1: error[schema]: unknown field `redirect_uri`: did you mean `redirect_uris`?"
    )


def test_unknown_camel_case_field(root: Path) -> None:
    assert schema_error(root, "name: a\n  \nclientName: x\n") == (
        "c.yaml:3:1: error[schema]: unknown field `clientName`: did you mean `client_name`?"
    )


def test_unknown_field_without_suggestion(root: Path) -> None:
    assert schema_error(root, "name: a\nfrobnicate: 1\n") == (
        "c.yaml:2:1: error[schema]: unknown field `frobnicate`: remove it, or check the spelling against the schema"
    )


def test_hydra_field_at_top_level(root: Path) -> None:
    assert schema_error(root, "name: a\nskip_consent: true\n") == (
        "c.yaml:2:1: error[schema]: unknown field `skip_consent`: it is Hydra-only: move it under `hydra:`"
    )


def test_portable_field_inside_hydra(root: Path) -> None:
    assert schema_error(root, "name: a\nhydra:\n  scope: openid\n") == (
        "c.yaml:3:3: error[schema]: unknown field `scope` in `hydra`: it is portable: write it at the top level, "
        "not under `hydra:`"
    )


def test_unknown_hydra_field(root: Path) -> None:
    assert schema_error(root, "name: a\nhydra:\n  audiences: [x]\n") == (
        "c.yaml:3:3: error[schema]: unknown field `audiences` in `hydra`: did you mean `audience`?"
    )


def test_client_secret_is_refused(root: Path) -> None:
    assert schema_error(root, "name: a\nclient_secret: hunter22\n") == (
        "c.yaml:2:1: error[schema]: `client_secret` is not allowed in git: the server issues secrets and dcrsync "
        "keeps them, encrypted, in the state; delete this line (to change a secret run `dcrsync rotate-secret NAME`)"
    )


def test_server_owned_field_is_refused(root: Path) -> None:
    assert schema_error(root, "name: a\nregistration_access_token: x\n") == (
        "c.yaml:2:1: error[schema]: `registration_access_token` is issued by the server and kept in the "
        "encrypted state: delete this line"
    )


def test_enum_with_suggestion(root: Path) -> None:
    assert schema_error(root, "name: a\ntoken_endpoint_auth_method: client_secret_basc\n") == (
        "c.yaml:2:29: error[schema]: `token_endpoint_auth_method` must be one of none, client_secret_basic, "
        "client_secret_post, client_secret_jwt, private_key_jwt, tls_client_auth, self_signed_tls_client_auth "
        '(got "client_secret_basc"): did you mean `client_secret_basic`?'
    )


def test_string_where_a_list_is_expected(root: Path) -> None:
    assert schema_error(root, "name: a\nredirect_uris: https://x.example/cb\n") == (
        'c.yaml:2:16: error[schema]: `redirect_uris` must be a list, not text (got "https://x.example/cb"): '
        'write it as a list, e.g. ["https://x.example/cb"]'
    )


def test_yes_no_is_boolean_not_text(root: Path) -> None:
    assert schema_error(root, "name: a\nclient_name: no\n") == (
        "c.yaml:2:14: error[schema]: `client_name` must be text, not true/false (got false)"
    )


def test_unknown_grant_type_at_the_item(root: Path) -> None:
    out = schema_error(root, "name: a\ngrant_types:\n  - client_credentials\n  - magic\n")
    assert out.startswith(
        "c.yaml:4:5: error[schema]: `grant_types[1]` must be a grant type: authorization_code,"
    )
    assert out.endswith('or another `urn:` URI (got "magic")')


def test_urn_grant_types_are_allowed(root: Path) -> None:
    c = one_client(root, "name: a\ngrant_types: ['urn:openid:params:grant-type:ciba']\n")
    assert c.fields["grant_types"] == ["urn:openid:params:grant-type:ciba"]


def test_duplicate_item_at_the_second_copy(root: Path) -> None:
    assert schema_error(
        root, "name: a\ncontacts:\n  - a@example.com\n  - b@example.com\n  - a@example.com\n"
    ) == ('c.yaml:5:5: error[schema]: `contacts` lists "a@example.com" twice: remove one')


def test_minimum(root: Path) -> None:
    assert schema_error(root, "name: a\ndefault_max_age: -5\n") == (
        "c.yaml:2:18: error[schema]: `default_max_age` must be ≥ 0 (got -5)"
    )


def test_scope_format(root: Path) -> None:
    assert schema_error(root, 'name: a\nscope: "openid  email"\n') == (
        "c.yaml:2:8: error[schema]: `scope` must be scope tokens separated by single spaces, e.g. "
        '`openid offline_access` (got "openid  email")'
    )


def test_hydra_lifespan_format(root: Path) -> None:
    assert schema_error(root, "name: a\nhydra:\n  implicit_grant_access_token_lifespan: 1 hour\n") == (
        "c.yaml:3:41: error[schema]: `hydra.implicit_grant_access_token_lifespan` must be a duration such as "
        '`1h0m0s`, `30m` or `720h` (units ns, us, ms, s, m, h; whole numbers) (got "1 hour")'
    )


def test_empty_grant_types(root: Path) -> None:
    assert schema_error(root, "name: a\ngrant_types: []\n") == (
        "c.yaml:2:14: error[schema]: `grant_types` needs at least 1 item"
    )


def test_jwks_without_keys(root: Path) -> None:
    assert schema_error(root, "name: a\njwks: {}\n") == (
        "c.yaml:2:1: error[schema]: missing required field `keys` in `jwks`: add it"
    )


def test_duplicate_name_names_both_places(root: Path) -> None:
    write(root, "clients/a.yaml", "name: web\n")
    write(root, "clients/b.yaml", "# another\n\nname: web\n")
    result = load_clients(["clients"], environ={})
    d = only(result.diagnostics)
    assert d.format() == (
        "clients/b.yaml:3:7: error[duplicate]: client name `web` is already used at clients/a.yaml:1:7: "
        "names must be unique, rename one"
    )
    assert [c.name for c in result.clients] == ["web"]


def test_errors_and_warnings_properties(root: Path) -> None:
    write(root, "clients/a.yaml", "name: a\nbogus: 1\n")
    write(root, "clients/b.yaml", "")
    result = load_clients(["clients"], environ={})
    assert [d.rule for d in result.errors] == ["schema"]
    assert [d.rule for d in result.warnings] == ["empty"]
    assert not result.ok


# --- load_project ---------------------------------------------------------------------------


def project(root: Path, **kw) -> Config:
    return Config(
        path=root / "dcrsync.yaml",
        base_dir=root,
        clients=kw.pop("clients", ["clients/"]),
        state=root / "state.yaml",
        sops_age=[],
        sops_config=None,
        server_settings={"kind": "hydra", "admin_url": "http://127.0.0.1:4445"},
        **kw,
    )


def test_load_project_uses_vars_and_runs_lint(root: Path) -> None:
    write(root, "clients/a.yaml", "name: a\nredirect_uris: ['http://${var:host}/cb']\n")
    result = load_project(project(root, vars={"host": "app.example.com"}, lint_profile="baseline"))
    assert result.clients[0].fields["redirect_uris"] == ["http://app.example.com/cb"]
    assert [(d.rule, *at(d)[1:]) for d in result.diagnostics] == [("DCR003", 2, 17)]


def test_recursive_glob_under_a_base_dir_with_glob_characters(root: Path) -> None:
    base = root / "odd[name]"
    write(base, "clients/x/a.yaml", "name: a\n")
    write(base, "clients/b.yaml", "name: b\n")
    result = load_clients(["clients/**/*.yaml", str(base / "clients" / "*.yaml")], base_dir=base, environ={})
    assert result.files == [
        os.path.join("odd[name]", "clients", "b.yaml"),
        os.path.join("odd[name]", "clients", "x", "a.yaml"),
    ]
    assert [c.name for c in result.clients] == ["b", "a"]


def test_too_large_file(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dcrsync.load.yamlsource.MAX_FILE_BYTES", 1024 * 1024)
    write(root, "c.yaml", "name: a\n" + "# padding\n" * 120_000)
    d = only(load_clients(["c.yaml"], environ={}).diagnostics)
    assert d.format() == "c.yaml:0:0: error[load]: the file is larger than 1 MiB: split it into smaller files"


def test_read_text_of_a_folder(root: Path) -> None:
    from dcrsync.load.yamlsource import read_text

    text, problem = read_text(root, "clients")
    assert text is None and problem is not None
    assert problem.format() == "clients:0:0: error[load]: is a folder, not a YAML file"


def test_explicit_tag_with_a_bad_value(root: Path) -> None:
    d = only(load(root, "name: a\ndefault_max_age: !!int ten\n").diagnostics)
    assert d.format() == "c.yaml:2:18: error[yaml]: `ten` is not a valid !!int: quote it to keep it as text"


@pytest.mark.parametrize(
    ("text", "col", "kind"),
    [("contacts: !!set {a: null}\n", 11, "mapping"), ("contacts: !!omap [a@example.com]\n", 11, "list")],
)
def test_collection_tags_are_refused(root: Path, text: str, col: int, kind: str) -> None:
    diagnostics = load(root, "name: a\n" + text).diagnostics
    assert lines(diagnostics) == [
        f"c.yaml:2:{col}: error[yaml]: unsupported tag `!!{text.split('!!')[1].split()[0]}`: "
        f"write a plain YAML {kind} without a tag"
    ]


MIXED = """\
name: a
grant_types: [magic, client_credentials, magic]
scope: "x  y"
client_secret: nope
hydra: {audience: x, skip_consent: maybe}
jwks: {keys: [{}]}
redirect_urls: [x]
"""


def test_memoised_validation_matches_full_validation(root: Path) -> None:
    from dcrsync.load.schemacheck import MemoValidator, schema_diagnostics, validator
    from dcrsync.load.yamlsource import parse_text

    # the same wrong values twice: the second document must get its own lines from the memo
    text = (
        MIXED + "---\n" + MIXED.replace("name: a", "name: b") + "---\nname: Bad Name\ndefault_max_age: -1\n"
    )
    docs = parse_text(text, "c.yaml").documents
    memo = MemoValidator(validator("client"))
    assert memo.exact
    for doc in docs:
        full = schema_diagnostics(validator("client"), doc)
        assert schema_diagnostics(memo, doc) == full and full
    second = schema_diagnostics(memo, docs[1])
    assert {d.location.line for d in second} == set(range(10, 16))
    assert len(memo.memo) >= 3


def test_memoised_validation_falls_back_when_not_exact() -> None:
    from jsonschema import Draft202012Validator

    from dcrsync.load.schemacheck import MemoValidator

    schema = {
        "type": "object",
        "$defs": {"s": {"type": "string"}},
        "properties": {"a": {"$ref": "#/$defs/s"}},
    }
    memo = MemoValidator(Draft202012Validator(schema))
    assert not memo.exact
    assert [e.message for e in memo.iter_errors({"a": 1})] == ["1 is not of type 'string'"]
