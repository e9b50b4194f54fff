#!/bin/bash
# Explored pairs for the CPU experiment (issue 7): the tests of testbot's own search (--explore: calls with values
# read off the code, expected values observed, each test run twice and kept for the coverage it adds) on training
# packages' sources with their own tests removed. No model writes them (`--model fake:` with no answers), so
# two cores give hundreds of verified tests in ~15 min; each is recorded with the round-0 prompt the model would get.
#
#     bash benchmarks/finetune/explore.sh SDISTS_DIR WORK_DIR [a|b|c|d]
#
# Writes WORK_DIR/xrec-<package>.jsonl (testbot generate --record files) and WORK_DIR/xout-<package>.log; `a` and
# `b` are halves to run side by side on two cores; `c` and `d` are more files of the same packages (give them
# another WORK_DIR: a package's record file is named after its folder). Join them with
# benchmarks/finetune/data/explore-records.jsonl and make pairs with `testbot finetune --mine FILE.jsonl`
# (docs/finetune.md).
set -u
sdists=${1:?sdists folder}; work=${2:?work folder}
mkdir -p "$work"
echo '[]' > "$work/no-answers.json"
source "$(dirname "${BASH_SOURCE[0]}")/unpack.sh"
run() { # folder, then the files to write tests for
  local dir=$1; shift
  echo "== $dir $(date +%T)"
  (cd "$work/$dir" && python -m testbot generate "$@" --record "$work/xrec-$dir.jsonl" --dry-run \
     --model "fake:$work/no-answers.json" --samples 1 --repair-rounds 0 --runs 2 --no-progress --explore) \
     > "$work/xout-$dir.log" 2>&1
  echo "   tests recorded: $(wc -l < "$work/xrec-$dir.jsonl" 2>/dev/null || echo 0)"
}
a() {
  unpack toolz-1.0.0 toolz/tests
  unpack packaging-26.3 tests
  unpack sqlparse-0.6.1 tests
  unpack docopt-0.6.2 test_docopt.py testcases.docopt
  unpack jsonpointer-3.12 tests.py
  unpack idna-3.20 tests
  unpack tomli-2.5.0 tests
  unpack iso8601-2.1.0 iso8601/test_iso8601.py
  unpack markupsafe-3.0.4 tests
  run toolz-1.0.0 toolz/itertoolz.py toolz/functoolz.py toolz/dicttoolz.py toolz/recipes.py
  run packaging-26.3 src/packaging/utils.py src/packaging/version.py src/packaging/specifiers.py \
      src/packaging/markers.py src/packaging/requirements.py src/packaging/tags.py
  run sqlparse-0.6.1 sqlparse/utils.py sqlparse/sql.py sqlparse/formatter.py sqlparse/engine/statement_splitter.py
  run docopt-0.6.2 docopt.py
  run jsonpointer-3.12 jsonpointer.py
  run idna-3.20 idna/core.py idna/intranges.py
  run tomli-2.5.0 src/tomli/_parser.py src/tomli/_re.py
  run iso8601-2.1.0 iso8601/iso8601.py
  run markupsafe-3.0.4 src/markupsafe/__init__.py
}
b() {
  unpack attrs-26.1.0 tests
  unpack click-8.5.1 tests
  unpack tabulate-0.8.10 test
  unpack cachetools-8.0.1 tests
  unpack sortedcontainers-2.4.0 tests
  unpack pyparsing-3.3.3 tests
  unpack colorama-0.4.6 colorama/tests
  unpack pluggy-1.7.0 testing
  unpack wcwidth-0.9.4 tests
  run attrs-26.1.0 src/attr/validators.py src/attr/converters.py src/attr/_funcs.py
  run click-8.5.1 src/click/utils.py src/click/formatting.py src/click/_textwrap.py src/click/parser.py \
      src/click/types.py
  run tabulate-0.8.10 tabulate.py
  run cachetools-8.0.1 src/cachetools/keys.py src/cachetools/func.py src/cachetools/__init__.py
  run sortedcontainers-2.4.0 sortedcontainers/sortedlist.py sortedcontainers/sorteddict.py sortedcontainers/sortedset.py
  run pyparsing-3.3.3 pyparsing/util.py pyparsing/helpers.py pyparsing/results.py
  run colorama-0.4.6 colorama/ansi.py colorama/ansitowin32.py
  run pluggy-1.7.0 src/pluggy/_hooks.py src/pluggy/_result.py src/pluggy/_tracing.py
  run wcwidth-0.9.4 wcwidth/wcwidth.py wcwidth/textwrap.py
}
# c and d: more files of the same packages, for more explored pairs; side by side too.
c() {
  unpack toolz-1.0.0 toolz/tests
  unpack packaging-26.3 tests
  unpack sqlparse-0.6.1 tests
  unpack pluggy-1.7.0 testing
  run toolz-1.0.0 toolz/utils.py toolz/sandbox/core.py toolz/sandbox/parallel.py
  run packaging-26.3 src/packaging/_tokenizer.py src/packaging/_parser.py src/packaging/licenses/__init__.py \
      src/packaging/dependency_groups.py src/packaging/direct_url.py src/packaging/_ranges.py
  run sqlparse-0.6.1 sqlparse/lexer.py sqlparse/filters/others.py sqlparse/filters/output.py \
      sqlparse/filters/reindent.py sqlparse/filters/aligned_indent.py sqlparse/engine/grouping.py
  run pluggy-1.7.0 src/pluggy/_manager.py src/pluggy/_caller.py src/pluggy/_decorators.py
}
d() {
  unpack attrs-26.1.0 tests
  unpack click-8.5.1 tests
  unpack pyparsing-3.3.3 tests
  run attrs-26.1.0 src/attr/_cmp.py src/attr/_version_info.py src/attr/setters.py src/attr/filters.py \
      src/attr/_next_gen.py
  run click-8.5.1 src/click/exceptions.py src/click/termui.py src/click/_compat.py src/click/decorators.py
  run pyparsing-3.3.3 pyparsing/actions.py pyparsing/common.py pyparsing/exceptions.py pyparsing/unicode.py \
      pyparsing/testing.py
}
"${3:?a, b, c or d}"
echo "done $(date +%T)"
