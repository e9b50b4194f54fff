"""Isolated virtual environments and measured subprocesses for the side-by-side benchmark.

Every tool and every benchmarked distribution gets its own venv under ``benchmarks/.work/venvs/``
(git-ignored), made once and reused while its pinned requirements stay the same:

- ``dist-<name>``: the distribution's runtime dependencies (pinned by modules.yaml's install line),
  plus the same pytest and coverage as this interpreter. The module's tests run here; the module itself
  comes from the scratch project (PYTHONPATH), never from site-packages.
- ``pynguin``, ``coverup``, ``mutmut``: each tool pinned, with the dependencies of the modules it works on
  added as they are needed (Pynguin and CoverUp import the module under test in their own process).
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

PYNGUIN = "pynguin==0.48.0"  # its own pins (pytest<9, ...) are why it gets its own venv
COVERUP = "coverup==0.6.3"
MUTMUT = "mutmut==3.8.1"


def _pip(python: Path, *args: str, timeout: float = 1800) -> None:
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode:
        raise SystemExit(f"pip install {' '.join(args)} failed in {python}:\n{proc.stderr[-3000:]}")


def ensure_venv(root: Path, name: str, requirements: list[str], constraints: list[str] = ()) -> Path:
    """The python of venv ``root/name`` holding ``requirements`` (made or topped up once; a marker records it)."""
    path = root / name
    python = path / "bin" / "python"
    key = hashlib.sha256("\n".join(sorted(requirements) + ["--"] + sorted(constraints)).encode()).hexdigest()[:16]
    marker = path / f".bench-{key}"
    if marker.exists():
        return python
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
    if requirements:
        args = list(requirements)
        if constraints:
            cfile = path / f"constraints-{key}.txt"
            cfile.write_text("\n".join(constraints) + "\n")
            args += ["-c", str(cfile)]
        _pip(python, *args)
    marker.write_text("\n".join(requirements) + "\n")
    return python


def install_pins(install_line: str) -> list[str]:
    """``name==version`` pins named in modules.yaml's ``install`` line."""
    return re.findall(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.\-]+", install_line)


def wheel_requirements(wheel: Path) -> list[str]:
    """Names of the wheel's unconditional runtime dependencies (Requires-Dist without an extra)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode("utf-8", "replace")
    names = []
    for line in text.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req, _, marker = line.removeprefix("Requires-Dist:").strip().partition(";")
        if "extra" in marker:
            continue
        if marker.strip() and not _marker_holds(marker):
            continue
        name = re.match(r"[A-Za-z0-9_.\-]+", req.strip())
        if name:
            names.append(name.group(0))
    return names


def _marker_holds(marker: str) -> bool:
    try:
        from packaging.markers import Marker
    except ImportError:  # pragma: no cover - packaging ships with pip's environment here
        return True
    return Marker(marker.strip()).evaluate()


def runner_requirements() -> list[str]:
    """The pytest and coverage of this interpreter, pinned, so every tool's tests are measured alike."""
    import coverage
    import pytest

    return [f"pytest=={pytest.__version__}", f"coverage=={coverage.__version__}"]


@dataclass(frozen=True)
class Measured:
    returncode: int | None  # None: killed at its time limit
    seconds: float
    peak_rss_mb: float  # the largest resident set of the process or a child it waited for
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run_measured(
    cmd: list[str], *, cwd: Path, env: dict | None = None, timeout: float, log: Path | None = None
) -> Measured:
    """Run ``cmd`` in its own session; kill the whole session at ``timeout``; wall time and peak RSS (wait4)."""
    log = log or cwd / ".bench-run.log"
    out_path, err_path = log.with_suffix(".out"), log.with_suffix(".err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
        )
        deadline = start + timeout
        status = rusage = None
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGTERM)
                time.sleep(3)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status, rusage = os.wait4(proc.pid, 0)
                status = None
                break
            time.sleep(0.2)
        seconds = time.monotonic() - start
        proc.returncode = 0  # reaped above; keep Popen from waiting again
    rc = None if status is None else os.waitstatus_to_exitcode(status)
    return Measured(
        rc,
        round(seconds, 1),
        round(rusage.ru_maxrss / 1024, 1),
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )


def tool_env(python: Path, **extra: str) -> dict:
    """This environment with ``python``'s venv first on PATH (so its ``pytest`` and tools are the ones found)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(python.parent.parent)
    env.update(extra)
    return env


def this_python() -> Path:
    return Path(sys.executable)
