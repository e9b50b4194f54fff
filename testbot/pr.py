"""``testbot pr``: tests for the functions a pull request changes, published on the pull request.

Reads the GitHub Actions environment (``GITHUB_EVENT_PATH``, ``GITHUB_REPOSITORY``, ``GITHUB_API_URL``, the
token), runs the diff-aware pipeline on base...head without writing to the checkout, and hands the test
files it would write to :mod:`testbot.publish`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from testbot import secrets_scan
from testbot.config import Settings
from testbot.errors import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, EXIT_OK, FatalError

# Defaults of `testbot pr` (flag > [tool.testbot] > TESTBOT_<NAME> > these): a CI job can wait longer than a
# commit, but not forever.
PR_DEFAULTS = {
    "budget": 900.0,  # seconds for the whole run; targets not started by then are named in the summary
    "max_targets": 20,  # a big PR gets tests for its first 20 changed functions
}
EVENTS = ("pull_request", "pull_request_target")


@dataclass(frozen=True)
class PullRequestEvent:
    number: int
    base_sha: str
    head_sha: str
    base_ref: str
    head_ref: str
    base_repo: str  # owner/name
    head_repo: str  # owner/name; "" when the fork was deleted

    @property
    def fork(self) -> bool:
        return self.head_repo != self.base_repo


def read_event(environ: Mapping[str, str]) -> PullRequestEvent:
    """The pull request of the event that started the job; a FatalError that says why otherwise."""
    name = environ.get("GITHUB_EVENT_NAME", "")
    if name and name not in EVENTS:
        raise FatalError(
            f"testbot pr works on pull_request events, and this job was started by '{name}': run it "
            f"from a workflow 'on: pull_request' (or use testbot generate --base REF here)"
        )
    path = environ.get("GITHUB_EVENT_PATH", "")
    if not path:
        raise FatalError(
            "GITHUB_EVENT_PATH is not set: testbot pr runs in a GitHub Actions job started by a pull_request event"
        )
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FatalError(f"cannot read the event file {path}: {exc}") from None
    pr = data.get("pull_request") if isinstance(data, dict) else None
    if not isinstance(pr, dict):
        raise FatalError(
            f"{path} is not a pull_request event (it has no 'pull_request'): run testbot pr from a "
            f"workflow 'on: pull_request'"
        )
    try:
        head_repo = (pr["head"].get("repo") or {}).get("full_name", "")
        return PullRequestEvent(
            int(pr.get("number", data.get("number"))),
            pr["base"]["sha"],
            pr["head"]["sha"],
            pr["base"]["ref"],
            pr["head"]["ref"],
            pr["base"]["repo"]["full_name"],
            head_repo,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FatalError(f"{path}: the pull_request event lacks {exc}") from None


def token_from(environ: Mapping[str, str]) -> str:
    token = environ.get("TESTBOT_GITHUB_TOKEN") or environ.get("GITHUB_TOKEN") or ""
    if not token:
        raise FatalError(
            "no GitHub token: set TESTBOT_GITHUB_TOKEN or GITHUB_TOKEN (the action passes ${{ github.token }})",
            EXIT_ENVIRONMENT,
        )
    return token


def _log(kind: str, target, report) -> None:
    """Plain progress lines on stderr: a CI log."""
    print(f"testbot: {target.id} ..." if kind == "start" else report.line(), file=sys.stderr, flush=True)


def run(root: Path, settings: Settings, environ: Mapping[str, str] | None = None) -> int:
    """The whole of ``testbot pr``; returns the exit status. ``settings.pr_mode`` says how the tests are
    delivered; ``environ`` (default: this process's) holds GitHub's variables and the token."""
    from testbot import publish
    from testbot.diff import RANGE, ChangeSpec, changed_targets, open_repo
    from testbot.generate import LazyBackend
    from testbot.hook import commit_message
    from testbot.layout import destination_for
    from testbot.pipeline import Pipeline

    env = dict(os.environ) if environ is None else dict(environ)
    mode = settings.pr_mode or "suggest"
    if mode not in publish.MODES:
        raise FatalError(f"unknown mode '{mode}' (known: {', '.join(publish.MODES)})")
    event = read_event(env)
    token = token_from(env)
    repository = env.get("GITHUB_REPOSITORY") or event.base_repo
    with open_repo(root) as repo:
        top = Path(repo.working_tree_dir).resolve()
        head = repo.head.commit.hexsha if repo.head.is_valid() else ""
    if head != event.head_sha:
        raise FatalError(
            f"the checkout is at {head[:12] or 'no commit'}, not at the pull request's head "
            f"{event.head_sha[:12]}: check it out (actions/checkout with ref: "
            f"${{{{ github.event.pull_request.head.sha }}}} and fetch-depth: 0)"
        )
    # Before the long run: PyGithub installed, and the token can read the pull request.
    gh = publish.GitHub(
        token,
        repository,
        event.number,
        env.get("GITHUB_API_URL", "https://api.github.com"),
        pause=settings.github_pause,
        backoff=settings.github_backoff,
    )
    gh.check_access()
    change = changed_targets(
        root,
        ChangeSpec(RANGE, event.base_sha, event.head_sha),
        include_private=settings.include_private or settings.changed_private,
        include=settings.include,
        exclude=settings.exclude,
    )
    for note in change.notes:
        print(f"testbot: {note}", file=sys.stderr)
    targets = list(change.targets)
    dry = dataclasses.replace(settings, dry_run=True, commit=False)  # composed here, published below
    # Nothing is written to the checkout: the pipeline composes each test file, publish delivers it.
    report = Pipeline(root, dry, LazyBackend(dry), on_event=_log, changes=True).run(targets) if targets else None
    proposals, rows = [], []
    if report is not None:
        by_id = {t.id: t for t in targets}
        for f in report.files:
            if f.error:
                print(f"testbot: {f.error}", file=sys.stderr)
            if not f.tests:
                continue
            rel = f.path.resolve().relative_to(top).as_posix()
            old = "" if f.created else f.path.read_text(encoding="utf-8")
            owners = [
                t
                for t in report.targets
                if t.kept and destination_for(by_id[t.target], root, settings.tests_dir) == f.path
            ]
            anchors = tuple(
                (
                    by_id[t.target].file.resolve().relative_to(top).as_posix(),
                    tuple(sorted(by_id[t.target].lines)) + (by_id[t.target].def_line,),
                )
                for t in owners
            )
            proposals.append(publish.Proposal(rel, old, f.text, f.tests, tuple(t.target for t in owners), anchors))
        rows = [
            publish.TargetLine(
                t.target,
                t.funnel.kept,
                t.gain_lines,
                t.gain_branches,
                t.lines_total,
                t.lines_before,
                t.branches_total,
                t.branches_before,
                t.note,
            )
            for t in report.targets
        ]
    ran_note = "" if targets else "This pull request changes no Python functions or methods that testbot tests."
    message = (
        commit_message(
            dataclasses.replace(
                report, files=tuple(dataclasses.replace(f, written=True) for f in report.files if f.tests)
            ),
            root,
        )
        if report is not None
        else ""
    )
    pub, summary = publish.deliver(
        gh,
        mode=mode,
        proposals=proposals,
        head_sha=event.head_sha,
        branch=event.head_ref,
        fork=event.fork,
        message=message,
        rows=rows,
        funnel=report.funnel.line() if report else "",
        model=report.model if report else settings.model,
        ran_note=ran_note,
        known=secrets_scan.project_strings(top),
    )
    step_summary = env.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as f:
                f.write(summary.replace(publish.SUMMARY_MARKER + "\n", "") + "\n")
        except OSError as exc:
            print(f"testbot: cannot write the job summary {step_summary}: {exc}", file=sys.stderr)
    if report is not None:
        print(report.funnel.line())
    for line in pub.delivered:
        print(line)
    for line in pub.notes + pub.retries:
        print(f"testbot: {line}", file=sys.stderr)
    if not pub.summary_url:
        print(summary)
    else:
        print(f"summary: {pub.summary_url}")
    if report is not None and any(f.error for f in report.files):
        return EXIT_BAD_INPUT
    return EXIT_OK
