"""A GitHub REST API emulator for the tests: stdlib http.server on 127.0.0.1, in a thread.

It implements just the endpoints PyGithub calls for ``testbot pr`` (repository, pull request, its files,
reviews, review comments, issue comments, the Git Data API for commits), records every request, and
can be told to answer the next matching requests with an error (a 502, a 403 rate limit, a 403 for a
read-only token).
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: str
    body: Any  # parsed JSON, or None


@dataclass
class Fault:
    method: str
    pattern: str  # regular expression matched against the path
    status: int
    headers: dict[str, str]
    message: str
    times: int


@dataclass
class PullRequest:
    number: int
    base_sha: str
    head_sha: str
    base_ref: str = "main"
    head_ref: str = "feature"
    head_repo: str = ""  # "" : the same repository
    files: list[dict] = field(default_factory=list)  # as GET .../pulls/N/files answers


class GitHubEmulator:
    def __init__(self, repository: str = "octo/proj") -> None:
        self.repository = repository
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.pulls: dict[int, PullRequest] = {}
        self.issue_comments: list[dict] = []
        self.review_comments: list[dict] = []
        self.reviews: list[dict] = []
        self.refs: dict[str, str] = {}  # "heads/feature" -> sha
        self.trees: dict[str, str] = {}  # commit sha -> tree sha
        self.commit_parents: dict[str, list[str]] = {}  # commits made through the API -> their parents
        self.read_only = False  # every write answers 403, as with a read-only token
        self.token = ""  # when set, a request without this token answers 401
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> GitHubEmulator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def fail(
        self,
        method: str,
        pattern: str,
        status: int,
        headers: dict[str, str] | None = None,
        message: str = "Server Error",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` and ``pattern`` with ``status``."""
        self.faults.append(Fault(method, pattern, status, headers or {}, message, times))

    def add_pull(self, pr: PullRequest) -> None:
        self.pulls[pr.number] = pr
        self.refs[f"heads/{pr.head_ref}"] = pr.head_sha

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    # -- JSON shapes (the fields PyGithub reads)

    def _repo_url(self, full: str | None = None) -> str:
        return f"{self.url}/repos/{full or self.repository}"

    def _repo(self, full: str | None = None) -> dict:
        full = full or self.repository
        owner, name = full.split("/")
        return {
            "id": 1,
            "name": name,
            "full_name": full,
            "url": self._repo_url(full),
            "html_url": f"https://github.com/{full}",
            "owner": {"login": owner, "type": "User"},
            "default_branch": "main",
            "private": False,
            "fork": full != self.repository,
        }

    def _pull(self, pr: PullRequest) -> dict:
        base_url = self._repo_url()
        return {
            "id": pr.number,
            "number": pr.number,
            "state": "open",
            "title": "a change",
            "url": f"{base_url}/pulls/{pr.number}",
            "issue_url": f"{base_url}/issues/{pr.number}",
            "html_url": f"https://github.com/{self.repository}/pull/{pr.number}",
            "head": {
                "sha": pr.head_sha,
                "ref": pr.head_ref,
                "label": f"x:{pr.head_ref}",
                "repo": self._repo(pr.head_repo or None),
            },
            "base": {"sha": pr.base_sha, "ref": pr.base_ref, "label": f"x:{pr.base_ref}", "repo": self._repo()},
        }

    def _issue_comment(self, cid: int, body: str) -> dict:
        return {
            "id": cid,
            "body": body,
            "url": f"{self._repo_url()}/issues/comments/{cid}",
            "html_url": f"https://github.com/{self.repository}/pull/1#issuecomment-{cid}",
            "user": {"login": "github-actions[bot]", "type": "Bot"},
        }

    # -- the server

    def _handler(self):
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, data: Any = None, headers: dict[str, str] | None = None) -> None:
                raw = b"" if data is None else json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", **(headers or {})}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def _serve(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                with emulator._lock:
                    emulator.requests.append(Request(self.command, path, query, body))
                    if emulator.token and self.headers.get("Authorization", "").split()[-1:] != [emulator.token]:
                        self._answer(401, {"message": "Bad credentials"})
                        return
                    for fault in emulator.faults:
                        if fault.times and fault.method == self.command and re.search(fault.pattern, path):
                            fault.times -= 1
                            self._answer(fault.status, {"message": fault.message}, fault.headers)
                            return
                    if emulator.read_only and self.command != "GET":
                        self._answer(403, {"message": "Resource not accessible by integration"})
                        return
                    status, data = emulator.route(self.command, path, body)
                self._answer(status, data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        return Handler

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        prefix = f"/repos/{self.repository}"
        if method == "GET" and path == prefix:
            return 200, self._repo()
        if not path.startswith(prefix + "/"):
            return 404, {"message": "Not Found"}
        rest = path[len(prefix) :]
        m = re.fullmatch(r"/pulls/(\d+)(/.*)?", rest)
        if m:
            pr = self.pulls.get(int(m.group(1)))
            if pr is None:
                return 404, {"message": "Not Found"}
            sub = m.group(2) or ""
            if method == "GET" and sub == "":
                return 200, self._pull(pr)
            if method == "GET" and sub == "/files":
                return 200, pr.files
            if method == "GET" and sub == "/comments":
                return 200, [c for c in self.review_comments if c["pull"] == pr.number]
            if method == "POST" and sub == "/reviews":
                rid = next(self._ids)
                review = {
                    "id": rid,
                    "body": body.get("body", ""),
                    "state": "COMMENTED",
                    "commit_id": body["commit_id"],
                    "user": {"login": "github-actions[bot]"},
                }
                self.reviews.append({**review, "comments": body.get("comments", [])})
                for c in body.get("comments", []):
                    cid = next(self._ids)
                    self.review_comments.append(
                        {
                            "id": cid,
                            "pull": pr.number,
                            "pull_request_review_id": rid,
                            "body": c["body"],
                            "path": c["path"],
                            "line": c["line"],
                            "side": c.get("side"),
                            "start_line": c.get("start_line"),
                            "start_side": c.get("start_side"),
                            "commit_id": body["commit_id"],
                            "url": f"{self._repo_url()}/pulls/comments/{cid}",
                            "user": {"login": "github-actions[bot]"},
                        }
                    )
                return 200, review
        m = re.fullmatch(r"/pulls/comments/(\d+)", rest)
        if m and method == "DELETE":
            cid = int(m.group(1))
            before = len(self.review_comments)
            self.review_comments = [c for c in self.review_comments if c["id"] != cid]
            return (204, None) if len(self.review_comments) < before else (404, {"message": "Not Found"})
        m = re.fullmatch(r"/issues/(\d+)/comments", rest)
        if m:
            number = int(m.group(1))
            if method == "GET":
                return 200, [
                    self._issue_comment(c["id"], c["body"]) for c in self.issue_comments if c["issue"] == number
                ]
            if method == "POST":
                cid = next(self._ids)
                self.issue_comments.append({"id": cid, "issue": number, "body": body["body"]})
                return 201, self._issue_comment(cid, body["body"])
        m = re.fullmatch(r"/issues/comments/(\d+)", rest)
        if m and method == "DELETE":
            before = len(self.issue_comments)
            self.issue_comments = [c for c in self.issue_comments if c["id"] != int(m.group(1))]
            return (204, None) if len(self.issue_comments) < before else (404, {"message": "Not Found"})
        if m and method == "PATCH":
            for c in self.issue_comments:
                if c["id"] == int(m.group(1)):
                    c["body"] = body["body"]
                    return 200, self._issue_comment(c["id"], c["body"])
            return 404, {"message": "Not Found"}
        m = re.fullmatch(r"/commits/([0-9a-f]{40})", rest)
        if m and method == "GET":
            sha = m.group(1)
            return 200, {
                "sha": sha,
                "url": f"{self._repo_url()}/commits/{sha}",
                "commit": {"message": ""},
                "parents": [],
                "files": [],
            }
        m = re.fullmatch(r"/git/commits/([0-9a-f]{40})", rest)
        if m and method == "GET":
            sha = m.group(1)
            if sha not in self.trees:
                return 404, {"message": "Not Found"}
            return 200, self._git_commit(sha, self.trees[sha], [])
        if method == "POST" and rest == "/git/trees":
            sha = f"{next(self._ids):040x}"
            return 201, {"sha": sha, "url": f"{self._repo_url()}/git/trees/{sha}", "tree": [], "truncated": False}
        if method == "POST" and rest == "/git/commits":
            sha = f"{next(self._ids):040x}"
            self.trees[sha] = body["tree"]
            return 201, self._git_commit(sha, body["tree"], body.get("parents", []), body.get("message", ""))
        m = re.fullmatch(r"/git/(?:ref|refs)/(heads/.+)", rest)
        if m:
            ref = m.group(1)
            if ref not in self.refs:
                return 404, {"message": "Not Found"}
            if method == "PATCH":
                if not body.get("force") and self.refs[ref] not in self._parents(body["sha"]):
                    return 422, {"message": "Update is not a fast forward"}
                self.refs[ref] = body["sha"]
            if method in ("GET", "PATCH"):
                return 200, {
                    "ref": f"refs/{ref}",
                    "url": f"{self._repo_url()}/git/refs/{ref}",
                    "object": {"sha": self.refs[ref], "type": "commit"},
                }
        return 404, {"message": f"Not Found (the emulator has no {method} {path})"}

    def _parents(self, sha: str) -> list[str]:
        return self.commit_parents.get(sha, [])

    def _git_commit(self, sha: str, tree: str, parents: list[str], message: str = "") -> dict:
        self.commit_parents[sha] = list(parents)
        return {
            "sha": sha,
            "url": f"{self._repo_url()}/git/commits/{sha}",
            "message": message,
            "tree": {"sha": tree, "url": f"{self._repo_url()}/git/trees/{tree}"},
            "parents": [{"sha": p, "url": f"{self._repo_url()}/git/commits/{p}"} for p in parents],
        }


def pull_files(root, base: str, head: str) -> list[dict]:
    """GET .../pulls/N/files as GitHub answers it, from a real repository: base...head, 3 lines of context."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout

    files = []
    for line in git("diff", "--name-status", f"{base}...{head}").splitlines():
        status, name = line.split("\t")[0], line.split("\t")[-1]
        patch = git("diff", "--unified=3", f"{base}...{head}", "--", name)
        patch = patch[patch.index("@@") :] if "@@" in patch else ""
        files.append(
            {
                "sha": "0" * 40,
                "filename": name,
                "status": {"A": "added", "M": "modified", "D": "removed"}.get(status[0], "renamed"),
                "additions": 0,
                "deletions": 0,
                "changes": 0,
                "patch": patch.rstrip("\n"),
            }
        )
    return files


def pull_event(repository: str, number: int, base: str, head: str, head_repo: str = "") -> dict:
    """The fields of GitHub's documented pull_request webhook payload that testbot reads, with their shape."""
    head_repo = head_repo or repository

    def repo(full: str) -> dict:
        return {
            "id": 1,
            "name": full.split("/")[1],
            "full_name": full,
            "owner": {"login": full.split("/")[0]},
            "fork": full != repository,
            "html_url": f"https://github.com/{full}",
        }

    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "title": "big numbers",
            "url": f"https://api.github.com/repos/{repository}/pulls/{number}",
            "head": {"label": "octo:feature", "ref": "feature", "sha": head, "repo": repo(head_repo)},
            "base": {"label": "octo:main", "ref": "main", "sha": base, "repo": repo(repository)},
        },
        "repository": repo(repository),
        "sender": {"login": "dev"},
    }


def suggestion_of(body: str) -> list[str]:
    """The lines of a comment's suggestion block (none: the suggestion deletes the anchored lines)."""
    m = re.search(r"^(`{3,})suggestion\n(.*?)^\1$", body, re.S | re.M)
    assert m, body
    return m.group(2)[:-1].split("\n") if m.group(2) else []


def apply_suggestions(text: str, comments: list[dict]) -> str:
    """What GitHub's "Commit suggestion" does: the anchored lines (start_line..line) become the suggestion."""
    lines = text.splitlines()
    for c in sorted(comments, key=lambda c: c["line"], reverse=True):
        start = c.get("start_line") or c["line"]
        lines[start - 1 : c["line"]] = suggestion_of(c["body"])
    return "\n".join(lines) + "\n"
