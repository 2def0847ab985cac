"""Issue 16 item 2: credentials go only to the trusted server (and store).

A pull request can edit dcrsync.yaml; `DCRSYNC_TRUSTED_SERVER` / `DCRSYNC_TRUSTED_STORE` (set by the
workflow, outside the repository's files) say where the CI job's credentials may go. The rule is
pure URL matching (`dcrsync.guards.trust`), applied in one place every request passes (`dcrsync.net.gate`
under `dcrsync.net.http.make_client`) and where a store is opened. Attacks are played against real
servers where they produce the case (Hydra, node oidc-provider advertising another host, MinIO);
the attacker's host is a port that only counts connections (tests/support/listener.py).
"""

from __future__ import annotations

import itertools
import re
import socket
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from dcrsync.errors import ConfigError
from dcrsync.guards.trust import (
    Origin,
    Trust,
    UntrustedURL,
    covers,
    from_env,
    link_local,
    parse_list,
    postgres_targets,
    split,
)
from dcrsync.load.config import load_config
from dcrsync.net.connect import Backend
from dcrsync.net.gate import GuardTransport, UntrustedRequest
from dcrsync.net.http import _transport, make_client
from dcrsync.state.shared import Unreachable
from dcrsync.state.stores import open_store
from tests.support.listener import Listener
from tests.support.project import make_project

TRUSTED = "https://hydra-admin.example.com:4445/tenant"


@pytest.fixture
def listener():
    instance = Listener().start()
    yield instance
    instance.stop()


def trust(value: str = TRUSTED, **kw) -> Trust:
    return Trust(parse_list(value, "DCRSYNC_TRUSTED_SERVER"), **kw)


# -- the pure rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "ok"), [
    ("https://hydra-admin.example.com:4445/tenant", True),
    ("https://hydra-admin.example.com:4445/tenant/admin/clients?page_size=500", True),
    ("https://HYDRA-ADMIN.example.com.:4445/tenant/x", True),               # case, trailing dot
    ("http://hydra-admin.example.com:4445/tenant/x", False),                # scheme
    ("https://hydra-admin.example.com/tenant/x", False),                    # port (443)
    ("https://hydra-admin.example.com:4446/tenant/x", False),               # port
    ("https://evil.example.com:4445/tenant/x", False),                      # host
    ("https://hydra-admin.example.com.evil.net:4445/tenant/x", False),      # host suffix
    ("https://hydra-admin.example.com:4445@evil.net:4445/tenant/x", False),  # userinfo trick
    ("https://hydra-admin.example.com:4445/tenant-evil/x", False),          # path prefix by segment
    ("https://hydra-admin.example.com:4445/other", False),                  # path
    ("https://hydra-admin.example.com:4445/tenant/../other", False),        # dot segment
    ("https://hydra-admin.example.com:4445/tenant/%2e%2e/other", False),    # encoded dot segment
    ("https://hydra-admin.example.com:4445/.well-known/oauth-authorization-server/tenant", True),
    ("not a url", False),
])
def test_a_url_is_trusted_only_with_its_scheme_host_port_and_path_prefix(url: str, ok: bool):
    assert (trust().refusal(url, "server.admin_url") is None) is ok


def test_the_variable_names_several_urls_and_says_which_entry_is_wrong():
    assert len(parse_list("https://a.example.com:4445, https://b.example.com\nhttp://127.0.0.1:9", "V")) == 3
    assert parse_list("https://a.example.com/", "V") == (Origin("https", "a.example.com", 443, ""),)
    with pytest.raises(UntrustedURL, match=r"^V: `hydra` is not a URL with a scheme and host"):
        parse_list("https://a.example.com hydra", "V")


def test_refusals_are_one_line_that_names_the_variable_and_no_secret():
    problem = trust().refusal("https://user:hunter2@evil.example.com/x?token=abc", "server.admin_url")
    assert problem is not None and "\n" not in problem
    assert "server.admin_url https://evil.example.com:443/x is not under DCRSYNC_TRUSTED_SERVER" in problem
    assert "hunter2" not in problem and "abc" not in problem


@pytest.mark.parametrize("host", [
    "169.254.169.254", "169.254.170.2", "2852039166", "0xa9.254.169.254", "0251.0376.0251.0376",
    "::ffff:169.254.169.254", "fd00:ec2::254", "fe80::1", "100.100.100.200", "metadata.google.internal",
    "METADATA.GOOGLE.INTERNAL.",
])
def test_link_local_and_metadata_addresses_are_recognised_in_every_spelling(host: str):
    assert link_local(host)
    url = f"http://[{host}]/latest" if ":" in host else f"http://{host}/latest"
    problem = Trust().refusal(url)
    assert problem is not None and "link-local or cloud-metadata" in problem and "allow_link_local: true" in problem
    assert Trust(allow_link_local=True).refusal(url) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.5", "::1", "hydra.internal", "169.255.0.1", "1.2.3.4"])
def test_ordinary_addresses_are_not_link_local(host: str):
    assert not link_local(host)


def test_a_trusted_url_that_names_a_link_local_address_is_an_explicit_choice():
    assert trust("http://169.254.10.10:4445").refusal("http://169.254.10.10:4445/admin/clients") is None


def test_setting_either_variable_turns_the_rule_on_for_both():
    server, store = from_env({"DCRSYNC_TRUSTED_SERVER": "https://hydra.example.com"})
    assert server.refusal("https://hydra.example.com/admin") is None
    problem = store.refusal("https://minio.example.com/bucket/", "the S3 bucket")
    assert problem and "DCRSYNC_TRUSTED_STORE is not set while DCRSYNC_TRUSTED_SERVER is" in problem
    server, store = from_env({})
    assert server.trusted is None and store.trusted is None  # neither set: no rule but link-local


def test_nothing_outside_the_prefix_or_with_a_dot_segment_is_ever_covered():
    """Every suffix of up to four pieces from an alphabet built to make near misses (some 50,000)."""
    origin = Origin("https", "h.example.com", 443, "/tenant")
    pieces = ["/", ".", "..", "%2e", "%2E", "-x", "a", "/.well-known"]
    covered = 0
    for n in range(5):
        for parts in itertools.product(pieces, repeat=n):
            target = split("https://h.example.com/tenant" + "".join(parts))
            if target is None or not covers(origin, target):
                continue
            covered += 1
            path = target.path
            assert path == "/tenant" or path.startswith(("/tenant/", "/.well-known/")), path
            assert not any(unquote(segment) in (".", "..") for segment in path.split("/")), path
    assert covered > 100  # the check above saw real matches, not only refusals


def test_postgres_targets_are_where_libpq_connects():
    info = {"host": "db.example.com,replica.example.com", "port": "5433", "dbname": "dcrsync"}
    assert [(t.host, t.port, t.path) for t in postgres_targets(info, {})] == [
        ("db.example.com", 5433, "/dcrsync"), ("replica.example.com", 5433, "/dcrsync")]
    # hostaddr is where libpq really connects; host then only names the server for TLS
    info = {"host": "db.example.com", "hostaddr": "203.0.113.9", "dbname": "d"}
    assert [(t.host, t.port) for t in postgres_targets(info, {})] == [("203.0.113.9", 5432)]
    assert postgres_targets({"host": "/var/run/postgresql", "dbname": "d"}, {}) == []  # a Unix socket
    assert "service" in postgres_targets({"service": "prod"}, {})
    assert [t.host for t in postgres_targets({"dbname": "d"}, {"PGHOST": "db.example.com"})] == ["db.example.com"]


# -- the guard every request passes -----------------------------------------------------------------


def _mock(seen: list[str], redirect_to: str | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if redirect_to and len(seen) == 1:
            return httpx.Response(302, headers={"Location": redirect_to})
        return httpx.Response(200, json={})

    return httpx.MockTransport(handler)


def test_a_redirect_to_another_host_is_refused_before_it_is_sent():
    seen: list[str] = []
    guard = GuardTransport(_mock(seen, "https://evil.example.net/steal"), trust("https://hydra.example.com"))
    with httpx.Client(transport=guard, follow_redirects=True) as client:
        with pytest.raises(UntrustedRequest, match=r"^request not sent: https://evil.example.net:443/steal is not under"):
            client.get("https://hydra.example.com/admin/clients", headers={"Authorization": "Bearer s3cret"})
    assert seen == ["https://hydra.example.com/admin/clients"]


def test_a_host_name_that_resolves_to_a_metadata_address_is_refused():
    seen: list[str] = []

    def resolve(host, port, **kw):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 0))]

    guard = GuardTransport(_mock(seen), Trust(), resolve=resolve)
    with httpx.Client(transport=guard) as client:
        with pytest.raises(UntrustedRequest, match="its host resolves to one"):
            client.get("http://169.254.169.254.nip.io/latest/meta-data/")
    assert seen == []
    allowed = GuardTransport(_mock(seen), Trust(allow_link_local=True), resolve=resolve)
    with httpx.Client(transport=allowed) as client:
        assert client.get("http://169.254.169.254.nip.io/x").status_code == 200


def _rebinding(connect_answers: list[str]):
    """A resolver that answers 127.0.0.1 to its first question (the guard's check) and
    `connect_answers` to every later one (the connection's): a DNS server that rebinds the name. A
    fake, named as one: no resolver in this sandbox can be made to answer differently per call."""
    calls = itertools.count()

    def resolve(host, port, **kw):
        answers = ["127.0.0.1"] if next(calls) == 0 else connect_answers
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 0)) for a in answers]

    return resolve


def test_a_name_that_rebinds_to_a_metadata_address_when_connecting_gets_no_connection(listener):
    resolve = _rebinding(["169.254.169.254", "fd00:ec2::254"])
    guard = GuardTransport(_transport(4, Trust(), resolve), Trust(), resolve=resolve)
    with httpx.Client(transport=guard) as client:
        with pytest.raises(UntrustedRequest, match=r"^request not sent: rebind\.test \(it resolved to 169\.254\.169\.254 "
                                                   r"when connecting\) is a link-local or cloud-metadata address"):
            client.get(f"http://rebind.test:{listener.port}/latest/meta-data/", headers={"Authorization": "Bearer s3cret"})
    assert listener.connections == 0


def test_a_connection_goes_only_to_an_answer_that_passed(listener):
    """Among a name's answers, a metadata address is skipped and the next one is used; TLS and the Host
    header still name the host, not the address."""
    resolve = _rebinding(["169.254.169.254", "127.0.0.1"])
    guard = GuardTransport(_transport(4, Trust(), resolve), Trust(), resolve=resolve)
    with httpx.Client(transport=guard) as client:
        with pytest.raises(httpx.RemoteProtocolError):  # the listener closes without answering
            client.get(f"http://rebind.test:{listener.port}/x")
    assert listener.connections == 1 and f"Host: rebind.test:{listener.port}".encode() in listener.received[0]
    allowed = Backend(Trust(allow_link_local=True), _rebinding(["169.254.169.254"]))
    assert allowed.addresses("rebind.test", 80) == ["rebind.test"]  # the config said so: resolved as it is


def test_every_client_dcrsync_makes_is_guarded_by_the_environment(monkeypatch):
    monkeypatch.setenv("DCRSYNC_TRUSTED_SERVER", "https://hydra.example.com")
    seen: list[str] = []
    with make_client("https://evil.example.net", token="admin-token", transport=_mock(seen)) as client:
        with pytest.raises(UntrustedRequest):
            client.get("/admin/clients")
    assert seen == []


# -- dcrsync.yaml against the variable: one line at file:line, before any request ----------------------


def test_a_config_url_outside_the_trusted_server_is_refused_at_its_line(tmp_path: Path):
    path = tmp_path / "dcrsync.yaml"
    path.write_text("server:\n  kind: keycloak\n  url: https://evil.example.net\n  realm: r\n"
                    "  admin: {client_id: dcrsync, client_secret: s}\n")
    config = load_config(path, None, {"DCRSYNC_TRUSTED_SERVER": "https://sso.example.com"})
    with pytest.raises(ConfigError, match=r"dcrsync.yaml:3:8: server.url https://evil.example.net:443/ is not under"):
        config.server  # noqa: B018 - reading it is what every command that contacts the server does
    assert load_config(path, None, {"DCRSYNC_TRUSTED_SERVER": "https://evil.example.net"}).server["url"]


def test_link_local_needs_the_config_to_say_so(tmp_path: Path):
    path = tmp_path / "dcrsync.yaml"
    path.write_text("server: {kind: hydra, admin_url: 'http://169.254.169.254/latest'}\n")
    with pytest.raises(ConfigError, match=r"dcrsync.yaml:1:.*link-local or cloud-metadata.*allow_link_local: true"):
        load_config(path, None, {}).server  # noqa: B018
    path.write_text("allow_link_local: true\nserver: {kind: hydra, admin_url: 'http://169.254.169.254/latest'}\n")
    assert load_config(path, None, {}).server["admin_url"]


@pytest.fixture
def attacked(tmp_path, age_key, hydra, listener, monkeypatch):
    """A Hydra project whose trusted server is the real Hydra; a pull request then points it elsewhere."""
    monkeypatch.setenv("DCRSYNC_TRUSTED_SERVER", f"{hydra.admin_url} {hydra.public_url}")
    monkeypatch.setenv("HYDRA_ADMIN_TOKEN", "admin-token-that-must-not-leak")
    p = make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": hydra.admin_url,
                                         "token": "${env:HYDRA_ADMIN_TOKEN}"}, age_key, "t-trust")
    p.write_client("web", {"client_name": "Web", "grant_types": ["client_credentials"]})
    return p


@pytest.mark.parametrize("key", ["admin_url", "public_url"])
def test_a_pull_request_pointing_the_server_elsewhere_gets_nothing(attacked, hydra, listener, key):
    assert attacked.run_sub("plan").returncode == 0  # the trusted server works as before
    attacked.set_config(server={"kind": "hydra", "admin_url": hydra.admin_url, "token": "${env:HYDRA_ADMIN_TOKEN}",
                                key: listener.url})
    for command in (("plan",), ("apply", "--auto-approve"), ("drift",), ("export", "--out", "x")):
        r = attacked.run_sub(*command)
        assert r.returncode == 1, (command, r.stdout + r.stderr)
        assert re.fullmatch(
            rf"error: dcrsync.yaml:\d+:\d+: server.{key} http://127.0.0.1:{listener.port}/ is not under "
            rf"DCRSYNC_TRUSTED_SERVER \({re.escape(hydra.admin_url)} {re.escape(hydra.public_url)}\): "
            r"credentials go only there; .*\n",
            r.stderr), r.stderr
    assert listener.connections == 0


def test_urls_the_server_names_at_run_time_get_no_token(tmp_path, age_key, listener, monkeypatch):
    """A real oidc-provider behind a reverse proxy that announces another host (misconfigured, or in
    the hands of whoever controls the proxy): its discovery document's registration_endpoint and
    every registration_client_uri it hands out name that host. The initial access token is not
    sent there, nor any registration access token."""
    from tests.servers.oidc_provider import start_oidc_provider

    op = start_oidc_provider(tmp_path / "op", rotate_rat=False, initial_access_token="iat-that-must-not-leak",
                             public_origin=listener.url)
    try:
        monkeypatch.setenv("DCRSYNC_TRUSTED_SERVER", op.issuer)
        monkeypatch.setenv("IAT", "iat-that-must-not-leak")
        p = make_project(tmp_path / "proj", {"kind": "rfc7592", "issuer": op.issuer,
                                             "initial_access_token": "${env:IAT}"}, age_key, "t-disc")
        p.write_client("svc", {"client_name": "Svc", "grant_types": ["client_credentials"], "response_types": []})
        r = p.run_sub("apply", "--auto-approve")
        assert r.returncode == 1, r.stdout + r.stderr
        said = r.stdout + r.stderr
        assert f"request not sent: http://127.0.0.1:{listener.port}/reg is not under DCRSYNC_TRUSTED_SERVER" in said
        assert "Traceback" not in said
        # asked at its real registration endpoint, it answers with a management URI on that other host
        p.set_config(server={"kind": "rfc7592", "registration_url": op.registration_url,
                             "initial_access_token": "${env:IAT}"})
        r = p.run_sub("apply", "--auto-approve")
        assert r.returncode == 0, r.stdout + r.stderr
        assert p.state_doc()["clients"]["svc"]["registration_client_uri"].startswith(listener.url + "/reg/")
        r = p.run_sub("plan")
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"request not sent: http://127.0.0.1:{listener.port}/reg/" in r.stderr, r.stderr
    finally:
        op.stop()
    assert listener.connections == 0


@pytest.mark.parametrize("state", [
    {"kind": "s3", "endpoint": "{listener}", "bucket": "acme-dcrsync", "access_key_id": "k", "secret_access_key": "s"},
    {"kind": "postgres", "dsn": "postgresql://dcrsync:pw@127.0.0.1:{port}/dcrsync"},
    {"kind": "postgres", "dsn": "host=db.example.com hostaddr=127.0.0.1 port={port} dbname=dcrsync password=pw"},
])
def test_a_store_the_trusted_store_does_not_name_gets_no_key(tmp_path, listener, state):
    pytest.importorskip("psycopg")
    state = {k: v.format(listener=listener.url, port=listener.port) for k, v in state.items()}
    path = tmp_path / "dcrsync.yaml"
    path.write_text(f"server: {{kind: hydra, admin_url: 'http://127.0.0.1:1'}}\nstate: {state}\n")
    env = {"DCRSYNC_TRUSTED_SERVER": "http://127.0.0.1:1",
           "DCRSYNC_TRUSTED_STORE": "https://minio.example.com/acme-dcrsync postgresql://db.example.com/dcrsync"}
    config = load_config(path, None, env)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        with pytest.raises(ConfigError, match=r"dcrsync.yaml: `state:` .* is not under DCRSYNC_TRUSTED_STORE"):
            open_store(config)
        mp.delenv("DCRSYNC_TRUSTED_STORE")  # the server's variable alone: the store is trusted nowhere
        with pytest.raises(ConfigError, match="DCRSYNC_TRUSTED_STORE is not set while DCRSYNC_TRUSTED_SERVER is"):
            open_store(config)
    assert listener.connections == 0


def test_a_postgres_host_name_that_resolves_to_a_metadata_address_is_refused(tmp_path, monkeypatch):
    """The driver may connect to any of the DSN's host's answers: a name with one link-local or
    metadata answer is refused before anything connects (the resolver is a fake, named as one)."""
    pytest.importorskip("psycopg")
    real = socket.getaddrinfo

    def resolve(host, *args, **kw):
        if host == "db-alias.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 5432)),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 5432))]
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    path = tmp_path / "dcrsync.yaml"
    path.write_text("server: {kind: hydra, admin_url: 'http://127.0.0.1:1'}\n"
                    "state: {kind: postgres, dsn: 'postgresql://dcrsync:pw@db-alias.test:5432/dcrsync'}\n")
    with pytest.raises(ConfigError, match=r"^.*dcrsync.yaml: `state:` the PostgreSQL server db-alias.test:5432 \(database "
                                          r"dcrsync\) \(its host resolves to 169.254.169.254\) is a link-local or "
                                          r"cloud-metadata address.*allow_link_local: true"):
        open_store(load_config(path, None, {}))


def test_a_postgres_store_connects_only_where_dcrsync_resolved_its_host(postgres, tmp_path, monkeypatch):
    """libpq is handed the addresses dcrsync vetted (`hostaddr`), so a name that rebinds between
    dcrsync's look and the connection reaches no metadata address. `db.test` exists only in a fake
    resolver (named as one: no DNS server here rebinds), so the real PostgreSQL answering proves that
    libpq used the pinned address and did not resolve the name itself."""
    from dcrsync.state.postgres import PostgresStore, pinned

    answers = [["169.254.169.254", "127.0.0.1"]]
    real = socket.getaddrinfo

    def resolve(host, *args, **kw):
        if host != "db.test":
            return real(host, *args, **kw)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in answers[0]]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    dsn = postgres.dsn.replace("@127.0.0.1:", "@db.test:")
    assert pinned(dsn, Trust(), resolve) == {"host": "db.test", "hostaddr": "127.0.0.1", "port": str(postgres.port)}
    store = PostgresStore({"dsn": dsn, "schema": "pinned_test"}, tmp_path / "local", Trust())
    assert not store.exists()  # connected, to 127.0.0.1 only
    answers[0] = ["169.254.169.254"]
    with pytest.raises(UntrustedRequest, match=r"request not sent: db\.test \(it resolved to 169\.254\.169\.254 "):
        PostgresStore({"dsn": dsn, "schema": "pinned_test"}, tmp_path / "local", Trust()).exists()


def test_each_host_of_a_postgres_fail_over_list_is_pinned_to_its_own_vetted_answers(postgres, tmp_path, monkeypatch):
    """A DSN naming several hosts (libpq's fail-over list) is pinned host by host, in its order: a name
    to its answers less the metadata ones, a literal address left as written, a name that does not
    resolve dropped. `db.test` and `db2.test` exist only in a fake resolver (named as one), whose first answer
    for `db.test` is the metadata address: unpinned, the driver would try it first."""
    from dcrsync.state.postgres import PostgresStore, pinned

    fake = {"db.test": ["169.254.169.254", "127.0.0.1"], "db2.test": ["127.0.0.1"]}
    real = socket.getaddrinfo

    def resolve(host, *args, **kw):
        if host == "gone.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if host not in fake:
            return real(host, *args, **kw)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in fake[host]]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    port = str(postgres.port)
    several = postgres.dsn.replace(f"@127.0.0.1:{port}/", f"@db.test:{port},db2.test:{port}/")
    assert pinned(several, Trust(), resolve) == {"host": "db.test,db2.test", "hostaddr": "127.0.0.1,127.0.0.1",
                                                 "port": f"{port},{port}"}
    mixed = postgres.dsn.replace(f"@127.0.0.1:{port}/", f"@gone.test:{port},127.0.0.1:{port},db.test:{port}/")
    # a name that does not resolve is dropped: resolved again by the driver, it could answer unvetted
    assert pinned(mixed, Trust(), resolve) == {"host": "127.0.0.1,db.test", "hostaddr": ",127.0.0.1",
                                               "port": f"{port},{port}"}
    for dsn in (several, mixed):
        assert not PostgresStore({"dsn": dsn, "schema": "pinned_many"}, tmp_path / "local", Trust()).exists()
    gone = postgres.dsn.replace(f"@127.0.0.1:{port}/", f"@gone.test:{port}/")
    with pytest.raises(Unreachable, match=r"^cannot connect to postgresql://dcrsync@gone\.test:\d+/dcrsync \(schema "
                                          r"pinned_many, state default\): failed to resolve host 'gone\.test'"):
        PostgresStore({"dsn": gone, "schema": "pinned_many"}, tmp_path / "local", Trust()).exists()
    fake["db2.test"] = ["169.254.169.254"]
    with pytest.raises(UntrustedRequest, match=r"request not sent: db2\.test \(it resolved to 169\.254\.169\.254 "):
        PostgresStore({"dsn": several, "schema": "pinned_many"}, tmp_path / "local", Trust()).exists()


def test_a_trusted_s3_store_and_server_plan_as_before(tmp_path, age_key, hydra, s3, monkeypatch):
    with s3.client() as c:
        c.create_bucket("trusted-state")
    monkeypatch.setenv("DCRSYNC_TRUSTED_SERVER", hydra.admin_url)
    monkeypatch.setenv("DCRSYNC_TRUSTED_STORE", f"{s3.endpoint}/trusted-state")
    p = make_project(tmp_path / "proj", {"kind": "hydra", "admin_url": hydra.admin_url}, age_key, "t-trusted-s3",
                     state={"kind": "s3", "endpoint": s3.endpoint, "bucket": "trusted-state", "region": s3.region,
                            "access_key_id": s3.access_key, "secret_access_key": s3.secret_key})
    p.write_client("svc", {"client_name": "Svc", "grant_types": ["client_credentials"]})
    assert p.run_sub("apply", "--auto-approve").returncode == 0
    assert p.run_sub("plan", "--detailed-exitcode").returncode == 0
    monkeypatch.setenv("DCRSYNC_TRUSTED_STORE", f"{s3.endpoint}/another-bucket")
    r = p.run_sub("plan")
    assert r.returncode == 1 and "the S3 bucket" in r.stderr and "DCRSYNC_TRUSTED_STORE" in r.stderr, r.stderr


def test_a_cookie_a_server_sets_is_never_sent_back():
    """dcrsync keeps no cookies: a server (or anything in between) cannot make a later request carry
    what it chose, and every request stands on its own credentials."""
    seen: list[str | None] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, json=[], headers={"Set-Cookie": "session=chosen-by-the-server; Path=/"})

    with make_client("http://127.0.0.1:4445", transport=httpx.MockTransport(server),
                     trust=Trust()) as http:
        http.get("/admin/clients")
        http.get("/admin/clients")
        assert len(http.cookies) == 0
    assert seen == [None, None]
