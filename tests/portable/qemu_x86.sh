#!/usr/bin/env bash
# qemu_x86.sh TERN SOURCE_DIR — the default build's tern program on a CPU
# with AVX2 but without AVX-512 (qemu-x86_64 -cpu max): it trains 4 steps of
# the MNIST MLP on 256 images, exports, evaluates the deploy file on 1000
# test images and classifies one. Every step must exit 0; the runtime must
# choose the AVX2 path and refuse TERN_KERNEL=avx512; and the emulated eval
# and infer must print what the same commands print natively (the int8
# paths are bit-identical across scalar, AVX2 and AVX-512).
# Exits 77 when qemu-x86_64 (Debian: qemu-user) or MNIST is missing, on
# other architectures, and in sanitizer builds (TERN_SANITIZE=ON).
set -uo pipefail
TERN=${1:?usage: qemu_x86.sh TERN SOURCE_DIR}
SRC=${2:?usage: qemu_x86.sh TERN SOURCE_DIR}
MNIST="$SRC/datasets/data/mnist"
case "$(uname -m)" in x86_64 | amd64) ;; *) echo "qemu_x86_noavx512: runs an x86-64 tern; this is $(uname -m)"; exit 77 ;; esac
case "${TERN_SANITIZE:-OFF}" in ON | 1 | TRUE) echo "qemu_x86_noavx512: a sanitizer build does not run under qemu-user"; exit 77 ;; esac
command -v qemu-x86_64 > /dev/null || { echo "qemu_x86_noavx512: qemu-x86_64 missing (Debian: qemu-user)"; exit 77; }
[ -f "$MNIST/t10k-images-idx3-ubyte" ] || { echo "qemu_x86_noavx512: no MNIST in $MNIST (bash datasets/fetch.sh mnist)"; exit 77; }
T="$(mktemp -d /tmp/tern_qemu_x86.XXXXXX)"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# OpenBLAS picks its kernels by CPUID, which qemu answers for its own model:
# name a core type qemu runs, and one thread, whatever the caller set.
export OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1
unset TERN_KERNEL
Q=(qemu-x86_64 -cpu max)
run() { # name, then the command: must exit 0; output in $T/name
    local name=$1; shift
    "$@" > "$T/$name" 2> "$T/$name.err" || fail "$name exited $?: $(tail -3 "$T/$name.err")"
}

# shellcheck source=tests/portable/idx.sh
source "$(dirname "${BASH_SOURCE[0]}")/idx.sh"
mkdir -p "$T/data"
idx_head "$MNIST/train-images-idx3-ubyte" "$T/data/train-images-idx3-ubyte" 256 784 16
idx_head "$MNIST/train-labels-idx1-ubyte" "$T/data/train-labels-idx1-ubyte" 256 1 8
idx_head "$MNIST/t10k-images-idx3-ubyte" "$T/data/t10k-images-idx3-ubyte" 1000 784 16
idx_head "$MNIST/t10k-labels-idx1-ubyte" "$T/data/t10k-labels-idx1-ubyte" 1000 1 8

run train "${Q[@]}" "$TERN" train "$SRC/configs/mnist_mlp.yaml" --set dataset.path="$T/data" \
    --set training.epochs=1 --set training.batch_size=64 --set training.threads=1 --set dataset.validation=0 --set output.dir="$T/run"
run export "${Q[@]}" "$TERN" export "$T/run/last.h5" -o "$T/model.h5" --data "$T/data"
run eval_q "${Q[@]}" "$TERN" eval "$T/model.h5" --data "$T/data"
run eval_n "$TERN" eval "$T/model.h5" --data "$T/data"
grep -q "kernel path avx2," "$T/eval_q" || fail "the emulated eval did not run the avx2 path: $(head -1 "$T/eval_q")"
# Everything but the path's name is the same: accuracy and per-class counts.
diff <(sed 's/kernel path [a-z0-9]*,//' "$T/eval_q") <(sed 's/kernel path [a-z0-9]*,//' "$T/eval_n") > "$T/diff" ||
    fail "the emulated eval differs from the native one: $(cat "$T/diff")"
for i in 0 1 2 3; do
    run "infer_q$i" "${Q[@]}" "$TERN" infer "$T/model.h5" "mnist:test:$i" --data "$T/data"
    run "infer_n$i" "$TERN" infer "$T/model.h5" "mnist:test:$i" --data "$T/data"
    cmp -s "$T/infer_q$i" "$T/infer_n$i" || fail "infer mnist:test:$i differs: $(head -1 "$T/infer_q$i") vs $(head -1 "$T/infer_n$i")"
done
TERN_KERNEL=avx512 "${Q[@]}" "$TERN" infer "$T/model.h5" mnist:test:0 --data "$T/data" > /dev/null 2> "$T/refused" &&
    fail "TERN_KERNEL=avx512 was accepted on a CPU without AVX-512"
grep -q "lacks that path" "$T/refused" || fail "TERN_KERNEL=avx512 refused with another message: $(cat "$T/refused")"
echo "ok: under qemu -cpu max (avx2): train, export, eval ($(sed -n 2p "$T/eval_q" | cut -d' ' -f1-2)) and infer as natively"
