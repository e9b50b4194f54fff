"""Changed functions from git, and the git side of commit mode (GitPython, imported lazily).

A change is one of three views (:class:`ChangeSpec`):

- ``staged``: HEAD -> index, what a pre-commit hook sees;
- ``worktree``: HEAD -> working tree, untracked (not ignored) files included;
- ``range``: merge-base(base, head) -> head, what CI sees for a pull request.

Each changed Python file's lines are diffed (old -> new), and every function or method whose lines
were added or edited becomes a :class:`~testbot.targets.Target` whose ``lines`` are the changed
statements (for a changed signature, also those that read a parameter it added or redefined; the whole
function when it is new or its decorators changed). A function whose AST
did not change (comments, whitespace, docstring) is not a target; neither are pure deletions. Renamed
files are compared with their old path. Targets always point at the working-tree file, which is what
the pipeline runs; when it differs from the diffed version (a partially staged file) the changed lines
are carried over through a line alignment.

Nothing here writes to the repository except :func:`commit_files`, which adds exactly the given files
to a new commit on top of HEAD with a private index, then moves HEAD and updates those paths in the
user's index, with Ctrl-C held back for those two steps.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import difflib
import fnmatch
import os
import signal
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from testbot.errors import EXIT_ENVIRONMENT, FatalError
from testbot.targets import MAX_FILE_BYTES, Target, functions_in, is_test_file, read_source

if TYPE_CHECKING:
    import git

STAGED, WORKTREE, RANGE = "staged", "worktree", "range"
_IN_PROGRESS = (
    ("MERGE_HEAD", "merge"),
    ("rebase-merge", "rebase"),
    ("rebase-apply", "rebase or am"),
    ("CHERRY_PICK_HEAD", "cherry-pick"),
    ("REVERT_HEAD", "revert"),
)


class GitProblem(FatalError):
    """The repository is not in a state testbot can work with; the message says what to do."""


class Busy(GitProblem):
    """A merge, rebase, cherry-pick or revert is under way: a hook lets the commit go ahead."""


@dataclass(frozen=True)
class ChangeSpec:
    mode: str = WORKTREE  # staged, worktree or range
    base: str = ""  # range: the base ref (e.g. origin/main)
    head: str = "HEAD"  # range: the head ref

    def describe(self) -> str:
        if self.mode == STAGED:
            return "staged changes"
        if self.mode == RANGE:
            return f"changes {self.base}...{self.head}"
        return "changes in the working tree"


@dataclass(frozen=True)
class ChangedFile:
    path: str  # new path, relative to the repository root (posix)
    old_path: str  # "" for a new file
    status: str  # added, modified, renamed
    old_text: str
    new_text: str


@dataclass(frozen=True)
class Changes:
    targets: tuple[Target, ...]
    notes: tuple[str, ...]  # files that were skipped, and why
    files: tuple[str, ...]  # changed Python files looked at (project-relative)


# -- opening the repository


def open_repo(path: Path) -> git.Repo:
    """The repository containing ``path``, or a GitProblem that says what to do."""
    try:
        import git
    except ModuleNotFoundError as exc:
        if exc.name != "git":
            raise
        raise GitProblem("GitPython is not installed: pip install GitPython", code=EXIT_ENVIRONMENT) from None
    except ImportError as exc:  # GitPython is there, the git executable is not
        raise GitProblem(f"git is not available: {str(exc).splitlines()[0]}", code=EXIT_ENVIRONMENT) from None
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitProblem(f"not a git repository: {path} (run inside one, or pass --root)") from None
    if repo.bare:
        raise GitProblem(f"{repo.git_dir} is a bare repository: run testbot in a working tree")
    # Read-only commands must not refresh the index behind the user's back.
    repo.git.update_environment(GIT_OPTIONAL_LOCKS="0")
    return repo


def in_progress(repo: git.Repo) -> str:
    """'merge', 'rebase', ... when such an operation is under way in this working tree, else ''."""
    git_dir = Path(repo.git_dir)
    for name, what in _IN_PROGRESS:
        if (git_dir / name).exists():
            return what
    return ""


def _is_shallow(repo: git.Repo) -> bool:
    return (Path(repo.common_dir) / "shallow").exists()


def _resolve(repo: git.Repo, ref: str) -> git.Commit:
    import git

    try:
        return repo.commit(ref)
    except (git.BadName, git.BadObject, ValueError, git.GitCommandError):
        if _is_shallow(repo):
            raise GitProblem(
                f"'{ref}' is not in this shallow clone: fetch it (git fetch --deepen=100 origin, or "
                f"actions/checkout with fetch-depth: 0)"
            ) from None
        raise GitProblem(
            f"unknown revision '{ref}': pass a branch, tag or commit that exists here "
            f"(git fetch it first if it is remote)"
        ) from None


def _merge_base(repo: git.Repo, base: str, head: str) -> git.Commit:
    import git

    base_commit, head_commit = _resolve(repo, base), _resolve(repo, head)
    try:
        found = repo.merge_base(base_commit, head_commit)
    except git.GitCommandError:
        found = []
    if not found:
        if _is_shallow(repo):
            raise GitProblem(
                f"the history between '{base}' and '{head}' is not in this shallow clone: "
                f"git fetch --unshallow (or actions/checkout with fetch-depth: 0)"
            )
        raise GitProblem(f"'{base}' and '{head}' have no common ancestor")
    return found[0]


# -- what changed


def _blob_text(blob: object) -> bytes:
    return blob.data_stream.read() if blob is not None else b""  # type: ignore[attr-defined]


def _decode(data: bytes) -> str | None:
    if b"\x00" in data or len(data) > MAX_FILE_BYTES:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def changed_files(repo: git.Repo, spec: ChangeSpec) -> tuple[list[ChangedFile], list[str]]:
    """Changed Python files (added, modified or renamed; deletions dropped) with both versions, and notes."""
    import git

    top = Path(repo.working_tree_dir)
    if spec.mode == RANGE:
        diffs = _merge_base(repo, spec.base, spec.head).diff(_resolve(repo, spec.head))
    elif not repo.head.is_valid():  # no commit yet: everything in the index is new
        diffs = repo.index.diff(git.NULL_TREE)
    else:
        diffs = repo.head.commit.diff(git.Diffable.INDEX if spec.mode == STAGED else None)
    files: list[ChangedFile] = []
    notes: list[str] = []
    for d in diffs:
        if d.deleted_file or not (d.b_path or "").endswith(".py"):
            continue
        if d.b_mode and (d.b_mode & 0o170000) != 0o100000:  # a symlink or a submodule
            continue
        if spec.mode == WORKTREE:
            path = top / d.b_path
            if path.is_symlink() or not path.is_file():
                continue
            new = path.read_bytes()
        else:
            new = _blob_text(d.b_blob)
        old = b"" if d.new_file else _blob_text(d.a_blob)
        new_text, old_text = _decode(new), _decode(old)
        if new_text is None:
            notes.append(f"{d.b_path}: skipped (binary, not UTF-8, or larger than {MAX_FILE_BYTES // 2**20} MiB)")
            continue
        status = "added" if d.new_file else "renamed" if d.renamed_file else "modified"
        files.append(ChangedFile(d.b_path, "" if d.new_file else d.a_path, status, old_text or "", new_text))
    if spec.mode == WORKTREE:
        listed = {f.path for f in files}
        for rel in repo.git.ls_files("--others", "--exclude-standard", "-z", "--", "*.py").split("\0"):
            path = top / rel
            if rel and rel not in listed and path.is_file() and not path.is_symlink():
                text = _decode(path.read_bytes())
                if text is None:
                    notes.append(f"{rel}: skipped (binary, not UTF-8, or too large)")
                else:
                    files.append(ChangedFile(rel, "", "added", "", text))
    return files, notes


def added_lines(old: str, new: str) -> frozenset[int]:
    """Lines of ``new`` (1-based) that were inserted or replaced; pure deletions add none."""
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    lines: set[int] = set()
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            lines.update(range(j1 + 1, j2 + 1))
    return frozenset(lines)


def deletion_points(old: str, new: str) -> frozenset[int]:
    """Lines of ``new`` (1-based) on either side of a place where lines of ``old`` were removed, none added."""
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    lines: set[int] = set()
    for tag, _i1, _i2, j1, _j2 in matcher.get_opcodes():
        if tag == "delete":
            lines.update(n for n in (j1, j1 + 1) if n >= 1)
    return frozenset(lines)


def line_map(old: str, new: str) -> dict[int, int]:
    """Line numbers of ``old`` that survive unchanged in ``new``, mapped to where they are there."""
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    mapping: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            mapping[block.a + k + 1] = block.b + k + 1
    return mapping


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _function_nodes(body: Iterable[ast.stmt], prefix: str = "") -> Iterator[tuple[str, FunctionNode]]:
    """(qualname, node) of module-level functions and of methods, classes nested at any depth."""
    for node in body:
        if isinstance(node, FunctionNode):
            yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef):
            yield from _function_nodes(node.body, f"{prefix}{node.name}.")
        elif isinstance(node, ast.If | ast.Try):
            blocks = [node.body, node.orelse]
            if isinstance(node, ast.Try):
                blocks += [node.finalbody] + [h.body for h in node.handlers]
            for block in blocks:
                yield from _function_nodes(block, prefix)


def _body(node: FunctionNode) -> list[ast.stmt]:
    """The function's statements without its docstring."""
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return body[1:]
    return body


def _normal(node: FunctionNode) -> str:
    """The function as the interpreter sees it: blind to comments, whitespace and its docstring."""
    clone = type(node)(**{f: getattr(node, f) for f in node._fields})
    clone.body = _body(node) or [ast.Pass()]
    return ast.dump(clone, annotate_fields=False, include_attributes=False)


def _code_lines(node: FunctionNode) -> dict[int, int]:
    """Each line of the body holding code -> the first line of its statement (where coverage counts it)."""
    lines: dict[int, int] = {}
    for stmt in _body(node):
        for sub in ast.walk(stmt):
            if not isinstance(sub, ast.stmt):
                continue
            # A compound statement holds its header's lines only; the statements inside hold their own.
            inner = [
                getattr(b, "lineno", None) or b.pattern.lineno
                for f in ("body", "orelse", "finalbody", "handlers", "cases")
                for b in getattr(sub, f, [])
            ]
            last = min(inner) - 1 if inner else (sub.end_lineno or sub.lineno)
            for n in range(sub.lineno, max(last, sub.lineno) + 1):
                lines.setdefault(n, sub.lineno)
    return lines


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _functions(tree: ast.Module | None) -> dict[str, FunctionNode]:
    return dict(_function_nodes(tree.body)) if tree is not None else {}


def changed_functions(old: str, new: str) -> dict[str, frozenset[int]]:
    """Qualname -> the lines that matter, for each function of ``new`` the change from ``old`` touched.

    The lines that matter are the statements whose lines were added or edited (for lines only removed, the
    statements on either side of the gap); where the signature changed, also the statements that read a
    parameter it added or redefined (the whole function when none does); the whole function when its
    decorators changed or it is new.
    """
    tree = _parse(new)
    if tree is None:
        return {}
    touched_all = added_lines(old, new)
    removed_at = deletion_points(old, new) if old else frozenset()  # a removed line changes a function too
    before = _functions(_parse(old)) if old else {}
    found: dict[str, frozenset[int]] = {}
    for qualname, node in _functions(tree).items():
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        end = node.end_lineno or node.lineno
        touched = {n for n in touched_all | removed_at if start <= n <= end}
        if not touched:
            continue
        if qualname in before and _normal(before[qualname]) == _normal(node):
            continue  # comments, whitespace or the docstring only
        whole = frozenset(range(node.lineno, end + 1))
        first_body = node.body[0].lineno
        decorators = touched & set(range(start, node.lineno))
        if qualname not in before or decorators:
            found[qualname] = whole  # new, or its decorators changed: all of it behaves anew
            continue
        code = _code_lines(node)
        lines = {code[n] for n in touched if n in code} | {n for n in touched if n in code}
        if touched & set(range(node.lineno, first_body)):
            # The signature changed: what the change reaches is its edited statements and those that use a
            # parameter it added or redefined (`strict=False` added: the lines reading `strict`), not the lines
            # it left alone. A new parameter the body never reads leaves the whole function; a signature that
            # only lost a parameter (or a comment beside it) counts like an edited body.
            names = _changed_parameters(before[qualname], node)
            if names:
                used = {
                    code[n.lineno]
                    for stmt in _body(node)
                    for n in ast.walk(stmt)
                    if isinstance(n, ast.Name) and n.id in names and n.lineno in code
                }
                found[qualname] = frozenset(lines | used) if used else whole
                continue
        found[qualname] = frozenset(lines) or whole
    return found


def _parameters(node: FunctionNode) -> dict[str, str]:
    """Each parameter's name -> how it is declared (its kind, annotation and default, as the AST dumps them)."""
    a = node.args
    out: dict[str, str] = {}
    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for kind, arg, default in [
        *(("positional", x, d) for x, d in zip(positional, defaults)),
        *(("keyword", x, d) for x, d in zip(a.kwonlyargs, a.kw_defaults)),
        *(("star", x, None) for x in (a.vararg, a.kwarg) if x is not None),
    ]:
        out[arg.arg] = ast.dump(
            ast.Tuple(
                [ast.Constant(kind), arg.annotation or ast.Constant(None), default or ast.Constant(None)], ast.Load()
            )
        )
    return out


def _changed_parameters(old: FunctionNode, new: FunctionNode) -> frozenset[str]:
    """The parameters of ``new`` that ``old`` lacks or declares otherwise (kind, annotation, default)."""
    before, after = _parameters(old), _parameters(new)
    return frozenset(name for name, how in after.items() if before.get(name) != how)


def function_sources(text: str) -> dict[str, str]:
    """Qualname -> source (decorators included, whole lines, as :attr:`Target.source`) of each function and method
    of ``text``."""
    lines = text.splitlines()
    out: dict[str, str] = {}
    for qualname, node in _functions(_parse(text)).items():
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        out[qualname] = "\n".join(lines[start - 1 : node.end_lineno or node.lineno])
    return out


def _matches(rel: str, globs: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(Path(rel).name, g) for g in globs)


def changed_targets(
    root: Path,
    spec: ChangeSpec,
    *,
    paths: Sequence[str | Path] = (),
    include_private: bool = False,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> Changes:
    """The functions and methods under ``root`` that the change touched, each with its changed lines.

    ``paths`` (files or folders) narrows the search, e.g. to the files a pre-commit hook was given.
    """
    root = root.resolve()
    include, exclude = tuple(include), tuple(exclude)
    wanted = [Path(p).resolve() for p in paths]
    with open_repo(root) as repo:
        what = in_progress(repo)
        if what and spec.mode != RANGE:
            raise Busy(
                f"a {what} is in progress: testbot leaves merge and rebase commits alone; "
                f"run it again once the {what} is done"
            )
        top = Path(repo.working_tree_dir).resolve()
        files, notes = changed_files(repo, spec)
    targets: list[Target] = []
    seen: list[str] = []
    for cf in files:
        path = top / cf.path
        if not path.is_relative_to(root):
            continue
        rel = path.relative_to(root).as_posix()
        if wanted and not any(path == w or path.is_relative_to(w) for w in wanted):
            continue
        if is_test_file(Path(rel)) or (include and not _matches(rel, include)) or _matches(rel, exclude):
            continue
        seen.append(rel)
        if _parse(cf.new_text) is None:
            notes.append(f"{rel}: skipped (syntax error)")
            continue
        functions = changed_functions(cf.old_text, cf.new_text)
        if not functions:
            continue
        try:
            src = read_source(path)
        except FatalError as exc:  # deleted or broken in the working tree, though staged
            notes.append(f"{rel}: skipped ({exc})")
            continue
        mapping = None if src.text == cf.new_text else line_map(cf.new_text, src.text)
        here = {t.qualname: t for t in functions_in(src, root, include_private)}
        before = function_sources(cf.old_text) if cf.old_text else {}
        for qualname, lines in functions.items():
            target = here.get(qualname)
            if target is None:  # private, not a target kind, or gone from the working tree
                continue
            if mapping is not None:
                lines = (
                    frozenset(mapping[n] for n in lines if n in mapping and target.start <= mapping[n] <= target.end)
                    or target.lines
                )
            targets.append(dataclasses.replace(target, lines=lines, before=before.get(qualname, "")))
    return Changes(tuple(targets), tuple(notes), tuple(seen))


# -- commit mode


def uncommitted(repo: git.Repo, paths: Iterable[Path]) -> list[str]:
    """Those of ``paths`` with staged or unstaged changes, or present but untracked (work of the user's)."""
    top = Path(repo.working_tree_dir).resolve()
    rels = [p.resolve().relative_to(top).as_posix() for p in paths]
    if not rels:
        return []
    dirty = set(repo.git.diff("HEAD", "--name-only", "-z", "--", *rels).split("\0"))
    dirty |= set(repo.git.ls_files("--others", "-z", "--", *rels).split("\0"))
    return sorted(r for r in dirty if r)


def check_committable(root: Path, paths: Iterable[Path]) -> None:
    """Raise a GitProblem unless a commit of ``paths`` on top of HEAD can be made without taking user work."""
    with open_repo(root) as repo:
        what = in_progress(repo)
        if what:
            raise GitProblem(f"a {what} is in progress: finish it before testbot commits tests (or drop --commit)")
        if not repo.head.is_valid():
            raise GitProblem("the repository has no commit yet: make one before using --commit")
        if repo.head.is_detached:
            raise GitProblem("HEAD is detached: check out a branch before using --commit (or drop --commit)")
        dirty = uncommitted(repo, paths)
        if dirty:
            raise GitProblem(
                f"{', '.join(dirty)} has changes of yours that are not committed: commit or stash "
                f"them first, or drop --commit (testbot commits only its own tests)"
            )


@contextlib.contextmanager
def _hold_interrupts() -> Iterator[None]:
    """Ctrl-C waits until the block is done, then raises KeyboardInterrupt as usual."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _git(repo: git.Repo, *args: str, env: dict[str, str] | None = None) -> str:
    # Its own session: a Ctrl-C at the terminal reaches testbot (which holds it back), not git.
    return repo.git.execute(["git", *args], env={**(env or {}), "GIT_OPTIONAL_LOCKS": "0"}, start_new_session=True)  # type: ignore[return-value]


def commit_files(root: Path, files: dict[Path, str], message: str) -> str:
    """Commit exactly ``files`` (path -> content) on top of HEAD; return the new commit's sha.

    The commit is built with a private index, so the user's staged changes stay staged and out of it;
    then HEAD moves (only if it still points where it did) and the user's index gets the same entries
    for these paths, so ``git status`` shows them committed. Git hooks do not run for this commit.
    """
    import git

    with open_repo(root) as repo:
        top = Path(repo.working_tree_dir).resolve()
        if repo.head.is_detached or not repo.head.is_valid():
            raise GitProblem("HEAD is detached or has no commit: check out a branch before using --commit")
        head = repo.head.commit.hexsha
        entries = []
        with tempfile.TemporaryDirectory(prefix="testbot-commit-") as tmp:
            env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
            try:
                _git(repo, "read-tree", head, env=env)
                for path, text in sorted(files.items()):
                    rel = path.resolve().relative_to(top).as_posix()
                    content = Path(tmp) / "content"
                    content.write_bytes(text.encode("utf-8"))
                    sha = _git(repo, "hash-object", "-w", f"--path={rel}", str(content))
                    try:
                        mode = format(repo.head.commit.tree[rel].mode, "o")
                    except KeyError:
                        mode = "100644"
                    entries.append(f"{mode},{sha},{rel}")
                    _git(repo, "update-index", "--add", "--cacheinfo", entries[-1], env=env)
                tree = _git(repo, "write-tree", env=env)
                (Path(tmp) / "message").write_text(message, encoding="utf-8")
                ident = {}
                try:
                    _git(repo, "var", "GIT_COMMITTER_IDENT")
                except git.GitCommandError:  # no user.name/email configured (e.g. in CI)
                    ident = {
                        f"GIT_{who}_{what}": value
                        for who in ("AUTHOR", "COMMITTER")
                        for what, value in (("NAME", "testbot"), ("EMAIL", "testbot@localhost"))
                    }
                commit = _git(repo, "commit-tree", tree, "-p", head, "-F", str(Path(tmp) / "message"), env=ident)
                with _hold_interrupts():
                    _git(repo, "update-ref", "-m", "testbot: commit tests", "HEAD", commit, head)
                    for entry in entries:
                        _git(repo, "update-index", "--add", "--cacheinfo", entry)
            except git.GitCommandError as exc:
                raise GitProblem(f"could not commit the tests: {(exc.stderr or str(exc)).strip()}") from None
        return commit


__all__ = [
    "Busy",
    "ChangeSpec",
    "ChangedFile",
    "Changes",
    "GitProblem",
    "STAGED",
    "WORKTREE",
    "RANGE",
    "added_lines",
    "changed_files",
    "changed_functions",
    "changed_targets",
    "check_committable",
    "commit_files",
    "in_progress",
    "line_map",
    "open_repo",
    "uncommitted",
]
