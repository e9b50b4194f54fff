"""The one helper that runs every subprocess: argument lists, a timeout, bounded output.

The child gets its own process group, so a timeout kills everything it started.
Output goes to temporary files (never an unbounded pipe) and only the tail is kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

DEFAULT_MAX_OUTPUT = 64 * 1024


@dataclass(frozen=True)
class ProcResult:
    args: tuple[str, ...]
    returncode: int  # negative: killed by that signal
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()


def _tail(f, limit: int) -> str:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - limit))
    data = f.read()
    text = data.decode("utf-8", errors="replace")
    if size > limit:
        text = f"[... {size - limit} bytes cut ...]\n" + text
    return text


def run(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    max_output: int = DEFAULT_MAX_OUTPUT,
    preexec: Callable[[], None] | None = None,
    stdin_text: str | None = None,
    pass_fds: Sequence[int] = (),
) -> ProcResult:
    """Run ``args`` and return its exit status and the tail of its output. Never raises on failure."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                list(args),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=preexec,
                pass_fds=tuple(pass_fds),
            )
        except OSError as exc:
            return ProcResult(tuple(args), 127, "", f"cannot run {args[0]}: {exc}", 0.0, False)
        timed_out = False
        try:
            if stdin_text is not None:
                proc.communicate(stdin_text.encode(), timeout=timeout)
            else:
                proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # Kill the whole group: children the command left behind must not outlive it.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        return ProcResult(
            tuple(args),
            proc.returncode,
            _tail(out, max_output),
            _tail(err, max_output),
            time.monotonic() - start,
            timed_out,
        )
