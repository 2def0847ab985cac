"""`dcrsync import`, `dcrsync export`, `dcrsync rotate-secret`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from dcrsync.apply import adopt, clientfiles, restore
from dcrsync.backends.base import Backend
from dcrsync.commands.common import parallelism_option, project_options
from dcrsync.guards import inert
from dcrsync.load.export import document_for, dump, exportable, owned_by, unique_names
from dcrsync.project.opening import open_project


@click.command("import")
@project_options
@click.argument("name", required=False)
@click.argument("client_id", required=False)
@click.option(
    "--all", "all_files", is_flag=True,
    help="Adopt every client file that pins a client_id on the server but not in the state (what export writes).",
)
@click.option("--owner", metavar="OWNER", help="Adopt the server's clients of this owner (Hydra `owner`, or dcrsync's marker).")
@click.option("--match", "pattern", metavar="GLOB", help="Adopt the server's clients whose client_id or client_name matches GLOB.")
@click.option("--rotate-secret", "rotate", is_flag=True, help="Issue new secrets now (the old ones are unknown to dcrsync).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Where to write NAME's YAML.")
@parallelism_option
def import_(config_path, env_name, name, client_id, all_files, owner, pattern, rotate, out, parallelism) -> None:
    """Adopt live clients: mark them as ours and record them in the state, in one state write.

    NAME CLIENT_ID adopts one client. --all adopts every client file that pins a client_id the
    server has and the state does not (so `export` then `import --all` composes); --owner and
    --match pick the server's clients, and write a file for each one no file declares yet. The
    files are checked (schema and lint) before the server is touched; the clients' settings are
    not changed: where a file says otherwise, `dcrsync plan` shows it.
    """
    selection = adopt.Selection(files=all_files, owner=owner, match=pattern)
    if (name is None) != (client_id is None):
        raise click.UsageError("give both NAME and CLIENT_ID, or neither (with --all, --owner or --match)")
    if name is not None and (all_files or selection.server):
        raise click.UsageError("NAME CLIENT_ID adopts one client; --all, --owner and --match select many: use one way")
    if name is None and not (all_files or selection.server):
        raise click.UsageError("say what to import: NAME CLIENT_ID, --all, --owner OWNER or --match GLOB")
    if out is not None and name is None:
        raise click.UsageError("--out is for NAME CLIENT_ID; many clients are written to the clients folder")
    project = open_project(config_path, env_name)
    project.unlock()
    backend = project.backend(parallelism)
    try:
        if name is not None:
            report = adopt.import_client(project, backend, name, client_id, rotate=rotate, out=out)
        else:
            report = adopt.import_many(project, backend, selection, rotate=rotate, parallelism=parallelism)
    finally:
        backend.close()
    _print_report(report, project.config.owner, backend)
    if report.failed:
        sys.exit(1)


def _print_report(report: adopt.ImportReport, owner: str, backend: Backend) -> None:
    for a in report.adopted:
        how = "wrote" if a.wrote else "from"
        line = f"imported {a.name} (client {a.client_id}), {how} {a.file}"
        if a.previous_owner:
            line += f"; owner was {a.previous_owner!r}, now {owner!r} (kept as metadata.dcrsync.previous_owner)"
        if a.secret == "rotated":
            line += "; secret rotated"
        elif a.secret == "read":
            line += f"; secret read from {backend.family} and recorded"
        elif a.secret == "none":
            line += "; no secret: public client" if a.auth_method == "none" else f"; no secret ({a.auth_method})"
        else:
            line += "; secret unknown to dcrsync"
        if a.differs:
            line += f"; the file differs from the server in {', '.join(a.differs)}: `dcrsync plan` shows it"
        click.echo(inert.line(line))
    for what in report.left_alone:
        click.echo(inert.line(f"left alone: {what}"))
    if report.not_on_server:
        shown = ", ".join(report.not_on_server[:10]) + (" …" if len(report.not_on_server) > 10 else "")
        click.echo(inert.line(f"{len(report.not_on_server)} file(s) pin a client_id the server does not have (apply creates them): {shown}"))
    for failure in report.failed:
        click.echo(inert.line(f"error: {failure}"), err=True)
    n = len(report.adopted)
    if not n and not report.failed:
        click.echo("Nothing to import: no client matches that is on the server and not in the state.")
        return
    click.echo(f"Imported {n} client(s) in one state write." + (f" {len(report.failed)} failed." if report.failed else ""))
    rotated = [a.name for a in report.adopted if a.secret == "rotated"]
    unknown = [a.name for a in report.adopted if a.secret == "unknown"]
    if rotated:
        click.echo("Read a new secret with `dcrsync state secret NAME`; the old ones no longer work.")
    if unknown:
        click.echo(
            f"{len(unknown)} secret(s) unknown to dcrsync ({', '.join(unknown[:10])}{' …' if len(unknown) > 10 else ''}; "
            f"{restore.unread_why(backend)}): record one you know with `dcrsync state set-secret NAME` (reads stdin), "
            "or issue a new one with `dcrsync rotate-secret NAME`."
        )


@click.command("export")
@project_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("exported"), show_default=True)
@click.option("--owner", help="Only clients whose dcrsync marker (or Hydra owner) is this owner.")
@click.option("--unmanaged", is_flag=True, help="Only clients no dcrsync project manages (no ownership marker).")
def export(config_path, env_name, out_dir, owner, unmanaged) -> None:
    """Write YAML for the live clients (never secrets; server defaults left out).

    Leaves out what dcrsync must never manage (Keycloak's built-in clients, dcrsync's own admin
    client). Into a folder that holds client files already (the clients folder itself), it writes
    only the clients no file there declares, under names no file there has, and never over a file.
    Adopt the files with `dcrsync import --all` once they are in the clients folder.
    """
    project = open_project(config_path, env_name)
    declared, taken = clientfiles.declared_in(project, out_dir)
    backend = project.backend()
    try:
        if not backend.lists:
            raise click.UsageError(f"{backend.family} servers have no list API: nothing to export")
        clients = [c for c in backend.fetch([]).clients if not (owner and not owned_by(c, owner))
                   and not (unmanaged and c.managed_name is not None)]
        clients, left_out = exportable(clients, backend)
        there = [c for c in clients if c.client_id in declared]
        clients = backend.with_details([c for c in clients if c.client_id not in declared])
    finally:
        backend.close()
    names = unique_names((c.managed_name or c.fields.get("client_name") or c.client_id for c in clients), taken)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.yaml" for name in names]
    if there:
        click.echo(f"Skipped {len(there)} client(s) a file in {out_dir} declares already: "
                   + ", ".join(declared[c.client_id] for c in there[:10]) + (" …" if len(there) > 10 else ""))
    for path, name, live in zip(paths, names, clients, strict=True):
        path.write_text(dump(document_for(name, live, backend)))
    if left_out:
        click.echo(inert.line(f"Left out {len(left_out)} client(s) dcrsync must not manage: "
                   + ", ".join(f"{live.client_id} ({why})" for live, why in left_out[:10])
                   + (" …" if len(left_out) > 10 else "")))
    invalid = check_exported(project, paths)
    for line in invalid:
        click.echo(f"warning: {inert.line(line)}", err=True)
    click.echo(
        f"Wrote {len(paths)} client file(s) to {out_dir}"
        + (f" ({len(invalid)} need a fix first, see above)" if invalid else "")
        + "; adopt them with `dcrsync import --all` once they are in the clients folder."
    )


def _confirm_break(name: str, client_id: str) -> None:
    """Rotating without a grace period breaks the app until it gets the new secret: asked, never assumed."""
    what = f"the old secret of {name} (client {client_id}) stops working at once: the app fails until it is given the new one"
    if not sys.stdin.isatty():
        raise click.ClickException(f"{what}; rerun with --yes to go ahead (or --grace where the server can keep "
                                   "the old one); nothing was rotated")
    if not click.confirm(f"Rotate? {what}", default=False, err=True):
        raise click.ClickException("nothing was rotated")


def check_exported(project, paths: list[Path]) -> list[str]:
    """The first error of each written file that does not validate (schema and lint)."""
    if not paths:
        return []
    loaded = clientfiles.check_files(project, paths)
    first: dict[str, str] = {}
    for diag in loaded.errors:
        first.setdefault(diag.location.file, diag.format())
    return list(first.values())


@click.command("rotate-secret")
@project_options
@click.argument("name")
@click.option(
    "--grace", metavar="DURATION",
    help="Keep the old secret valid this long (24h, 90m, 2d) so apps can switch over; "
    "Keycloak only, with a client policy that keeps rotated secrets (see the README).",
)
@click.option("--yes", "assume_yes", is_flag=True,
              help="Do not ask: the old secret stops working at once, and the app with it until it gets the new one.")
@click.option("--finish", is_flag=True, help="End a two-phase rotation: retire the old secret, once every delivery is current.")
def rotate_secret(config_path, env_name, name, grace, assume_yes, finish) -> None:
    """Issue a new client secret, record it in the state (never printed) and deliver it.

    Without --grace the old secret stops working at once: it asks first (on a terminal), or needs
    --yes (in a pipeline)."""
    from dcrsync.commands.deliver import deliver_client, finish_client, report_deliveries

    if finish:
        if grace is not None:
            raise click.UsageError("--finish ends a rotation, --grace starts one: use one")
        finish_client(config_path, env_name, name)
        return
    seconds = None
    if grace is not None:
        try:
            seconds = restore.parse_duration(grace)
        except ValueError:
            raise click.UsageError(f"--grace {grace!r} is no duration: write it like 24h, 90m, 2d or 1h30m") from None
    project = open_project(config_path, env_name)
    project.unlock()
    backend = project.backend()
    try:
        ask = None if assume_yes or seconds is not None else _confirm_break
        until = restore.rotate_secret(project, backend, name, seconds, ask)
        deliverer = deliver_client(project, backend, name)
    finally:
        backend.close()
    if until:
        when = datetime.fromtimestamp(until, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        click.echo(f"Rotated the secret of {name}; the old one stays valid until {when}. "
                   f"Read the new one: dcrsync state secret {name}")
    else:
        click.echo(f"Rotated the secret of {name}; the old one no longer works. Read it: dcrsync state secret {name}")
    if report_deliveries(deliverer):
        sys.exit(1)
