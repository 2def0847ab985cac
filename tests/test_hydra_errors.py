"""Bad server answers give one clear line and exit 1, never a traceback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dcrsync.backends.base import Marker
from dcrsync.backends.hydra import HydraBackend
from dcrsync.errors import BackendError
from dcrsync.model import ClientSpec, Location
from tests.support.hydra_api import clients_of, create_client

pytestmark = pytest.mark.hydra


def one_line_error(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert errors, result.stderr
    return "\n".join(errors)


def test_400_from_hydra_names_the_client_its_file_and_the_reason(hydra_project, hydra):
    p = hydra_project
    p.write_client("ok", {"client_name": "Fine", "grant_types": ["client_credentials"]})
    p.write_client("bad", {"client_name": "Pairwise", "grant_types": ["client_credentials"],
                           "subject_type": "pairwise"})
    r = p.run_sub("apply", "--auto-approve")
    line = one_line_error(r)
    assert "bad.yaml:1:1" in line and "create bad" in line
    assert "HTTP 400 invalid_client_metadata" in line and "pairwise is not supported" in line
    assert "Note that an Authorization Server" not in line  # Hydra's boilerplate is trimmed
    # the good client was created and recorded; the bad one was not
    assert [c["metadata"]["dcrsync"]["name"] for c in clients_of(hydra.admin_url, p.owner)] == ["ok"]
    assert set(p.state_doc()["clients"]) == {"ok"}


def test_409_for_a_taken_client_id_is_one_clear_error(hydra):
    taken = create_client(hydra.admin_url, {"client_name": "someone else's"})
    backend = HydraBackend({"kind": "hydra", "admin_url": hydra.admin_url})
    spec = ClientSpec(name="mine", fields={"client_name": "Mine"}, location=Location("clients/mine.yaml", 1, 1))
    with pytest.raises(BackendError) as exc:
        backend.create(spec, Marker("me", "mine"), taken["client_id"], None)
    backend.close()
    assert exc.value.status == 409
    message = str(exc.value)
    assert "\n" not in message and "HTTP 409" in message and "already exists" in message


class _Unauthorized(BaseHTTPRequestHandler):
    """A stub, not Hydra: a self-hosted Hydra's admin API has no authentication, so a 401 for a
    wrong admin token (what Ory Network answers) cannot come from the real server here."""

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"error": {"code": 401, "status": "Unauthorized",
                                     "message": "The request could not be authorized"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_401_for_a_wrong_admin_token_says_what_to_fix(hydra_project):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        p = hydra_project
        p.set_config(server={"kind": "hydra", "admin_url": f"http://127.0.0.1:{server.server_port}",
                             "token": "wrong-token"})
        p.write_client("a", {"client_name": "A", "grant_types": ["client_credentials"]})
        line = one_line_error(p.run_sub("plan"))
        assert "HTTP 401" in line and "server.token" in line
        assert "wrong-token" not in line
    finally:
        server.shutdown()


def test_unreachable_server_is_one_line(hydra_project):
    p = hydra_project
    p.set_config(server={"kind": "hydra", "admin_url": "http://127.0.0.1:9"})
    p.write_client("a", {"client_name": "A", "grant_types": ["client_credentials"]})
    line = one_line_error(p.run_sub("plan"))
    assert "cannot reach http://127.0.0.1:9" in line


def test_an_empty_server_url_from_the_environment_is_a_config_error(hydra_project, monkeypatch):
    p = hydra_project
    p.set_config(server={"kind": "hydra", "admin_url": "${env:DCRSYNC_TEST_EMPTY_URL}"})
    p.write_client("a", {"client_name": "A", "grant_types": ["client_credentials"]})
    monkeypatch.setenv("DCRSYNC_TEST_EMPTY_URL", "")
    line = one_line_error(p.run_sub("plan"))
    assert "server.admin_url is ''" in line and "http(s) URL" in line


def test_hydra_public_url_as_admin_url_says_use_the_admin_port(hydra_project, hydra):
    p = hydra_project
    p.set_config(server={"kind": "hydra", "admin_url": hydra.public_url})
    p.write_client("a", {"client_name": "A", "grant_types": ["client_credentials"]})
    r = p.run_sub("plan")
    line = one_line_error(r)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "HTTP 404" in line and hydra.public_url in line
    assert "public endpoint" in line and "admin_url" in line and "4445" in line


def test_a_url_that_is_not_hydra_at_all_still_points_at_the_admin_port(hydra_project, hydra):
    p = hydra_project
    # Hydra's admin port, but under a path where nothing lives: a 404 that is not the public port
    p.set_config(server={"kind": "hydra", "admin_url": f"{hydra.admin_url}/nothing-here"})
    p.write_client("a", {"client_name": "A", "grant_types": ["client_credentials"]})
    line = one_line_error(p.run_sub("plan"))
    assert "HTTP 404" in line and "public endpoint" not in line
    assert "has no /admin/clients" in line and "4445" in line
