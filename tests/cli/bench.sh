#!/usr/bin/env bash
# bench.sh — `tern bench kernels` refuses a bad --model or --lenet in one line
# before it times anything (no table on stdout), and its --help names every
# case of the table. No timing is checked: speed is for benchmarks.
# cases: lenet_missing lenet_not_deploy model_missing help_lists_cases
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

no_table() { [ ! -s "$T/out" ] || fail "printed before refusing: $(head -c 300 "$T/out")"; }

case "$CASE" in
lenet_missing)
    expect_error "nosuch.h5" "$TERN" bench kernels --lenet "$T/nosuch.h5" --repeats 1
    no_table ;;
lenet_not_deploy)
    expect_error "good.yaml" "$TERN" bench kernels --lenet "$T/good.yaml" --repeats 1
    no_table ;;
model_missing)
    expect_error "none.h5" "$TERN" bench kernels --model "$T/none.h5" --lenet "$T/run/last.h5" --repeats 1
    no_table ;;
help_lists_cases)
    "$TERN" bench kernels --help > "$T/out" 2> "$T/err" || fail "--help exit status $?"
    for c in "(a) GEMV" "(b) MNIST MLP" "(c)" "(d) GEMM 4096x4096 at batch 256" "(e) LeNet-5" "(f)" "--lenet" \
             "median and the min"; do
        grep -qF -- "$c" "$T/out" || fail "--help lacks '$c'"
    done
    echo "ok [$CASE]" ;;
*) fail "unknown case" ;;
esac
