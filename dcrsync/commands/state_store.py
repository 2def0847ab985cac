"""`dcrsync state unlock|rekey|journal|init|migrate`: the store the state lives in: its lock, the keys it
is encrypted for, the journal an interrupted apply left, preparing a shared store, and moving the
state to another store. `commands.state` adds them to the `state` group."""

from __future__ import annotations

import dataclasses

import click

from dcrsync.commands.common import project_options
from dcrsync.errors import StateError
from dcrsync.project.opening import open_project
from dcrsync.state.batches import BatchRefused


@click.command("unlock")
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


@click.command("rekey")
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


@click.command("journal")
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


@click.command("init")
@project_options
def init(config_path, env_name) -> None:
    """Prepare the store: create the S3 bucket or the PostgreSQL schema (the file store needs nothing)."""
    project = open_project(config_path, env_name)
    prepare = getattr(project.store, "prepare", None)
    if prepare is None:
        click.echo(f"{project.store.where} is a file: nothing to prepare; the first apply writes it.")
        return
    click.echo(prepare())


@click.command("migrate")
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
