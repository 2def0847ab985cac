"""The cache of client files (dcrsync.load.clientcache): a run from the cache gives what a run without it
gives; any change that could change the answer misses; a damaged or planted cache is ignored."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest
from click.testing import CliRunner

from dcrsync.cli import cli
from dcrsync.load import clientcache
from dcrsync.load.clientcache import ClientCache, for_project
from dcrsync.load.clients import LoadResult
from dcrsync.load.config import load_config
from dcrsync.project.clients import load_project
from tests.support.unit_helpers import write

CONFIG = """\
clients: clients/
server: {kind: hydra, admin_url: http://127.0.0.1:1}
vars: {domain: example.com}
client_env: [SVC_SCOPE]
lint: {profile: baseline}
"""
WEB = "name: web\nredirect_uris: ['https://app.${var:domain}/cb']\n"
SPA = "name: spa\nredirect_uris: ['https://spa.example.com/cb']\ntoken_endpoint_auth_method: none\n"  # DCR008
SVC = "name: svc\ngrant_types: [client_credentials]\nscope: ${env:SVC_SCOPE}\n"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DCRSYNC_CLIENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SVC_SCOPE", "api.read")
    monkeypatch.delenv("DCRSYNC_CONFIG", raising=False)
    write(tmp_path, "dcrsync.yaml", CONFIG)
    write(tmp_path, "clients/web.yaml", WEB)
    write(tmp_path, "clients/spa.yaml", SPA)
    write(tmp_path, "clients/svc.yaml", SVC)
    return tmp_path


def load(root: Path) -> tuple[LoadResult, int]:
    """The project's clients and diagnostics, and how many files came from the cache."""
    config = load_config(root / "dcrsync.yaml")
    hits: list[int] = []
    original = ClientCache.save

    def save(self: ClientCache) -> None:
        hits.append(self.hits)
        original(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ClientCache, "save", save)
        result = load_project(config)
    return result, hits[0]


def same(a: LoadResult, b: LoadResult) -> None:
    assert a.clients == b.clients
    assert a.diagnostics == b.diagnostics and a.suppressed == b.suppressed
    assert (a.files, a.documents) == (b.files, b.documents)


def test_an_unchanged_project_loads_from_the_cache_with_the_same_answer(root: Path, monkeypatch) -> None:
    first, hits = load(root)
    assert hits == 0 and [d.rule for d in first.diagnostics] == ["DCR008"]
    again, hits = load(root)
    assert hits == 2  # svc.yaml reads the environment: never kept (its values are masked, never cached)
    same(first, again)
    monkeypatch.setenv("DCRSYNC_CLIENT_CACHE", "off")
    without, hits = load(root)
    assert hits == 0 and not (root / "off").exists()
    same(first, without)


def test_a_changed_file_misses_and_shows_its_new_content(root: Path) -> None:
    load(root)
    write(root, "clients/web.yaml", WEB.replace("/cb", "/callback"))
    result, hits = load(root)
    assert hits == 1  # spa.yaml (svc.yaml reads the environment: never kept)
    web = next(c for c in result.clients if c.name == "web")
    assert web.fields["redirect_uris"] == ["https://app.example.com/callback"]


def test_a_changed_variable_or_environment_value_misses(root: Path, monkeypatch) -> None:
    load(root)
    monkeypatch.setenv("SVC_SCOPE", "api.write")
    result, hits = load(root)
    assert hits == 2  # svc.yaml, which names it, is read again (as every time)
    assert next(c for c in result.clients if c.name == "svc").fields["scope"] == "api.write"
    write(root, "dcrsync.yaml", CONFIG.replace("example.com", "example.org"))
    result, hits = load(root)
    assert hits == 0  # another dcrsync.yaml: another context
    assert next(c for c in result.clients if c.name == "web").fields["redirect_uris"] == ["https://app.example.org/cb"]


def test_a_cache_key_holds_no_value_read_from_the_environment(root: Path, monkeypatch) -> None:
    """A comment or a `$${env:X}` literal may name any variable, a credential's too: a kept file's key
    takes no environment variable's value, nor a var's that reads one (an unkeyed hash of it could be
    reversed), so a change to either is still a hit; no kept file depends on them."""
    config = CONFIG.replace("vars: {domain: example.com}", "vars: {domain: example.com, host: '${env:SVC_HOST}'}")
    write(root, "dcrsync.yaml", config.replace("client_env: [SVC_SCOPE]", "client_env: [SVC_SCOPE, SVC_HOST]"))
    monkeypatch.setenv("SVC_HOST", "h1.example.com")
    monkeypatch.setenv("ADMIN_PASSWORD", "hunter2")
    write(root, "clients/spa.yaml", "# signs in with ${env:ADMIN_PASSWORD} at ${var:host}\n" + SPA)
    assert load(root)[1] == 0
    monkeypatch.setenv("ADMIN_PASSWORD", "correct horse")
    monkeypatch.setenv("SVC_HOST", "h2.example.com")
    assert load(root)[1] == 2  # web and spa (svc reads the environment: never kept)


def test_a_dcrsync_variable_or_another_dcrsync_misses(root: Path, monkeypatch) -> None:
    load(root)
    monkeypatch.setenv("DCRSYNC_SOMETHING", "1")
    assert load(root)[1] == 0
    assert load(root)[1] == 2
    monkeypatch.setattr(clientcache, "code_digest", lambda: "another dcrsync")
    assert load(root)[1] == 0


def test_the_code_digest_covers_the_schemas_and_the_code(tmp_path: Path) -> None:
    package = Path(clientcache.__file__).parent.parent  # dcrsync/, the package
    assert (package / "schemas" / "client.schema.json").is_file()
    digest = clientcache.code_digest()
    assert digest == clientcache.code_digest() and len(digest) == 64
    files = [p.relative_to(package) for p in clientcache.package_files(package)]
    assert Path("schemas/client.schema.json") in files and Path("load/clients.py") in files


def test_a_file_with_an_error_or_a_warning_is_never_kept(root: Path) -> None:
    write(root, "clients/bad.yaml", "name: bad\nredirect_uri: [https://x.example.com/cb]\n")
    write(root, "clients/empty.yaml", "# nothing yet\n")
    for _ in range(2):
        result, hits = load(root)
        assert sorted(d.rule for d in result.diagnostics) == ["DCR008", "empty", "schema"]
    assert hits == 2  # web and spa; not bad, empty, nor svc (which reads the environment)


def test_a_duplicate_name_in_a_new_file_is_found_against_a_cached_one(root: Path) -> None:
    load(root)
    write(root, "clients/web2.yaml", WEB)
    result, hits = load(root)
    assert hits == 2
    assert [(d.rule, d.location.file) for d in result.errors] == [("duplicate", "clients/web2.yaml")]


def test_lint_findings_follow_the_profile_and_ignores(root: Path) -> None:
    load(root)
    runner = CliRunner()
    first = runner.invoke(cli, ["validate", "--profile", "rfc9700"], catch_exceptions=False).output
    again = runner.invoke(cli, ["validate", "--profile", "rfc9700"], catch_exceptions=False).output
    base = runner.invoke(cli, ["validate"], catch_exceptions=False).output
    assert first == again and first != base
    write(root, "dcrsync.yaml", CONFIG.replace("lint: {profile: baseline}", "lint: {profile: baseline, ignore: {DCR008: the app is a test}}"))
    ignored = runner.invoke(cli, ["validate"], catch_exceptions=False).output
    assert "DCR008" not in ignored.split("ignored")[0] and "1 ignored" in ignored


def _cache_file(root: Path) -> Path:
    (found,) = [p for p in (root / "cache").iterdir() if p.suffix == ".json"]
    return found


def test_a_damaged_cache_is_ignored(root: Path) -> None:
    first, _ = load(root)
    _cache_file(root).write_bytes(b"\x00garbage")
    result, hits = load(root)
    assert hits == 0
    same(first, result)


def test_a_planted_cache_that_declares_a_bad_file_valid_is_not_trusted(root: Path) -> None:
    """A cache written without the folder's key (planted, or copied from elsewhere) does not
    authenticate: the broken file is read and its error shown."""
    load(root)
    path = _cache_file(root)
    mac, _, body = path.read_bytes().partition(b"\n")
    doc = marshal.loads(body)
    write(root, "clients/web.yaml", "name: web\nredirect_uri: oops\n")
    key = ClientCache(None, "").key((root / "clients/web.yaml").read_bytes(), {"domain": "example.com"})
    doc["files"]["clients/web.yaml"]["k"] = key  # claims the broken file loaded cleanly
    path.write_bytes(mac + b"\n" + marshal.dumps(doc))  # the old MAC does not fit the new body
    result, _ = load(root)
    assert [d.rule for d in result.errors] == ["schema"]
    (root / "cache" / "key").write_bytes(b"k" * 32)  # a planted key (a new folder's) does not fit either
    result, hits = load(root)
    assert hits == 0 and [d.rule for d in result.errors] == ["schema"]


def test_an_entry_of_the_wrong_shape_is_a_miss_never_a_crash(root: Path) -> None:
    config = load_config(root / "dcrsync.yaml")
    cache = for_project(config)
    key = cache.key(b"x", {})
    cache.entries["f.yaml"] = {"k": key, "d": [{"n": 1}]}
    assert cache.lookup("f.yaml", key) is None
    cache.entries["f.yaml"] = {"k": key, "d": [{"n": "a", "f": {}, "b": {}, "c": None, "l": ["1", 1], "fl": {},
                                                "il": {}, "li": {}, "lb": {}, "d": None}]}
    assert cache.lookup("f.yaml", key) is None


def test_validate_of_paths_agrees_with_and_without_the_cache(root: Path, monkeypatch) -> None:
    runner = CliRunner()
    outputs = [runner.invoke(cli, ["validate", "clients/web.yaml", "clients/spa.yaml"]).output for _ in range(2)]
    monkeypatch.setenv("DCRSYNC_CLIENT_CACHE", "off")
    outputs.append(runner.invoke(cli, ["validate", "clients/web.yaml", "clients/spa.yaml"]).output)
    assert outputs[0] == outputs[1] == outputs[2]
    assert "2 clients in 2 files" in outputs[0]


def test_ignored_findings_come_back_from_the_cache_as_they_were(root: Path) -> None:
    write(root, "clients/spa.yaml", SPA + "lint: {ignore: {DCR008: the app sends PKCE anyway}}\n")
    first, _ = load(root)
    again, hits = load(root)
    assert hits == 2 and [s.diagnostic.rule for s in again.suppressed] == ["DCR008"]
    same(first, again)


def test_a_cache_folder_others_can_write_is_not_used(root: Path) -> None:
    first, _ = load(root)
    (root / "cache").chmod(0o777)
    result, hits = load(root)
    assert hits == 0
    same(first, result)
    (root / "cache").chmod(0o700)
    (root / "cache" / "key").write_bytes(b"short")
    assert load(root)[1] == 0


def test_every_field_the_loader_sets_comes_back_from_the_cache() -> None:
    """A ClientSpec field the cache forgot would silently vanish on every cached run: each field is
    either kept (and comes back equal) or named here as one the loader never sets from a cached file."""
    import dataclasses

    from dcrsync.model import ClientSpec, Ignore, Location

    never_cached = {"unset", "baseline", "env_refs", "env_templates"}  # set by apply, or from the environment
    at = Location("clients/full.yaml", 3, 1)
    spec = ClientSpec(
        name="full", fields={"client_name": "Full", "redirect_uris": ["https://a/cb"]}, location=Location("clients/full.yaml", 1, 1),
        client_id="cid-1", blocks={"hydra": {"audience": ["x"]}}, field_locations={"name": at},
        item_locations={"redirect_uris": [at]}, lint_ignore={"DCR010": Ignore("why", at)}, labels={"team": "a"},
        description="what", environments=("prod",), strict=True, moved_from="old", protected=True,
        deliver=[{"target": "exec", "command": ["true"]}], rotate={"max_age": "90d"}, rotation="2026-q3",
    )
    names = {f.name for f in dataclasses.fields(ClientSpec)}
    defaults = ClientSpec(name="x", fields={}, location=at)
    assert {n for n in names - never_cached if getattr(spec, n) == getattr(defaults, n)} == set()
    back = clientcache._spec_in("clients/full.yaml", marshal.loads(marshal.dumps(clientcache._spec_out(spec))))
    assert {n: getattr(back, n) for n in names - never_cached} == {n: getattr(spec, n) for n in names - never_cached}
