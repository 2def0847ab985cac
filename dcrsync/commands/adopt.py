"""`dcrsync import`, `dcrsync export`, `dcrsync rotate-secret`."""

from __future__ import annotations

from pathlib import Path

import click

from dcrsync import adopt
from dcrsync.commands.common import project_options
from dcrsync.export import document_for, dump, unique_names
from dcrsync.project import open_project


@click.command("import")
@project_options
@click.argument("name")
@click.argument("client_id")
@click.option("--rotate-secret", "rotate", is_flag=True, help="Issue a new secret now (the old one is unknown to dcrsync).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the YAML.")
def import_(config_path, env_name, name, client_id, rotate, out) -> None:
    """Adopt a live client: write its YAML, mark it as ours, record it in state."""
    project = open_project(config_path, env_name)
    project.sops  # noqa: B018
    backend = project.backend()
    try:
        path, rotated = adopt.import_client(project, backend, name, client_id, rotate=rotate, out=out)
    finally:
        backend.close()
    click.echo(f"Imported {client_id} as {name}: wrote {path}.")
    if rotated:
        click.echo(f"Its secret was rotated; read the new one with `dcrsync state secret {name}`.")
    else:
        click.echo("Its secret is unknown to dcrsync; `dcrsync rotate-secret " + name + "` issues a new one.")


@click.command("export")
@project_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("exported"), show_default=True)
@click.option("--owner", help="Only clients whose dcrsync marker (or Hydra owner) is this owner.")
def export(config_path, env_name, out_dir, owner) -> None:
    """Write YAML for the live clients (never secrets; server defaults left out)."""
    project = open_project(config_path, env_name)
    backend = project.backend()
    try:
        if not backend.lists:
            raise click.UsageError(f"{backend.family} servers have no list API: nothing to export")
        clients = backend.fetch([]).clients
    finally:
        backend.close()
    if owner:
        clients = [c for c in clients if c.owner == owner or c.raw.get("owner") == owner]
    names = unique_names(c.managed_name or c.fields.get("client_name") or c.client_id for c in clients)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, live in zip(names, clients, strict=True):
        path = out_dir / f"{name}.yaml"
        if path.exists():
            raise click.ClickException(f"{path} exists; export into an empty folder")
        path.write_text(dump(document_for(name, live, backend)))
        written += 1
    click.echo(f"Wrote {written} client file(s) to {out_dir}; adopt one with `dcrsync import NAME CLIENT_ID`.")


@click.command("rotate-secret")
@project_options
@click.argument("name")
def rotate_secret(config_path, env_name, name) -> None:
    """Issue a new client secret and record it in the state."""
    project = open_project(config_path, env_name)
    project.sops  # noqa: B018
    backend = project.backend()
    try:
        adopt.rotate_secret(project, backend, name)
    finally:
        backend.close()
    click.echo(f"Rotated the secret of {name}; the old one no longer works. Read it: dcrsync state secret {name}")
