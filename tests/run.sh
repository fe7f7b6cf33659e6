#!/usr/bin/env bash
# run.sh — the test command: install what is missing, build, run every test.
#
#   bash tests/run.sh
#
# Every tests/test_*.c is a cmocka program registered with ctest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/trainers/setup.sh"
cd "$ROOT/build"
ctest --output-on-failure -j"$(nproc)"
