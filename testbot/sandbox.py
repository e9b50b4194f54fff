"""Runs model-written tests in a subprocess with a scrubbed environment and resource limits.

Every candidate and baseline run goes through :func:`run_sandboxed`. What it gives today:
a scratch working directory, a fake ``HOME`` inside it, an environment without tokens,
keys, passwords or ``GIT_*`` variables, CPU/address-space/file-size/open-file/process
limits, bounded output, and the whole process group killed on timeout.
"""

from __future__ import annotations

import os
import re
import resource
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from testbot import proc

# Variables a test legitimately needs; everything else is dropped unless it looks harmless.
_KEEP = {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "PYTHONHASHSEED", "VIRTUAL_ENV", "TMPDIR", "SYSTEMROOT"}
_SECRET = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASS$|KEY|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|^AWS_|^AZURE_|^GOOGLE_|^GCP_|"
    r"^GH_|^GITHUB_|^GIT_|^SSH_|^OPENAI|^ANTHROPIC|^HF_|^HUGGING|^NPM_|^PYPI|^TWINE|^DOCKER|^KUBE|^VAULT|^ACTIONS_",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 30.0
    cpu_seconds: int = 60
    memory_bytes: int = 2 * 1024**3  # address space; the model-written test gets 2 GiB
    file_bytes: int = 64 * 1024**2
    open_files: int = 256
    processes: int = 512  # per user: a fork bomb hits this, testbot's own processes survive it
    max_output: int = 32 * 1024


def scrubbed_env(base: Mapping[str, str], home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a candidate sees: no secrets, a fake HOME, deterministic Python."""
    env = {k: v for k, v in base.items() if k in _KEEP and not _SECRET.search(k)}
    env.setdefault("PATH", os.defpath)
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED=env.get("PYTHONHASHSEED", "0"),
        PYTHONIOENCODING="utf-8",
        NO_COLOR="1",
    )
    if extra:
        env.update(extra)
    return env


def _limit_setter(limits: Limits):
    def apply() -> None:
        for res, value in (
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_AS, limits.memory_bytes),
            (resource.RLIMIT_FSIZE, limits.file_bytes),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_CORE, 0),
        ):
            try:
                resource.setrlimit(res, (value, value))
            except (ValueError, OSError):
                pass
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
            cap = limits.processes if hard == resource.RLIM_INFINITY else min(limits.processes, hard)
            resource.setrlimit(resource.RLIMIT_NPROC, (cap, cap))
        except (ValueError, OSError):
            pass

    return apply


def run_sandboxed(
    args: Sequence[str],
    *,
    cwd: Path,
    limits: Limits = Limits(),
    extra_env: Mapping[str, str] | None = None,
) -> proc.ProcResult:
    home = cwd / ".home"
    home.mkdir(exist_ok=True)
    env = scrubbed_env(os.environ, home, extra_env)
    return proc.run(
        args,
        cwd=cwd,
        env=env,
        timeout=limits.wall_seconds,
        max_output=limits.max_output,
        preexec=_limit_setter(limits),
    )
