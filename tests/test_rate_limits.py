"""Issue 19 item 1: 429 and 503 are waited out, by time, together.

The storms come from the named fake `tests/servers/fake_proxy.py` (a 429 is a fault the real servers
cannot produce on demand) in front of the real oidc-provider and Hydra, which do the real work.
"""

from __future__ import annotations

import email.utils
import threading
import time
import uuid

import pytest

from dcrsync.net.ratelimit import Limiter, server_wait
from tests.harness.rfc7592 import OidcProviderAdmin
from tests.servers.fake_proxy import FakeProxy, Limit
from tests.support.hydra_api import clients_of
from tests.support.project import make_project

SERVICE = {"grant_types": ["client_credentials"], "scope": "openid", "token_endpoint_auth_method": "client_secret_basic"}


def services(p, n: int) -> None:
    for i in range(n):
        p.write_client(f"svc-{i:03d}", {"client_name": f"Service {i}", **SERVICE})


def applied_all(r, n: int) -> None:
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"Apply complete: {n} created" in r.stdout


# --- the server's words for "wait" ------------------------------------------------------------
@pytest.mark.parametrize(("headers", "limited", "wait"), [
    ({"retry-after": "3"}, True, 3.0),
    ({"retry-after": email.utils.formatdate(1_700_000_010, usegmt=True)}, True, 10.0),
    ({"ratelimit-remaining": "0", "ratelimit-reset": "7"}, False, 7.0),
    ({"ratelimit-remaining": "4", "ratelimit-reset": "7"}, False, None),  # quota left: no wait
    ({"ratelimit-reset": "7"}, True, 7.0),  # a 429 without Retry-After: the reset says when
    ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000005"}, False, 5.0),  # epoch seconds (GitHub)
    ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}, False, 2.0),  # delta seconds
    ({"ratelimit": '"default";r=0;t=4'}, False, 4.0),  # the draft's one-header form
    ({"retry-after": "soon"}, True, None),
    ({}, True, None),
])
def test_the_servers_wait_headers_are_read(headers, limited, wait):
    assert server_wait(headers, limited, wall=1_700_000_000.0)[0] == wait


def test_one_429_halves_the_concurrency_once_and_successes_grow_it_back():
    said: list[str] = []
    limiter = Limiter(concurrency=8, say=said.append)
    generations = [limiter.acquire() for _ in range(8)]  # eight in flight, all sent before the 429
    for g in generations:  # all eight come back limited: one halving, not three
        limiter.observe(429, "Too Many Requests", {"retry-after": "0.2"}, g)
    assert limiter.limit == 4 and len(said) == 1
    assert said[0] == ("waiting 0.2 s: the server answered 429 Too Many Requests (Retry-After: 0.2); "
                       "4 request(s) at a time from now on")
    time.sleep(0.21)
    for _ in range(4 + 5):  # four successes as long as the limit grow it by one, then five more by one
        limiter.observe(200, "OK", {}, limiter.acquire())
    assert limiter.limit == 6


def test_a_pause_holds_every_worker():
    limiter = Limiter(concurrency=4, say=lambda _: None)
    limiter.observe(429, "Too Many Requests", {"retry-after": "0.5"}, limiter.acquire())
    started, waited = time.monotonic(), []

    def worker() -> None:
        limiter.acquire()
        waited.append(time.monotonic() - started)
        limiter.release()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(waited) == 4 and min(waited) >= 0.45


# --- the storms of the issue ----------------------------------------------------------------------
def test_half_of_the_registrations_answered_429_all_succeed_in_one_apply(oidc_provider, tmp_path, age_key):
    provider = oidc_provider
    admin = OidcProviderAdmin(provider.test_admin_url)
    before = set(admin.list_ids())
    with FakeProxy(provider.issuer, limit=Limit("POST", "/reg", share=0.5, retry_after="1")) as proxy:
        p = make_project(tmp_path / "proj", {"kind": "rfc7592", "registration_url": f"{proxy.url}/reg"}, age_key,
                         "storm")
        services(p, 20)
        r = p.run_sub("apply", "--auto-approve")
    applied_all(r, 20)  # before: 4 of 20 failed after four attempts
    limited = proxy.log.count("POST", 429)
    assert limited >= 10 and proxy.log.count() <= 150, (limited, proxy.log.count())
    assert len(set(admin.list_ids()) - before) == 20  # each registered once: no orphan, no duplicate
    assert len(p.state_doc()["clients"]) == 20
    assert "waiting 1.0 s: the server answered 429 Too Many Requests (Retry-After: 1)" in r.stderr


@pytest.mark.hydra
@pytest.mark.parametrize("retry_after", ["1", None], ids=["retry-after-1", "no-header"])
def test_a_20_second_storm_on_200_hydra_creates_is_waited_out(hydra_project, hydra, retry_after):
    p = hydra_project
    p.owner = f"storm-{retry_after or 'none'}-{uuid.uuid4().hex[:8]}"  # the two runs share one Hydra
    p.set_config(owner=p.owner)
    services(p, 200)
    limit = Limit("POST", "/admin/clients", storm=20.0, retry_after=retry_after)
    with FakeProxy(hydra.admin_url, limit=limit) as proxy:
        p.set_config(server={"kind": "hydra", "admin_url": proxy.url})
        started = time.monotonic()
        r = p.run_sub("apply", "--auto-approve", "--parallelism", "8")
        took = time.monotonic() - started
    applied_all(r, 200)  # before: 16 % (Retry-After: 1) and 24 % (no header) failed
    assert len(clients_of(hydra.admin_url, p.owner)) == 200 and len(p.state_doc()["clients"]) == 200
    assert took >= 20
    # the workers paused together: a few dozen 429s over 20 s, not every worker once a second or more
    assert proxy.log.count("POST", 429) <= 60, proxy.log.count("POST", 429)
    assert "waiting" in r.stderr and "the server answered 429 Too Many Requests" in r.stderr


@pytest.mark.hydra
def test_a_429_without_retry_after_waits_for_the_ratelimit_reset(hydra_project, hydra):
    p = hydra_project
    services(p, 1)
    limit = Limit("POST", "/admin/clients", storm=0.5, retry_after=None, headers={"RateLimit-Reset": "2"})
    with FakeProxy(hydra.admin_url, limit=limit) as proxy:
        p.set_config(server={"kind": "hydra", "admin_url": proxy.url})
        r = p.run_sub("apply", "--auto-approve")
    applied_all(r, 1)
    posts = [e for e in proxy.log.entries if e.method == "POST"]
    assert [e.status for e in posts] == [429, 201]
    assert posts[1].at - posts[0].at >= 1.9  # the reset's 2 s, not the 0.5 s backoff of a silent 429
    assert "(ratelimit-reset: 2)" in r.stderr


@pytest.mark.hydra
def test_the_servers_budget_keeps_dcrsync_under_it(hydra_project, hydra):
    p = hydra_project
    services(p, 40)
    with FakeProxy(hydra.admin_url) as proxy:  # counts only: nothing is refused
        p.set_config(server={"kind": "hydra", "admin_url": proxy.url, "rate_limit": {"rps": 10, "burst": 2}})
        r = p.run_sub("apply", "--auto-approve", "--parallelism", "8")
    applied_all(r, 40)
    times = sorted(e.at for e in proxy.log.entries)
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    # 10 a second and a burst of 2, plus 2 for requests a busy machine delays on their way to the proxy
    assert busiest <= 14, busiest
    assert times[-1] - times[0] >= (len(times) - 3) / 10  # on average never faster than the budget


@pytest.mark.hydra
def test_retries_are_bounded_by_time_then_the_client_fails_in_one_line(hydra_project, hydra):
    p = hydra_project
    services(p, 1)
    with FakeProxy(hydra.admin_url, limit=Limit("POST", "/admin/clients", storm=60.0, retry_after="1")) as proxy:
        p.set_config(server={"kind": "hydra", "admin_url": proxy.url, "rate_limit": {"max_wait": 3}})
        started = time.monotonic()
        r = p.run_sub("apply", "--auto-approve")
        took = time.monotonic() - started
    assert r.returncode == 1 and "Traceback" not in r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert "hydra refused to create client svc-000: HTTP 429" in line
    assert "the server kept refusing past server.rate_limit.max_wait (3 s; rate limited or unavailable): try " \
           "again later, or raise it in dcrsync.yaml" in line
    # it gives up as soon as the next wait the server asks for would end past the 3 s: after the third 429
    assert took < 10 and proxy.log.count("POST", 429) == 3 and proxy.log.count("POST") == 3


def test_the_budget_is_checked_where_it_is_written(tmp_path):
    from dcrsync.errors import ConfigError
    from dcrsync.load.config import load_config

    path = tmp_path / "dcrsync.yaml"
    path.write_text("server:\n  kind: hydra\n  admin_url: http://127.0.0.1:4445\n  rate_limit:\n    rps: 0\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, None, {})
    assert f"{path}:5:" in str(exc.value) and "rps" in str(exc.value)
    path.write_text("server:\n  kind: hydra\n  admin_url: http://127.0.0.1:4445\n"
                    "  rate_limit: {rps: 5, burst: 10, max_wait: 30}\n")
    limiter = Limiter.for_server(load_config(path, None, {}).server, 4)
    assert (limiter.rps, limiter.burst, limiter.max_wait, limiter.concurrency) == (5.0, 10, 30.0, 4)


def test_a_server_asking_for_longer_than_max_wait_is_not_waited_for():
    import httpx

    from dcrsync.net.http import limited_hint, make_client

    calls: list[str] = []

    def come_back_in_an_hour(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(429, headers={"Retry-After": "3600"})

    client = make_client("http://server.test", transport=httpx.MockTransport(come_back_in_an_hour),
                         limiter=Limiter(say=lambda _: None))
    started = time.monotonic()
    response = client.get("/")
    assert response.status_code == 429 and calls == ["GET"] and time.monotonic() - started < 1
    assert "past server.rate_limit.max_wait (120 s" in limited_hint(response)
