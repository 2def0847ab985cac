"""`dcrsync state …`: read and edit the state through sops; its keys, journal, lock and store."""

from __future__ import annotations

import dataclasses
import json

import click

from dcrsync.commands.common import project_options
from dcrsync.errors import StateError
from dcrsync.guards import inert
from dcrsync.model import SENSITIVE
from dcrsync.project.opening import open_project
from dcrsync.render.formats import format_option, render
from dcrsync.state.batches import BatchRefused
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


@state.command("unlock")
@project_options
@click.argument("lock_id", required=False)
def unlock_lock(config_path, env_name, lock_id) -> None:
    """Break the shared state's lock LOCK_ID, left by a dead runner (only that one).

    Without LOCK_ID, break a lock that has no id to name it by (an unreadable lock object, an
    advisory lock with no row), after saying what was found; a readable lock is only named.
    """
    project = open_project(config_path, env_name)
    breaker = getattr(project.store, "break_lock", None)
    if breaker is None:
        raise StateError(
            f"{project.store.where} is a file: its lock is held only by a running process and goes when that process "
            "ends (stop it to release it); nothing to unlock"
        )
    held = breaker(lock_id)
    click.echo(f"Broke the lock on {project.store.where}, which was {held}.")


@state.command("rekey")
@project_options
def rekey(config_path, env_name) -> None:
    """Re-encrypt the state for the recipients in the configuration (sops.age, or .sops.yaml).

    Run it with a key that opens the state after adding a teammate's public key (or removing one);
    the journal key is replaced too, so a removed holder can no longer write an accepted journal batch.
    """
    project = open_project(config_path, env_name)
    project.unlock()
    store = project.store
    with store.locked():
        if not store.exists():
            raise StateError(f"{store.where} holds no state yet; the first apply encrypts it for the configured recipients")
        before = store.recipients()
        st = store.read()
        st.journal_key = None  # a new one: whoever could read the old state knew the old key
        store.commit(st)
        after = store.recipients()
    click.echo(f"Re-encrypted {store.where} for {len(after)} age recipient(s) and replaced its journal key.")
    added, removed = [r for r in after if r not in before], [r for r in before if r not in after]
    if added:
        click.echo(f"Added: {', '.join(added)} (they can read every secret in the state now).")
    if removed:
        held = sorted(n for n, r in st.clients.items() if r.client_secret)
        click.echo(
            f"Removed: {', '.join(removed)}. Its holder can still read older copies of the state (git history, "
            "store backups or object versions, CI artifacts, a local .dcrsync/ journal) and every secret in them."
        )
        if held:
            click.echo(f"Rotate the secrets they could read (`dcrsync rotate-secret NAME`): {', '.join(held)}")
    if not added and not removed:
        click.echo("The age recipients are unchanged.")


@state.command("journal")
@project_options
@click.option("--fold-verified", is_flag=True,
              help="Fold every batch that verifies (also after a missing one) and drop the others, in one commit.")
def journal(config_path, env_name, fold_verified) -> None:
    """What an interrupted apply left in the journal, each batch checked against the state's key."""
    project = open_project(config_path, env_name)
    project.unlock()
    store = project.store
    with store.locked():
        try:
            st, refusal = store.read(), None
        except BatchRefused as exc:  # what an apply would say; the listing shows every batch
            st, refusal = store.read(lenient=True), exc
        verdicts = store.journal_verdicts
        if fold_verified and verdicts:
            store.commit(st)
    for name, verdict in verdicts:
        click.echo(f"{name}: {verdict}")
    dropped = sum(1 for _, v in verdicts if v.startswith("not folded"))
    if not verdicts:
        click.echo(f"{store.where} has no journal.")
    elif fold_verified:
        click.echo(f"Folded the {len(verdicts) - dropped} batch(es) that verify into {store.where}; dropped {dropped}.")
    elif refusal is not None:
        raise StateError(f"{refusal} (nothing was changed; every batch is listed above)")


@state.command("init")
@project_options
def init(config_path, env_name) -> None:
    """Prepare the store: create the S3 bucket or the PostgreSQL schema (the file store needs nothing)."""
    project = open_project(config_path, env_name)
    prepare = getattr(project.store, "prepare", None)
    if prepare is None:
        click.echo(f"{project.store.where} is a file: nothing to prepare; the first apply writes it.")
        return
    click.echo(prepare())


@state.command("migrate")
@project_options
@click.option("--to", "target", required=True, metavar="STORE", envvar="DCRSYNC_MIGRATE_TO",
              help="A state file path, postgresql://… (a DSN), or s3://BUCKET/PREFIX (endpoint in DCRSYNC_S3_ENDPOINT); "
                   "env:NAME reads it from that environment variable, as does DCRSYNC_MIGRATE_TO when --to is left out.")
def migrate(config_path, env_name, target) -> None:
    """Copy the state, every secret included, to another store and verify the copy.

    The source is left untouched; point `state:` in dcrsync.yaml at the new store afterwards.
    """
    from dcrsync.state.stores import open_store_spec

    source = click.get_current_context().get_parameter_source("target")
    target = _from_env(target, on_argv=source is click.core.ParameterSource.COMMANDLINE)
    project = open_project(config_path, env_name)
    sops = project.unlock()
    dest = open_store_spec(target, project.config)
    if dest.where == project.store.where:
        raise StateError(f"the target is the state's own store ({dest.where}); nothing was copied")
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


def _from_env(target: str, on_argv: bool) -> str:
    """`env:NAME` is the value of that variable; a password written on the command line is warned about."""
    import os
    from urllib.parse import urlsplit

    if target.startswith("env:"):
        value = os.environ.get(target[4:])
        if not value:
            raise StateError(f"--to {target}: the environment variable {target[4:]} is not set")
        return value
    if on_argv and target.startswith(("postgres://", "postgresql://")) and urlsplit(target).password:
        click.echo("warning: the DSN's password is on the command line, where process lists and CI logs show it; "
                   "pass it as --to env:NAME (or DCRSYNC_MIGRATE_TO), or leave it to PGPASSWORD", err=True)
    return target


def _copy(state):
    from dcrsync.state.records import State

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
