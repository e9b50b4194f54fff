"""A blind review of the PR track's kept tests: would a maintainer merge them?

``packet`` builds, from a PR-track results file (benchmarks/results/prs-<label>.json), a review packet: per commit
with kept tests, the changed functions' source after the commit, then testbot's kept tests and the tests the
commit's author added or changed, shuffled under neutral labels (T01, T02, ...). The key (which label is whose)
goes to a separate file that the reviewer must not see.

    python -m benchmarks.review packet benchmarks/results/prs-<label>.json --mode with --out /tmp/review \\
        --key /root/review-key.json

A reviewer who sees only the packet (a person, or a helper agent given instructions.md, written next to it)
answers one line per test, ``T01 | MERGE|EDIT|REJECT | reason``. ``score`` joins those lines with the key:

    python -m benchmarks.review score /root/review-key.json verdicts.txt [--json out.json]

The packet needs the repositories' history: clones under the PR track's work folder or ``--mirrors``.

``packet-modules`` does the same for the modules track's kept tests, from its work folder as the run to review
left it (copy it before another run overwrites it): per module, the module's source path and up to ``--per`` kept
tests, half of them the model's where it wrote that many, the rest the search's; the key says which is whose.

    python -m benchmarks.review packet-modules benchmarks/.work --out /tmp/review --key /root/review-key.json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from benchmarks import prs
from testbot import shape
from testbot.diff import function_sources

VERDICTS = ("MERGE", "EDIT", "REJECT")
# What the reviewer is told (packet writes it next to the packet as instructions.md; PACKET stands for its path).
INSTRUCTIONS = """\
You are a strict senior maintainer of open-source Python libraries reviewing proposed unit tests. Read the file
PACKET (only that file; do not run code or search). It holds sections, one per commit of a real library: the
function(s) the commit changed (source after the commit), then candidate pytest tests labelled T01, T02, ....
The tests come from different sources; do not try to guess which.

For every test, give a verdict as if it were proposed in a pull request for that commit:
- MERGE: you would merge it exactly as written.
- EDIT: worth having, but you would merge only after edits (say which, briefly).
- REJECT: you would not want it in the suite.
Judge: does it test real, meaningful behaviour of the changed code (in particular what the commit changed); are
expected values exact and right for a reason a reader can see; is the name descriptive; are inputs realistic; is
it redundant with another test of the same commit in the packet; does it pin accidents (hash values, error text
nobody promised, implementation details); is it readable.

Answer one line per test, in label order: `T01 | MERGE|EDIT|REJECT | reason in at most 20 words`, then a short
paragraph on the most common reasons for EDIT and REJECT.
"""
# For the modules track's kept tests (``packet-modules``): the same reviewer, per module instead of per commit.
MODULES_INSTRUCTIONS = """\
You are a strict senior maintainer of open-source Python libraries reviewing proposed unit tests. Read the file
PACKET. It holds sections, one per module of a real library: the path of the module's source file (you may read
that source file, read-only, to check behaviour and values), the test file's import lines, then candidate pytest
tests labelled T001, T002, .... The tests come from different sources; do not try to guess which. Do not run code,
search, or read any other file.

For every test, give a verdict as if it were proposed in a pull request adding tests for that module:
- MERGE: you would merge it exactly as written.
- EDIT: worth having, but you would merge only after edits (say which, briefly).
- REJECT: you would not want it in the suite.
Judge: does it test real, meaningful behaviour of the module; are expected values exact and right for a reason a
reader can see; is the name descriptive of the behaviour; are inputs realistic; is it redundant with another test
of the same module in the packet; does it pin accidents (hash values, error text nobody promised, implementation
details); is it readable.

Answer one line per test, in label order: `T001 | MERGE|EDIT|REJECT | reason in at most 20 words`, then a short
paragraph on the most common reasons for EDIT and REJECT.
"""
_LINE = re.compile(r"^\s*(T\d+)\s*\|\s*(MERGE|EDIT|REJECT)\s*\|\s*(.*)$")


def _show(clone: Path, rev: str, path: str) -> str:
    run = subprocess.run(["git", "-C", str(clone), "show", f"{rev}:{path}"], capture_output=True, text=True)
    return run.stdout if run.returncode == 0 else ""


def packet(
    results: Path, mode: str, seed: int, mirrors: Path | None, manifest: Path = prs.MANIFEST, shuffle: int = 7
) -> tuple[str, list]:
    """(the packet's Markdown, the key: one {id, commit, who, source} per test)."""
    repos = {r.name: r for r in prs.load_manifest(manifest)}
    records = [
        r
        for r in json.loads(results.read_text())["records"]
        if r["mode"] == mode and r.get("seed", 0) == seed and r.get("kept_sources")
    ]
    items: list[dict] = []
    code: dict[str, str] = {}
    for r in records:
        clone = prs.ensure_clone(repos[r["repo"]], mirrors)
        key = f"{r['repo']}@{r['sha'][:8]}"
        shown = []
        for name in r["changed_functions"]:
            path, qualname = name.split("::", 1)
            source = function_sources(_show(clone, r["sha"], path)).get(qualname)
            if source:
                shown.append(f"# {path}\n{source}")
        code[key] = "\n\n".join(shown)
        items += [{"commit": key, "who": "testbot", "source": s} for s in r["kept_sources"]]
        for path in r["author_files"]:  # the tests the author added or changed in this commit
            new, old = function_sources(_show(clone, r["sha"], path)), function_sources(_show(clone, r["parent"], path))
            items += [
                {"commit": key, "who": "author", "source": s}
                for q, s in new.items()
                if q.split(".")[-1].startswith("test") and old.get(q) != s
            ]
    random.Random(shuffle).shuffle(items)
    for i, item in enumerate(items):
        item["id"] = f"T{i + 1:02d}"
    parts = ["# Tests to review\n\nEach section: a commit's changed function(s), then candidate tests for it.\n"]
    for key, shown in code.items():
        parts.append(f"## Commit {key}\n\nCode under test (after the commit):\n\n```python\n{shown}\n```\n")
        parts += [f"### {it['id']}\n\n```python\n{it['source']}\n```\n" for it in items if it["commit"] == key]
    return "\n".join(parts), items


def modules_packet(work: Path, per: int = 6, shuffle: int = 7) -> tuple[str, list]:
    """(the packet's Markdown, the key) for the modules track's kept tests, from its work folder (each module's
    ``testbot.report.json`` and the test files it wrote, as the last run left them): per module, up to ``per``
    kept tests, half of them the model's where it wrote that many, the rest the search's, in random order."""
    rng = random.Random(shuffle)
    parts = ["# Tests to review\n\nEach section: a module, then candidate tests for it.\n"]
    items: list[dict] = []
    for report_path in sorted(work.glob("*/testbot.report.json")):
        report = json.loads(report_path.read_text())
        module = report_path.parent.name
        for f in report["files"]:
            if not f.get("written"):
                continue
            # (the report names the file where the run wrote it: the same module's folder, here under ``work``)
            path = work / module / Path(f["path"]).as_posix().split(f"/{module}/", 1)[-1]
            text = path.read_text()
            sources = shape.tests_in(text, f["tests"])
            if len(sources) != len(f["authors"]):
                continue
            pairs = list(zip(sources, f["authors"]))
            model = [x for x in pairs if not x[1].startswith("explore")]
            search = [x for x in pairs if x[1].startswith("explore")]
            mine = min(per // 2, len(model))
            pick = rng.sample(model, mine) + rng.sample(search, min(per - mine, len(search)))
            rng.shuffle(pick)
            rel = report["targets"][0]["target"].split("::")[0]
            parts.append(
                f"## Module `{module}`: source at {work / module / 'testbot' / rel}\nThe test file's imports:\n"
                f"```python\n{text.split(chr(10) * 3)[0]}\n```\n"
            )
            for source, author in pick:
                label = f"T{len(items) + 1:03d}"
                who = "search" if author.startswith("explore") else "model"
                items.append({"id": label, "module": module, "who": who, "source": source})
                parts.append(f"### {label}\n```python\n{source.strip()}\n```\n")
    return "\n".join(parts), items


def score(key: list[dict], verdicts: str) -> dict:
    """Verdict counts per author (testbot and author, or model and search), and each test's verdict and reason."""
    by_id = {it["id"]: it for it in key}
    rows = []
    for line in verdicts.splitlines():
        m = _LINE.match(line)
        if m and m.group(1) in by_id:
            it = by_id[m.group(1)]
            rows.append({**it, "verdict": m.group(2), "reason": m.group(3).strip()})
    counts = Counter((r["who"], r["verdict"]) for r in rows)
    return {
        "counts": {who: {v: counts[(who, v)] for v in VERDICTS} for who in dict.fromkeys(it["who"] for it in key)},
        "unanswered": sorted(set(by_id) - {r["id"] for r in rows}),
        "rows": rows,
    }


def _write_packet(out: Path, key: Path, text: str, items: list[dict], instructions: str) -> None:
    """The packet and the reviewer's instructions into ``out``, the key apart; says how many tests are whose."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "packet.md").write_text(text)
    (out / "instructions.md").write_text(instructions.replace("PACKET", str(out / "packet.md")))
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(json.dumps(items, indent=1))
    who = Counter(it["who"] for it in items)
    print(f"{out / 'packet.md'}: " + ", ".join(f"{n} tests by {w}" for w, n in who.items()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.review", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("packet", help="build a blind review packet and its key")
    a.add_argument("results", type=Path)
    a.add_argument("--mode", choices=prs.MODES, default="with")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", type=Path, required=True, help="folder for packet.md")
    a.add_argument("--key", type=Path, required=True, help="the key's file: keep it away from the reviewer")
    a.add_argument("--mirrors", type=Path, default=None)
    m = sub.add_parser("packet-modules", help="the same for the modules track's kept tests (its work folder)")
    m.add_argument("work", type=Path, help="the modules track's --work folder, as the run to review left it")
    m.add_argument("--per", type=int, default=6, help="tests per module, at most")
    m.add_argument("--out", type=Path, required=True, help="folder for packet.md")
    m.add_argument("--key", type=Path, required=True, help="the key's file: keep it away from the reviewer")
    b = sub.add_parser("score", help="join a reviewer's verdicts with the key")
    b.add_argument("key", type=Path)
    b.add_argument("verdicts", type=Path)
    b.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if args.command == "packet":
        if not args.results.is_file():
            print(f"error: no results file {args.results}", file=sys.stderr)
            return 2
        text, items = packet(args.results, args.mode, args.seed, args.mirrors)
        _write_packet(args.out, args.key, text, items, INSTRUCTIONS)
        return 0
    if args.command == "packet-modules":
        if not any(args.work.glob("*/testbot.report.json")):
            print(f"error: no module's testbot.report.json under {args.work}", file=sys.stderr)
            return 2
        text, items = modules_packet(args.work, args.per)
        _write_packet(args.out, args.key, text, items, MODULES_INSTRUCTIONS)
        return 0
    for path in (args.key, args.verdicts):
        if not path.is_file():
            print(f"error: no such file {path}", file=sys.stderr)
            return 2
    result = score(json.loads(args.key.read_text()), args.verdicts.read_text())
    for who, counts in result["counts"].items():
        print(f"{who}: " + ", ".join(f"{v} {n}" for v, n in counts.items()))
    if result["unanswered"]:
        print("unanswered: " + " ".join(result["unanswered"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
