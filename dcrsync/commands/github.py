"""`dcrsync github comment|drift-issue`: post what plan and drift wrote, from a GitHub Actions job.

`comment` posts a Markdown body, renders a saved plan (`--plan`), or, when the plan failed, the
error (`--error-file`) in place of the last plan. Each environment has its own comment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from dcrsync.commands.apply_merged import apply_merged
from dcrsync.errors import DcrsyncError
from dcrsync.github.client import GitHub, GitHubError, repo_from_env
from dcrsync.github.merges import PLAN_LABEL, add_label, label
from dcrsync.github.sync import DRIFT_LABEL, DRIFT_TITLE, removed_clients, sync_drift_issue, upsert_comment
from dcrsync.guards import inert
from dcrsync.plan.plan import Plan
from dcrsync.render import markdown as render_markdown
from dcrsync.render.drift import environment_of
from dcrsync.render.formats import Options, render


def _read_body(path: str) -> str:
    try:
        text = click.open_file(path, "r", encoding="utf-8").read()
    except OSError as exc:
        raise DcrsyncError(f"cannot read the body file {path}: {exc.strerror}") from None
    if not text.strip():
        raise DcrsyncError(f"the body file {path} is empty: did the dcrsync step before this one fail?")
    return text


def _read_errors(paths: tuple[str, ...]) -> str:
    """The error output of the failed step(s); a file that is missing (the step never ran) is skipped."""
    parts = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            click.echo(f"warning: {path} does not exist (did that step run?); skipped", err=True)
            continue
        except OSError as exc:
            raise DcrsyncError(f"cannot read the error file {path}: {exc.strerror}") from None
        if text.strip():
            parts.append(text.strip("\n"))
    return "\n".join(parts)


def pr_from_event(environ) -> int:
    """The pull request number of the event that started the workflow."""
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        raise DcrsyncError("no pull request number: pass --pr N, or run on a pull_request event (GITHUB_EVENT_PATH)")
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DcrsyncError(f"cannot read the event file {path} ({exc}); pass --pr N") from None
    pr = event.get("pull_request") if isinstance(event, dict) else None
    number = pr.get("number") if isinstance(pr, dict) else None
    if number is None and isinstance(event, dict):
        issue = event.get("issue")
        if isinstance(issue, dict) and issue.get("pull_request"):  # issue_comment on a pull request
            number = issue.get("number")
    if not isinstance(number, int):
        raise DcrsyncError(
            f"the event in {path} is not about a pull request (no pull_request.number); pass --pr N"
        )
    return number


@click.group("github")
def github() -> None:
    """Post plans and drift to GitHub (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL)."""


repo_option = click.option("--repo", metavar="OWNER/NAME", help="Repository (default: $GITHUB_REPOSITORY).")
marker_option = click.option(
    "--marker", metavar="'<!-- … -->'",
    help="Hidden marker that identifies our comment/issue (default: the body's first line, which names "
    "the environment; with --env, that environment's marker).",
)


def _removed(gh: GitHub, repo: str, number: int) -> dict[str, str] | None:
    """The client files the pull request removes, or None (said on stderr) when GitHub will not say."""
    try:
        return removed_clients(gh, repo, number)
    except GitHubError as exc:
        click.echo(f"warning: the comment cannot say which deletes this pull request's removed files cause: {exc}",
                   err=True)
        return None


@github.command("comment")
@click.option("--body-file", metavar="FILE", help="Markdown to post (`-` for stdin), e.g. from `plan --format markdown`.")
@click.option("--plan", "plan_file", metavar="FILE", help="A plan saved with `dcrsync plan --out FILE`: render it and post it.")
@click.option(
    "--error-file", "error_files", metavar="FILE", multiple=True,
    help="Post a failure instead of a plan: the error output of the failed step (repeatable; missing or "
    "empty files are skipped). Replaces the last plan in the comment.",
)
@click.option("--env", "env_name", metavar="NAME", help="Environment: picks the comment (one per environment). Default: the plan's.")
@click.option(
    "--details-url", metavar="URL",
    help="Link to the full plan (with --plan/--error-file). Default: $DCRSYNC_DETAILS_URL, else this GitHub Actions run.",
)
@click.option("--pr", "pr_number", type=click.IntRange(min=1), help="Pull request number (default: from $GITHUB_EVENT_PATH).")
@click.option("--show-server-url", is_flag=True,
              help="Name the server's URL in the comment too (default: its kind and environment only).")
@repo_option
@marker_option
def comment(body_file, plan_file, error_files, env_name, details_url, pr_number, show_server_url, repo, marker) -> None:
    """Create or update dcrsync's one comment on a pull request (sticky: never a second one).

    One comment per environment: its hidden first line names the environment. With --error-file
    the comment says the plan failed, so a stale plan never stays up as if it were still true.
    """
    given = [name for name, value in (("--body-file", body_file), ("--plan", plan_file), ("--error-file", error_files)) if value]
    if len(given) != 1:
        raise DcrsyncError("say what to post: exactly one of --body-file FILE, --plan FILE or --error-file FILE"
                           + (f" (got {' and '.join(given)})" if given else ""))
    if details_url and not details_url.startswith(("https://", "http://")):
        raise DcrsyncError(f"--details-url {details_url}: give an http(s) URL, e.g. the run page that holds the plan artifact")
    url = render_markdown.FROM_ENV if details_url is None else details_url
    if plan_file:
        plan = Plan.from_json(_read_body(plan_file), where=plan_file)
        if env_name is not None and env_name != (plan.environment or ""):
            raise DcrsyncError(
                f"{plan_file} was planned for environment `{plan.environment or '(none)'}`, not `{env_name}`: "
                "pass the matching --env, or plan again with --env"
            )
    elif error_files:
        body = render_markdown.render_error(_read_errors(error_files), env_name or None, details_url=url)
    else:
        body = _read_body(body_file)
    if marker is None and env_name:
        marker = render_markdown.marker(env_name)
    repo = repo_from_env(os.environ, repo)
    number = pr_number or pr_from_event(os.environ)
    waiting = label(PLAN_LABEL, env_name or (plan.environment if plan_file else None))
    with GitHub.from_env() as gh:
        if plan_file:
            removed = _removed(gh, repo, number) if any(c.action == "delete" for c in plan.changes) else None
            body = render(plan, "markdown", Options(details_url=url, server_url=show_server_url, removed=removed))
        done, comment_id = upsert_comment(gh, repo, number, body, marker)
        try:  # what `github apply-merged` finds the merged pull requests by
            add_label(gh, repo, number, waiting)
        except GitHubError as exc:
            click.echo(f"warning: {exc}; `dcrsync github apply-merged` finds this pull request only "
                       "through the commit that merges it", err=True)
    what = "the failure" if error_files else "the dcrsync comment"
    click.echo(f"{done.capitalize()} {what} on {repo}#{number} (comment {comment_id}).")


@github.command("drift-issue")
@click.option("--body-file", required=True, metavar="FILE", help="Markdown from `dcrsync drift --format markdown` (`-` for stdin).")
@click.option("--exit-code", "exit_code", type=int, help="Exit code of `dcrsync drift`: 2 drift, 0 none, anything else an error.")
@click.option("--drifted/--clean", "drifted", default=None, help="Say it directly instead of --exit-code.")
@click.option("--title", default=DRIFT_TITLE, show_default=True, help="Title of the issue when it is opened or updated.")
@click.option("--label", default=DRIFT_LABEL, show_default=True, help="Label that finds our issue.")
@repo_option
@marker_option
def drift_issue(body_file, exit_code, drifted, title, label, repo, marker) -> None:
    """Open, update or close the one drift issue: open/update on drift, close when clean."""
    if (exit_code is None) == (drifted is None):
        raise DcrsyncError("say what drift found: pass --exit-code N (from `dcrsync drift`) or --drifted / --clean")
    if exit_code is not None:
        if exit_code not in (0, 2):
            raise DcrsyncError(
                f"`dcrsync drift` failed (exit {exit_code}), so it is unknown whether there is drift; "
                "the issue was left as it is: see the drift step's error"
            )
        drifted = exit_code == 2
    body = _read_body(body_file)
    env = environment_of(marker or body.split("\n", 1)[0])
    if env and title == DRIFT_TITLE:  # one issue per environment: say which in its title too
        title = f"{DRIFT_TITLE} ({env})"
    repo = repo_from_env(os.environ, repo)
    with GitHub.from_env() as gh:
        done, number = sync_drift_issue(gh, repo, body, bool(drifted), title, label, marker)
        for warning in gh.warnings:
            click.echo(f"warning: {inert.line(warning)}", err=True)
    if done == "none":
        click.echo(f"No drift and no open drift issue in {repo}: nothing to do.")
    elif done == "closed":
        click.echo(f"Closed drift issue {repo}#{number}: the server matches the last apply again.")
    else:
        click.echo(f"{done.capitalize()} drift issue {repo}#{number}.")


github.add_command(apply_merged)  # its own module: the queue of merged plans
