"""Write kept tests into the project's test files: merged imports, provenance comments, no duplicates.

The composed file is run as a whole in the scratch copy first; only a file that passes there is
written, atomically, and only if nobody changed it meanwhile. Source files are never modified.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from testbot import secrets_scan
from testbot.extract import Candidate, dedent
from testbot.measure import Gain

_PROVENANCE = re.compile(r"#\s*testbot:.*\bsha ([0-9a-f]{12})")


@dataclass(frozen=True)
class Kept:
    candidate: Candidate
    gain: Gain
    target_id: str
    model: str


@dataclass(frozen=True)
class FileChange:
    path: Path
    created: bool
    tests: tuple[str, ...]  # names of the tests added
    skipped: tuple[str, ...]  # kept tests left out (already present, name clash, failed together)
    text: str  # the new content
    written: bool
    error: str = ""


def test_hash(candidate: Candidate) -> str:
    """A hash of the test's code, blind to formatting and to the name the model gave it."""
    try:
        node = ast.parse(dedent(candidate.test_source)).body[0]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.name = "t"
        normal = ast.unparse(node)
    except (SyntaxError, IndexError):
        normal = candidate.test_source
    return hashlib.sha256(normal.encode()).hexdigest()[:12]


def _norm(stmt_source: str) -> str:
    try:
        return ast.unparse(ast.parse(dedent(stmt_source)))
    except SyntaxError:
        return stmt_source.strip()


def _rename_def(source: str, old: str, new: str) -> str:
    return re.sub(rf"(\bdef\s+){re.escape(old)}\b", rf"\g<1>{new}", source, count=1)


def _provenance(k: Kept, sha: str) -> str:
    observed = ", expected values observed from the code" if k.candidate.observed else ""
    return (f"# testbot: {k.target_id} +{len(k.gain.lines)} lines, +{len(k.gain.branches)} branches, "
            f"model {k.model}{observed}, sha {sha}")


def compose(existing: str, kept: Sequence[Kept]) -> tuple[str, list[str], list[str]]:
    """The existing file with the kept tests added. Returns (text, added test names, skipped with reasons)."""
    tree = ast.parse(existing) if existing.strip() else ast.Module(body=[], type_ignores=[])
    lines = existing.splitlines()
    present_hashes = set(_PROVENANCE.findall(existing))
    names: set[str] = set()
    defined: dict[str, str] = {}  # top-level name -> normalised source
    imports: set[str] = set()
    last_import_end = 0  # new imports go after the file's leading docstring and imports
    leading = True
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.add(ast.unparse(node))
        if leading and isinstance(node, ast.Import | ast.ImportFrom | ast.Expr):
            last_import_end = node.end_lineno or node.lineno
        else:
            leading = False
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            defined[node.name] = ast.unparse(node)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    names.add(t.id)
                    defined[t.id] = ast.unparse(node)
    new_imports: list[str] = []
    blocks: list[str] = []
    added: list[str] = []
    skipped: list[str] = []
    classes: dict[str, list[tuple[Kept, str, str]]] = {}
    for k in kept:
        c = k.candidate
        sha = test_hash(c)
        if sha in present_hashes:
            skipped.append(f"{k.target_id} {c.name}: already in the file")
            continue
        clash = False
        helper_blocks = []
        for helper in c.helpers:
            try:
                bound = {n.name for n in ast.parse(helper).body if hasattr(n, "name")} | {
                    t.id for n in ast.parse(helper).body if isinstance(n, ast.Assign) for t in n.targets
                    if isinstance(t, ast.Name)}
            except SyntaxError:
                bound = set()
            same = all(defined.get(b) == _norm(helper) for b in bound) if bound else False
            if bound and bound <= names:
                if not same:
                    clash = True
                continue  # identical helper already there
            if bound & names:
                clash = True
                continue
            helper_blocks.append(helper)
            for b in bound:
                names.add(b)
                defined[b] = _norm(helper)
        if clash:
            skipped.append(f"{k.target_id} {c.name}: a helper or fixture of the same name already exists with other code")
            continue
        for imp in c.imports:
            key = _norm(imp)
            if key not in imports:
                imports.add(key)
                new_imports.append(imp.strip())
        present_hashes.add(sha)
        blocks.extend(helper_blocks)
        if c.class_name:
            classes.setdefault(c.class_name, []).append((k, sha, c.test_source))
            continue
        name = c.name
        source = c.test_source
        i = 2
        while name in names:
            name = f"{c.name}_{i}"
            i += 1
        if name != c.name:
            source = _rename_def(source, c.name, name)
        names.add(name)
        blocks.append(_provenance(k, sha) + "\n" + source)
        added.append(name)
    for cls, members in classes.items():
        name = cls
        i = 2
        while name in names:
            name = f"{cls}{i}"
            i += 1
        names.add(name)
        prelude = members[0][0].candidate.class_prelude
        body_parts = [prelude] if prelude.strip() else []
        method_names: set[str] = set()
        for k, sha, source in members:
            method = k.candidate.name.split("::")[-1]
            new = method
            j = 2
            while new in method_names:
                new = f"{method}_{j}"
                j += 1
            method_names.add(new)
            if new != method:
                source = _rename_def(source, method, new)
            body_parts.append(_provenance(k, sha) + "\n" + source)
            added.append(f"{name}::{new}")
        body = "\n\n".join(body_parts)
        blocks.append(f"class {name}:\n" + "\n".join(("    " + line) if line.strip() else "" for line in body.splitlines()))
    if not blocks:
        return existing, added, skipped
    head = lines[:last_import_end]
    tail = lines[last_import_end:]
    if new_imports:
        head = head + new_imports
    text = "\n".join(head + tail).rstrip("\n")
    text = (text + "\n\n\n" if text else "") + "\n\n\n".join(b.rstrip() for b in blocks) + "\n"
    return text, added, skipped


def write_atomic(path: Path, text: str, expected_old: str | None) -> None:
    """Replace ``path`` with ``text`` unless it changed since it was read as ``expected_old``."""
    if expected_old is None:
        if path.exists():
            raise FileExistsError(f"{path} appeared while testbot ran; left untouched")
    else:
        current = path.read_text(encoding="utf-8")
        if current != expected_old:
            raise FileExistsError(f"{path} changed while testbot ran; left untouched")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if expected_old is not None:
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _without_credentials(kept: Sequence[Kept], known: frozenset[str]) -> tuple[list[Kept], list[str]]:
    """``kept`` less the tests in which the scan finds a credential, and a line for each one dropped."""
    clean, dropped = [], []
    for k in kept:
        c = k.candidate
        hits = secrets_scan.find("\n".join([*c.imports, *c.helpers, c.class_prelude, c.test_source]), known)
        if hits:
            dropped.append(f"{k.target_id} {c.name}: dropped, it carries what looks like a credential "
                           f"({secrets_scan.describe(hits)})")
        else:
            clean.append(k)
    return clean, dropped


def integrate(
    dest: Path,
    kept: Sequence[Kept],
    *,
    passes: Callable[[str], bool],
    dry_run: bool,
    known: frozenset[str] = frozenset(),
) -> FileChange:
    """Add ``kept`` to ``dest``; ``passes(text)`` runs a composed file as a whole in the scratch copy. A test
    that adds nothing (+0 lines, +0 branches) is not written, nor one that carries what looks like a credential
    (:mod:`testbot.secrets_scan`; ``known``: the project's own strings, which are not); the file's skipped
    list says why."""
    created = not dest.exists()
    idle = [f"{k.target_id} {k.candidate.name}: dropped, it adds no line or branch over the project's suite and the "
            f"tests kept before it (+0)" for k in kept if not k.gain.lines and not k.gain.branches]
    kept = [k for k in kept if k.gain.lines or k.gain.branches]
    kept, leaking = _without_credentials(kept, known)
    leaking = idle + leaking
    try:
        existing = "" if created else dest.read_text(encoding="utf-8")
        if existing:
            ast.parse(existing)
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        return FileChange(dest, created, (), tuple(f"{k.target_id} {k.candidate.name}: file unreadable" for k in kept), "", False,
                          f"cannot add tests to {dest}: it does not parse or read ({exc})")
    text, added, skipped = compose(existing, kept)
    skipped = leaking + skipped
    if not added:
        return FileChange(dest, created, (), tuple(skipped), existing, False)
    if not passes(text):
        # Some tests only pass alone (shared state, name clashes): add them one by one, keeping what passes.
        chosen: list[Kept] = []
        text, added = existing, []
        for k in kept:
            trial, trial_added, _ = compose(existing, chosen + [k])
            if len(trial_added) > len(added) and passes(trial):
                chosen.append(k)
                text, added = trial, trial_added
            else:
                skipped.append(f"{k.target_id} {k.candidate.name}: fails when run together with the file")
        if not added:
            return FileChange(dest, created, (), tuple(skipped), existing, False)
    if dry_run:
        return FileChange(dest, created, tuple(added), tuple(skipped), text, False)
    try:
        write_atomic(dest, text, None if created else existing)
    except (OSError, FileExistsError) as exc:
        return FileChange(dest, created, (), tuple(skipped), text, False, str(exc))
    return FileChange(dest, created, tuple(added), tuple(skipped), text, True)
