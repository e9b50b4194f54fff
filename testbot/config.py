"""Settings: every option has a CLI flag, a ``[tool.testbot]`` key and a ``TESTBOT_<NAME>`` variable.

CLI > pyproject > env > default. The few ``TESTBOT_*`` variables that are not settings, on purpose, are
:data:`ENV_ONLY`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbot.errors import FatalError
from testbot.targets import module_path


@dataclass(frozen=True)
class Settings:
    """Every option of testbot: a flag, a ``[tool.testbot]`` key and a ``TESTBOT_<NAME>`` environment variable.

    Some ``TESTBOT_*`` variables are not settings, on purpose (:data:`ENV_ONLY`): the secrets
    ``TESTBOT_OPENAI_API_KEY`` and ``TESTBOT_GITHUB_TOKEN`` (on a command line a secret shows in process
    lists; in pyproject.toml it gets committed); ``TESTBOT_SANDBOX_OFF``, a diagnostic switch a project's own
    pyproject.toml must never reach (a hostile repository would turn the sandbox off); ``TESTBOT_CACHE_DIR``,
    this machine's model cache, which a repository must not move (testbot writes there and trusts the
    verification marks it finds there); ``TESTBOT_DEBUG``, read by the last-resort error handler of every
    command, also when settings were never read; and the plumbing between testbot's own processes and its
    GitHub Action (``TESTBOT_SANDBOX``, ``TESTBOT_SANDBOX_LOCKED``, ``TESTBOT_HANDOFF_FD``, ``TESTBOT_PID_BASE``,
    ``TESTBOT_MODEL_CACHED``, ``TESTBOT_ACTION_PATH``, ``TESTBOT_INPUT_*``). A ``[tool.testbot]`` key that names
    one of them is refused with the reason.
    """

    model: str = "default"  # "default" (embedded Qwen [+ adapter]), "stock", "small", a .gguf, a URL, "fake:FILE"
    backend: str = ""  # empty: chosen from model ("llama_cpp"; "openai" for http(s):// URLs; "fake" for fake:FILE)
    served_model: str = ""  # the model to ask an OpenAI-compatible server for; empty: the first it lists
    adapter: str = ""  # a LoRA adapter folder from testbot finetune (transformers backend)
    device: str = "cpu"  # transformers backend: 'cpu' or 'cuda'
    samples: int = 4  # k completions per target and round
    temperature: float = 0.3  # low: tests must be right more than they must be varied
    top_p: float = 0.95  # nucleus sampling
    max_tokens: int = 384  # per completion: 5-10 short tests; ~35 s of decoding on a 2-core CPU
    seed: int = 0  # sample i of a target uses seed + i
    prompt_tokens: int = 1500  # prompt budget: reading costs ~15 ms a token on a laptop CPU
    context_tokens: int = 4096  # model context window requested
    threads: int = 0  # llama.cpp threads, 0 = all cores
    runs: int = 3  # a passing candidate must pass this many fresh runs, else it is flaky
    timeout: float = 30.0  # seconds per candidate test run
    memory_mb: int = 2048  # address space a candidate test run may use (it runs model-written code)
    max_processes: int = 256  # processes a candidate test run may have at once: a fork bomb stops here
    repair_rounds: int = 2  # extra rounds fed with failures / uncovered lines
    target_seconds: float = 180.0  # time budget per target, repair rounds included
    include_private: bool = False  # also _private functions
    changed_private: bool = True  # --changed/--staged/--base and pull requests: also the _private functions changed
    include: tuple[str, ...] = ()  # only files matching these globs
    exclude: tuple[str, ...] = ()  # skip files matching these globs
    python: str = sys.executable  # interpreter that runs the tests (needs pytest and coverage)
    tests_dir: str = ""  # where new test files go; empty: follow the project's layout
    dry_run: bool = False  # write nothing
    json: bool = False  # print the full report as JSON on stdout
    progress: bool = True  # progress bar on a TTY
    budget: float = 0.0  # seconds for the whole run (0: no limit); targets not started in time are skipped
    max_targets: int = 0  # at most this many targets get work (0: all); the rest are skipped and named
    cache: bool = True  # --changed and hook runs skip functions handled before with the same settings
    commit: bool = False  # commit the written tests as a commit of their own
    group: bool = False  # first one prompt per file for all its functions (a short test or two each), then per function
    record: str = ""  # append a JSONL record (prompt, prefill, test, kept mark) per stable test: distillation data
    observe: bool = True  # repair a test's wrong expected values with those the code returns (testbot.oracle)
    explore: bool = True  # before the model: call the target with values read off its code (testbot.explore)
    write: bool = True  # the model writes the tests from the search's calls and observed values (needs explore)
    mutants: bool = True  # also keep passing tests that catch mutants the kept ones miss (testbot.mutants)
    aim: bool = False  # change runs: the model is shown the mutants no test catches and writes tests for them
    baseline: bool = True  # run the project's own suite first, as its users run it: kept tests add to what it covers
    openai_mode: str = ""  # openai backend: "chat" or "completions" skips the server probe; empty: probe
    llama_verbosity: int = 1  # xllamacpp backend: llama.cpp's own log level (1: errors only, 3: its whole log)
    llama_extra_buffers: bool = False  # llama_cpp backend: llama.cpp's repacked weight buffers (crash with AMX in VMs)
    pr_mode: str = "suggest"  # testbot pr: "suggest", "commit" or "comment" (empty: suggest)
    github_pause: float = 1.0  # testbot pr: seconds between writes to GitHub (its secondary rate limits)
    github_backoff: float = 2.0  # testbot pr: first wait before a retried GitHub call, doubled per try


# Help text for each option, shared by argparse and the README.
HELP: dict[str, str] = {
    "model": "model: 'default' (embedded Qwen2.5-Coder-1.5B, with testbot's LoRA adapter where the package ships "
    "one), 'stock' (the same without the adapter), 'small' (SmolLM2-135M), a .gguf path, BASE+ADAPTER.gguf (a "
    "llama.cpp LoRA adapter on a base), the URL of an OpenAI-compatible server (http://host:port/v1), or fake:FILE",
    "backend": "model backend (llama_cpp, openai, transformers, fake); default: chosen from --model",
    "served_model": "with a server URL as --model: the model id to ask for (default: the first the server lists)",
    "adapter": "a LoRA adapter folder written by testbot finetune --train (implies --backend transformers)",
    "device": "device for the transformers backend: cpu or cuda",
    "samples": "completions sampled per target and round (k)",
    "temperature": "sampling temperature",
    "top_p": "nucleus sampling threshold",
    "max_tokens": "token limit per completion",
    "seed": "base random seed (sample i uses seed+i)",
    "prompt_tokens": "token budget for the prompt",
    "context_tokens": "model context window",
    "threads": "CPU threads for llama.cpp (0: all cores)",
    "runs": "fresh runs a passing test must pass to count as stable",
    "timeout": "seconds allowed per candidate test run",
    "memory_mb": "memory (address space, MiB) allowed per candidate test run",
    "max_processes": "processes allowed at once per candidate test run",
    "repair_rounds": "repair rounds for targets with failures or uncovered lines",
    "target_seconds": "time budget per target",
    "include_private": "also write tests for _private functions and methods",
    "changed_private": "with --changed, --staged, --base and on pull requests: also the _private functions and "
    "methods the change touched (a changed helper is a change to test)",
    "include": "only files matching this glob (repeatable)",
    "exclude": "skip files matching this glob (repeatable)",
    "python": "Python interpreter that runs the tests",
    "tests_dir": "folder for new test files (default: the project's own layout)",
    "dry_run": "validate and measure, but write nothing",
    "json": "print the full report as JSON",
    "progress": "show a progress bar on a TTY",
    "budget": "seconds for the whole run, 0 for no limit; targets not started in time are skipped and named",
    "max_targets": "work on at most this many targets (0: all); the others are skipped and named",
    "cache": "with --changed and in hooks, skip functions already handled with the same source and settings",
    "commit": "commit the tests written as a separate commit (only testbot's files)",
    "group": "first one prompt per file for all its functions that need tests (a short test or two each), then "
    "each function's own rounds for what is still missing: cheaper per function under a tight --budget",
    "observe": "a test that fails only on `assert <expression> == <literal>` gets the value the code returns "
    "instead, and one stopped by an exception from the code under test expects it (pytest.raises); "
    "both are validated again (regression tests; their comment says so)",
    "baseline": "run the project's own test suite first, the way its configuration says, and keep only tests that "
    "add to what it covers; --no-baseline goes on without it (when the suite cannot run)",
    "explore": "before asking the model, search (sandboxed) for calls of each function with values read off its "
    "code (annotations, defaults, names, the constants it compares with, the module's strings and "
    "classes) and keep the calls that add coverage, their results observed from the code (needs "
    "--observe); the model is then asked only for what is still missing",
    "write": "the model writes named tests from the calls the search found and the values the code returned; the "
    "search's own tests only fill what the model's leave uncovered (--no-write: keep the search's tests as they "
    "are, faster)",
    "mutants": "at the end, put small faults (mutants) into each function and also keep passing tests that catch "
    "ones the kept tests miss (at most 3 a function; --no-mutants: keep by coverage alone)",
    "aim": "in a change run, show the model the small faults (mutants) in the changed code that no test catches, "
    "the project's suite included, and keep its tests that catch them (off by default: a minute of model time per "
    "change for few catches with the default model; needs --mutants and --write)",
    "record": "append one JSONL record per stable test of a target with a kept test to this file: the target, the "
    "exact prompt and prefill, the test and whether it was kept (training data for testbot finetune --mine)",
    "openai_mode": "with a server URL as --model: 'chat' or 'completions' skips the probe of how the server "
    "continues the answer's start (empty: probe it on first use)",
    "llama_verbosity": "xllamacpp backend: llama.cpp's own log level (1: errors only; 3: its whole log, to see why "
    "a model does not load)",
    "llama_extra_buffers": "llama_cpp backend: use llama.cpp's repacked (extra) weight buffers, off by default "
    "because they crash llama-cpp-python builds with AMX kernels in some VMs",
    "pr_mode": "testbot pr: how to deliver the tests: suggest (review suggestions), commit or comment",
    "github_pause": "testbot pr: seconds between writes to GitHub (pacing against its secondary rate limits)",
    "github_backoff": "testbot pr: seconds before the first retry of a failed GitHub call, doubled each try",
}
_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
PR_MODES = ("suggest", "commit", "comment")
OPENAI_MODES = ("chat", "completions")
# Settings only `testbot pr` uses: flags of that command alone (still [tool.testbot] keys and variables).
PR_ONLY = ("pr_mode", "github_pause", "github_backoff")
FLAG_ALIASES = {"pr_mode": ("--mode",)}  # testbot pr --mode, its flag before it was a setting

# TESTBOT_* environment variables that are not settings, on purpose, and why (README, "Configuration").
ENV_ONLY: dict[str, str] = {
    "TESTBOT_OPENAI_API_KEY": "a secret: on a command line it shows in process lists, in pyproject.toml it gets "
    "committed (OPENAI_API_KEY works too)",
    "TESTBOT_GITHUB_TOKEN": "a secret: on a command line it shows in process lists, in pyproject.toml it gets "
    "committed (GITHUB_TOKEN works too)",
    "TESTBOT_SANDBOX_OFF": "a diagnostic switch that turns sandbox layers off: a repository's own pyproject.toml "
    "must never reach it",
    "TESTBOT_CACHE_DIR": "this machine's model cache: a repository must not move it, since testbot writes there "
    "and trusts the verification marks it finds there",
    "TESTBOT_DEBUG": "tracebacks of internal errors: read by every command's last-resort handler, also before "
    "or without settings",
    "TESTBOT_SANDBOX": "plumbing: the sandbox's configuration, set by testbot for a sandboxed run",
    "TESTBOT_SANDBOX_LOCKED": "plumbing: set inside a sandboxed run once its guard is installed",
    "TESTBOT_HANDOFF_FD": "plumbing: the pipe a sandboxed run reports through",
    "TESTBOT_PID_BASE": "plumbing: where a sandboxed run's process ids start",
    "TESTBOT_MODEL_CACHED": "plumbing: the GitHub Action's model cache hit",
    "TESTBOT_ACTION_PATH": "plumbing: the GitHub Action's own checkout",
    "TESTBOT_INPUT_*": "plumbing: the GitHub Action's inputs on their way to its install step",
}


def _coerce(name: str, value: Any, source: str) -> Any:
    default = _FIELDS[name].default
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(value)
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if isinstance(default, tuple):
            if isinstance(value, str):
                return tuple(v for v in value.split(",") if v)
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ValueError(value)
            return tuple(value)
        if isinstance(default, int):
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise FatalError(f"{source}: bad value {value!r} for '{name}' (expected {type(default).__name__})") from None


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` with a pyproject.toml, setup.py, setup.cfg or .git.

    Without one, the folder that holds ``start``'s outermost package (a bare unpacked wheel), so that the
    package's own import root lies inside the project.
    """
    start = start.resolve()
    here = start if start.is_dir() else start.parent
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in ("pyproject.toml", "setup.py", "setup.cfg", ".git")):
            return folder
    return module_path(here / "__init__.py")[1]


def read_pyproject(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FatalError(f"{path}: cannot read it as TOML: {exc}") from None
    table = data.get("tool", {}).get("testbot", {})
    if not isinstance(table, dict):
        raise FatalError(f"{path}: [tool.testbot] must be a table")
    values = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        variable = "TESTBOT_" + name.upper()
        if variable in ENV_ONLY or variable.startswith("TESTBOT_INPUT_"):
            why = ENV_ONLY.get(variable, ENV_ONLY["TESTBOT_INPUT_*"])
            raise FatalError(
                f"{path}: '{key}' cannot be set in [tool.testbot]: it is only read from the environment "
                f"variable {variable} ({why})"
            )
        if name not in _FIELDS:
            known = ", ".join(sorted(k.replace("_", "-") for k in _FIELDS))
            raise FatalError(f"{path}: unknown key '{key}' in [tool.testbot] (known keys: {known})")
        values[name] = _coerce(name, value, f"{path} [tool.testbot]")
    return values


def read_env(environ: dict[str, str]) -> dict[str, Any]:
    values = {}
    for name in _FIELDS:
        key = "TESTBOT_" + name.upper()
        if key in environ:
            values[name] = _coerce(name, environ[key], f"environment variable {key}")
    return values


def setting_from_env(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting from its ``TESTBOT_<NAME>`` variable, else its default: for commands without a project
    (``testbot serve``)."""
    key = "TESTBOT_" + name.upper()
    env = os.environ if environ is None else environ
    return _coerce(name, env[key], f"environment variable {key}") if key in env else _FIELDS[name].default


def add_arguments(parser: argparse.ArgumentParser, *, pr: bool = False) -> None:
    """One flag per setting; defaults are None so that unset flags fall through to pyproject/env.

    The settings of ``testbot pr`` alone (:data:`PR_ONLY`) are flags only with ``pr``."""
    for name, f in _FIELDS.items():
        if name in PR_ONLY and not pr:
            continue
        flags = ["--" + name.replace("_", "-"), *FLAG_ALIASES.get(name, ())]
        if isinstance(f.default, bool):
            parser.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=None, help=HELP[name])
        elif isinstance(f.default, tuple):
            parser.add_argument(*flags, dest=name, action="append", default=None, metavar="GLOB", help=HELP[name])
        else:
            kind = type(f.default)
            parser.add_argument(
                *flags, dest=name, type=kind, default=None, help=f"{HELP[name]} (default: {f.default!r})"
            )


def resolve(
    cli: argparse.Namespace, root: Path, environ: dict[str, str] | None = None, defaults: dict[str, Any] | None = None
) -> Settings:
    """CLI > pyproject > environment > ``defaults`` (e.g. the hook's) > the defaults above."""
    values: dict[str, Any] = dict(defaults or {})
    values.update(_python_from(read_env(dict(os.environ) if environ is None else environ), Path.cwd()))
    values.update(_python_from(read_pyproject(root), root))  # e.g. python = ".venv/bin/python"
    for name in _FIELDS:
        value = getattr(cli, name, None)
        if value is not None:
            values[name] = tuple(value) if isinstance(value, list) else value
    values = _python_from(values, Path.cwd()) if getattr(cli, "python", None) else values
    settings = Settings(**values)
    _check(settings)
    return settings


def _python_from(values: dict[str, Any], base: Path) -> dict[str, Any]:
    """A relative interpreter path (``.venv/bin/python``) made absolute from where it was given: tests run in
    another folder. A bare name (``python3``) is left to PATH."""
    python = values.get("python")
    if isinstance(python, str) and ("/" in python or os.sep in python) and not os.path.isabs(python):
        return {**values, "python": str(base / python)}
    return values


def _check(s: Settings) -> None:
    problems = []
    if s.samples < 1:
        problems.append("samples must be at least 1")
    if s.runs < 1:
        problems.append("runs must be at least 1")
    if not 0 < s.top_p <= 1:
        problems.append("top_p must be in (0, 1]")
    if s.temperature < 0:
        problems.append("temperature must be >= 0")
    if s.timeout <= 0 or s.target_seconds <= 0:
        problems.append("timeout and target_seconds must be positive")
    if s.memory_mb < 64 or s.max_processes < 8:
        problems.append("memory_mb must be at least 64 and max_processes at least 8")
    if s.repair_rounds < 0:
        problems.append("repair_rounds must be >= 0")
    if s.budget < 0 or s.max_targets < 0:
        problems.append("budget and max_targets must be >= 0")
    if s.openai_mode not in ("", *OPENAI_MODES):
        problems.append(
            f"openai_mode must be one of {', '.join(OPENAI_MODES)} (or empty: probe), not {s.openai_mode!r}"
        )
    if s.pr_mode not in ("", *PR_MODES):
        problems.append(f"pr_mode must be one of {', '.join(PR_MODES)}, not {s.pr_mode!r}")
    if s.github_pause < 0 or s.github_backoff < 0:
        problems.append("github_pause and github_backoff must be >= 0")
    if problems:
        raise FatalError("bad settings: " + "; ".join(problems))


def settings_fingerprint(s: Settings) -> dict[str, Any]:
    """The settings that change what gets generated (for caches and provenance)."""
    keys = ("model", "samples", "temperature", "top_p", "max_tokens", "seed", "prompt_tokens", "repair_rounds")
    fingerprint = {k: getattr(s, k) for k in keys}
    if s.served_model:  # only when set, so that existing caches keep their keys
        fingerprint["served_model"] = s.served_model
    if s.adapter:
        fingerprint["adapter"] = s.adapter
    if not s.observe:
        fingerprint["observe"] = False
    if not s.write:
        fingerprint["write"] = False
    if not s.mutants:
        fingerprint["mutants"] = False
    if s.aim:
        fingerprint["aim"] = True
    if not s.explore:  # (only when off: caches written before --explore existed keep their keys)
        fingerprint["explore"] = False
    if not s.baseline:
        fingerprint["baseline"] = False
    return fingerprint


def replace(s: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(s, **changes)


__all__ = ["Settings", "HELP", "ENV_ONLY", "add_arguments", "resolve", "find_project_root", "replace"]
