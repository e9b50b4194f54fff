"""``testbot pr`` end to end: a real temp repository with a base and a head commit, a real-shaped pull_request
event, the fake model, and the real PyGithub client talking to the GitHub REST API emulator on 127.0.0.1."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import GIT, SOURCE, Project, fenced, make_project, run_cli
from gh_emulator import GitHubEmulator, PullRequest, apply_suggestions, pull_event, pull_files
from testbot.publish import COMMENT_MARKER, REVIEW_MARKER, SUMMARY_MARKER


CHANGED = SOURCE.replace('    return "positive"', '    if n > 100:\n        return "big"\n    return "positive"')
BIG = fenced("from pkg.m import classify\n\n\ndef test_big():\n    assert classify(101) == 'big'\n")
# The PR's own test file: imports clamp only, so testbot's test also adds an import near the top.
PR_TESTS = '''\
"""Tests of pkg.m."""

from pkg.m import clamp


def test_clamp():
    assert clamp(5, 0, 3) == 3
'''
REPO = "octo/proj"


def git(root: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


class PR:
    """A pull request: the project on branch feature (checked out), the emulator, and the job's environment."""

    def __init__(
        self,
        project: Project,
        gh: GitHubEmulator,
        base: str,
        head: str,
        tmp: Path,
        monkeypatch: pytest.MonkeyPatch,
        head_repo: str = REPO,
    ) -> None:
        self.project, self.gh, self.base, self.head = project, gh, base, head
        self.event_path = tmp / "event.json"
        self.event_path.write_text(json.dumps(pull_event(REPO, 7, base, head, head_repo)), encoding="utf-8")
        self.step_summary = tmp / "step-summary.md"
        gh.add_pull(PullRequest(7, base, head, head_repo=head_repo if head_repo != REPO else ""))
        gh.pulls[7].files = pull_files(project.root, base, head)
        gh.trees[head] = git(project.root, "rev-parse", f"{head}^{{tree}}")
        for key, value in {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(self.event_path),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": gh.url,
            "GITHUB_TOKEN": "ghs_secret",
            "GITHUB_STEP_SUMMARY": str(self.step_summary),
            "TESTBOT_GITHUB_PAUSE": "0",
            "TESTBOT_GITHUB_BACKOFF": "0",
            "TESTBOT_RUNS": "1",
            "TESTBOT_SAMPLES": "1",
            "TESTBOT_REPAIR_ROUNDS": "0",
        }.items():
            monkeypatch.setenv(key, value)

    def run(self, mode: str, completions: list) -> object:
        return run_cli(["pr", "--mode", mode, "--model", self.project.fake_model(completions)], self.project.root)


def open_pr(tmp_path: Path, monkeypatch, gh: GitHubEmulator, *, tests_in_pr: bool, head_repo: str = REPO) -> PR:
    """main: pkg/m.py (and tests/test_m.py unless the PR adds it); feature: classify learns 'big'."""
    project = make_project(tmp_path / "proj", git=False)
    if not tests_in_pr:
        project.write("tests/test_m.py", PR_TESTS)
    project.git_init()
    base = git(project.root, "rev-parse", "HEAD")
    git(project.root, "checkout", "-q", "-b", "feature")
    project.write("pkg/m.py", CHANGED)
    if tests_in_pr:
        project.write("tests/test_m.py", PR_TESTS)
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", "big numbers")
    return PR(project, gh, base, git(project.root, "rev-parse", "HEAD"), tmp_path, monkeypatch, head_repo)


# What testbot writes into tests/test_m.py (the provenance line carries the fake model and the test's hash).
def expected_file(prov: str) -> str:
    return (
        PR_TESTS.replace("from pkg.m import clamp\n", "from pkg.m import clamp\nfrom pkg.m import classify\n")
        + f"\n\n{prov}\ndef test_big():\n    assert classify(101) == 'big'\n"
    )


def provenance(text: str) -> str:
    found = re.findall(r"^# testbot: pkg/m.py::classify .*$", text, re.M)
    assert len(found) == 1, text
    return found[0]


def summary_comments(gh: GitHubEmulator) -> list[dict]:
    return [c for c in gh.issue_comments if SUMMARY_MARKER in c["body"]]


def test_suggest_mode_posts_one_review_whose_suggestions_apply_to_exactly_the_file_testbot_writes(
    tmp_path: Path, monkeypatch
):
    with GitHubEmulator(REPO) as gh:
        pr = open_pr(tmp_path, monkeypatch, gh, tests_in_pr=True)
        # a 403 rate limit and a 502 on the way: retried, reported, nothing posted twice
        gh.fail("GET", r"/pulls/7$", 403, {"X-RateLimit-Remaining": "0", "Retry-After": "0"}, "API rate limit exceeded")
        gh.fail("POST", r"/pulls/7/reviews$", 502, message="Bad Gateway")
        run = pr.run("suggest", [BIG])
        assert run.code == 0, run.err
        assert gh.review_comments and len(gh.reviews) == 1
        review = gh.reviews[0]
        assert review["commit_id"] == pr.head and review["body"].startswith(REVIEW_MARKER)
        posts = [r for r in gh.requests if r.method == "POST" and r.path.endswith("/reviews")]
        assert len(posts) == 2 and posts[0].body == posts[1].body  # the 502, then the same review again
        assert posts[1].body["event"] == "COMMENT"
        comments = posts[1].body["comments"]
        header = (
            "testbot: 1 test for `pkg/m.py::classify`. Apply all 2 suggestions on `tests/test_m.py` together "
            "(Add suggestion to batch)."
        )
        text = (pr.project.root / "tests/test_m.py").read_text()
        assert text == PR_TESTS  # nothing written to the checkout
        prov = provenance(gh.reviews[0]["comments"][1]["body"])
        assert comments == [
            {
                "path": "tests/test_m.py",
                "line": 3,
                "side": "RIGHT",
                "body": f"{header}\n\n```suggestion\nfrom pkg.m import clamp\nfrom pkg.m import classify\n```\n"
                f"{COMMENT_MARKER}",
            },
            {
                "path": "tests/test_m.py",
                "line": 7,
                "side": "RIGHT",
                "body": f"{header}\n\n```suggestion\n    assert clamp(5, 0, 3) == 3\n\n\n{prov}\ndef test_big():\n"
                f"    assert classify(101) == 'big'\n```\n{COMMENT_MARKER}",
            },
        ]
        applied = apply_suggestions(text, comments)
        assert applied == expected_file(prov)
        # the applied file is valid and its tests pass
        (pr.project.root / "tests/test_m.py").write_text(applied)
        result = pr.project.pytest("tests/test_m.py")
        assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout + result.stderr
        # one summary comment, the retries reported in it
        [summary] = summary_comments(gh)
        assert "| `pkg/m.py::classify` | 1 | +2 lines, +1 branches |" in summary["body"]
        assert "- read the pull request: 403 rate limit, retried after 0 s" in summary["body"]
        assert "- post the review: 502, retried after 0 s" in summary["body"]
        assert "- 2 review suggestions on `tests/test_m.py`: 1 test for `pkg/m.py::classify`" in summary["body"]
        assert pr.step_summary.read_text().startswith("### testbot")
        assert not [r for r in gh.requests if "/git/" in r.path]  # no commit in this mode


def test_suggest_falls_back_to_a_commit_when_the_test_file_is_not_in_the_diff(tmp_path: Path, monkeypatch):
    with GitHubEmulator(REPO) as gh:
        pr = open_pr(tmp_path, monkeypatch, gh, tests_in_pr=False)
        run = pr.run("suggest", [BIG])
        assert run.code == 0, run.err
        assert not gh.reviews  # nothing to suggest on: tests/test_m.py is not part of the diff
        writes = [(r.method, r.path.removeprefix(f"/repos/{REPO}")) for r in gh.writes()]
        assert writes == [
            ("POST", "/git/trees"),
            ("POST", "/git/commits"),
            ("PATCH", "/git/refs/heads/feature"),
            ("POST", "/issues/7/comments"),
        ]
        tree, commit, ref = (r.body for r in gh.writes()[:3])
        prov = provenance(tree["tree"][0]["content"])
        assert tree == {
            "base_tree": gh.trees[pr.head],
            "tree": [{"path": "tests/test_m.py", "mode": "100644", "type": "blob", "content": expected_file(prov)}],
        }
        assert commit["parents"] == [pr.head] and commit["message"].startswith("testbot: tests for classify\n")
        assert ref == {"sha": gh.refs["heads/feature"], "force": False}
        assert gh.refs["heads/feature"] != pr.head
        [summary] = summary_comments(gh)
        assert (
            f"- committed {gh.refs['heads/feature'][:12]} to `feature`: `tests/test_m.py`, 1 test for "
            f"`pkg/m.py::classify`" in summary["body"]
        )


def test_suggest_without_push_rights_comments_on_the_changed_function(tmp_path: Path, monkeypatch):
    with GitHubEmulator(REPO) as gh:
        pr = open_pr(tmp_path, monkeypatch, gh, tests_in_pr=False)
        gh.fail("POST", r"/git/trees$", 403, message="Resource not accessible by integration")
        run = pr.run("suggest", [BIG])
        assert run.code == 0, run.err
        [review] = gh.reviews
        [comment] = review["comments"]
        prov = provenance(comment["body"])
        assert comment == {
            "path": "pkg/m.py",
            "line": 9,
            "side": "RIGHT",  # `if n > 100:`, the first changed line of classify
            "body": "testbot: 1 test for `pkg/m.py::classify`, for the file `tests/test_m.py` (not part of this diff, "
            "so no suggestion is possible):\n\n```python\nfrom pkg.m import classify\n\n"
            f"{prov}\ndef test_big():\n    assert classify(101) == 'big'\n```\n{COMMENT_MARKER}",
        }
        [summary] = summary_comments(gh)
        assert (
            "Not committed: the token cannot push to the branch (403; give the job `contents: write`)."
            in summary["body"]
        )


def test_commit_mode_pushes_one_commit_to_the_branch(tmp_path: Path, monkeypatch):
    with GitHubEmulator(REPO) as gh:
        pr = open_pr(tmp_path, monkeypatch, gh, tests_in_pr=True)
        run = pr.run("commit", [BIG])
        assert run.code == 0, run.err
        assert not gh.reviews
        [tree] = [r.body for r in gh.writes() if r.path.endswith("/git/trees")]
        assert tree["tree"][0]["content"] == expected_file(provenance(tree["tree"][0]["content"]))
        assert gh.refs["heads/feature"] != pr.head and "committed" in run.out


def test_comment_mode_is_one_comment_edited_in_place_on_a_second_run(tmp_path: Path, monkeypatch):
    with GitHubEmulator(REPO) as gh:
        pr = open_pr(tmp_path, monkeypatch, gh, tests_in_pr=True)
        first = pr.run("comment", [BIG])
        assert first.code == 0, first.err
        [comment] = gh.issue_comments
        body = comment["body"]
        prov = provenance(body)
        assert body.startswith(SUMMARY_MARKER + "\n### testbot\n")
        assert (
            "<details open><summary><code>tests/test_m.py</code> (add to the file): 1 test for "
            "`pkg/m.py::classify`</summary>\n\n```python\nfrom pkg.m import classify\n\n"
            f"{prov}\ndef test_big():\n    assert classify(101) == 'big'\n```\n\n</details>\n"
        ) in body
        assert not gh.reviews and not [r for r in gh.requests if "/git/" in r.path]
        # second run, another test this time: the same comment is edited, no second one appears
        other = fenced("from pkg.m import classify\n\n\ndef test_very_big():\n    assert classify(1000) == 'big'\n")
        second = pr.run("comment", [other])
        assert second.code == 0, second.err
        assert len(gh.issue_comments) == 1 and gh.issue_comments[0]["id"] == comment["id"]
        assert "def test_very_big" in gh.issue_comments[0]["body"]
        [patch] = [r for r in gh.requests if r.method == "PATCH"]
        assert patch.path == f"/repos/{REPO}/issues/comments/{comment['id']}"


def test_a_second_suggest_run_replaces_outdated_suggestions_and_keeps_one_summary(tmp_path: Path, monkeypatch):
    with GitHubEmulator(REPO) as gh:
        pr = open_pr(tmp_path, monkeypatch, gh, tests_in_pr=True)
        assert pr.run("suggest", [BIG]).code == 0
        first_ids = {c["id"] for c in gh.review_comments}
        assert len(first_ids) == 2
        same = pr.run("suggest", [BIG])  # same code, same tests: nothing new is posted
        assert same.code == 0, same.err
        assert len(gh.reviews) == 1 and {c["id"] for c in gh.review_comments} == first_ids
        other = fenced("from pkg.m import classify\n\n\ndef test_very_big():\n    assert classify(1000) == 'big'\n")
        changed = pr.run("suggest", [other])  # another test: its suggestion replaces the old one
        assert changed.code == 0, changed.err
        assert len(gh.reviews) == 2 and len(gh.reviews[1]["comments"]) == 1  # the import line is the same: kept
        import_id, tail_id = sorted(first_ids)
        deletes = [int(r.path.rsplit("/", 1)[1]) for r in gh.requests if r.method == "DELETE"]
        assert deletes == [tail_id]
        assert [c["id"] for c in gh.review_comments][0] == import_id
        assert "def test_very_big" in gh.review_comments[1]["body"]
        applied = apply_suggestions(PR_TESTS, gh.review_comments)
        assert "def test_very_big" in applied and "def test_big" not in applied
        [summary] = summary_comments(gh)
        assert "Deleted 1 earlier review comment of testbot's whose code or tests changed since." in summary["body"]
        assert len(gh.issue_comments) == 1


def test_a_fork_pull_request_degrades_to_a_comment(tmp_path: Path, monkeypatch):
    with GitHubEmulator(REPO) as gh:
        pr = open_pr(tmp_path, monkeypatch, gh, tests_in_pr=True, head_repo="someone/proj")
        run = pr.run("suggest", [BIG])
        assert run.code == 0, run.err
        assert not gh.reviews and not [r for r in gh.requests if "/git/" in r.path]
        [summary] = gh.issue_comments
        assert (
            "- This pull request comes from a fork, which testbot cannot push to or suggest on with this token: "
            "mode `suggest` became `comment`, the tests are below."
        ) in summary["body"]
        assert "def test_big():" in summary["body"]


def test_a_read_only_token_leaves_the_summary_in_the_job_log(tmp_path: Path, monkeypatch):
    with GitHubEmulator(REPO) as gh:
        pr = open_pr(tmp_path, monkeypatch, gh, tests_in_pr=True)
        gh.read_only = True
        run = pr.run("suggest", [BIG])
        assert run.code == 0, run.err
        assert not gh.reviews and not gh.issue_comments
        assert "The token cannot post a review (403" in run.out and "def test_big():" in run.out
        assert "this summary is in the job's summary and log only" in pr.step_summary.read_text()


def test_not_a_pull_request_event(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(tmp_path / "event.json"))
    run = run_cli(["pr"], tmp_path)
    assert run.code == 2
    assert "testbot pr works on pull_request events, and this job was started by 'push'" in run.err
