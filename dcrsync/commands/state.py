"""`dcrsync state …`: read and edit the state's records through sops (list, show, secret, rm, mv, recover,
set-secret, refresh); the store's own commands (unlock, rekey, journal, init, migrate) are `state_store`'s."""

from __future__ import annotations

import json

import click

from dcrsync.commands.common import project_options
from dcrsync.commands.state_store import init, journal, migrate, rekey, unlock_lock
from dcrsync.errors import StateError
from dcrsync.guards import inert
from dcrsync.model import SENSITIVE
from dcrsync.project.opening import open_project
from dcrsync.render.formats import format_option, render
from dcrsync.state.records import SECRET_KEYS


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
    from dcrsync.project.planning import delivery_settings

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

    from dcrsync.state.records import move_entry

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
    from dcrsync.apply import restore

    project = open_project(config_path, env_name)
    project.unlock()
    backend = project.backend()
    try:
        out = restore.recover(project, backend)
    finally:
        backend.close()
    click.echo(f"Recovered {len(out.names)} client(s) into {project.store.where}.")
    if out.legacy:
        click.echo(
            f"Left alone: {len(out.legacy)} client(s) with owner {project.config.owner!r}'s marker from a dcrsync "
            f"without project identities ({', '.join(out.legacy)}); if they are this project's, adopt them with "
            f"`dcrsync import --owner {project.config.owner}`"
        )
    if out.not_in_git:
        click.echo(f"Not in git (prune would delete them): {', '.join(out.not_in_git)}")
    if out.secrets_read:
        click.echo(f"Read the secrets of {len(out.secrets_read)} client(s) from {backend.family} into the state: "
                   f"{', '.join(out.secrets_read)}")
    if out.secrets_unknown:
        click.echo(
            f"Secrets unknown for {len(out.secrets_unknown)} client(s) ({restore.unread_why(backend)}): record one "
            "you know with `dcrsync state set-secret NAME`, or issue a new one with `dcrsync rotate-secret NAME`: "
            f"{', '.join(out.secrets_unknown)}"
        )


@state.command("set-secret")
@project_options
@click.argument("name")
def set_secret(config_path, env_name, name) -> None:
    """Record a client secret you already know, read from stdin (never from the command line).

    The server's token endpoint checks it first (Hydra needs server.public_url): a client_credentials
    token, or for a client without that grant a made-up authorization code, which a server refuses
    with invalid_grant only once the secret is right. A secret it refuses is not recorded (exit 1).
    Where it cannot be checked, it is recorded and the output says it was not verified.
    """
    from dcrsync.apply import restore

    secret = _read_secret()
    project = open_project(config_path, env_name)
    project.unlock()
    backend = project.backend()
    try:
        client_id, verdict = restore.set_secret(project, backend, name, secret)
    finally:
        backend.close()
    if verdict.outcome == "verified":
        how = f" ({verdict.reason})" if verdict.reason else ""
        click.echo(inert.line(f"Recorded the secret of {name} (client {client_id}); the token endpoint accepted it{how}."))
    else:
        click.echo(inert.line(f"Recorded the secret of {name} (client {client_id}), NOT VERIFIED: {verdict.reason}."))


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


@state.command("refresh")
@project_options
@click.argument("names", nargs=-1)
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
def refresh_(config_path, env_name, names, auto_approve) -> None:
    """Accept the server's current values as the last-applied baseline of NAMEs (default: every client),
    after showing them (as Terraform's `apply -refresh-only`): `drift` stops reporting them, and `plan`
    shows git's value as pending where git declares another."""
    import sys

    from dcrsync.apply.refresh import Refresh, refresh
    from dcrsync.errors import DcrsyncError
    from dcrsync.render.values import show

    def confirm(found: Refresh) -> bool:
        click.echo(f"The server's values become the baseline of {len(found.accepted)} client(s):")
        for item in found.accepted:
            click.echo(f"  {item.name}  client_id {item.client_id}")
            for f in item.fields:
                click.echo(f"      ~ {f.path}: {show(f.before)} -> {show(f.after)}")
            for u in item.undeclared:
                what = f"{u.path}[{u.item}]" if u.item else u.path
                click.echo(f"      ~ {what} (not declared): {show(u.before)} -> {show(u.after)}")
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise DcrsyncError("refusing to accept without confirmation: no terminal to ask; pass --auto-approve")
        return click.confirm("Accept these as the baseline?", default=False)

    project = open_project(config_path, env_name)
    backend = project.backend()
    try:
        found = refresh(project, backend, list(names), confirm)
    finally:
        backend.close()
    for line in found.skipped:
        click.echo(f"skipped: {line}", err=True)
    if not found.accepted:
        click.echo("Nothing to accept: the server matches the state's baseline.")
        return
    if not found.written:
        click.echo("Nothing was accepted.")
        return
    click.echo(
        f"Accepted the server's values as the baseline of {len(found.accepted)} client(s) in {project.store.where}: "
        "`dcrsync drift` no longer reports them; `dcrsync plan` shows git's value as pending where it declares another."
    )


for _command in (unlock_lock, rekey, journal, init, migrate):  # the store's own commands
    state.add_command(_command)
