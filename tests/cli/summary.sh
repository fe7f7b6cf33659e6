#!/usr/bin/env bash
# summary.sh — `tern summary` on LeNet-5's config against numbers computed by
# hand, on a training checkpoint (its sparsity) and a deploy file, the
# compact form `tern train` prints first, and bad input in one line.
# cases: lenet5_by_hand checkpoint_and_deploy train_prints_model bad_input
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/tiny_run.sh"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# The row of layer $2 in summary output $1, as words.
row() { awk -v n="$2" '$2 == n' "$1"; }
expect_row() { # file layer "type weights shape params MACs fp32B deployB"
    local got; got=$(row "$1" "$2" | awk '{ print $3, $4, $5, $6, $7, $8, $9 }')
    [ "$got" = "$3" ] || fail "layer $2: got '$got', want '$3'"
}

case "$CASE" in
lenet5_by_hand)
    # conv1 1->32 5x5 no bias on 28x28 -> 24x24, bn1 32; conv2 32->64 5x5
    # (ternary, 8-bit inputs) on 12x12 -> 8x8, bn2 64; fc1 1024->512 no bias
    # (ternary), bn3 512; fc2 512->10 with bias.
    #   params: 800 + 2*32, 51200 + 2*64, 524288 + 2*512, 5120 + 10 = 582634
    #   MACs: 32*25*576 = 460800, 64*800*64 = 3276800, 1024*512, 512*10 = 4267008
    #   fp32 B: 4 * (weights + one bias per output, the folded BN's)
    #   deploy B: 2-bit codes of rows padded to 128 (800 -> 896: 224 B;
    #   1024: 256 B) + wp, wn, bias floats per row: 64*224 + 64*12, 512*256 + 512*12
    "$TERN" summary "$SRC/configs/mnist_lenet5.yaml" > "$T/out" 2> "$T/err" || fail "exit $?: $(cat "$T/err")"
    expect_row "$T/out" conv1+bn1 "conv2d+relu fp32 (32,24,24) 864 460800 $((4 * (800 + 32))) $((4 * (800 + 32)))"
    expect_row "$T/out" conv2+bn2 "conv2d+relu tern/i8 (64,8,8) 51328 3276800 $((4 * (51200 + 64))) $((64 * 224 + 64 * 12))"
    expect_row "$T/out" fc1+bn3 "linear+relu tern/i8 (512) 525312 524288 $((4 * (524288 + 512))) $((512 * 256 + 512 * 12))"
    expect_row "$T/out" fc2 "linear fp32 (10) 5130 5120 20520 20520"
    expect_row "$T/out" maxpool2 "maxpool - (32,12,12) 0 0 0 0"
    got=$(awk '$1 == "total" { print $2, $3 }' "$T/out")
    [ "$got" = "582634 4267008" ] || fail "total params and MACs: got '$got', want '582634 4267008'"
    [ ! -s "$T/err" ] || fail "stderr: $(cat "$T/err")"
    echo "ok [$CASE]" ;;
checkpoint_and_deploy)
    tiny_config "$T/c.yaml" "$T/run" 40 1 8
    "$TERN" train "$T/c.yaml" > /dev/null 2>&1 || fail "the tiny run does not train"
    "$TERN" summary "$T/run/last.h5" > "$T/out" 2> "$T/err" || fail "exit $?: $(cat "$T/err")"
    # fc1 16->64 ternary (float inputs) with bias, bn1 folded: 1024 + 64 + 128 params.
    row "$T/out" fc1+bn1 | grep -Eq '^ *1 fc1\+bn1 +linear\+relu +ternary +\(64\) +1216 +1024 .* [0-9.]+%$' \
        || fail "checkpoint row: $(row "$T/out" fc1+bn1)"
    grep -q 'sparsity' "$T/out" || fail "no sparsity column for a checkpoint"
    "$TERN" export "$T/run/last.h5" -o "$T/d.h5" > /dev/null 2>&1 || fail "export"
    "$TERN" summary "$T/d.h5" > "$T/out2" 2> "$T/err" || fail "deploy exit $?: $(cat "$T/err")"
    grep -q '^ *# layer .* stored ' "$T/out2" || fail "a deploy file's params are not called stored"
    # The same layers, MACs and bytes whichever file.
    diff <(awk '{ print $2, $7, $8, $9 }' "$T/out" | sed -n '3,6p') <(awk '{ print $2, $7, $8, $9 }' "$T/out2" | sed -n '3,6p') \
        || fail "checkpoint and deploy disagree"
    echo "ok [$CASE]" ;;
train_prints_model)
    tiny_config "$T/c.yaml" "$T/run" 40 1 8
    "$TERN" train "$T/c.yaml" > "$T/out" 2> "$T/err" || fail "train exit $?"
    head -1 "$T/out" | grep -qx 'model: flatten0 (16) -> fc1+bn1 (64) -> fc2 (10)' || fail "first line: $(head -1 "$T/out")"
    sed -n 2p "$T/out" | grep -q '^model: 1866 params, 1664 MACs/sample, 61.5% of weights ternary, deploy ' \
        || fail "second line: $(sed -n 2p "$T/out")"
    echo "ok [$CASE]" ;;
bad_input)
    expect1() { # substring, then the command: one line on stderr, exit 1..127, nothing on stdout
        local want="$1"; shift
        "$@" > "$T/out" 2> "$T/err"
        local rc=$?
        [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "exit status $rc for $*"
        [ "$(wc -l < "$T/err")" -eq 1 ] || fail "stderr is not one line: $(cat "$T/err")"
        grep -qF -- "$want" "$T/err" || fail "stderr lacks '$want': $(cat "$T/err")"
        [ ! -s "$T/out" ] || fail "printed a table: $(head -2 "$T/out")"
    }
    expect1 "$T/none.yaml: cannot open" "$TERN" summary "$T/none.yaml"
    echo "not hdf5" > "$T/x.h5"
    expect1 "$T/x.h5" "$TERN" summary "$T/x.h5"
    printf 'dataset: {name: mnist}\noptimizer: {name: sgd, lr: 0.1}\nmodel:\n  layers:\n    - {type: linear, out: 0}\n' > "$T/bad.yaml"
    expect1 "bad.yaml:5" "$TERN" summary "$T/bad.yaml"
    expect1 "training.epochz" "$TERN" summary "$SRC/configs/mnist_mlp.yaml" --set training.epochz=1
    echo "ok [$CASE]" ;;
*) fail "unknown case" ;;
esac
