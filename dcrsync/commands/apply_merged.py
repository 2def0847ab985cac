"""`dcrsync github apply-merged`: apply every merged pull request's reviewed plan, in merge order.

What the apply-on-merge workflows run (see `dcrsync.github.merges` for how the queue is kept). Each
plan is applied by `dcrsync apply PLANFILE` in its own process, exactly as a person would run it,
so a stale plan is refused the same way. A pull request whose plan cannot be applied is never
dropped silently: it is labelled `dcrsync-skipped`, an issue naming it is opened, and the command
exits 1. A plan that is missing or unreadable (nothing was sent) does not stop the queue; a failed
apply does (something may have half-happened): the pull requests after it keep their label and
are applied by the next run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path

import click

from dcrsync.errors import DcrsyncError
from dcrsync.github import merges
from dcrsync.github.client import GitHub, repo_from_env
from dcrsync.plan.plan import Plan
from dcrsync.render.markdown import readable

TAIL_LINES = 40


def _apply(plan: Path, config_path: str | None, env_name: str | None, lock_timeout: float) -> tuple[int, str]:
    """`dcrsync apply PLAN` in its own process, its output shown as it comes; (exit code, last lines)."""
    argv = [sys.executable, "-m", "dcrsync", "apply", str(plan), "--lock-timeout", f"{lock_timeout:g}"]
    argv += ["--config", config_path] if config_path else []
    argv += ["--env", env_name] if env_name else []
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            click.echo(line, nl=False)
            tail.append(line)
    return proc.returncode, "".join(tail)


def _fenced(text: str) -> str:
    """`text` in a Markdown code block no line of it can close."""
    longest = max((len(m) for m in re.findall(r"~+", text)), default=0)
    fence = "~" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _issue_body(pull: merges.Merged, branch: str, env: str | None, reason: str, output: str, waiting: list[int]) -> str:
    where = f" to `{env}`" if env else ""
    back = merges.label(merges.PLAN_LABEL, env)
    lines = [
        f"The plan reviewed in #{pull.number} was merged into `{branch}` but **not applied**{where}: {reason}.",
        "",
        "What to do:",
        f"- to apply it as it is (after a failure that has passed): put the label `{back}` back on "
        f"#{pull.number} and run the apply workflow again (Run workflow);",
        "- if it cannot be applied (stale: the server changed since it was planned; no plan): open a pull "
        f"request that plans `{branch}` again (an empty commit will do), review and merge it;",
        "- if an apply failed part-way, `dcrsync plan` shows where things stand.",
        "",
        "Close this issue once it is settled.",
    ]
    if waiting:
        lines += ["", "Waiting for the next run (applied in this order): " + ", ".join(f"#{n}" for n in waiting) + "."]
    if output.strip():
        lines += ["", "<details><summary>The apply's last lines</summary>", "", _fenced(readable(output)), "", "</details>"]
    return "\n".join(lines) + "\n"


def _plan_file(blob: bytes | str, pull: merges.Merged, env: str | None, folder: Path) -> Path | str:
    """The plan written to `folder`, or why it cannot be applied here."""
    if isinstance(blob, str):
        return blob
    try:
        plan = Plan.from_json(blob.decode("utf-8", errors="replace"), where=f"the plan of #{pull.number}")
    except DcrsyncError as exc:
        return str(exc)
    if (plan.environment or None) != env:
        return f"it was planned for environment `{plan.environment or '(none)'}`, not `{env or '(none)'}`"
    path = folder / f"plan-{pull.number}.json"
    path.write_bytes(blob)
    return path


@click.command("apply-merged")
@click.option("--config", "config_path", metavar="FILE", help="dcrsync.yaml to use (default: ./dcrsync.yaml or $DCRSYNC_CONFIG).")
@click.option("--env", "env_name", metavar="NAME", help="Environment: its plans (label `dcrsync-plan:NAME`, artifact `dcrsync-plan-NAME`).")
@click.option("--branch", metavar="NAME", help="The branch pull requests merge into (default: $GITHUB_REF_NAME, else main).")
@click.option("--sha", "pushed", metavar="SHA", help="The pushed commit (default: $GITHUB_SHA on a push event): its pull request is never forgotten.")
@click.option("--plan-workflow", default=merges.PLAN_WORKFLOW, show_default=True, metavar="FILE",
              help="The workflow whose successful run on a pull request's last commit holds its plan.")
@click.option("--artifact", metavar="NAME", help="The plan's artifact (default: dcrsync-plan, or dcrsync-plan-ENV with --env).")
@click.option("--lock-timeout", type=click.FloatRange(0), default=600, show_default=True, metavar="SECONDS",
              help="Passed to each `dcrsync apply`: wait this long for the state's lock.")
@click.option("--repo", metavar="OWNER/NAME", help="Repository (default: $GITHUB_REPOSITORY).")
def apply_merged(config_path, env_name, branch, pushed, plan_workflow, artifact, lock_timeout, repo) -> None:
    """Apply every merged pull request's reviewed plan, in merge order; never drop one silently."""
    repo = repo_from_env(os.environ, repo)
    branch = branch or os.environ.get("GITHUB_REF_NAME") or "main"
    if pushed is None and os.environ.get("GITHUB_EVENT_NAME") == "push":
        pushed = os.environ.get("GITHUB_SHA") or None
    artifact = artifact or (f"{merges.ARTIFACT}-{env_name}" if env_name else merges.ARTIFACT)
    with GitHub.from_env() as gh, tempfile.TemporaryDirectory(prefix="dcrsync-plans-") as folder:
        pulls = merges.queue(gh, repo, branch, env_name, pushed)
        click.echo(f"{len(pulls)} merged pull request(s) wait for their plan to be applied"
                   + (f": {', '.join(f'#{p.number}' for p in pulls)}" if pulls else "") + ".")
        skipped = _run(gh, repo, branch, env_name, pulls, (plan_workflow, artifact, lock_timeout, config_path),
                       Path(folder))
        if pushed and merges.pushed_without_pull(gh, repo, branch, pushed):
            text = (f"Commit {pushed} reached `{branch}` without a pull request, so no plan of it was reviewed: "
                    "dcrsync applies only reviewed plans. Open a pull request that plans it, and merge that.\n")
            number = merges.skipped_issue(gh, repo, None, env_name, text, f"commit {pushed[:12]}")
            click.echo(f"error: {pushed[:12]} came from no pull request; nothing of it was applied (issue #{number})", err=True)
            skipped += 1
    if skipped:
        sys.exit(1)


def _run(gh: GitHub, repo: str, branch: str, env: str | None, pulls: list[merges.Merged],
         how: tuple[str, str, float, str | None], folder: Path) -> int:
    """Apply each pull request's plan in order; the number not applied."""
    workflow, artifact, lock_timeout, config_path = how
    skipped = 0
    for i, pull in enumerate(pulls):
        plan = _plan_file(merges.plan_of(gh, repo, pull, workflow, artifact), pull, env, folder)
        if isinstance(plan, str):  # nothing was sent: the queue goes on
            code, output, reason, stop = 1, "", plan, False
        else:
            click.echo(f"#{pull.number} ({pull.title}): applying its reviewed plan (head {pull.head_sha[:12]}).")
            code, output = _apply(plan, config_path, env, lock_timeout)
            said = [line[len("error: "):] for line in output.splitlines() if line.startswith("error: ")]
            reason = f"`dcrsync apply` failed: {said[0]}" if said else f"`dcrsync apply` failed (exit {code})"
            stop = True  # something may have half-happened: what follows waits for the next run
        if code == 0:
            merges.settle(gh, repo, pull, env, applied=True)
            click.echo(f"#{pull.number}: applied.")
            continue
        waiting = [p.number for p in pulls[i + 1:]] if stop else []
        number = merges.skipped_issue(gh, repo, pull, env, _issue_body(pull, branch, env, reason, output, waiting),
                                      f"#{pull.number}")
        merges.settle(gh, repo, pull, env, applied=False)
        skipped += 1
        click.echo(f"error: #{pull.number} was not applied: {reason} (issue #{number})", err=True)
        if stop:
            if waiting:
                click.echo(f"error: stopped; waiting for the next run: {', '.join(f'#{n}' for n in waiting)}", err=True)
            break
    return skipped
