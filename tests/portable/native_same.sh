#!/usr/bin/env bash
# native_same.sh — TERN_NATIVE changes no results: the default (portable)
# build and a -DTERN_NATIVE=ON build train 4 steps of LeNet-5 on the same
# 512 MNIST images into checkpoints whose parameters and optimizer state are
# the same bits.
#
#   bash tests/portable/native_same.sh
#
# Needs the default build in build/ (tests/run.sh made it) and MNIST in
# datasets/data/mnist; configures and builds the native twin in
# build-native/ (the tern program only). Installs hdf5-tools (h5dump) when
# missing. Exits non-zero naming the first tensor that differs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PORT="$ROOT/build"
NATIVE="$ROOT/build-native"
MNIST="$ROOT/datasets/data/mnist"
fail() { echo "native_same: $*" >&2; exit 1; }

command -v h5dump >/dev/null || bash "$ROOT/trainers/setup.sh" --package hdf5-tools
grep -q '^TERN_NATIVE:BOOL=OFF$' "$PORT/CMakeCache.txt" 2>/dev/null ||
    fail "$PORT is not a default (TERN_NATIVE=OFF) build; run tests/run.sh first"
[ -f "$MNIST/train-images-idx3-ubyte" ] || fail "no MNIST in $MNIST (bash datasets/fetch.sh mnist)"

cmake -S "$ROOT" -B "$NATIVE" -DCMAKE_BUILD_TYPE=Release -DTERN_NATIVE=ON -DTERN_TESTS=OFF > /dev/null
cmake --build "$NATIVE" -j"$(nproc)" --target tern_cli > /dev/null
cmake --build "$PORT" -j"$(nproc)" --target tern_cli > /dev/null

T="$(mktemp -d /tmp/tern_native_same.XXXXXX)"
trap 'rm -rf "$T"' EXIT

# shellcheck source=tests/portable/idx.sh
source "$(dirname "${BASH_SOURCE[0]}")/idx.sh"
mkdir -p "$T/data"
idx_head "$MNIST/train-images-idx3-ubyte" "$T/data/train-images-idx3-ubyte" 512 784 16
idx_head "$MNIST/train-labels-idx1-ubyte" "$T/data/train-labels-idx1-ubyte" 512 1 8
idx_head "$MNIST/t10k-images-idx3-ubyte" "$T/data/t10k-images-idx3-ubyte" 128 784 16
idx_head "$MNIST/t10k-labels-idx1-ubyte" "$T/data/t10k-labels-idx1-ubyte" 128 1 8

# 512 images in batches of 128: 4 steps.
for b in port native; do
    bin="$PORT/tern"; [ $b = native ] && bin="$NATIVE/tern"
    "$bin" train "$ROOT/configs/mnist_lenet5.yaml" --set dataset.path="$T/data" \
        --set training.epochs=1 --set training.batch_size=128 --set dataset.validation=0 --set output.dir="$T/$b" > "$T/$b.log" 2>&1 ||
        fail "$b build: training failed: $(tail -3 "$T/$b.log")"
done

# Every dataset under /params, then /optim, as raw bytes, compared.
n=0
for d in $(h5ls -r "$T/port/last.h5" | awk '$2 == "Dataset" && $1 ~ "^/params/" {print $1}') \
         $(h5ls -r "$T/port/last.h5" | awk '$2 == "Dataset" && $1 ~ "^/optim/" {print $1}'); do
    h5dump -d "$d" -b NATIVE -o "$T/a.bin" "$T/port/last.h5" > /dev/null
    h5dump -d "$d" -b NATIVE -o "$T/b.bin" "$T/native/last.h5" > /dev/null ||
        fail "$d: missing from the native build's checkpoint"
    cmp -s "$T/a.bin" "$T/b.bin" || fail "$d differs between the portable and the native build"
    n=$((n + 1))
done
[ $n -gt 0 ] || fail "no tensors found in $T/port/last.h5"
echo "native_same: $n tensors of /params and /optim are the same bits, portable and native"
