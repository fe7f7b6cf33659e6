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
# The mcu_* cases need a Cortex-M toolchain and qemu's Arm boards (tests/mcu).
bash "$ROOT/trainers/setup.sh" --data mnist --data fashion-mnist \
    --package gcc-arm-none-eabi --package libnewlib-arm-none-eabi --package qemu-system-arm
cd "$ROOT/build"
ctest --output-on-failure -j"$(nproc)"
