#!/usr/bin/env bash
# config_data.sh — hostile configs, dataset paths and sweep specs (see lib.sh):
# what stands where a file should, numbers out of range, huge lists.
# cases: idx_dir idx_fifo idx_link_loop idx_dangling cifar_batch_dir config_fifo config_dir
# cases: many_layers_taken_name set_float_range set_pad_overflow
# cases: sweep_base_dir sweep_nan_t sweep_zero_twice sweep_huge_seeds spec_fifo
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A FIFO must be refused, never waited on: a hang is killed and fails the case.
run() { timeout -s KILL 50 "$@"; }
IMG="$T/data/train-images-idx3-ubyte"
sweep_spec() { # methods-yaml seeds-yaml [base]
    printf 'base: %s\nmethods: %s\nseeds: %s\nout: sw\n' "${3:-good.yaml}" "$1" "$2" > "$T/sw.yaml"
}

case "$CASE" in
idx_dir)
    rm "$IMG" && mkdir "$IMG"
    expect_error "train-images-idx3-ubyte: is a directory, not a regular file" run "$TERN" train "$T/good.yaml" --force ;;
idx_fifo)
    rm "$IMG" && mkfifo "$IMG"
    expect_error "train-images-idx3-ubyte: is a FIFO (named pipe), not a regular file" run "$TERN" train "$T/good.yaml" --force ;;
idx_link_loop)
    rm "$IMG" && ln -s "$IMG" "$IMG"
    expect_error "train-images-idx3-ubyte: cannot open: Too many levels of symbolic links" run "$TERN" train "$T/good.yaml" --force ;;
idx_dangling)
    rm "$IMG" && ln -s "$T/nowhere" "$IMG"
    expect_error "train-images-idx3-ubyte: cannot open: a symbolic link to a missing file" run "$TERN" train "$T/good.yaml" --force ;;
cifar_batch_dir)
    mkdir -p "$T/cifar/data_batch_1.bin"
    head -c 3073 /dev/zero > "$T/cifar/test_batch.bin"
    cfg "$T/c.yaml" "$GOOD_LAYERS"
    sed -i "s|dataset: {.*}|dataset: {name: cifar10, path: $T/cifar}|" "$T/c.yaml"
    expect_error "data_batch_1.bin: is a directory, not a regular file" run "$TERN" train "$T/c.yaml" --force ;;
config_fifo)
    mkfifo "$T/f.yaml"
    expect_error "f.yaml: is a FIFO (named pipe), not a regular file" run "$TERN" train "$T/f.yaml" --force ;;
config_dir)
    mkdir "$T/d.yaml"
    expect_error "d.yaml: is a directory, not a regular file" run "$TERN" train "$T/d.yaml" --force ;;
many_layers_taken_name)
    # 150,000 named layers, the last taking the first's name: checked in
    # seconds (pairwise, this took minutes).
    { seq 0 149998 | sed 's/.*/    - {type: relu, name: r&}/'; echo '    - {type: relu, name: r0}'; } > "$T/layers"
    cfg "$T/big.yaml" "$(cat "$T/layers")"
    expect_error "big.yaml:150003:26: model.layers.149999.name: layer name 'r0' is taken by layer 0" \
        run "$TERN" train "$T/big.yaml" --force ;;
set_float_range)
    expect_error "--set optimizer.lr=1e39: optimizer.lr: 1e39 is out of range (a float holds 0 and magnitudes" \
        run "$TERN" train "$T/good.yaml" --force --set optimizer.lr=1e39 ;;
set_pad_overflow)
    expect_error "model.layers.0.pad: 1500000000 is outside 0..65535" \
        run "$TERN" train "$T/good.yaml" --force --set 'model.layers.0={type: maxpool, kernel: 2, pad: 1500000000}' ;;
sweep_base_dir)
    mkdir "$T/adir"
    sweep_spec '[{quantizer: twn, t: [0.7]}]' '[1, 2, 3]' adir
    expect_error "sw.yaml:1:7: base: " run "$TERN" sweep "$T/sw.yaml" --dry-run
    grep -qF "adir: is a directory, not a regular file" "$T/err" || fail "the message does not say adir is a directory" ;;
sweep_nan_t)
    sweep_spec '[{quantizer: twn, t: [0.7, .nan]}]' '[1, 2, 3]'
    expect_error "sw.yaml:2:37: methods.0.t.1: expected a finite number, got '.nan'" run "$TERN" sweep "$T/sw.yaml" --dry-run ;;
sweep_zero_twice)
    # -0 and 0 train the same point: one point, not t0 and t-0.
    sweep_spec '[{quantizer: twn, t: [0, 0.5, -0]}]' '[1, 2, 3]'
    expect_error "methods.0.t.2: threshold 0 is given twice (as item 0)" run "$TERN" sweep "$T/sw.yaml" --dry-run ;;
sweep_huge_seeds)
    # 200,000 seeds: refused at once for the points they make, not compared pairwise for minutes.
    sweep_spec '[{quantizer: twn, t: [0.7]}]' "[$(seq -s ', ' 1 200000)]"
    expect_error "sw.yaml:1:1: 200000 points (200000 seeds of 1); a sweep has at most 10000" \
        run "$TERN" sweep "$T/sw.yaml" --dry-run ;;
spec_fifo)
    mkfifo "$T/sw.yaml"
    expect_error "sw.yaml: is a FIFO (named pipe), not a regular file" run "$TERN" sweep "$T/sw.yaml" --dry-run ;;
*)
    fail "unknown case" ;;
esac
