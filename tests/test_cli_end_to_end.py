"""End to end: ``testbot generate`` with the fake backend, through real pytest and coverage runs."""

from __future__ import annotations

import ast
import json
import struct
import subprocess
import sys

import pytest

from conftest import FAST, SOURCE, Project, fenced, make_project

TARGET = "pkg/m.py::classify"

# One completion that exercises every way a candidate can end: its tests are split apart and each
# runs on its own. Only test_negative and test_zero may reach the test file.
MIXED = fenced("""
import os

import pytest

from pkg.m import classify
from pkg.no_such_module import helper


def classify(n):  # the model pasted a (wrong) copy of the code under test
    return "pasted"


def test_negative():
    assert classify(-1) == "negative"


def test_negative_again():
    assert classify(-7) == "negative"


def test_zero_wrong():
    assert classify(0) == "positive"


def test_uses_missing_module():
    assert helper(classify(1)) == "positive"


def test_positive_flaky():
    marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ran-once.marker")
    first_run = not os.path.exists(marker)
    open(marker, "w").close()
    assert first_run
    assert classify(3) == "positive"


def test_zero():
    assert classify(0) == "zero"
""")

GOOD = fenced("""
import pytest
from pkg.m import classify


def test_negative():
    assert classify(-1) == "negative"


def test_zero():
    assert classify(0) == "zero"
""")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """One run over MIXED: (project, source snapshot before the run, run)."""
    project = make_project(tmp_path_factory.mktemp("mixed") / "proj")
    before = project.snapshot()
    run = project.generate(TARGET, "--model", project.fake_model({"classify": [MIXED]}), "--json", *FAST)
    return project, before, run


def _candidates(run) -> dict[str, dict]:
    (target,) = run.json()["targets"]
    return {c["name"]: c for c in target["candidates"]}


# -- what gets kept, and how it is written


def test_kept_tests_are_written_to_the_module_test_file_with_provenance(mixed):
    project, _, run = mixed
    assert run.code == 1, run.err
    text = project.read("tests/test_m.py")
    tree = ast.parse(text)
    assert sorted(n.name for n in tree.body if isinstance(n, ast.FunctionDef)) == ["test_negative", "test_zero"]
    provenance = [line for line in text.splitlines() if line.startswith("# testbot: ")]
    assert len(provenance) == 2
    assert all(line.startswith(f"# testbot: {TARGET} +") and "model fake" in line for line in provenance)
    assert text.count("from pkg.m import classify") == 1


def test_written_file_passes_in_the_project(mixed):
    project, _, _ = mixed
    res = project.pytest("tests/test_m.py")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 passed" in res.stdout


def test_pasted_copy_of_the_function_is_dropped_and_the_real_one_imported(mixed):
    project, _, run = mixed
    text = project.read("tests/test_m.py")
    assert "pasted" not in text
    assert "def classify" not in text
    assert _candidates(run)["test_zero"]["kept"] is True


def test_failing_test_is_rejected_as_assertion_failure(mixed):
    _, _, run = mixed
    c = _candidates(run)["test_zero_wrong"]
    assert c["outcome"] == "assertion_failure"
    assert "'zero' == 'positive'" in c["detail"]
    assert c["kept"] is False
    # its copy with the value the code returns passes, but adds nothing test_zero does not
    repaired = _candidates(run)["test_zero_wrong (observed values)"]
    assert repaired["outcome"] == "passed" and repaired["kept"] is False


def test_test_that_cannot_import_is_rejected_as_import_error(mixed):
    project, _, run = mixed
    c = _candidates(run)["test_uses_missing_module"]
    assert c["outcome"] == "import_error"
    assert "no_such_module" in c["detail"]
    assert "no_such_module" not in project.read("tests/test_m.py")


def test_flaky_test_is_rejected(mixed):
    project, _, run = mixed
    c = _candidates(run)["test_positive_flaky"]
    assert c["outcome"] == "passed"  # its first run passed ...
    assert c["stable"] is False  # ... the next one did not
    assert c["detail"].startswith("flaky")
    assert "test_positive_flaky" not in project.read("tests/test_m.py")


def test_test_covering_the_same_lines_as_a_kept_one_is_dropped(mixed):
    project, _, run = mixed
    cands = _candidates(run)
    first, again = cands["test_negative"], cands["test_negative_again"]
    assert again["outcome"] == "passed" and again["stable"] is True
    assert again["gain_lines"] == first["gain_lines"] != []
    assert first["kept"] is True and again["kept"] is False
    assert "test_negative_again" not in project.read("tests/test_m.py")


def test_json_report_has_the_funnel(mixed):
    _, _, run = mixed
    data = run.json()
    # passed/stable/added count test_zero_wrong's copy with the observed value too (a 7th candidate, not generated)
    assert data["funnel"] == {"generated": 6, "parsed": 6, "passed": 5, "stable": 4, "added_coverage": 4, "kept": 2}
    assert data["exit_code"] == 1
    assert data["model"] == "fake"
    (change,) = data["files"]
    assert change["path"].endswith("tests/test_m.py")
    assert sorted(change["tests"]) == ["test_negative", "test_zero"]
    assert change["written"] is True and change["created"] is True
    (target,) = data["targets"]
    assert target["target"] == TARGET
    assert target["gain_lines"] == 4 and target["lines_total"] == 5


def test_source_files_are_never_modified(mixed):
    project, before, _ = mixed
    after = project.snapshot()
    assert set(after) - set(before) == {"tests/test_m.py"}
    assert {k: v for k, v in after.items() if k in before} == before
    assert project.git_status() == ["?? tests/test_m.py"]
    assert project.read("pkg/m.py") == SOURCE


# -- runs of their own


def test_repair_round_keeps_the_fixed_test(project: Project):
    wrong = fenced("from pkg.m import classify\n\n\ndef test_zero():\n    assert classify(0) == 'positive'\n")
    fixed = fenced("from pkg.m import classify\n\n\ndef test_zero():\n    assert classify(0) == 'zero'\n")
    model = project.fake_model([wrong, fixed])
    # (--no-observe: else the wrong value is replaced by the one the code returns before any repair round)
    run = project.generate(
        TARGET,
        "--model",
        model,
        "--json",
        "--samples",
        "1",
        "--repair-rounds",
        "1",
        "--runs",
        "2",
        "--timeout",
        "20",
        "--no-observe",
    )
    assert run.code == 1, run.err
    (target,) = run.json()["targets"]
    assert target["rounds"] == 2
    assert [(c["round"], c["outcome"], c["kept"]) for c in target["candidates"]] == [
        (0, "assertion_failure", False),
        (1, "passed", True),
    ]
    text = project.read("tests/test_m.py")
    assert "classify(0) == 'zero'" in text
    assert "'positive'" not in text


def test_second_run_over_unchanged_code_adds_nothing(project: Project):
    model = project.fake_model({"*": [GOOD, GOOD]})
    first = project.generate(TARGET, "--model", model, *FAST)
    assert first.code == 1, first.err
    written = project.read("tests/test_m.py")
    assert "test_negative" in written and "test_zero" in written
    second = project.generate(TARGET, "--model", model, *FAST)
    assert second.code == 0, second.err
    assert project.read("tests/test_m.py") == written
    assert "0 kept" in second.out


def test_existing_test_file_is_extended_not_replaced(project: Project):
    existing = "from pkg.m import classify\n\n\ndef test_positive():\n    assert classify(5) == 'positive'\n"
    project.write("tests/test_m.py", existing)
    run = project.generate(TARGET, "--model", project.fake_model([GOOD]), *FAST)
    assert run.code == 1, run.err
    text = project.read("tests/test_m.py")
    assert text.startswith("from pkg.m import classify\n")
    assert "def test_positive():\n    assert classify(5) == 'positive'\n" in text
    assert text.count("from pkg.m import classify") == 1
    assert "def test_negative" in text and "def test_zero" in text
    assert "updated tests/test_m.py: 2 tests" in run.out


def test_whole_file_puts_the_tests_of_all_its_functions_in_one_test_file(project: Project):
    clamp = fenced(
        "import pytest\nfrom pkg.m import clamp\n\n\ndef test_clamp_high():\n    assert clamp(9, 0, 5) == 5\n"
        "\n\ndef test_clamp_bad_bounds():\n    with pytest.raises(ValueError):\n        clamp(1, 3, 2)\n"
    )
    run = project.generate("pkg/m.py", "--model", project.fake_model({"classify": [GOOD], "clamp": [clamp]}), *FAST)
    assert run.code == 1, run.err
    text = project.read("tests/test_m.py")
    assert sorted(n.name for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)) == [
        "test_clamp_bad_bounds",
        "test_clamp_high",
        "test_negative",
        "test_zero",
    ]
    assert text.count("# testbot: pkg/m.py::classify ") == 2 and text.count("# testbot: pkg/m.py::clamp ") == 2
    assert "pkg/m.py::classify  2 candidates, 2 kept" in run.out and "pkg/m.py::clamp  2 candidates, 2 kept" in run.out
    assert "created tests/test_m.py: 4 tests" in run.out
    assert project.pytest("tests").returncode == 0


def test_no_passing_candidate_exits_0_and_writes_nothing(project: Project):
    before = project.snapshot()
    bad = fenced("from pkg.m import classify\n\n\ndef test_zero():\n    assert classify(0) == 'positive'\n")
    run = project.generate(TARGET, "--model", project.fake_model([bad]), *FAST, "--no-observe")
    assert run.code == 0, run.err
    assert project.snapshot() == before
    assert "0 kept" in run.out


def test_fully_covered_target_needs_no_model(project: Project):
    project.write(
        "tests/test_m.py",
        "import pytest\nfrom pkg.m import clamp\n\n\ndef test_clamp():\n"
        "    assert clamp(5, 0, 3) == 3\n    with pytest.raises(ValueError):\n"
        "        clamp(1, 2, 0)\n",
    )
    before = project.snapshot()
    run = project.generate("pkg/m.py::clamp", "--model", "fake:/nonexistent/completions.json", *FAST)
    assert run.code == 0, run.err
    assert "already fully covered" in run.out
    assert project.snapshot() == before


def test_console_script_dry_run_writes_nothing_and_exits_1(project: Project, testbot_script: str):
    before = project.snapshot()
    res = subprocess.run(
        [testbot_script, "generate", TARGET, "--model", project.fake_model([GOOD]), "--dry-run", *FAST],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1, res.stderr
    assert "would write tests/test_m.py: 2 tests" in res.stdout
    assert f"{TARGET}  2 candidates, 2 kept" in res.stdout
    assert project.snapshot() == before
    assert project.git_status() == []


def test_dry_run_json_reports_what_would_be_written(project: Project):
    wrong = fenced("from pkg.m import classify\n\n\ndef test_wrong():\n    assert classify(0) == 1\n")
    model = project.fake_model({TARGET: [GOOD], "*": [wrong]})  # the target's own id comes first
    run = project.generate(TARGET, "--model", model, "--dry-run", "--json", *FAST)
    assert run.code == 1
    data = run.json()
    assert data["dry_run"] is True
    assert sorted(data["files"][0]["tests"]) == ["test_negative", "test_zero"]
    assert data["files"][0]["written"] is False
    assert not (project.root / "tests").exists()


def test_help_and_no_command(testbot_script: str):
    res = subprocess.run([testbot_script, "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "generate" in res.stdout
    res = subprocess.run([testbot_script], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2


# -- bad input: a clear message on stderr, a non-zero exit, nothing written


@pytest.fixture(scope="session")
def bare_venv(tmp_path_factory):
    """A virtual environment with neither pytest nor coverage."""
    folder = tmp_path_factory.mktemp("venv") / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return folder / "bin" / "python"


def _file(rel: str, content: str | bytes):
    """Setup for a case: write a file into the project and pass it to testbot."""

    def setup(p: Project) -> list[str]:
        p.write(rel, content)
        return [rel]

    return setup


def _config(table: str):
    """Setup for a case: add a [tool.testbot] table to the project's pyproject.toml."""

    def setup(p: Project) -> list[str]:
        p.write("pyproject.toml", p.read("pyproject.toml") + "\n[tool.testbot]\n" + table)
        return [TARGET]

    return setup


def _bogus_gguf(p: Project) -> list[str]:
    path = p.root.parent / "bogus.gguf"
    path.write_bytes(b"this is not a model\n" * 100)
    return [TARGET, "--model", str(path)]


def _symlink(rel: str, to: str):
    """Setup for a case: a symbolic link in the project, passed to testbot."""

    def setup(p: Project) -> list[str]:
        (p.root / rel).symlink_to(to)
        return [rel]

    return setup


def _cut_gguf(size: int):
    """Setup for a case: a model file whose GGUF header promises tensors that are not there."""

    def setup(p: Project) -> list[str]:
        path = p.root.parent / "cut.gguf"
        path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 291, 24) + bytes(size))
        return [TARGET, "--model", str(path)]

    return setup


def _cut_completions(p: Project) -> list[str]:
    path = p.root.parent / "cut.json"
    path.write_text('{"*": ["```python\\nfrom pkg.m import cl', encoding="utf-8")
    return [TARGET, "--model", f"fake:{path}"]


def _missing_dependency(p: Project) -> list[str]:
    p.write("pkg/needs.py", "import nosuchdep_for_testbot\n\n\ndef f(x):\n    return x\n")
    return ["pkg/needs.py"]


BAD_INPUTS = {
    # name: (setup(project) -> arguments, exit code, words the message on stderr must contain)
    "missing path": (lambda p: ["pkg/nope.py"], 2, ["pkg/nope.py", "no such file"]),
    "not python": (_file("pkg/data.txt", "x = 1\n"), 2, ["pkg/data.txt", "not a Python file"]),
    "syntax error": (_file("pkg/broken.py", "def f(:\n    return 1\n"), 2, ["pkg/broken.py:1", "syntax error"]),
    "missing dependency": (_missing_dependency, 3, ["nosuchdep_for_testbot", "install"]),
    "not utf-8": (
        _file("pkg/latin.py", "def f():\n    return 'caf\xe9'\n".encode("latin-1")),
        2,
        ["pkg/latin.py", "not UTF-8"],
    ),
    "empty file": (_file("pkg/empty.py", ""), 2, ["pkg/empty.py", "empty"]),
    "binary file": (_file("pkg/blob.py", b"\x7fELF\x02\x01\x00\x00def f(): pass\n"), 2, ["pkg/blob.py", "binary"]),
    "model missing": (
        lambda p: [TARGET, "--model", "/nonexistent/model.gguf"],
        2,
        ["/nonexistent/model.gguf", "no such file"],
    ),
    "model corrupt": (_bogus_gguf, 3, ["bogus.gguf", "not a GGUF file"]),
    "fake completions missing": (lambda p: [TARGET, "--model", "fake:/nonexistent/c.json"], 2, ["/nonexistent/c.json"]),
    "unknown config key": (_config("sampels = 2\n"), 2, ["unknown key 'sampels'", "[tool.testbot]"]),
    "bad config value": (_config("runs = 'many'\n"), 2, ["'many'", "runs"]),
    "no such function": (lambda p: ["pkg/m.py::nosuchfunc"], 2, ["nosuchfunc", "classify", "clamp"]),
    "selector on folder": (lambda p: ["pkg::classify"], 2, ["selects a function in a file"]),
    "bad option value": (lambda p: [TARGET, "--samples", "0"], 2, ["samples must be at least 1"]),
    "python missing": (lambda p: [TARGET, "--python", "/nonexistent/bin/python"], 3, ["/nonexistent/bin/python"]),
    "huge file": (_file("pkg/huge.py", "x = 1\n" * 400_000), 2, ["pkg/huge.py", "larger than 2 MiB", "--exclude"]),
    "symlink loop": (_symlink("pkg/loop.py", "loop.py"), 2, ["pkg/loop.py", "symbolic link loop"]),
    "broken symlink": (_symlink("pkg/gone.py", "nowhere.py"), 2, ["pkg/gone.py", "broken symbolic link"]),
    "model cut short": (_cut_gguf(1000), 3, ["cut.gguf", "truncated?"]),
    "model cut after its header": (_cut_gguf(2 * 1024**2), 3, ["cut.gguf", "truncated or corrupt"]),
    "fake completions cut short": (_cut_completions, 2, ["cut.json", "cannot read completions"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_reported_and_nothing_is_written(project: Project, case: str):
    setup, code, words = BAD_INPUTS[case]
    args = setup(project)
    if "--model" not in args:
        args += ["--model", project.fake_model([GOOD])]
    before = project.snapshot()
    run = project.generate(*FAST, *args)
    assert run.code == code, run.err
    assert run.err.strip().splitlines()[-1].startswith("testbot: error: ")
    assert run.out == ""
    for word in words:
        assert word in run.err
    assert project.snapshot() == before
    assert not (project.root / "tests").exists()


def test_pytest_and_coverage_missing_from_the_target_environment(project: Project, bare_venv):
    before = project.snapshot()
    run = project.generate(TARGET, "--model", project.fake_model([GOOD]), "--python", str(bare_venv), *FAST)
    assert run.code == 3, run.err
    assert "pytest" in run.err and "not installed" in run.err and str(bare_venv) in run.err
    assert "pip install pytest coverage" in run.err
    assert project.snapshot() == before


def test_bad_input_through_the_console_script(project: Project, testbot_script: str):
    res = subprocess.run(
        [testbot_script, "generate", "pkg/m.py::nosuchfunc"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert "nosuchfunc" in res.stderr
    assert res.stdout == ""


def test_json_output_is_only_json(project: Project):
    run = project.generate(TARGET, "--model", project.fake_model([GOOD]), "--json", *FAST)
    data = json.loads(run.out)  # nothing else on stdout
    assert data["exit_code"] == run.code == 1
    assert set(data["funnel"]) == {"generated", "parsed", "passed", "stable", "added_coverage", "kept"}


def test_tests_kept_for_one_function_count_for_the_next_ones_in_the_file(project: Project):
    # A `with` test written for __enter__ also runs __exit__: __exit__ then needs no test (and no model call).
    project.write(
        "pkg/box.py",
        "class Box:\n    def __enter__(self):\n        self.open = True\n        return self\n\n"
        "    def __exit__(self, *exc):\n        self.open = False\n",
    )
    with_test = fenced(
        "from pkg.box import Box\n\n\ndef test_with():\n    with Box() as b:\n        assert b.open\n"
        "    assert not b.open\n"
    )
    model = project.fake_model({"Box.__enter__": [with_test]})
    run = project.generate("pkg/box.py", "--model", model, *FAST, "--json")
    assert run.code == 1, run.err
    targets = {t["target"]: t for t in run.json()["targets"]}
    assert targets["pkg/box.py::Box.__enter__"]["kept"] == ["test_with"]
    assert targets["pkg/box.py::Box.__exit__"]["note"] == "already fully covered"
    assert targets["pkg/box.py::Box.__exit__"]["completions"] == 0


# -- the world changing under a run: a clear note, the rest goes on, nothing harmed


def test_folder_with_a_symlink_loop_is_walked_once(project: Project):
    (project.root / "pkg" / "again").symlink_to(".")  # pkg/again/again/again/... if it were followed
    run = project.generate("pkg", "--model", project.fake_model({"classify": [GOOD]}), "--json", *FAST)
    assert run.code == 1, run.err
    ids = sorted(t["target"] for t in run.json()["targets"])
    assert ids == ["pkg/m.py::clamp", "pkg/m.py::classify"]
    assert project.git_status() == ["?? pkg/again", "?? tests/test_m.py"]


def test_source_file_deleted_while_testbot_runs(project: Project, monkeypatch):
    project.write("pkg/other.py", "def double(x):\n    if x > 10:\n        return x\n    return 2 * x\n")
    project.git_init()
    from testbot.backends.fake import FakeBackend

    real = FakeBackend.complete

    def complete(self, prompt, **kw):  # the first model call: the user deletes a file testbot is about to read
        (project.root / "pkg" / "other.py").unlink(missing_ok=True)
        return real(self, prompt, **kw)

    monkeypatch.setattr(FakeBackend, "complete", complete)
    run = project.generate("pkg", "--model", project.fake_model({"classify": [GOOD]}), "--json", *FAST)
    assert run.code == 1, run.err
    notes = {t["target"]: t["note"] for t in run.json()["targets"]}
    assert notes["pkg/other.py::double"] == "skipped: cannot read the file any more (FileNotFoundError)"
    assert "test_negative" in project.read("tests/test_m.py")
    assert not (project.root / "pkg" / "other.py").exists() and project.read("pkg/m.py") == SOURCE
    assert run.json()["errors"] == []  # a deletion between candidate runs is the user's, not a candidate's


def test_model_file_replaced_while_testbot_runs(project: Project, monkeypatch):
    model = project.fake_model({"classify": [GOOD]})
    path = model.removeprefix("fake:")
    from testbot.backends.fake import FakeBackend

    real = FakeBackend.complete

    def complete(self, prompt, **kw):  # the file the model came from is overwritten, then cut short
        with open(path, "w", encoding="utf-8") as f:
            f.write('["``')
        return real(self, prompt, **kw)

    monkeypatch.setattr(FakeBackend, "complete", complete)
    run = project.generate(TARGET, "--model", model, "--json", *FAST)
    assert run.code == 1, run.err  # what was loaded at the start is what the run uses
    assert sorted(run.json()["files"][0]["tests"]) == ["test_negative", "test_zero"]
