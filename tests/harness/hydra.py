"""Ory Hydra's admin API for the behaviour suite: one real Hydra, changed behind dcrsync's back
with its own admin API."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.harness.base import BackendEnv, Ref
from tests.support.http import http
from tests.support.hydra_api import all_clients, create_client, get_client, put_client, token_works

TIMEOUT = 30


def hydra_env(label: str, admin_url: str, public_url: str) -> BackendEnv:
    def read(ref: Ref) -> dict[str, Any] | None:
        r = http.get(f"{admin_url}/admin/clients/{ref.client_id}", timeout=TIMEOUT)
        return None if r.status_code == 404 else r.raise_for_status().json()

    def change(ref: Ref, field: str, value: Any) -> None:
        client = get_client(admin_url, ref.client_id)
        client[field] = value
        put_client(admin_url, client)

    def delete(ref: Ref) -> None:
        http.delete(f"{admin_url}/admin/clients/{ref.client_id}", timeout=TIMEOUT).raise_for_status()

    def unmanaged() -> str:
        return create_client(admin_url, {"client_name": "made by hand", "grant_types": ["client_credentials"]})[
            "client_id"
        ]

    def list_ids() -> list[str]:
        return [c["client_id"] for c in all_clients(admin_url)]

    return BackendEnv(
        label=label,
        server={"kind": "hydra", "admin_url": admin_url},
        token_works=lambda cid, secret: token_works(public_url, cid, secret),
        read=read,
        change_out_of_band=change,
        delete_out_of_band=delete,
        create_unmanaged=unmanaged,
        list_ids=list_ids,
        scopes=("openid", "offline_access"),
    )


@contextlib.contextmanager
def hydra_admin_factory(workdir: Path) -> Iterator[BackendEnv]:
    from tests.servers.hydra import start_hydra

    instance = start_hydra(workdir)
    try:
        yield hydra_env("hydra-admin", instance.admin_url, instance.public_url)
    finally:
        instance.stop()


def envs() -> list[tuple[str, Callable[[Path], contextlib.AbstractContextManager[BackendEnv]]]]:
    return [("hydra-admin", hydra_admin_factory)]
