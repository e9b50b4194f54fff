#!/bin/bash
# Distilled pairs for the CPU experiment (issue 7): the default model's kept tests on training packages' sources,
# their own tests removed so every function has something to cover. Run on an idle machine (~35 min on 2 cores):
#
#     bash benchmarks/finetune/distill.sh SDISTS_DIR WORK_DIR [set1|set2|set3|set4a|set4b]
#
# THREADS=1 gives each run one model thread: two halves side by side (set4a & set4b) then keep both cores busy.
#
# Writes WORK_DIR/rec-<package>.jsonl (testbot generate --record files) and WORK_DIR/out-<package>.log.
# Join them with benchmarks/finetune/data/distill-records.jsonl and rebuild the data (docs/finetune.md).
set -u
sdists=${1:?sdists folder}; work=${2:?work folder}
mkdir -p "$work"
source "$(dirname "${BASH_SOURCE[0]}")/unpack.sh"
run() { # folder, budget (s), then the files to write tests for
  local dir=$1 budget=$2; shift 2
  echo "== $dir ($budget s) $(date +%T)"
  (cd "$work/$dir" && python -m testbot generate "$@" --record "$work/rec-$dir.jsonl" --dry-run \
     --budget "$budget" --samples 1 --repair-rounds 1 --target-seconds 60 --max-tokens 256 --prompt-tokens 512 \
     --runs 2 --no-progress --no-explore ${THREADS:+--threads $THREADS}) > "$work/out-$dir.log" 2>&1
  echo "   targets with a kept test: $(grep -cE "candidates?, [1-9][0-9]* kept" "$work/out-$dir.log")"
}
set1() { # 52 pairs
  unpack toolz-1.0.0 toolz/tests
  unpack docopt-0.6.2 test_docopt.py testcases.docopt
  unpack jsonpointer-3.12 tests.py
  unpack packaging-26.3 tests
  unpack tabulate-0.8.10 test
  unpack iso8601-2.1.0 iso8601/test_iso8601.py
  unpack tomli-2.5.0 tests
  run toolz-1.0.0 600 toolz/itertoolz.py toolz/functoolz.py toolz/recipes.py
  run docopt-0.6.2 240 docopt.py
  run jsonpointer-3.12 240 jsonpointer.py
  run packaging-26.3 300 src/packaging/utils.py src/packaging/version.py
  run tabulate-0.8.10 240 tabulate.py
  run iso8601-2.1.0 180 iso8601/iso8601.py
  run tomli-2.5.0 180 src/tomli/_re.py src/tomli/_parser.py
}
set2() { # packages set1 did not touch
  unpack idna-3.20 tests
  unpack wcwidth-0.9.4 tests
  unpack sqlparse-0.6.1 tests
  unpack click-8.5.1 tests
  unpack markupsafe-3.0.4 tests
  unpack colorama-0.4.6 colorama/tests
  unpack cachetools-8.0.1 tests
  run idna-3.20 240 idna/core.py
  run wcwidth-0.9.4 240 wcwidth/wcwidth.py wcwidth/textwrap.py
  run sqlparse-0.6.1 300 sqlparse/utils.py sqlparse/sql.py
  run click-8.5.1 300 src/click/utils.py src/click/formatting.py src/click/_textwrap.py
  run markupsafe-3.0.4 150 src/markupsafe/__init__.py
  run colorama-0.4.6 150 colorama/ansi.py colorama/ansitowin32.py
  run cachetools-8.0.1 240 src/cachetools/keys.py src/cachetools/func.py src/cachetools/__init__.py
}
set3() { # more files, packages set1 and set2 did not touch first
  unpack attrs-26.1.0 tests
  unpack pyparsing-3.3.3 tests
  unpack sortedcontainers-2.4.0 tests
  unpack pluggy-1.7.0 testing
  unpack packaging-26.3 tests
  unpack toolz-1.0.0 toolz/tests
  run attrs-26.1.0 300 src/attr/validators.py src/attr/converters.py src/attr/_funcs.py
  run pyparsing-3.3.3 240 pyparsing/util.py pyparsing/helpers.py
  run sortedcontainers-2.4.0 240 sortedcontainers/sorteddict.py
  run pluggy-1.7.0 180 src/pluggy/_hooks.py src/pluggy/_result.py
  run packaging-26.3 300 src/packaging/specifiers.py src/packaging/markers.py
  run toolz-1.0.0 180 toolz/dicttoolz.py
}
set4a() { # classes' methods of packages still trained on (a student's tests of methods
  # die of TypeErrors: wrong constructor arguments; the default model builds the objects right)
  unpack click-8.5.1 tests
  unpack packaging-26.3 tests
  unpack attrs-26.1.0 tests
  run click-8.5.1 900 src/click/types.py src/click/parser.py
  run packaging-26.3 600 src/packaging/tags.py src/packaging/requirements.py
  run attrs-26.1.0 300 src/attr/_version_info.py src/attr/setters.py
}
set4b() {
  unpack pluggy-1.7.0 testing
  unpack pyparsing-3.3.3 tests
  unpack cachetools-8.0.1 tests
  run pluggy-1.7.0 600 src/pluggy/_manager.py src/pluggy/_tracing.py
  run pyparsing-3.3.3 600 pyparsing/results.py
  run cachetools-8.0.1 600 src/cachetools/__init__.py
}
set5a() { # files no run had touched, mostly classes. set5a beside set5b, then set5d
  # beside the end of set5a (set5c)
  unpack click-8.5.1 tests
  unpack toolz-1.0.0 toolz/tests
  run click-8.5.1 480 src/click/exceptions.py src/click/termui.py
  run toolz-1.0.0 420 toolz/sandbox/core.py toolz/recipes.py toolz/functoolz.py
  set5c
}
set5b() {
  unpack pyparsing-3.3.3 tests
  unpack packaging-26.3 tests
  unpack attrs-26.1.0 tests
  run pyparsing-3.3.3 600 pyparsing/exceptions.py pyparsing/actions.py pyparsing/common.py
  run packaging-26.3 480 src/packaging/_tokenizer.py src/packaging/markers.py src/packaging/direct_url.py
  run attrs-26.1.0 360 src/attr/filters.py src/attr/_cmp.py src/attr/validators.py
}
set5c() { # bidict from its wheel (its sdist needs build dependencies pip cannot fetch here), sha256 in
  # benchmarks/finetune/DATA.md; the wheel has no tests
  unpack bidict-0.24.1
  run bidict-0.24.1 900 bidict/_base.py bidict/_bidict.py bidict/_orderedbase.py bidict/_orderedbidict.py \
    bidict/_iter.py bidict/_frozen.py
}
set5d() { # pluggy 1.7.0 moved its hooks' classes out of _hooks.py and _callers.py
  unpack pluggy-1.7.0 testing
  unpack click-8.5.1 tests
  run pluggy-1.7.0 360 src/pluggy/_caller.py src/pluggy/_decorators.py src/pluggy/_impl.py src/pluggy/_execution.py
  run click-8.5.1 480 src/click/core.py
}
"${3:-set1}"
echo "done $(date +%T)"
