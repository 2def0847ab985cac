"""Listing a real Hydra page by page: every client once, no endless loop on Hydra's `next` bugs."""

from __future__ import annotations

import math

import httpx
import pytest

from dcrsync.backends.hydra import HydraBackend
from tests.support.hydra_api import create_client

pytestmark = pytest.mark.hydra


def test_empty_server_stops_despite_a_next_link(tmp_path):
    from tests.servers.hydra import start_hydra

    hydra = start_hydra(tmp_path / "empty")
    try:
        r = httpx.get(f"{hydra.admin_url}/admin/clients", params={"page_size": 500})
        assert r.json() == [] and "next" in r.links  # ory/hydra#3674, still there in v2.3.0
        backend = HydraBackend({"kind": "hydra", "admin_url": hydra.admin_url})
        fetched = backend.fetch()
        backend.close()
        assert fetched.clients == [] and fetched.requests == 1
    finally:
        hydra.stop()


def test_small_pages_return_every_client_exactly_once(hydra):
    owner = "pagination-owner"
    made = {create_client(hydra.admin_url, {"client_name": f"p{i}", "owner": owner})["client_id"] for i in range(23)}
    backend = HydraBackend({"kind": "hydra", "admin_url": hydra.admin_url, "page_size": 5})
    fetched = backend.fetch()
    backend.close()
    ids = [c.client_id for c in fetched.clients]
    assert len(ids) == len(set(ids)), "a client was listed twice"
    assert made <= set(ids)
    total = len(ids)
    assert fetched.requests <= math.ceil(total / 5) + 1
