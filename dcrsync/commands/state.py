"""`dcrsync state list|show|secret|rm`: read and edit the state through sops."""

from __future__ import annotations

import dataclasses
import json

import click

from dcrsync.commands.common import project_options
from dcrsync.errors import StateError
from dcrsync.model import SENSITIVE
from dcrsync.project import open_project
from dcrsync.render.formats import format_option, render
from dcrsync.state import SECRET_KEYS


@click.group()
def state() -> None:
    """Read and edit the encrypted state."""


@state.command("list")
@project_options
@format_option("state")
def list_(config_path, env_name, fmt) -> None:
    """Names and client ids (no key needed)."""
    project = open_project(config_path, env_name)
    click.echo(render(project.store.read_public(), fmt), nl=False)
    if project.store.has_journal():
        click.echo("note: an interrupted apply left a journal; the next apply folds it in", err=True)


@state.command("show")
@project_options
@click.argument("name")
def show(config_path, env_name, name) -> None:
    """One client's record, secrets as (sensitive)."""
    project = open_project(config_path, env_name)
    record = project.store.read_public().clients.get(name)
    if record is None:
        raise StateError(f"{name} is not in {project.store.where}; `dcrsync state list` shows what is")
    data = {**record.bookkeeping(), **record.identity()}
    for key in SECRET_KEYS:
        if record.has(key):
            data[key] = SENSITIVE
    click.echo(json.dumps({"name": name, **data}, indent=2, sort_keys=True, default=str))


@state.command("secret")
@project_options
@click.argument("name")
@click.option("--field", "field_", type=click.Choice(list(SECRET_KEYS)), default="client_secret", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["value", "json", "env", "dotenv"]), default="value", show_default=True,
              help="value: the one --field; json/env/dotenv: the bundle (client_id, client_secret, issuer, token_endpoint, discovery_url).")
@click.option("--reveal", is_flag=True, help="Print even to a terminal (otherwise only to a pipe or a file).")
def secret(config_path, env_name, name, field_, fmt, reveal) -> None:
    """Print one secret, or the client's bundle, to a pipe (needs the key)."""
    from dcrsync.commands.deliver import refuse_terminal

    refuse_terminal(reveal)
    project = open_project(config_path, env_name)
    project.unlock()
    record = project.store.read().clients.get(name)
    if record is None:
        raise StateError(f"{name} is not in {project.store.where}")
    if fmt != "value":
        click.echo(_bundle_text(project, record, fmt), nl=False)
        return
    value = getattr(record, field_)
    if not value:
        raise StateError(f"{name} has no {field_} in the state (the server never gave one, or it was lost)")
    click.echo(value)


def _bundle_text(project, record, fmt: str) -> str:
    """client_id, client_secret (when held) and the server's endpoints (when it publishes them)."""
    from dcrsync.deliver.bundle import as_text
    from dcrsync.deliver.endpoints import read
    from dcrsync.project import delivery_settings

    backend = project.backend()
    try:
        found = read(backend, delivery_settings(project.config).issuer)
    finally:
        backend.close()
    values = {"client_id": record.client_id, "client_secret": record.client_secret, **found.values()}
    if found.problem:
        click.echo(f"note: no issuer or endpoints in the bundle: {found.problem}", err=True)
    return as_text({k: v for k, v in values.items() if v is not None}, fmt)


@state.command("rm")
@project_options
@click.argument("names", nargs=-1, required=True)
def rm(config_path, env_name, names) -> None:
    """Forget clients (the server is not touched)."""
    project = open_project(config_path, env_name)
    project.unlock()
    with project.store.locked():
        st = project.store.read()
        missing = [n for n in names if n not in st.clients]
        if missing:
            raise StateError(f"not in the state: {', '.join(missing)}; nothing was changed")
        for name in names:
            del st.clients[name]
        project.store.commit(st)
    click.echo(f"Removed {len(names)} client(s) from {project.store.where}; the server was not touched.")


@state.command("mv")
@project_options
@click.argument("old")
@click.argument("new")
def mv(config_path, env_name, old, new) -> None:
    """Rename a client in the state (its client, secret and history move along)."""
    import re

    from dcrsync.state import move_entry

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", new):
        raise StateError(f"{new!r} is not a client name: lowercase letters, digits and '-', at most 63")
    project = open_project(config_path, env_name)
    project.unlock()
    with project.store.locked():
        st = project.store.read()
        if old not in st.clients:
            raise StateError(f"{old} is not in {project.store.where}; `dcrsync state list` shows what is")
        if new in st.clients:
            raise StateError(f"{new} is in {project.store.where} already (client {st.clients[new].client_id}); nothing was changed")
        entries = [move_entry(old, new)]
        project.store.append(entries)
        st.fold(entries)
        project.store.commit(st)
    click.echo(
        f"Moved {old} -> {new} in {project.store.where} (client {st.clients[new].client_id}); the server was not "
        "touched: the next apply moves the ownership marker on the server."
    )


@state.command("recover")
@project_options
def recover(config_path, env_name) -> None:
    """Rebuild a lost state from the ownership markers on the server."""
    from dcrsync import restore

    project = open_project(config_path, env_name)
    project.unlock()
    backend = project.backend()
    try:
        out = restore.recover(project, backend)
    finally:
        backend.close()
    click.echo(f"Recovered {len(out.names)} client(s) into {project.store.where}.")
    if out.not_in_git:
        click.echo(f"Not in git (prune would delete them): {', '.join(out.not_in_git)}")
    if out.secrets_unknown:
        click.echo(
            f"Secrets unknown for {len(out.secrets_unknown)} client(s); issue new ones with "
            f"`dcrsync rotate-secret NAME`: {', '.join(out.secrets_unknown)}"
        )


@state.command("set-secret")
@project_options
@click.argument("name")
def set_secret(config_path, env_name, name) -> None:
    """Record a client secret you already know, read from stdin (never from the command line).

    The server's token endpoint checks it first where the client has the client_credentials
    grant (Hydra needs server.public_url): a secret it refuses is not recorded (exit 1). Where it
    cannot be checked, it is recorded and the output says it was not verified.
    """
    from dcrsync import restore

    secret = _read_secret()
    project = open_project(config_path, env_name)
    project.unlock()
    backend = project.backend()
    try:
        client_id, verdict = restore.set_secret(project, backend, name, secret)
    finally:
        backend.close()
    if verdict.outcome == "verified":
        click.echo(f"Recorded the secret of {name} (client {client_id}); the token endpoint accepted it.")
    else:
        click.echo(f"Recorded the secret of {name} (client {client_id}), NOT VERIFIED: {verdict.reason}.")


def _read_secret() -> str:
    """One line from stdin; a hidden prompt when stdin is a terminal."""
    import sys

    stream = sys.stdin
    if stream.isatty():
        value = click.prompt("client secret", hide_input=True, err=True)
    else:
        value = stream.read()
    value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        raise StateError("no secret on stdin: pipe it in, e.g. `printenv APP_SECRET | dcrsync state set-secret NAME`")
    if "\n" in value or "\r" in value:
        raise StateError("stdin holds more than one line: pipe in only the secret")
    return value


@state.command("unlock")
@project_options
@click.argument("lock_id")
def unlock_lock(config_path, env_name, lock_id) -> None:
    """Break the shared state's lock LOCK_ID, left by a dead runner (only that one)."""
    project = open_project(config_path, env_name)
    breaker = getattr(project.store, "break_lock", None)
    if breaker is None:
        raise StateError(
            f"{project.store.where} is a file: its lock goes with the process that held it; nothing to unlock"
        )
    held = breaker(lock_id)
    click.echo(f"Broke the lock on {project.store.where} held by {held}.")


@state.command("migrate")
@project_options
@click.option("--to", "target", required=True, metavar="STORE",
              help="A state file path, postgresql://… (a DSN), or s3://BUCKET/PREFIX (endpoint in DCRSYNC_S3_ENDPOINT).")
def migrate(config_path, env_name, target) -> None:
    """Copy the state, every secret included, to another store and verify the copy.

    The source is left untouched; point `state:` in dcrsync.yaml at the new store afterwards.
    """
    from dcrsync.stores import open_store_spec

    project = open_project(config_path, env_name)
    sops = project.unlock()
    dest = open_store_spec(target, project.config)
    if dest.where == project.store.where:
        raise StateError(f"{target} is the state's own store; nothing was copied")
    dest.unlock(sops)
    with project.store.locked(), dest.locked():
        source = project.store.read()
        if dest.exists():
            raise StateError(f"{dest.where} holds a state already; migrate copies only into an empty store")
        dest.preflight()
        copy = _copy(source)
        dest.commit(copy)
        problems = _differences(source, dest.read())
        if problems:
            raise StateError(
                f"the copy in {dest.where} differs from the source ({', '.join(problems[:5])}); the source "
                "is untouched: remove the copy and try again"
            )
    click.echo(
        f"Copied {len(source.clients)} client(s) with their secrets from {project.store.where} to {dest.where} "
        "and verified the copy; the source is untouched. Point `state:` in dcrsync.yaml at the new store."
    )


def _copy(state):
    from dcrsync.state import State

    copy = State(serial=state.serial)
    copy.clients = {n: dataclasses.replace(r) for n, r in state.clients.items()}
    return copy


def _differences(a, b) -> list[str]:
    out = []
    for name in sorted(set(a.clients) | set(b.clients)):
        ra, rb = a.clients.get(name), b.clients.get(name)
        if ra is None or rb is None:
            out.append(f"{name} missing")
        elif {**vars(ra), "held": None} != {**vars(rb), "held": None}:
            out.append(f"{name} differs")
    return out
