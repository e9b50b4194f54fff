"""testbot.publish: diff lines, suggestions that apply exactly, retries and fallbacks against the emulator
(real PyGithub, no pipeline run)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import GIT, make_project, run_cli
from gh_emulator import GitHubEmulator, PullRequest, apply_suggestions, pull_event, pull_files
from testbot import publish
from testbot.publish import COMMENT_MARKER, GitHub, Proposal, PublishError, deliver, diff_lines, fence, suggestions

REPO = "octo/proj"
HEAD = "a" * 40
BASE = "b" * 40

PATCH = """\
@@ -1,3 +1,4 @@
 import os
+import sys
 
 x = 1
@@ -10,4 +11,3 @@ def f():
     a = 1
-    b = 2
-    c = 3
+    b = 3
     return a
\\ No newline at end of file"""


def test_diff_lines_are_the_right_side_lines_of_each_hunk():
    assert diff_lines(PATCH) == {1: 0, 2: 0, 3: 0, 4: 0, 11: 1, 12: 1, 13: 1}
    assert diff_lines(None) == {} and diff_lines("") == {}


def _apply(old: str, comments) -> str:
    return apply_suggestions(old, [c.payload() for c in comments])


def test_an_insertion_is_anchored_on_the_next_line_when_the_previous_one_is_not_in_the_diff():
    old = "a\nb\nc\nd\n"
    new = "a\nb\nNEW\nc\nd\n"
    p = Proposal("t.py", old, new, ("test_x",), ("m.py::f",))
    [c] = suggestions(p, {3: 0, 4: 0}, "")  # line 2 (b) is outside the diff, 3 (c) is in it
    assert (c.start_line, c.line) == (3, 3) and "```suggestion\nNEW\nc\n```" in c.body
    assert _apply(old, [c]) == new


def test_a_replacement_spans_start_line_to_line_and_everything_applies_exactly():
    old = "import a\n\n\ndef test_a():\n    pass\n"
    new = "import a\nimport b\n\n\ndef test_a():\n    assert 1\n\n\ndef test_b():\n    pass\n"
    p = Proposal("t.py", old, new, ("test_b",), ("m.py::f",))
    commentable = {n: 0 for n in range(1, 6)}
    comments = suggestions(p, commentable, "")
    assert comments is not None and _apply(old, comments) == new
    assert all(c.payload()["side"] == "RIGHT" for c in comments)


def test_a_deletion_and_a_blank_line_apply_exactly():
    old = "a\nx\ny\nb\n"
    new = "a\n\nb\n"
    p = Proposal("t.py", old, new, ("t",), ("m.py::f",))
    comments = suggestions(p, {n: 0 for n in range(1, 5)}, "")
    assert _apply(old, comments) == new
    gone = suggestions(Proposal("t.py", old, "a\nb\n", ("t",), ()), {n: 0 for n in range(1, 5)}, "")
    assert _apply(old, gone) == "a\nb\n"


def test_no_suggestions_when_a_change_falls_outside_the_diff_or_the_file_is_new():
    p = Proposal("t.py", "a\nb\n", "a\nb\nc\n", ("t",), ("m.py::f",))
    assert suggestions(p, {1: 0}, "") is None  # line 2 is where the new line hangs, and it is not in the diff
    assert suggestions(Proposal("t.py", "", "x\n", ("t",), ()), {1: 0}, "") is None


def test_a_fence_is_longer_than_any_backtick_run_in_its_text():
    assert fence("x = '```'\n", "suggestion") == "````suggestion\nx = '```'\n````"
    assert fence("x\n", "python") == "```python\nx\n```"
    assert fence("\n", "suggestion") == "```suggestion\n\n```"  # one blank line
    assert fence("", "suggestion") == "```suggestion\n```"  # no line: deletes the anchored lines


@pytest.fixture
def gh():
    with GitHubEmulator(REPO) as emulator:
        emulator.add_pull(PullRequest(7, BASE, HEAD))
        emulator.trees[HEAD] = "c" * 40
        yield emulator


def client(gh: GitHubEmulator, waits: list[float] | None = None) -> GitHub:
    return GitHub(
        "ghs_token",
        REPO,
        7,
        gh.url,
        pause=0,
        backoff=0.5,
        sleep=(waits.append if waits is not None else lambda s: None),
    )


def test_429_waits_for_retry_after_then_succeeds(gh: GitHubEmulator):
    waits: list[float] = []
    gh.fail("POST", r"/issues/7/comments$", 429, {"Retry-After": "3"}, "slow down")
    api = client(gh, waits)
    api.upsert_summary("hello")
    assert waits == [3.0] and api.retries == ["post the summary comment: 429, retried after 3 s"]
    assert [c["body"] for c in gh.issue_comments] == ["hello"]


def test_server_errors_back_off_and_give_up_with_an_environment_error(gh: GitHubEmulator):
    waits: list[float] = []
    gh.fail("GET", r"/pulls/7$", 502, message="Bad Gateway", times=5)
    api = client(gh, waits)
    with pytest.raises(PublishError) as info:
        api.diff_lines()
    assert info.value.code == 3
    assert "GitHub did not let testbot read the pull request (502) after 5 tries" in str(info.value)
    assert waits == [0.5, 1.0, 2.0, 4.0]  # exponential backoff between the 5 tries


def test_a_rate_limit_resetting_in_an_hour_is_not_waited_for(gh: GitHubEmulator):
    import time

    waits: list[float] = []
    gh.fail(
        "GET",
        r"/pulls/7$",
        403,
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 3600)},
        "API rate limit exceeded",
    )
    with pytest.raises(PublishError, match="403 rate limit"):
        client(gh, waits).diff_lines()
    assert waits == []


def test_a_summary_without_tests_says_so():
    row = publish.TargetLine("pkg/m.py::f", 0, 0, 0, 2, 0, 1, 0, "time budget spent")
    text = publish.summary_body([row], "generated 3 / kept 0", "small", HEAD, publish.Published("suggest"))
    assert text.startswith(publish.SUMMARY_MARKER + "\n### testbot\n")
    assert "| `pkg/m.py::f` | 0 | - | 0 -> 0 of 2 | time budget spent |" in text
    assert "No tests to add this time" in text and "Delivered" not in text


def test_a_doubled_summary_is_merged_back_into_one(gh: GitHubEmulator):
    """A POST retried after GitHub had in fact taken it leaves two summaries: the next run keeps one."""
    for cid in (1, 2):
        gh.issue_comments.append({"id": cid, "issue": 7, "body": f"{publish.SUMMARY_MARKER}\nold {cid}"})
    gh.issue_comments.append({"id": 3, "issue": 7, "body": "LGTM"})
    client(gh).upsert_summary(f"{publish.SUMMARY_MARKER}\nnew")
    assert [(c["id"], c["body"]) for c in gh.issue_comments] == [(1, f"{publish.SUMMARY_MARKER}\nnew"), (3, "LGTM")]


def _proposal() -> Proposal:
    return Proposal(
        "tests/test_m.py",
        "",
        "from pkg.m import f\n\n\ndef test_f():\n    assert f()\n",
        ("test_f",),
        ("pkg/m.py::f",),
        (("pkg/m.py", (9, 4)),),
    )  # line 9 is not in the diff


def _deliver(gh: GitHubEmulator, mode: str = "suggest", **kw) -> tuple[publish.Published, str]:
    args = dict(
        mode=mode,
        proposals=[_proposal()],
        head_sha=HEAD,
        branch="feature",
        fork=False,
        message="testbot: tests for f\n",
        rows=[],
        funnel="generated 1 / kept 1",
        model="fake",
    )
    args.update(kw)
    return deliver(client(gh), **args)


def test_a_branch_that_moved_is_not_overwritten_and_the_tests_become_a_comment_on_the_function(gh: GitHubEmulator):
    gh.pulls[7].files = [{"filename": "pkg/m.py", "status": "modified", "patch": "@@ -3,2 +3,3 @@\n a\n+b\n c"}]
    gh.fail("PATCH", r"/git/refs/heads/feature$", 422, message="Update is not a fast forward")
    pub, text = _deliver(gh)
    assert gh.refs["heads/feature"] == HEAD
    assert "Not committed: the branch feature moved on since this run started; tests not committed." in pub.notes
    [review] = gh.reviews
    assert review["comments"] == [
        {
            "path": "pkg/m.py",
            "line": 4,
            "side": "RIGHT",
            "body": "testbot: 1 test for `pkg/m.py::f`, for a new file `tests/test_m.py` (not part of this diff, so no "
            "suggestion is possible):\n\n```python\nfrom pkg.m import f\n\n\ndef test_f():\n    assert f()\n```\n"
            + COMMENT_MARKER,
        }
    ]
    assert gh.issue_comments[0]["body"] == text


def test_outdated_comments_are_left_alone_and_current_ones_deleted(gh: GitHubEmulator):
    for cid, line in ((1, None), (2, 9)):
        gh.review_comments.append(
            {
                "id": cid,
                "pull": 7,
                "body": f"old {COMMENT_MARKER}",
                "path": "tests/test_m.py",
                "line": line,
                "start_line": None,
                "side": "RIGHT",
                "url": f"{gh.url}/repos/{REPO}/pulls/comments/{cid}",
            }
        )
    gh.review_comments.append(
        {
            "id": 3,
            "pull": 7,
            "body": "a human's comment",
            "path": "pkg/m.py",
            "line": 9,
            "url": f"{gh.url}/repos/{REPO}/pulls/comments/3",
        }
    )
    pub, _ = _deliver(gh, mode="comment", proposals=[])
    assert pub.deleted == 0  # comment mode does not look at review comments
    pub, _ = _deliver(gh, proposals=[])
    assert [c["id"] for c in gh.review_comments] == [1, 3] and pub.deleted == 1


def test_cli_exit_3_when_github_keeps_failing_and_a_clear_summary_without_python_changes(
    tmp_path: Path, monkeypatch, gh
):
    project = make_project(tmp_path / "proj")
    git = lambda *a: subprocess.run([*GIT, *a], cwd=project.root, check=True, capture_output=True, text=True).stdout
    base = git("rev-parse", "HEAD").strip()
    git("checkout", "-q", "-b", "feature")
    project.write("README.md", "docs only\n")
    git("add", "-A")
    git("commit", "-q", "-m", "docs")
    head = git("rev-parse", "HEAD").strip()
    gh.pulls[7] = PullRequest(7, base, head, files=pull_files(project.root, base, head))
    (tmp_path / "event.json").write_text(json.dumps(pull_event(REPO, 7, base, head)))
    for k, v in {
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": gh.url,
        "TESTBOT_GITHUB_TOKEN": "ghs_x",
        "TESTBOT_GITHUB_PAUSE": "0",
        "TESTBOT_GITHUB_BACKOFF": "0",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    ok = run_cli(["pr"], project.root)
    assert ok.code == 0, ok.err
    [summary] = gh.issue_comments
    assert "This pull request changes no Python functions or methods that testbot tests." in summary["body"]
    gh.fail("PATCH", r"/issues/comments/\d+$", 502, message="Bad Gateway", times=5)
    failed = run_cli(["pr"], project.root)
    assert failed.code == 3
    assert "testbot: error: GitHub did not let testbot update the summary comment (502) after 5 tries" in failed.err
    # a token GitHub does not accept: said at once, before any model runs
    gh.token = "ghs_the_real_one"
    refused = run_cli(["pr"], project.root)
    assert refused.code == 3 and "GitHub refused to read the repository: 401 Bad credentials" in refused.err
    monkeypatch.setenv("TESTBOT_GITHUB_TOKEN", "ghs_the_real_one")
    gh.faults.clear()
    assert run_cli(["pr"], project.root).code == 0
    # the checkout is not the PR's head: a clear error, nothing posted
    git("checkout", "-q", base)
    wrong = run_cli(["pr"], project.root)
    assert wrong.code == 2 and "not at the pull request's head" in wrong.err
