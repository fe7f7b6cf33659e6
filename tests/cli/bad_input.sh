#!/usr/bin/env bash
# bad_input.sh — bad configs, datasets, checkpoints and deploy files (see lib.sh).
# cases: malformed_yaml unknown_key wrong_type missing_dataset_file truncated_idx wrong_magic
# cases: label_out_of_range checkpoint_architecture unwritable_run_dir
# cases: deploy_truncated deploy_wrong_version deploy_missing_dataset infer_wrong_shape
# cases: inspect_truncated profile_truncated profile_missing_dataset inspect_train_truncated
# cases: inspect_train_no_dataset profile_train_ckpt sweep_few_seeds sweep_other_base
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "$CASE" in
malformed_yaml)
    printf 'dataset: {name: mnist\nmodel: [\n' > "$T/bad.yaml"
    expect_error "bad.yaml:" "$TERN" train "$T/bad.yaml" --force ;;
unknown_key)
    cfg "$T/bad.yaml" "$GOOD_LAYERS"
    sed -i 's/training: {epochs: 1,/training: {epochs: 1, epochz: 3,/' "$T/bad.yaml"
    expect_error "bad.yaml:8:23: training.epochz: unknown key" "$TERN" train "$T/bad.yaml" --force ;;
wrong_type)
    cfg "$T/bad.yaml" "$GOOD_LAYERS"
    sed -i 's/epochs: 1,/epochs: ten,/' "$T/bad.yaml"
    expect_error "training.epochs" "$TERN" train "$T/bad.yaml" --force ;;
missing_dataset_file)
    rm "$T/data/t10k-labels-idx1-ubyte"
    expect_error "t10k-labels-idx1-ubyte" "$TERN" train "$T/good.yaml" --force ;;
truncated_idx)
    head -c 100 "$T/data/train-images-idx3-ubyte" > "$T/x" && mv "$T/x" "$T/data/train-images-idx3-ubyte"
    expect_error "train-images-idx3-ubyte" "$TERN" train "$T/good.yaml" --force ;;
wrong_magic)
    { be32 2052; tail -c +5 "$T/data/train-images-idx3-ubyte"; } > "$T/x" && mv "$T/x" "$T/data/train-images-idx3-ubyte"
    expect_error "magic" "$TERN" train "$T/good.yaml" --force ;;
label_out_of_range)
    printf '\x0c' | dd of="$T/data/train-labels-idx1-ubyte" bs=1 seek=11 conv=notrunc status=none
    expect_error "label 12 at index 3 is outside 0..9" "$TERN" train "$T/good.yaml" --force ;;
checkpoint_architecture)
    cfg "$T/other.yaml" '    - {type: flatten}
    - {type: linear, name: fc1, out: 12}
    - {type: linear, name: fc2, out: 10, ternary: false}'
    expect_error "another architecture" "$TERN" train "$T/other.yaml" --resume "$T/run/last.h5" ;;
unwritable_run_dir)
    cfg "$T/bad.yaml" "$GOOD_LAYERS"
    touch "$T/afile"
    sed -i "s|output: {dir: .*}|output: {dir: $T/afile/run}|" "$T/bad.yaml"
    expect_error "afile" "$TERN" train "$T/bad.yaml" ;;
inspect_train_truncated)
    head -c 3000 "$T/run/last.h5" > "$T/cut.h5"
    expect_error "cut.h5" "$TERN" inspect "$T/cut.h5" ;;
inspect_train_no_dataset)
    # 4x4 images are not MNIST's published 28x28: the shape must come from
    # the dataset, which is gone.
    cp "$T/run/last.h5" "$T/ck.h5"
    mv "$T/data" "$T/data.gone"
    expect_error "needs its dataset: " "$TERN" inspect "$T/ck.h5" ;;
profile_train_ckpt)
    expect_error "tern export" "$TERN" profile "$T/run/last.h5" --data random ;;
deploy_truncated | deploy_wrong_version | deploy_missing_dataset | infer_wrong_shape | inspect_truncated | \
profile_truncated | profile_missing_dataset)
    # A deploy checkpoint of the earlier run, then the bad input.
    "$TERN" export "$T/run/last.h5" -o "$T/model.h5" --data "$T/data" > /dev/null 2>&1 || fail "setup: export failed"
    ( cd "$T" && sha256sum model.h5 >> "$T/run.sha256.deploy" )
    case "$CASE" in
    deploy_truncated)
        head -c 3000 "$T/model.h5" > "$T/cut.h5"
        expect_error "cut.h5" "$TERN" eval "$T/cut.h5" --data "$T/data" ;;
    deploy_wrong_version)
        cp "$T/model.h5" "$T/v1.h5"
        # The text header's version line (the CRC covers what follows it):
        # a version-1 file is refused with the command that replaces it.
        sed -i '1,3s/^version 2$/version 1/' "$T/v1.h5"
        expect_error "version 1, but this tern reads version 2; re-export it from its training checkpoint with \`tern export\`" \
            "$TERN" eval "$T/v1.h5" --data "$T/data" ;;
    deploy_missing_dataset)
        expect_error "$T/nowhere" "$TERN" eval "$T/model.h5" --data "$T/nowhere" ;;
    infer_wrong_shape)
        printf 'P5\n5 5\n255\n' > "$T/img.pgm"
        head -c 25 /dev/zero >> "$T/img.pgm"
        expect_error "img.pgm" "$TERN" infer "$T/model.h5" "$T/img.pgm" ;;
    inspect_truncated | profile_truncated)
        head -c 3000 "$T/model.h5" > "$T/cut.h5"
        expect_error "cut.h5" "$TERN" "${CASE%_truncated}" "$T/cut.h5" ;;
    profile_missing_dataset)
        expect_error "$T/nowhere" "$TERN" profile "$T/model.h5" --data "$T/nowhere" ;;
    esac
    ( cd "$T" && sha256sum --quiet -c "$T/run.sha256.deploy" ) || fail "the deploy file changed" ;;
sweep_few_seeds)
    printf 'base: good.yaml\nmethods: [{quantizer: twn, t: [0.7]}]\nseeds: [1, 2]\nout: sw\n' > "$T/sw.yaml"
    expect_error "sw.yaml:3:8: seeds: 2 seeds given; at least 3" "$TERN" sweep "$T/sw.yaml" ;;
sweep_other_base)
    # A finished sweep, then the same out dir with another override: refused,
    # and the finished results stay as they were.
    spec() { printf 'base: good.yaml\nset: [%s]\nmethods: [{quantizer: twn, t: [0.7]}]\nseeds: [1, 2, 3]\nout: sw\nlatency: {repeats: 2}\n' "$1" > "$T/sw.yaml"; }
    spec training.epochs=1
    "$TERN" sweep "$T/sw.yaml" > /dev/null 2>&1 || fail "setup: the good sweep failed"
    [ "$(wc -l < "$T/sw/results.csv")" -eq 4 ] || fail "setup: results.csv is not a header and 3 rows"
    ( cd "$T/sw" && sha256sum results.csv summary.csv sweep_base.yaml > "$T/sw.sha256" )
    spec training.batch_size=4
    expect_error "pass --force" "$TERN" sweep "$T/sw.yaml"
    ( cd "$T/sw" && sha256sum --quiet -c "$T/sw.sha256" ) || fail "the finished sweep's files changed" ;;
*)
    fail "unknown case" ;;
esac
