"""Issue 16 ("How it is shown"): property tests over the answer decoding of each family. Thousands of
generated answers (random bytes, HTML, JSON of any shape, nesting bombs, client representations whose
fields hold anything) go through each backend's own reading code: every outcome is a result that
the rest of dcrsync can compare and record, or a one-line DcrsyncError, never another exception.

No server here: the answers are generated, and handed to the backends through httpx's in-memory
transport under dcrsync's own (`make_client`), so decoding, size cap and shape checks all run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcrsync.apply.answercheck import created_problem
from dcrsync.backends.base import Marker, Result
from dcrsync.backends.hydra import HydraBackend
from dcrsync.backends.keycloak.auth import BearerAuth
from dcrsync.backends.keycloak.backend import KeycloakBackend
from dcrsync.backends.rfc7592 import Rfc7592Backend
from dcrsync.errors import DcrsyncError
from dcrsync.model import ClientSpec, LiveClient, Location, fingerprint
from dcrsync.net.http import RetryPolicy, make_client
from dcrsync.net.ratelimit import Limiter
from dcrsync.plan.fields import field_changes
from dcrsync.state.records import ClientRecord, entries_for
from tests.support.properties import examples

EXAMPLES = settings(max_examples=examples(700), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- what a server may answer ---------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
values = st.recursive(
    scalars, lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=4), kids, max_size=3)),
    max_leaves=8,
)
texts = st.lists(st.text(max_size=12), max_size=4)
#: mostly answers that succeed, so that what follows the status check runs too
STATUS = st.sampled_from([200, 200, 200, 201, 201, 400, 401, 404, 409, 500])


def plausible(ids: tuple[str, ...], shapes: dict[str, st.SearchStrategy]) -> st.SearchStrategy[dict[str, Any]]:
    """A client representation: its `ids` and the known keys as a server would fill them, then half the
    time one of them (or a key of its own) holding anything at all."""
    def poison(known: dict[str, Any], key: str, value: Any, how: bool) -> dict[str, Any]:
        return {**known, key: value} if how else known

    required = {k: st.text(min_size=1, max_size=8) for k in ids}
    keys = st.one_of(st.sampled_from(sorted({*ids, *shapes})), st.text(max_size=4))
    return st.builds(poison, st.fixed_dictionaries(required, optional=shapes), keys, values, st.booleans())


def answers(client: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    dumps = lambda v: json.dumps(v).encode()  # noqa: E731
    return st.one_of(
        st.binary(max_size=64),
        st.just(b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>\x1b[31m</body></html>"),
        st.integers(30, 5000).map(lambda d: b"[" * d + b"]" * d),
        values.map(dumps),
        client.map(dumps),
        client.map(dumps),
        st.lists(client, max_size=4).map(dumps),
        st.lists(client, max_size=4).map(dumps),
    )


HYDRA_CLIENT = plausible(("client_id",), {
    "client_name": st.text(max_size=12), "owner": st.text(max_size=8),
    "scope": st.text(max_size=20), "redirect_uris": texts, "grant_types": texts, "audience": texts,
    "token_endpoint_auth_method": st.sampled_from(["client_secret_basic", "none", "private_key_jwt"]),
    "metadata": st.one_of(st.dictionaries(st.text(max_size=6), values, max_size=3),
                          st.fixed_dictionaries({"dcrsync": st.dictionaries(st.sampled_from(["name", "owner"]), values)})),
    "jwks": st.dictionaries(st.just("keys"), st.lists(st.dictionaries(st.text(max_size=4), values, max_size=3))),
    "client_secret": st.text(max_size=12), "updated_at": st.text(max_size=12),
    "authorization_code_grant_access_token_lifespan": st.one_of(st.just("1h0m0s"), st.text(max_size=8)),
})
RFC7592_CLIENT = plausible(("client_id",), {
    "client_name": st.text(max_size=12), "scope": st.text(max_size=20),
    "redirect_uris": texts, "grant_types": texts, "response_types": texts, "contacts": texts,
    "token_endpoint_auth_method": st.sampled_from(["client_secret_basic", "none"]),
    "client_secret": st.text(max_size=12), "registration_access_token": st.text(max_size=12),
    "registration_client_uri": st.just("http://server.test/reg/x"), "client_secret_expires_at": values,
    "software_statement": st.text(max_size=30),
})
KEYCLOAK_CLIENT = plausible(("id", "clientId"), {
    "name": st.text(max_size=8),
    "attributes": st.dictionaries(
        st.sampled_from(["dcrsync.name", "dcrsync.owner", "use.jwks.string", "jwks.string", "pkce.code.challenge.method",
                         "post.logout.redirect.uris", "backchannel.logout.url", "client.secret.rotated", "x"]),
        st.one_of(st.text(max_size=12), st.just("true"), st.just('{"keys": []}'))),
    "protocolMappers": st.lists(st.dictionaries(st.sampled_from(["name", "protocol", "protocolMapper", "config", "id"]),
                                                values, max_size=5), max_size=3),
    "redirectUris": texts, "webOrigins": texts, "defaultClientScopes": texts, "optionalClientScopes": texts,
    **{flag: st.booleans() for flag in ("publicClient", "bearerOnly", "standardFlowEnabled", "implicitFlowEnabled",
                                        "directAccessGrantsEnabled", "serviceAccountsEnabled", "frontchannelLogout")},
    "clientAuthenticatorType": st.sampled_from(["client-secret", "client-jwt", "x509"]),
    "baseUrl": st.text(max_size=12), "protocol": st.just("openid-connect"), "secret": st.text(max_size=8),
})

SPEC = ClientSpec(
    name="probe", location=Location("clients/probe.yaml", 1, 1),
    fields={"client_name": "Probe", "redirect_uris": ["https://a.example/cb"], "grant_types": ["authorization_code"],
            "scope": "openid", "token_endpoint_auth_method": "client_secret_basic", "jwks": {"keys": []}},
    blocks={"hydra": {"metadata": {"team": "x"}, "audience": ["a"]}, "keycloak": {"attributes": {"x": "y"}}},
)


# --- one answer through a backend -----------------------------------------------------------------
class Answering:
    """An in-memory transport: every request gets `self.body` unless `fixed` knows its path."""

    def __init__(self, fixed: dict[str, Any] | None = None) -> None:
        self.body, self.status, self.fixed = b"", 200, fixed or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        for path, answer in self.fixed.items():
            if request.url.path.endswith(path):
                return httpx.Response(200, json=answer, headers={"Location": "http://kc.test/x/made"})
        return httpx.Response(self.status, content=self.body, headers={"Content-Type": "application/json"})


def wire(transport: Answering, base: str = "") -> httpx.Client:
    return make_client(base, transport=httpx.MockTransport(transport), policy=RetryPolicy(attempts=1),
                       limiter=Limiter(max_wait=0))


def outcome(call: Callable[[], Any], normalise: Callable[[str, Any], Any]) -> None:
    """The property: a one-line DcrsyncError, or live clients the rest of dcrsync can compare and record."""
    try:
        got = call()
    except DcrsyncError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)
        return
    results = got if isinstance(got, list) else [got]
    for item in results:
        result = item if isinstance(item, Result) else Result(live=item) if isinstance(item, LiveClient) else None
        if result is None:
            continue
        for path, value in result.live.fields.items():
            normalise(path, value)
        fingerprint(result.live)
        field_changes(SPEC, result.live, None, normalise)
        entries, _ = entries_for(SPEC, result.live, result.secrets, normalise)
        json.dumps(entries, default=str)
        created_problem(SPEC, "probe", result)


HYDRA = Answering()
hydra = HydraBackend({"kind": "hydra", "admin_url": "http://hydra.test"})
hydra.http = wire(HYDRA, "http://hydra.test")


@EXAMPLES
@given(body=answers(HYDRA_CLIENT), status=STATUS)
def test_hydra_reads_any_answer_as_clients_or_one_line(body, status):
    HYDRA.body, HYDRA.status = body, status
    outcome(lambda: hydra.fetch().clients, hydra.normalise)
    outcome(lambda: hydra.get("probe")[0], hydra.normalise)
    outcome(lambda: hydra.create(SPEC, Marker("me", "probe"), "probe", None), hydra.normalise)


RFC = Answering()
rfc = Rfc7592Backend({"kind": "rfc7592", "registration_url": "http://server.test/reg"})
rfc.http = rfc.http_once = wire(RFC)
RECORD = ClientRecord(name="probe", client_id="probe", registration_access_token="rat",
                      registration_client_uri="http://server.test/reg/probe")


@EXAMPLES
@given(body=answers(RFC7592_CLIENT), status=STATUS)
def test_rfc7592_reads_any_answer_as_clients_or_one_line(body, status):
    RFC.body, RFC.status = body, status
    outcome(lambda: rfc.fetch([RECORD]).clients, rfc.normalise)
    outcome(lambda: rfc.create(SPEC, Marker("me", "probe"), None, None), rfc.normalise)
    live = LiveClient("probe", {}, {"client_id": "probe"})
    outcome(lambda: rfc.update(SPEC, Marker("me", "probe"), live, RECORD), rfc.normalise)


KEYCLOAK = Answering({
    "/token": {"access_token": "t", "expires_in": 300},
    "/client-scopes": [{"name": "openid", "id": "1"}, {"name": "profile", "id": "2"}],
    "/default-default-client-scopes": [{"name": "profile", "id": "2"}],
    "/roles": [], "/service-account-user": {"id": "u"}, "/role-mappings": {},
})
keycloak = KeycloakBackend({"kind": "keycloak", "url": "http://kc.test", "realm": "r",
                            "admin": {"client_id": "dcrsync", "client_secret": "s"}})
keycloak.token_http = keycloak.tokens.http = wire(KEYCLOAK, "http://kc.test")
keycloak.http = wire(KEYCLOAK, keycloak.url)
keycloak.http.auth = BearerAuth(keycloak.tokens)


@EXAMPLES
@given(body=answers(KEYCLOAK_CLIENT), status=STATUS)
def test_keycloak_reads_any_answer_as_clients_or_one_line(body, status):
    KEYCLOAK.body, KEYCLOAK.status = body, status
    outcome(lambda: keycloak.fetch().clients, keycloak.normalise)
    outcome(lambda: keycloak.get("probe")[0], keycloak.normalise)
    outcome(lambda: keycloak.create(SPEC, Marker("me", "probe"), "probe", "a-secret-of-ours"), keycloak.normalise)


METADATA = st.fixed_dictionaries({}, optional={
    key: st.one_of(texts, values) for key in (
        "registration_endpoint", "grant_types_supported", "response_types_supported", "scopes_supported",
        "token_endpoint_auth_methods_supported", "subject_types_supported", "id_token_signing_alg_values_supported",
    )
})


@EXAMPLES
@given(doc=METADATA)
def test_any_server_metadata_is_checked_against_the_files_without_an_exception(doc):
    from dcrsync.backends.discovery import unsupported

    spec = ClientSpec(name="probe", location=Location("clients/probe.yaml", 1, 1), fields={
        "grant_types": ["authorization_code", "client_credentials"], "response_types": ["code", "code id_token"],
        "scope": "openid api:read", "token_endpoint_auth_method": "client_secret_basic", "subject_type": "public",
    })
    for finding in unsupported(spec, doc, "https://server.test/.well-known/openid-configuration"):
        assert finding.severity in ("error", "warning") and "\n" not in finding.format()
