"""Publish a pull request run on GitHub with PyGithub (imported lazily): one review, a commit, or a comment,
and always one summary comment, edited in place on re-runs.

What goes where (``mode``):

- ``suggest``: one review, posted in a single ``create_review`` call. A test file that is part of the
  PR's diff gets ```suggestion blocks anchored on its diff lines (RIGHT side); applying every
  suggestion yields exactly the file testbot would write. A test file outside the diff (suggestions
  can only touch diff lines) goes into a commit on the PR branch when that is allowed (same-repo PR, a
  token that can write); otherwise it becomes a review comment on the changed function's line with
  the tests in a python block.
- ``commit``: one commit with every test file on the PR branch, made with the Git Data API (same-repo
  PRs only).
- ``comment``: the tests go into the summary comment, so the PR has one testbot comment in all.

Fork PRs, and tokens that answer 403 to a write, degrade to ``comment`` with a note in the summary;
when even the comment cannot be written (a fork PR's read-only token), the summary goes to the job
summary (``GITHUB_STEP_SUMMARY``) and stdout. Server errors and rate limits are retried with backoff
and listed in the summary.

On a re-run, testbot's earlier review comments that are not part of the new review (their code or
tests changed since) are deleted; identical ones are kept and not posted again; those GitHub already
shows as outdated (their lines changed, e.g. a suggestion that was committed) are left alone.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from testbot import secrets_scan
from testbot.errors import EXIT_ENVIRONMENT, FatalError

SUGGEST, COMMIT, COMMENT = "suggest", "commit", "comment"
MODES = (SUGGEST, COMMIT, COMMENT)
SUMMARY_MARKER = "<!-- testbot:summary -->"
REVIEW_MARKER = "<!-- testbot:review -->"
COMMENT_MARKER = "<!-- testbot:comment -->"  # on each review comment testbot posts

RETRY_STATUSES = (500, 502, 503, 504, 429)
ATTEMPTS = 5  # calls per request before giving up
MAX_WAIT = 60.0  # seconds: a longer Retry-After or rate-limit reset is not waited for


class PublishError(FatalError):
    """GitHub did not accept what testbot tried to post, after retries."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_ENVIRONMENT)


class Forbidden(Exception):
    """403 without a rate limit: the token may not do this (read-only token, fork PR)."""


@dataclass(frozen=True)
class Proposal:
    """One test file testbot would write: its content at the PR's head and the new content."""

    path: str  # relative to the repository root, posix
    old: str  # "" for a new file
    new: str
    tests: tuple[str, ...]
    targets: tuple[str, ...]  # target ids whose tests it holds
    anchors: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (source path, candidate lines) of those targets

    @property
    def created(self) -> bool:
        return not self.old


@dataclass(frozen=True)
class TargetLine:
    """A row of the summary: one changed function."""

    target: str
    kept: int
    gain_lines: int
    gain_branches: int
    lines_total: int
    lines_before: int
    branches_total: int
    branches_before: int
    note: str = ""


@dataclass(frozen=True)
class ReviewComment:
    path: str
    line: int
    body: str
    start_line: int = 0  # 0: a single-line comment

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "line": self.line, "side": "RIGHT", "body": self.body}
        if self.start_line and self.start_line != self.line:
            data.update(start_line=self.start_line, start_side="RIGHT")
        return data


@dataclass
class Published:
    """What the run did on GitHub; the CLI prints it and the summary shows it."""

    mode: str  # the mode asked for
    delivered: list[str] = field(default_factory=list)  # one line per way tests were delivered
    notes: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)
    review_comments: int = 0
    commit: str = ""
    summary_url: str = ""
    deleted: int = 0
    in_comment: list[Proposal] = field(default_factory=list)  # proposals whose tests the summary carries


# -- diffs and suggestions (pure)

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def diff_lines(patch: str | None) -> dict[int, int]:
    """RIGHT-side line -> hunk number, for every line a review comment may be anchored on (added or context)."""
    lines: dict[int, int] = {}
    if not patch:
        return lines
    hunk, right = -1, 0
    for raw in patch.splitlines():
        m = _HUNK.match(raw)
        if m:
            hunk += 1
            right = int(m.group(1))
            continue
        if hunk < 0 or raw.startswith("\\"):
            continue
        if raw.startswith("-"):
            continue
        lines[right] = hunk  # "+" or " "
        right += 1
    return lines


def fence(text: str, info: str) -> str:
    """A fenced block of ``text`` (whole lines, each ending in a newline; "" for no line at all) that the
    text cannot close early: its fence is longer than any backtick run inside."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}{ticks}"


def suggestions(proposal: Proposal, commentable: dict[int, int], header: str) -> list[ReviewComment] | None:
    """Suggestions that turn the file at head into ``proposal.new``; None when one change cannot be anchored.

    GitHub replaces the anchored lines (``start_line``..``line``) with a suggestion's content. An insertion
    is anchored on the line before it (the suggestion repeats that line, then the new lines) or, when
    that line is not in the diff, on the line after it.
    """
    if proposal.created or not commentable:
        return None
    old, new = proposal.old.splitlines(), proposal.new.splitlines()
    out: list[ReviewComment] = []
    used: set[int] = set()
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "insert":
            options = []
            if i1 >= 1:
                options.append((i1, i1, old[i1 - 1 : i1] + new[j1:j2]))
            if i1 < len(old):
                options.append((i1 + 1, i1 + 1, new[j1:j2] + old[i1 : i1 + 1]))
        else:  # replace or delete: the old lines i1+1..i2 become new[j1:j2]
            options = [(i1 + 1, i2, new[j1:j2])]
        for start, end, content in options:
            span = range(start, end + 1)
            if (
                all(n in commentable for n in span)
                and commentable[start] == commentable[end]
                and not used.intersection(span)
            ):
                used.update(span)
                block = fence("".join(line + "\n" for line in content), "suggestion")
                out.append(ReviewComment(proposal.path, end, f"{header}\n\n{block}\n{COMMENT_MARKER}", start))
                break
        else:
            return None
    return out


def added_text(proposal: Proposal) -> str:
    """The lines testbot adds to the file (the whole file when it is new), for a python block."""
    if proposal.created:
        return proposal.new.rstrip("\n")
    old, new = proposal.old.splitlines(), proposal.new.splitlines()
    chunks = []
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag in ("insert", "replace"):
            chunks.append("\n".join(new[j1:j2]).strip("\n"))
    return "\n\n".join(c for c in chunks if c)


def function_anchor(proposal: Proposal, files: dict[str, dict[int, int]]) -> tuple[str, int] | None:
    """A diff line of a changed function whose tests the file holds: its changed lines first."""
    for path, lines in proposal.anchors:
        commentable = files.get(path, {})
        for n in lines:
            if n in commentable:
                return path, n
    return None


def describe_tests(proposal: Proposal) -> str:
    n = len(proposal.tests)
    return f"{n} test{'s' if n != 1 else ''} for {', '.join(f'`{t}`' for t in proposal.targets)}"


def summary_body(
    rows: Sequence[TargetLine], funnel: str, model: str, head_sha: str, published: Published, ran_note: str = ""
) -> str:
    parts = [
        SUMMARY_MARKER,
        "### testbot",
        "",
        f"Tests for the functions this pull request changes, at {head_sha[:12]}, written by model `{model}`. "
        "Each test passed in fresh runs and covers lines or branches that were not covered before.",
        "",
    ]
    if ran_note:
        parts += [ran_note, ""]
    if rows:
        parts += ["| function | tests kept | coverage gained | changed lines covered | note |", "|---|---|---|---|---|"]
        for r in rows:
            gained = f"+{r.gain_lines} lines, +{r.gain_branches} branches" if r.kept else "-"
            covered = f"{r.lines_before} -> {r.lines_before + r.gain_lines} of {r.lines_total}"
            note = r.note.replace("|", "\\|")
            parts.append(f"| `{r.target}` | {r.kept} | {gained} | {covered} | {note} |")
        parts += ["", f"Funnel: {funnel}", ""]
    if published.delivered:
        parts += ["**Delivered:**", *(f"- {d}" for d in published.delivered), ""]
    elif rows:
        parts += [
            "No tests to add this time: no candidate both passed reliably and covered changed lines or "
            "branches that were not covered before.",
            "",
        ]
    if published.notes:
        parts += ["**Notes:**", *(f"- {n}" for n in published.notes), ""]
    if published.retries:
        parts += ["**GitHub API retries:**", *(f"- {r}" for r in published.retries), ""]
    for p in published.in_comment:
        verb = "new file" if p.created else "add to the file"
        parts += [
            f"<details open><summary><code>{p.path}</code> ({verb}): {describe_tests(p)}</summary>",
            "",
            fence(added_text(p) + "\n", "python"),
            "",
            "</details>",
            "",
        ]
    return "\n".join(parts).rstrip("\n") + "\n"


# -- GitHub (PyGithub), every call retried


class GitHub:
    """The pull request on GitHub: the few calls testbot makes, each retried on server errors and rate limits."""

    def __init__(
        self,
        token: str,
        repository: str,
        number: int,
        api_url: str,
        *,
        pause: float = 1.0,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            import github
        except ModuleNotFoundError as exc:
            if exc.name != "github":
                raise
            raise FatalError("PyGithub is not installed: pip install 'testbot[github]'", EXIT_ENVIRONMENT) from None
        self._github = github
        # retry=None: testbot's own loop retries, so it can wait sensibly and report what happened.
        self.gh = github.Github(
            auth=github.Auth.Token(token),
            base_url=api_url.rstrip("/"),
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=pause or None,
            timeout=30,
        )
        self.repository = repository
        self.number = number
        self.backoff = backoff
        self.sleep = sleep
        self.retries: list[str] = []
        self._repo = None
        self._pull = None

    def call(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()``; server errors, 429 and rate-limit 403s are retried; other 403s raise Forbidden."""
        github = self._github
        for attempt in range(ATTEMPTS):
            try:
                return fn()
            except github.GithubException as exc:
                headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
                message = str((exc.data or {}).get("message", "")) if isinstance(exc.data, dict) else str(exc.data)
                limited = exc.status == 403 and (
                    headers.get("x-ratelimit-remaining") == "0"
                    or "retry-after" in headers
                    or "rate limit" in message.lower()
                )
                if exc.status == 403 and not limited:
                    raise Forbidden(f"{what}: 403 {message}".rstrip()) from None
                if not (limited or exc.status in RETRY_STATUSES):
                    raise PublishError(f"GitHub refused to {what}: {exc.status} {message}".rstrip()) from None
                wait = self._wait(headers, attempt)
                reason = f"{exc.status} rate limit" if limited else str(exc.status)
                if attempt == ATTEMPTS - 1 or wait > MAX_WAIT:
                    self.retries.append(f"{what}: {reason}; gave up after {attempt + 1} tries")
                    raise PublishError(
                        f"GitHub did not let testbot {what} ({reason}) after {attempt + 1} tries; "
                        f"run the job again later"
                    ) from None
                self.retries.append(f"{what}: {reason}, retried after {wait:g} s")
                self.sleep(wait)
            except OSError as exc:  # connection refused or reset, timeouts
                if attempt == ATTEMPTS - 1:
                    raise PublishError(f"cannot reach GitHub to {what}: {exc}") from None
                wait = self.backoff * 2**attempt
                self.retries.append(f"{what}: {exc.__class__.__name__}, retried after {wait:g} s")
                self.sleep(wait)
        raise AssertionError("unreachable")

    def _wait(self, headers: dict[str, str], attempt: int) -> float:
        if "retry-after" in headers:
            try:
                return max(0.0, float(headers["retry-after"]))
            except ValueError:
                pass
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                return max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
            except ValueError:
                pass
        return self.backoff * 2**attempt

    @property
    def repo(self):
        if self._repo is None:
            self._repo = self.call("read the repository", lambda: self.gh.get_repo(self.repository))
        return self._repo

    @property
    def pull(self):
        if self._pull is None:
            self._pull = self.call("read the pull request", lambda: self.repo.get_pull(self.number))
        return self._pull

    def check_access(self) -> None:
        """Read the pull request: a bad token, a wrong repository or an unreachable API shows at once."""
        if self.pull is None:
            raise PublishError(f"pull request #{self.number} of {self.repository} not found")

    def diff_lines(self) -> dict[str, dict[int, int]]:
        files = self.call("list the pull request's files", lambda: list(self.pull.get_files()))
        return {f.filename: diff_lines(f.patch) for f in files}

    def testbot_review_comments(self) -> list:
        comments = self.call("list review comments", lambda: list(self.pull.get_review_comments()))
        return [c for c in comments if COMMENT_MARKER in (c.body or "")]

    def create_review(self, head_sha: str, body: str, comments: list[ReviewComment]) -> None:
        payload = [c.payload() for c in comments]
        commit = self.repo.get_commit(head_sha)  # PyGithub wants a Commit: read when the review is posted
        self.call(
            "post the review",
            lambda: self.pull.create_review(commit=commit, body=body, event="COMMENT", comments=payload),
        )

    def delete(self, comment) -> None:
        self.call("delete an earlier review comment", comment.delete)

    def upsert_summary(self, body: str) -> str:
        """Edit testbot's summary comment in place, or create it; returns its URL."""
        comments = self.call("list comments", lambda: list(self.pull.get_issue_comments()))
        mine = [c for c in comments if SUMMARY_MARKER in (c.body or "")]
        if mine:
            self.call("update the summary comment", lambda: mine[0].edit(body))
            for extra in mine[1:]:  # a POST retried after GitHub had in fact taken it: one summary stays
                self.call("delete a second summary comment", extra.delete)
            return mine[0].html_url or ""
        made = self.call("post the summary comment", lambda: self.pull.create_issue_comment(body))
        return made.html_url or ""

    def commit(self, branch: str, head_sha: str, files: dict[str, str], message: str) -> str:
        """One commit with ``files`` on top of ``head_sha``, on ``branch`` (fast-forward only): Git Data API."""
        github = self._github
        repo = self.repo
        parent = self.call("read the head commit", lambda: repo.get_git_commit(head_sha))
        elements = [
            github.InputGitTreeElement(path, "100644", "blob", content=text) for path, text in sorted(files.items())
        ]
        tree = self.call("create a tree", lambda: repo.create_git_tree(elements, base_tree=parent.tree))
        commit = self.call("create a commit", lambda: repo.create_git_commit(message, tree, [parent]))
        ref = self.call("read the branch", lambda: repo.get_git_ref(f"heads/{branch}"))
        try:
            self.call("push the commit", lambda: ref.edit(commit.sha, force=False))
        except PublishError as exc:
            if "422" in str(exc):
                raise PublishError(
                    f"the branch {branch} moved on since this run started; tests not committed"
                ) from None
            raise
        return commit.sha


# -- the modes


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _same(old, new: ReviewComment) -> bool:
    """An earlier review comment that says exactly what the new one would, on the same lines."""
    start = old.start_line or old.line
    return (
        old.path == new.path
        and old.line == new.line
        and start == (new.start_line or new.line)
        and (old.body or "") == new.body
    )


def deliver(
    gh: GitHub,
    *,
    mode: str,
    proposals: Sequence[Proposal],
    head_sha: str,
    branch: str,
    fork: bool,
    message: str,
    rows: Sequence[TargetLine],
    funnel: str,
    model: str,
    ran_note: str = "",
    known: frozenset[str] = frozenset(),
) -> tuple[Published, str]:
    """Put the tests on the pull request the way ``mode`` asks (or the best way still allowed).

    Returns what was done and the summary's text (posted as the summary comment when the token allows).
    Every comment and the summary go through :func:`testbot.secrets_scan.redact` first (``known``: the
    project's own strings, which are not credentials); the tests themselves were scanned when kept.
    """
    pub = Published(mode)
    if fork and mode != COMMENT:
        pub.notes.append(
            f"This pull request comes from a fork, which testbot cannot push to or suggest on with "
            f"this token: mode `{mode}` became `comment`, the tests are below."
        )
        mode = COMMENT
    in_comment: list[Proposal] = []
    review: list[tuple[Proposal, list[ReviewComment], str]] = []  # (file, its comments, "suggestion" or "comment")
    to_commit: list[Proposal] = []
    files: dict[str, dict[int, int]] = {}
    if mode == SUGGEST and proposals:
        files = gh.diff_lines()
        for p in proposals:
            made = suggestions(p, files.get(p.path, {}), "")
            if made is None:
                to_commit.append(p)
                continue
            n = len(made)
            header = f"testbot: {describe_tests(p)}."
            if n > 1:
                header += f" Apply all {n} suggestions on `{p.path}` together (Add suggestion to batch)."
            review.append(
                (p, [ReviewComment(c.path, c.line, header + c.body, c.start_line) for c in made], "suggestion")
            )
    elif mode == COMMIT:
        to_commit = list(proposals)
    else:
        in_comment = list(proposals)
    if to_commit:
        try:
            pub.commit = gh.commit(branch, head_sha, {p.path: p.new for p in to_commit}, message)
            pub.delivered += [
                f"committed {pub.commit[:12]} to `{branch}`: `{p.path}`, {describe_tests(p)}" for p in to_commit
            ]
        except (Forbidden, PublishError) as exc:
            why = (
                "the token cannot push to the branch (403; give the job `contents: write`)"
                if isinstance(exc, Forbidden)
                else str(exc)
            )
            pub.notes.append(f"Not committed: {why}.")
            if mode == SUGGEST:
                for p in to_commit:
                    anchor = function_anchor(p, files)
                    if anchor is None:
                        in_comment.append(p)
                        continue
                    verb = "a new file" if p.created else "the file"
                    block = fence(added_text(p) + "\n", "python")
                    body = (
                        f"testbot: {describe_tests(p)}, for {verb} `{p.path}` (not part of this diff, so no "
                        f"suggestion is possible):\n\n{block}\n{COMMENT_MARKER}"
                    )
                    review.append((p, [ReviewComment(anchor[0], anchor[1], body)], "comment"))
            else:
                in_comment += to_commit
    previous = gh.testbot_review_comments() if (review or mode == SUGGEST) else []
    review = [
        (p, [dataclasses.replace(c, body=secrets_scan.redact(c.body, known)) for c in comments], kind)
        for p, comments, kind in review
    ]
    wanted = [c for _, comments, _ in review for c in comments]
    fresh = [c for c in wanted if not any(_same(old, c) for old in previous)]
    if fresh:
        body = (
            f"{REVIEW_MARKER}\ntestbot: {_plural(len(wanted), 'comment')} with tests for the functions this pull "
            f"request changes; the summary comment says what each test covers."
        )
        try:
            gh.create_review(head_sha, body, fresh)
        except Forbidden:
            pub.notes.append(
                f"The token cannot post a review (403; the job needs `pull-requests: write`): mode "
                f"`{mode}` became `comment`, the tests are below."
            )
            in_comment += [p for p, _, _ in review]
            review, wanted = [], []
    for p, comments, kind in review:
        pub.delivered.append(f"{_plural(len(comments), 'review ' + kind)} on `{comments[0].path}`: {describe_tests(p)}")
    pub.review_comments = len(wanted)
    for old in previous:
        # GitHub marks a comment outdated (line: null) once its lines change, e.g. when a suggestion was
        # committed: those stay as the record of what was accepted.
        if old.line is not None and not any(_same(old, c) for c in wanted):
            try:
                gh.delete(old)
                pub.deleted += 1
            except (Forbidden, PublishError) as exc:
                pub.notes.append(f"An earlier review comment could not be deleted: {exc}")
    if pub.deleted:
        pub.notes.append(
            f"Deleted {_plural(pub.deleted, 'earlier review comment')} of testbot's whose code or tests changed since."
        )
    if in_comment:
        pub.delivered.append(f"{_plural(sum(len(p.tests) for p in in_comment), 'test')} in this comment")
    pub.in_comment = in_comment
    pub.retries = gh.retries
    text = secrets_scan.redact(summary_body(rows, funnel, model, head_sha, pub, ran_note), known)
    try:
        pub.summary_url = gh.upsert_summary(text)
    except Forbidden:
        pub.notes.append(
            "The token cannot comment on this pull request (403; a fork PR's token is read-only): "
            "this summary is in the job's summary and log only."
        )
        text = secrets_scan.redact(summary_body(rows, funnel, model, head_sha, pub, ran_note), known)
    return pub, text
