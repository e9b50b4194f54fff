#!/bin/bash
# Mined pairs from the test suites of packaging, click and pyparsing (issue 7). Their whole
# suites ran past the mining limit under per-test coverage (packaging's 7,790 tests, pyparsing's 11,690-line
# test_unit.py), so the first data build got no pair from them. Here the slow or broad test files are taken out
# first; what is left runs in about a minute per package:
#
#     bash benchmarks/finetune/mine_trimmed.sh SDISTS_DIR WORK_DIR OUT.jsonl
#
# OUT.jsonl gets the mined pairs and their renamed copies (--augment): 134 pairs on 2026-12-03. r16's training
# file is r13's plus these (docs/finetune.md).
set -eu
sdists=${1:?sdists folder}; work=${2:?work folder}; out=${3:?output .jsonl}
mkdir -p "$work"
source "$(dirname "${BASH_SOURCE[0]}")/unpack.sh"
unpack packaging-26.3 tests/property tests/test_specifiers.py tests/test_tags.py tests/test_ranges.py \
  tests/test_metadata.py tests/test_pylock.py tests/test_pylock_select.py tests/test_dependency_groups.py \
  tests/test_manylinux.py
# click: the tests of its helpers, types and errors; the command-line tests (CliRunner) are left out
unpack click-8.5.1 tests/typing tests/test_abort_interrupt.py tests/test_arguments.py tests/test_basic.py \
  tests/test_chain.py tests/test_command_decorators.py tests/test_commands.py tests/test_context.py \
  tests/test_custom_classes.py tests/test_defaults.py tests/test_deprecations.py tests/test_imports.py \
  tests/test_info_dict.py tests/test_options.py tests/test_shell_completion.py tests/test_stream_lifecycle.py \
  tests/test_testing.py
unpack pyparsing-3.3.3 tests/test_unit.py tests/test_diagram.py tests/test_examples.py \
  tests/test_matplotlib_cases.py tests/test_pep8_converter.py tests/test_pre_pep8_deprecation_warnings.py \
  tests/perf_pyparsing.py tests/json_parser_tests.py
python -m testbot finetune --mine "$work/packaging-26.3" "$work/click-8.5.1" "$work/pyparsing-3.3.3" --augment \
  --data "$out" --suite-timeout 400
