"""Changed functions from git: every kind of change, on real temporary repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import GIT, run_cli
from testbot.diff import RANGE, STAGED, WORKTREE, Busy, ChangeSpec, GitProblem, changed_functions, changed_targets

MODULE = '''\
import functools


def plain(x):
    """Add one."""
    # one more
    return x + 1


@functools.lru_cache
def cached(x):
    return x * 2


def branchy(x):
    if x > 0:
        return "pos"
    return "neg"


class Outer:
    class Inner:
        def deep(self, y):
            return y - 1

    def shallow(self):
        return 0
'''


def git(root: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True, text=True).stdout


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def edit(self, rel: str, old: str, new: str) -> None:
        text = (self.root / rel).read_text(encoding="utf-8")
        assert old in text, old
        self.write(rel, text.replace(old, new, 1))

    def commit(self, message: str = "change") -> None:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)

    def changed(self, mode: str = STAGED, **kw) -> dict[str, list[int]]:
        """target id -> its lines that matter, as line texts' numbers in the working tree."""
        spec = ChangeSpec(mode, kw.pop("base", ""), kw.pop("head", "HEAD"))
        return {t.id: sorted(t.lines) for t in changed_targets(self.root, spec, **kw).targets}

    def line(self, rel: str, text: str) -> int:
        lines = (self.root / rel).read_text(encoding="utf-8").splitlines()
        return lines.index(text) + 1


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "repo")
    r.root.mkdir()
    git(r.root, "init", "-q")
    r.write("pyproject.toml", "[project]\nname = 'pkg'\n")
    r.write("pkg/__init__.py", "")
    r.write("pkg/mod.py", MODULE)
    r.write("tests/test_mod.py", "def test_nothing():\n    pass\n")
    r.commit("initial")
    return r


def staged(repo: Repo, rel: str, old: str, new: str) -> dict[str, list[int]]:
    repo.edit(rel, old, new)
    git(repo.root, "add", rel)
    return repo.changed()


def whole(repo: Repo, rel: str, def_line: str, last_line: str) -> list[int]:
    return list(range(repo.line(rel, def_line), repo.line(rel, last_line) + 1))


# -- what counts


def test_new_function_is_a_target_with_all_its_lines(repo: Repo):
    found = staged(
        repo,
        "pkg/mod.py",
        "@functools.lru_cache",
        "def added(a, b):\n    if a:\n        return b\n    return a\n\n\n@functools.lru_cache",
    )
    assert found == {"pkg/mod.py::added": whole(repo, "pkg/mod.py", "def added(a, b):", "    return a")}


def test_edited_body_matters_only_on_the_changed_lines(repo: Repo):
    found = staged(repo, "pkg/mod.py", '    return "neg"', '    return "negative"')
    assert found == {"pkg/mod.py::branchy": [repo.line("pkg/mod.py", '    return "negative"')]}


def test_edited_statement_spanning_lines_counts_from_its_first_line(repo: Repo):
    found = staged(repo, "pkg/mod.py", '        return "pos"', '        return (\n            "positive")')
    first = repo.line("pkg/mod.py", "        return (")
    assert found == {"pkg/mod.py::branchy": [first, first + 1]}


def test_edited_decorator_makes_the_whole_function_matter(repo: Repo):
    found = staged(repo, "pkg/mod.py", "@functools.lru_cache", "@functools.lru_cache(maxsize=8)")
    assert found == {"pkg/mod.py::cached": whole(repo, "pkg/mod.py", "def cached(x):", "    return x * 2")}


def test_a_new_parameter_the_body_never_reads_makes_the_whole_function_matter(repo: Repo):
    found = staged(repo, "pkg/mod.py", "def plain(x):", "def plain(x, step=1):")
    assert found == {"pkg/mod.py::plain": whole(repo, "pkg/mod.py", "def plain(x, step=1):", "    return x + 1")}


def test_a_new_parameter_matters_where_the_body_reads_it_not_on_the_lines_left_alone(repo: Repo):
    repo.edit("pkg/mod.py", "def branchy(x):\n    if x > 0:", "def branchy(x, strict=False):\n    if x > 0 or strict:")
    git(repo.root, "add", "pkg/mod.py")
    assert repo.changed() == {"pkg/mod.py::branchy": [repo.line("pkg/mod.py", "    if x > 0 or strict:")]}


def test_a_changed_default_matters_on_the_unedited_lines_that_read_it(repo: Repo):
    repo.write("pkg/scale.py", "def scale(x, factor=2):\n    base = 10\n    return base + x * factor\n")
    repo.commit("scale")
    found = staged(repo, "pkg/scale.py", "factor=2", "factor=3")
    assert found == {"pkg/scale.py::scale": [3]}  # not `base = 10`


def test_a_signature_that_only_lost_a_parameter_matters_on_the_edited_lines(repo: Repo):
    repo.write("pkg/scale.py", "def scale(x, factor=2):\n    base = 10\n    return base + x * factor\n")
    repo.commit("scale")
    found = staged(
        repo,
        "pkg/scale.py",
        "def scale(x, factor=2):\n    base = 10\n    return base + x * factor",
        "def scale(x):\n    base = 10\n    return base + x * 2",
    )
    assert found == {"pkg/scale.py::scale": [3]}


def test_lines_deleted_from_a_body_change_the_function(repo: Repo):
    """Behaviour changed though nothing was added: the statements on either side of the gap matter."""
    found = staged(repo, "pkg/mod.py", '    if x > 0:\n        return "pos"\n', "")
    assert list(found) == ["pkg/mod.py::branchy"] and found["pkg/mod.py::branchy"]


def test_method_of_a_nested_class(repo: Repo):
    found = staged(repo, "pkg/mod.py", "            return y - 1", "            return y - 2")
    assert found == {"pkg/mod.py::Outer.Inner.deep": [repo.line("pkg/mod.py", "            return y - 2")]}


@pytest.mark.parametrize(
    "old, new",
    [
        ("    def shallow(self):\n        return 0\n", ""),  # a method deleted
        ("    # one more\n", "    # plus one, the comment says\n"),  # comment only
        ("    return x + 1\n", "    return x   +   1   \n\n\n"),  # whitespace only
        ('    """Add one."""\n', '    """Add one to x and return it."""\n'),  # docstring only
    ],
    ids=["deleted method", "comment", "whitespace", "docstring"],
)
def test_changes_that_do_not_count(repo: Repo, old: str, new: str):
    assert staged(repo, "pkg/mod.py", old, new) == {}


def test_renamed_file_without_edits_has_no_targets(repo: Repo):
    git(repo.root, "mv", "pkg/mod.py", "pkg/renamed.py")
    assert repo.changed() == {}


def test_renamed_file_with_an_edit_has_only_the_edited_function_under_its_new_path(repo: Repo):
    git(repo.root, "mv", "pkg/mod.py", "pkg/renamed.py")
    found = staged(repo, "pkg/renamed.py", "    return x + 1", "    return x + 2")
    assert found == {"pkg/renamed.py::plain": [repo.line("pkg/renamed.py", "    return x + 2")]}


def test_file_moved_to_another_package_keeps_unchanged_functions_out(repo: Repo):
    repo.write("other/__init__.py", "")
    git(repo.root, "add", "other/__init__.py")
    git(repo.root, "mv", "pkg/mod.py", "other/mod.py")
    found = staged(repo, "other/mod.py", "    return 0", "    return 1")
    assert found == {"other/mod.py::Outer.shallow": [repo.line("other/mod.py", "        return 1")]}


def test_new_file_gives_all_its_public_functions(repo: Repo):
    repo.write(
        "pkg/fresh.py",
        "def one():\n    return 1\n\n\ndef _hidden():\n    return 2\n\n\nclass K:\n"
        "    def two(self):\n        return 2\n",
    )
    git(repo.root, "add", "pkg/fresh.py")
    assert repo.changed() == {"pkg/fresh.py::one": [1, 2], "pkg/fresh.py::K.two": [10, 11]}


def test_file_deleted_in_the_change_gives_nothing(repo: Repo):
    git(repo.root, "rm", "-q", "pkg/mod.py")
    assert repo.changed() == {}


def test_test_files_and_other_files_are_not_targets(repo: Repo):
    repo.write("tests/test_mod.py", "def test_nothing():\n    assert 1 + 1 == 2\n")
    repo.write("notes.txt", "def f():\n    return 1\n")
    git(repo.root, "add", "-A")
    assert repo.changed() == {}


def test_staged_worktree_and_untracked(repo: Repo):
    repo.edit("pkg/mod.py", '    return "neg"', '    return "negative"')
    git(repo.root, "add", "pkg/mod.py")
    repo.edit("pkg/mod.py", "    return x + 1", "    return x + 3")  # not staged
    repo.write("pkg/untracked.py", "def loose():\n    return 0\n")
    assert set(repo.changed(STAGED)) == {"pkg/mod.py::branchy"}
    assert set(repo.changed(WORKTREE)) == {"pkg/mod.py::branchy", "pkg/mod.py::plain", "pkg/untracked.py::loose"}


def test_partially_staged_file_maps_the_staged_lines_onto_the_working_tree(repo: Repo):
    repo.edit("pkg/mod.py", '    return "neg"', '    return "negative"')
    git(repo.root, "add", "pkg/mod.py")
    repo.edit("pkg/mod.py", "import functools\n", "import functools\nimport os\nimport sys\n")  # shifts lines, unstaged
    found = repo.changed(STAGED)
    assert found == {"pkg/mod.py::branchy": [repo.line("pkg/mod.py", '    return "negative"')]}


def test_range_uses_the_merge_base_like_a_pull_request(repo: Repo):
    git(repo.root, "checkout", "-q", "-b", "feature")
    repo.edit("pkg/mod.py", "    return x + 1", "    return x + 5")
    repo.commit("feature: plain")
    repo.edit("pkg/mod.py", "    return 0", "    return 10")
    repo.commit("feature: shallow")
    git(repo.root, "checkout", "-q", "main")
    repo.edit("pkg/mod.py", "    return x * 2", "    return x * 3")  # main moved on meanwhile
    repo.commit("main: cached")
    git(repo.root, "checkout", "-q", "feature")
    assert set(repo.changed(RANGE, base="main")) == {"pkg/mod.py::plain", "pkg/mod.py::Outer.shallow"}
    assert set(repo.changed(RANGE, base="main", head="feature~1")) == {"pkg/mod.py::plain"}


def test_first_commit_of_a_new_repository(tmp_path: Path):
    r = Repo(tmp_path / "new")
    r.root.mkdir()
    git(r.root, "init", "-q")
    r.write("app.py", "def main():\n    return 0\n")
    git(r.root, "add", "app.py")
    assert r.changed() == {"app.py::main": [1, 2]}


def test_paths_narrow_the_change(repo: Repo):
    repo.write("pkg/fresh.py", "def one():\n    return 1\n")
    repo.edit("pkg/mod.py", "    return x + 1", "    return x + 3")
    git(repo.root, "add", "-A")
    assert set(repo.changed(paths=[repo.root / "pkg/fresh.py"])) == {"pkg/fresh.py::one"}


def test_changed_functions_ignores_a_syntax_error_in_the_old_version():
    assert changed_functions("def f(:\n", "def f():\n    return 1\n") == {"f": frozenset({1, 2})}


# -- repositories testbot must not work in, with a clear message


def test_outside_a_git_repository(tmp_path: Path):
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    with pytest.raises(GitProblem, match="not a git repository"):
        changed_targets(tmp_path, ChangeSpec(STAGED))
    run = run_cli(["generate", "--changed"], tmp_path)
    assert run.code == 2 and "not a git repository" in run.err and run.out == ""


def test_shallow_clone_missing_the_base(repo: Repo, tmp_path: Path):
    first = git(repo.root, "rev-parse", "HEAD").strip()
    for n in range(2):
        repo.edit("pkg/mod.py", f"    return x + {n + 1}", f"    return x + {n + 2}")
        repo.commit(f"change {n}")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.root}", str(clone))
    run = run_cli(["generate", "--changed", "--base", first], clone)
    assert run.code == 2
    assert "shallow clone" in run.err and "fetch" in run.err
    assert git(clone, "status", "--porcelain") == ""


def test_merge_in_progress_is_left_alone(repo: Repo):
    git(repo.root, "checkout", "-q", "-b", "other")
    repo.edit("pkg/mod.py", "    return x + 1", "    return x + 100")
    repo.commit("other")
    git(repo.root, "checkout", "-q", "main")
    repo.edit("pkg/mod.py", "    return x + 1", "    return x + 200")
    repo.commit("main")
    merge = subprocess.run([*GIT, "merge", "other"], cwd=repo.root, capture_output=True, text=True)
    assert merge.returncode != 0  # a conflict: the merge waits for the user
    with pytest.raises(Busy, match="merge is in progress"):
        changed_targets(repo.root, ChangeSpec(STAGED))
    before = git(repo.root, "status", "--porcelain")
    hook = run_cli(["hook", "--model", "fake:/nonexistent"], repo.root)
    assert hook.code == 0 and "merge is in progress" in hook.err
    generate = run_cli(["generate", "--staged", "--model", "fake:/nonexistent"], repo.root)
    assert generate.code == 2 and "merge is in progress" in generate.err
    assert git(repo.root, "status", "--porcelain") == before
    assert (repo.root / ".git" / "MERGE_HEAD").exists()


def test_detached_head_works_for_a_change_but_refuses_to_commit(repo: Repo):
    git(repo.root, "checkout", "-q", "--detach")
    repo.edit("pkg/mod.py", "    return x + 1", "    return x + 3")
    git(repo.root, "add", "pkg/mod.py")
    assert set(repo.changed()) == {"pkg/mod.py::plain"}
    head = git(repo.root, "rev-parse", "HEAD")
    run = run_cli(["generate", "--staged", "--commit", "--model", "fake:/nonexistent"], repo.root)
    assert run.code == 2 and "HEAD is detached" in run.err
    assert git(repo.root, "rev-parse", "HEAD") == head
    assert git(repo.root, "status", "--porcelain") == "M  pkg/mod.py\n"


def test_a_function_that_only_lost_a_line_is_changed():
    """A removed early return changes behaviour though no line was added: the statements around the gap
    matter; removing a whole other function changes no function that is left."""
    old = (
        "def f(chars):\n    for c in chars:\n        if c:\n            chars.insert(0, c)\n        return chars\n"
        "    return chars\n\n\ndef g():\n    return 1\n"
    )
    assert changed_functions(old, old.replace("        return chars\n", "", 1)) == {"f": frozenset({4, 5})}
    assert changed_functions(old, old.replace("\n\ndef g():\n    return 1\n", "")) == {}


def test_a_changed_private_helper_is_a_target_of_a_change(tmp_path: Path):
    """A pull request that fixes ``_scale`` changes behaviour: with --staged (as with --changed and --base) the
    helper is a target; --no-changed-private leaves private functions out again."""
    from conftest import make_project

    project = make_project(tmp_path / "proj")
    project.write("pkg/m.py", project.read("pkg/m.py") + "\n\ndef _scale(x):\n    return x * 2\n")
    subprocess.run([*GIT, "commit", "-q", "-am", "helper"], cwd=project.root, check=True)
    project.write("pkg/m.py", project.read("pkg/m.py").replace("return x * 2", "return x * 3"))
    subprocess.run([*GIT, "add", "-A"], cwd=project.root, check=True)
    model = project.fake_model({"*": ["nothing to see"] * 4})
    run = project.generate("--staged", "--json", "--model", model, "--repair-rounds", "0", "--samples", "1")
    assert [t["target"] for t in run.json()["targets"]] == ["pkg/m.py::_scale"], run.err
    run = project.generate("--staged", "--no-changed-private", "--model", model)
    assert run.code == 0 and "no changed functions" in run.err


def test_a_changed_function_carries_its_code_before_the_change(repo: Repo):
    repo.edit("pkg/mod.py", '    return "neg"', '    return "negative"')
    repo.edit("pkg/mod.py", "@functools.lru_cache", "def added(a):\n    return a\n\n\n@functools.lru_cache")
    git(repo.root, "add", "-A")
    found = {t.qualname: t for t in changed_targets(repo.root, ChangeSpec(STAGED)).targets}
    before, now = found["branchy"].before, found["branchy"].source
    assert before is not None and before.startswith("def branchy(") and before == now.replace('"negative"', '"neg"')
    assert found["added"].before == ""  # (new in the change: nothing before it)
