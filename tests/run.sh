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
# The aarch64_* cases need a cross compiler, qemu-user and cmocka for arm64
# (tests/aarch64/setup.sh); the mcu_* cases a Cortex-M toolchain and qemu's
# Arm boards (tests/mcu); qemu_x86_noavx512 qemu-user; tern plot's cases
# gnuplot, and the check of its HTML page a headless chromium.
bash "$ROOT/trainers/setup.sh" --data mnist --data fashion-mnist --package qemu-user \
    --package gcc-arm-none-eabi --package libnewlib-arm-none-eabi --package qemu-system-arm \
    --package gnuplot-nox --package chromium
bash "$ROOT/tests/aarch64/setup.sh"
cd "$ROOT/build"
ctest --output-on-failure -j"$(nproc)"
