"""Mutation testing limited to a diff: mutants only on the statements a commit changed, killed by a test selection.

A mutant is one small edit of one expression or statement that starts on a line of a changed statement in the new
version of a file (the kinds are :mod:`testbot.mutate`'s): a statement over several lines is changed as a whole when
one of its lines is, as coverage.py counts it by its first line. The edit keeps the rest of the file's text and line
numbers.

A mutant is killed when the selected tests fail, error or time out with it in place; it survives when they pass.
Tests are selected per mutant from coverage contexts: only the test files whose tests ran the mutated line are run
(none: the mutant survives without a run), stopping at the first failure.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testbot.mutate import Mutant, mutants

__all__ = [
    "Mutant",
    "Outcome",
    "clear_bytecode",
    "function_lines",
    "mutants",
    "run_mutants",
    "sample",
    "statement_lines",
]


def statement_lines(changed: set[int], firsts: dict[int, int]) -> set[int]:
    """The lines of the statements that ``changed`` lines belong to: ``firsts`` maps each line of a statement over
    several lines to its first line (:func:`testbot.measure.first_lines`); a line outside one stands alone."""
    heads = {firsts.get(n, n) for n in changed}
    return set(changed) | heads | {n for n, first in firsts.items() if first in heads}


def function_lines(text: str) -> frozenset[int]:
    """The lines of ``text`` inside a function's or method's body (after its ``def`` line): where mutmut puts its
    mutants, and what a test of the function can check (a version string or an author list at module level is
    neither)."""
    import ast

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return frozenset()
    return frozenset(
        n
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.body
        for n in range(node.body[0].lineno, (node.end_lineno or node.lineno) + 1)
    )


def sample(found: list[Mutant], limit: int, seed: int = 0) -> list[Mutant]:
    """At most ``limit`` mutants, a seeded sample in file order when there are more."""
    if len(found) <= limit:
        return found
    keep = set(random.Random(seed).sample(range(len(found)), limit))
    return [m for i, m in enumerate(found) if i in keep]


@dataclass
class Outcome:
    mutant: Mutant
    killed: bool
    how: str  # "failed", "timeout", "no test runs the line", "survived"
    seconds: float


def run_mutants(
    root: Path,
    found: list[Mutant],
    tests_for: Callable[[Mutant], list[str]],
    command: Callable[[list[str]], list[str]],
    env: dict,
    timeout: float,
) -> list[Outcome]:
    """Run each mutant in place under ``root`` (the file is restored after each), with the tests ``tests_for``
    picks; ``command(tests)`` is the pytest command line."""
    outcomes = []
    for m in found:
        tests = tests_for(m)
        if not tests:
            outcomes.append(Outcome(m, False, "no test runs the line", 0.0))
            continue
        file = root / m.path
        original = file.read_text()
        file.write_text(m.text)
        start = time.monotonic()
        try:
            proc = subprocess.run(
                command(tests),
                cwd=root,
                env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
            )
            killed, how = proc.returncode != 0, ("failed" if proc.returncode else "survived")
        except subprocess.TimeoutExpired:
            killed, how = True, "timeout"
        finally:
            file.write_text(original)
        outcomes.append(Outcome(m, killed, how, round(time.monotonic() - start, 2)))
    return outcomes


def clear_bytecode(root: Path) -> None:
    """Remove cached bytecode so a mutant written in the same second as the original is never skipped."""
    for cache in root.rglob("__pycache__"):
        if ".git" in cache.parts:
            continue
        for f in cache.iterdir():
            try:
                f.unlink()
            except OSError:
                pass
