#!/usr/bin/env bash
# run.sh — the test command: install what is missing, build, fetch MNIST and
# Fashion-MNIST, run every test.
#
#   bash tests/run.sh
#
# Every tests/test_*.c is a cmocka program registered with ctest. Tests that
# read the real files find them in datasets/data/<name>.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/trainers/setup.sh" --data mnist --data fashion-mnist --package qemu-user
bash "$ROOT/tests/aarch64/setup.sh"   # the cross toolchain, qemu and cmocka of the aarch64_* cases
cd "$ROOT/build"
ctest --output-on-failure -j"$(nproc)"
