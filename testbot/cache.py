"""What earlier runs did for each function, so a hook run on unchanged functions costs nothing.

The key is a hash of the target's id, its source (decorators included), its lines that matter
(relative to the function, so moving the function in its file keeps the key), and the settings that
change what gets generated (model, samples, seed, ...: :func:`testbot.config.settings_fingerprint`).
A hit means this exact function was already handled with these settings: its tests were written (or
none could be), so the pipeline skips it without starting pytest or loading the model.

Entries are small JSON files in the repository's git folder (``.git/testbot/cache/``), written
atomically; outside a git repository there is no cache. Delete the folder to forget everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from testbot.targets import Target

VERSION = 1  # bump when the meaning of an entry changes


@dataclass(frozen=True)
class Entry:
    target: str
    tests: int  # tests kept and written
    gain_lines: int
    gain_branches: int
    note: str  # the target's note then, e.g. "already fully covered"

    def describe(self) -> str:
        if self.tests:
            return (
                f"cached: {self.tests} test{'s' if self.tests != 1 else ''} written earlier "
                f"(+{self.gain_lines} lines, +{self.gain_branches} branches)"
            )
        return f"cached: unchanged since an earlier run ({self.note or 'nothing kept'})"


def key(target: Target, fingerprint: dict[str, Any]) -> str:
    relative_lines = sorted(n - target.start for n in target.lines)
    data = json.dumps([VERSION, target.id, target.source, relative_lines, fingerprint], sort_keys=True, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def git_dir(root: Path) -> Path | None:
    """The git folder of the repository holding ``root`` (a ``.git`` folder, or where a ``.git`` file points)."""
    for folder in (root, *root.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():
            text = dot.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text.removeprefix("gitdir:").strip())
                return target if target.is_absolute() else (folder / target).resolve()
            return None
    return None


class Cache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def for_project(cls, root: Path) -> Cache | None:
        found = git_dir(root.resolve())
        return cls(found / "testbot" / "cache") if found is not None else None

    def _path(self, digest: str) -> Path:
        return self.folder / digest[:2] / f"{digest}.json"

    def get(self, target: Target, fingerprint: dict[str, Any]) -> Entry | None:
        try:
            data = json.loads(self._path(key(target, fingerprint)).read_text(encoding="utf-8"))
            return Entry(**data)
        except (OSError, ValueError, TypeError):  # missing, or damaged: a miss
            return None

    def put(self, target: Target, fingerprint: dict[str, Any], entry: Entry) -> None:
        """Write an entry atomically; a cache that cannot be written is no reason to fail a run."""
        path = self._path(key(target, fingerprint))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".entry-", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(asdict(entry), f)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError:
            pass
