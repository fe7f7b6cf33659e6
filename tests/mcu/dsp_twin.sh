#!/usr/bin/env bash
# dsp_twin.sh — the ctest case mcu_dsp_twin: the Cortex-M DSP row kernel
# against its portable twin on the board, bit for bit (dsp_twin.c); then the
# MNIST MLP and LeNet-5 built on the portable C kernel (-DTERN_PT_NO_DSP)
# must give tern eval's lines too, on the same 200 images as mcu_mnist_mlp
# and mcu_lenet5 check the DSP builds, so the two builds' logits are equal.
#
#   bash tests/mcu/dsp_twin.sh TERN_BINARY
#
# Skips (77) when the toolchain (lib.sh) is missing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mcu_need
W="$(mktemp -d /tmp/tern_mcu_twin.XXXXXX)"
trap 'rm -rf "$W"' EXIT
mcu_cc "$W/dsp_twin.o" "$MCU_DIR/dsp_twin.c" -I"$ROOT/src/portable" -I"$MCU_DIR"
mcu_link "$W/dsp_twin.elf" "$W/dsp_twin.o"
mcu_run "$W/dsp_twin.elf" "$W/out.txt" 60 ||
    { cat "$W/out.txt" >&2; echo "FAIL [mcu_dsp_twin]: the DSP kernel differs from the portable C" >&2; exit 1; }
cat "$W/out.txt"
MCU_BUILD=c bash "$MCU_DIR/case.sh" "$1" "$ROOT/configs/mnist_mlp.yaml" mnist_mlp
MCU_BUILD=c bash "$MCU_DIR/case.sh" "$1" "$ROOT/configs/mnist_lenet5.yaml" lenet5
