"""Training data with explored pairs (issue 7): ``train.jsonl`` plus the tests of testbot's search
(``benchmarks/finetune/explore.sh``), with some packages taken out of training to judge a student on afresh.

    python benchmarks/finetune/explored_data.py --records benchmarks/finetune/data/explore-records.jsonl \\
        --sdists DIR --hold docopt iso8601 jsonpointer tomli --out-train /tmp/train-x.jsonl \\
        --out-heldout benchmarks/finetune/data/heldout2.jsonl

``--hold``'s packages lose their pairs of every source in the training file; their explored and distilled pairs go
to ``--out-heldout`` instead (with the sdist in their provenance: ``testbot eval`` takes its targets from it). An
explored record is one verified test of one call; ``--per-function`` caps how many of one function are kept (the
first ones: the search's docstring examples and fixed calls come first), so a function the search called a hundred
ways does not crowd out the rest.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(REPO), str(HERE)]

from build_data import find_sdist  # noqa: E402
from testbot.finetune.data import dedupe, pairs_from_records, placeholder_test, read_pairs, write_pairs  # noqa: E402

PACKAGE_OF_MODULE = {"attr": "attrs"}  # a record names its module's top package; the data names the distribution
# (distilled pairs appended to a training file by hand may still say "attr": --hold attrs takes those out too)


def with_distribution(pair):
    """The pair with its package named as the distribution (``attrs``, not ``attr``)."""
    return dataclasses.replace(pair, package=PACKAGE_OF_MODULE.get(pair.package, pair.package))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", nargs="+", required=True, help="--record files of explore.sh")
    ap.add_argument("--train", default=str(REPO / "benchmarks/finetune/data/train.jsonl"))
    ap.add_argument("--sdists", required=True, help="folder of the sdists (the held-out pairs name theirs)")
    ap.add_argument("--hold", nargs="*", default=[], help="packages taken out of training, to evaluate on")
    ap.add_argument("--per-function", type=int, default=6)
    ap.add_argument(
        "--drop-placeholders",
        action="store_true",
        help="leave out explored pairs called with stand-in values (testbot.finetune.data.placeholder_test;"
        " after --per-function)",
    )
    ap.add_argument("--out-train", required=True)
    ap.add_argument("--out-heldout", default="")
    args = ap.parse_args(argv)

    explored = []
    for path in args.records:
        for p in pairs_from_records(path):
            explored.append(with_distribution(p))
    explored = [p for p in dedupe(explored) if p.source == "explored"]
    per: Counter[tuple[str, str]] = Counter()
    capped = []
    for p in explored:
        key = (p.module, p.function)
        if per[key] < args.per_function:
            per[key] += 1
            capped.append(p)
    before = len(capped)
    if args.drop_placeholders:
        capped = [p for p in capped if not placeholder_test(p.test_code)]
    base = [with_distribution(p) for p in read_pairs(args.train)]
    hold = {PACKAGE_OF_MODULE.get(name, name) for name in args.hold}
    train = [p for p in base + capped if p.package not in hold]
    held = [p for p in base + capped if p.package in hold]
    sdists = {}
    for name in hold:
        found = find_sdist(Path(args.sdists), name)
        if found is None:
            ap.error(f"no sdist of {name} in {args.sdists}")
        sdists[name] = (found.name, hashlib.sha256(found.read_bytes()).hexdigest())
    held = [
        dataclasses.replace(
            p, provenance={**p.provenance, "sdist": sdists[p.package][0], "sha256": sdists[p.package][1]}
        )
        for p in held
    ]
    write_pairs(args.out_train, train)
    print(
        f"wrote {args.out_train}: {len(train)} pairs {dict(Counter(p.source for p in train))}; explored: "
        f"{len(capped)} of {len(explored)} kept ({args.per_function} per function at most), "
        f"{len({(p.module, p.function) for p in capped})} functions"
        + (f"; {before - len(capped)} with stand-in values left out" if args.drop_placeholders else "")
    )
    if args.out_heldout:
        write_pairs(args.out_heldout, held)
        print(
            f"wrote {args.out_heldout}: {len(held)} pairs of {sorted(hold)}, "
            f"{len({(p.module, p.function) for p in held})} functions"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
