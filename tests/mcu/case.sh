#!/usr/bin/env bash
# case.sh — the ctest cases mcu_mnist_mlp and mcu_lenet5: train a config as
# shipped for a few steps (the shapes are what matter: 512 MNIST training
# images, one epoch, 4 steps), export it and run it on the board against
# tern eval (run.sh).
#
#   bash tests/mcu/case.sh TERN_BINARY CONFIG NAME
#
# Skips (77) when the toolchain (lib.sh) or the MNIST files are missing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export TERN="$1"
CONFIG="$2" NAME="$3"
mcu_need
MNIST="$ROOT/datasets/data/mnist"
[ -f "$MNIST/t10k-images-idx3-ubyte" ] || { echo "SKIP: $MNIST not fetched (bash datasets/fetch.sh mnist)"; exit 77; }

W="$(mktemp -d /tmp/tern_mcu_case.XXXXXX)"
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/data"
# The first 512 training images: the idx header with the count rewritten.
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
part() { dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none; } # FILE OFFSET BYTES
{ be32 2051; be32 512; be32 28; be32 28; part "$MNIST/train-images-idx3-ubyte" 16 $((512 * 784)); } > "$W/data/train-images-idx3-ubyte"
{ be32 2049; be32 512; part "$MNIST/train-labels-idx1-ubyte" 8 512; } > "$W/data/train-labels-idx1-ubyte"
ln -s "$MNIST/t10k-images-idx3-ubyte" "$MNIST/t10k-labels-idx1-ubyte" "$W/data/"

"$TERN" train "$CONFIG" --set training.epochs=1 --set dataset.validation=0 --set dataset.path="$W/data" --set output.dir="$W/run" \
    > "$W/train.log" 2>&1 || { echo "FAIL [mcu $NAME]: training: $(tail -3 "$W/train.log")" >&2; exit 1; }
"$TERN" export "$W/run/last.h5" -o "$W/model.h5" --data "$W/data" > "$W/export.log" 2>&1 ||
    { echo "FAIL [mcu $NAME]: tern export: $(tail -3 "$W/export.log")" >&2; exit 1; }
MCU_DATA="$W/data" bash "$MCU_DIR/run.sh" "$W/model.h5" "$NAME"
