#!/bin/bash
# Held-out sets 1 and 4 for `testbot eval` (benchmarks/finetune/DATA.md), rebuilt from the registry's sdists:
#
#     bash benchmarks/finetune/heldout_sets.sh [SDISTS_DIR] [WORK_DIR]
#
# Set 1 (itsdangerous, natsort, parse, python-slugify): pairs mined from the packages' own tests (build_data.py).
# Set 4 (cachetools, pluggy): the tests of testbot's search on their sources with their own tests removed
# (`--explore`, no model, as explore.sh), plus pairs mined from their tests (explored_data.py). ~5 min on 2 cores.
# Writes benchmarks/finetune/data/heldout.jsonl and heldout4.jsonl (ignored: the data quotes the packages' code).
set -euo pipefail
cd "$(dirname "$0")/../.."
sdists=$(realpath -m "${1:-benchmarks/.work/sdists}"); work=$(realpath -m "${2:-benchmarks/.work/heldout}")
data=benchmarks/finetune/data
mkdir -p "$sdists" "$work" "$data"
python benchmarks/finetune/build_data.py --sdists "$sdists" --download --only itsdangerous natsort parse python-slugify \
    --out "$work/set1"
cp "$work/set1/heldout.jsonl" "$data/heldout.jsonl"
python benchmarks/finetune/build_data.py --sdists "$sdists" --download --only cachetools pluggy --out "$work/set4"
echo '[]' > "$work/no-answers.json"
source benchmarks/finetune/unpack.sh
records=()
explore() { # sdist stem, its own tests (removed), then the files the search writes tests for
  local stem=$1 tests=$2; shift 2
  unpack "$stem" "$tests"
  (cd "$work/$stem" && python -m testbot generate "$@" --record "$work/xrec-$stem.jsonl" --dry-run \
     --model "fake:$work/no-answers.json" --samples 1 --repair-rounds 0 --runs 2 --no-progress --explore \
     --no-baseline) > "$work/xout-$stem.log" 2>&1
  records+=("$work/xrec-$stem.jsonl")
}
stem() { basename "$(ls "$sdists"/"$1"-[0-9]*.tar.gz | head -1)" .tar.gz; }
explore "$(stem cachetools)" tests src/cachetools/keys.py src/cachetools/func.py src/cachetools/__init__.py
explore "$(stem pluggy)" testing src/pluggy/_hooks.py src/pluggy/_result.py src/pluggy/_tracing.py \
    src/pluggy/_manager.py src/pluggy/_caller.py src/pluggy/_decorators.py
python benchmarks/finetune/explored_data.py --records "${records[@]}" --train "$work/set4/train.jsonl" \
    --sdists "$sdists" --hold cachetools pluggy --out-train /dev/null --out-heldout "$data/heldout4.jsonl"
