"""Direct calls to the real Hydra, to check what dcrsync did and to change things behind its back."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx

from tests.support.http import http


def _get_page(url: str, params: dict) -> httpx.Response:
    """One list page. Tests poll Hydra while dcrsync writes to it at full speed; its SQLite database
    then answers a read with a 400/500 "concurrent update" now and then (dcrsync's backend retries
    those too): read again, and say what Hydra answered if it keeps failing."""
    for attempt in range(8):
        r = http.get(url, params=params, timeout=30)
        if r.is_success or r.status_code not in (400, 500) or attempt == 7:
            break
        time.sleep(0.1 * (attempt + 1))
    if not r.is_success:
        raise AssertionError(f"Hydra answered {r.status_code} to a list: {r.text[:500]}")
    return r


def all_clients(admin_url: str, **filters: str) -> list[dict]:
    """Every client on the server (optionally filtered, e.g. owner=…), page by page."""
    out: list[dict] = []
    token = None
    while True:
        params = {"page_size": 500, **filters, **({"page_token": token} if token else {})}
        r = _get_page(f"{admin_url}/admin/clients", params)
        page = r.json()
        out.extend(page)
        nxt = r.links.get("next", {}).get("url")
        if not page or not nxt:
            return out
        token = httpx.URL(nxt).params.get("page_token")


def total_clients(admin_url: str) -> int:
    """How many clients Hydra holds, every owner's: its `X-Total-Count` for a one-client page. The cheap
    probe for polls that wait for an apply to reach a count (a whole list reads and parses every client)."""
    return int(_get_page(f"{admin_url}/admin/clients", {"page_size": 1}).headers["X-Total-Count"])


def clients_of(admin_url: str, owner: str) -> list[dict]:
    return all_clients(admin_url, owner=owner)


def get_client(admin_url: str, client_id: str) -> dict:
    r = http.get(f"{admin_url}/admin/clients/{quote(client_id, safe='')}", timeout=30)
    r.raise_for_status()
    return r.json()


def put_client(admin_url: str, client: dict) -> dict:
    body = {k: v for k, v in client.items() if k not in ("created_at", "updated_at", "client_secret")}
    r = http.put(f"{admin_url}/admin/clients/{quote(client['client_id'], safe='')}", json=body, timeout=30)
    r.raise_for_status()
    return r.json()


def create_client(admin_url: str, body: dict) -> dict:
    r = http.post(f"{admin_url}/admin/clients", json=body, timeout=30)
    r.raise_for_status()
    return r.json()


def token_works(public_url: str, client_id: str, secret: str) -> bool:
    r = http.post(
        f"{public_url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=30,
    )
    return r.status_code == 200 and "access_token" in r.json()
