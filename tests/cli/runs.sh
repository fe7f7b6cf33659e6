#!/usr/bin/env bash
# runs.sh — where runs go: --force, --resume, finished runs, signals (see lib.sh).
# cases: force_huge_conv force_test_size force_memory force_nan_keeps_run force_replaces_whole
# cases: not_a_run_dir resume_into_other_run resume_copied_run resume_fork resume_complete
# cases: sighup_checkpoints eval_data_size bad_set_after_config outdir_is_file outdir_link_loop
# cases: bad_selection best_and_early_stop
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The run directory holds no leftover of a new run (no "<dir>.tmp.*" sibling).
no_stage_left() {
    local left
    left=$(ls -d "$T"/*.tmp.* 2> /dev/null)
    [ -z "$left" ] || fail "a temporary run directory was left: $left"
}

# A run that fails after it started (its progress on stderr): non-zero
# exit, no signal, the last stderr line naming `want`, the earlier run whole.
expect_failed_run() {
    local want="$1"; shift
    "$@" > "$T/out" 2> "$T/err"
    local rc=$?
    [ "$rc" -ne 0 ] || fail "exit status 0"
    [ "$rc" -lt 128 ] || fail "exit status $rc: killed by a signal (crash)"
    tail -1 "$T/err" | grep -qF -- "$want" || fail "the last stderr line lacks '$want': $(cat "$T/err")"
    ( cd "$T/run" && sha256sum --quiet -c "$T/run.sha256" ) || fail "an earlier run's file changed"
    echo "ok [$CASE]: $(tail -1 "$T/err")"
}

# Rows (after the header) of a metrics.csv, as their epoch numbers.
epochs_of() { tail -n +2 "$1" | cut -d, -f1 | tr '\n' ' '; }

case "$CASE" in
force_huge_conv)
    # A pad that makes a 131,074-square output of 64 channels (the largest
    # pad a config takes): refused before anything of the earlier run is
    # replaced (it used to fail at the first forward).
    cfg "$T/bad.yaml" '    - {type: conv2d, name: c1, out: 64, kernel: 1, pad: 65535}
    - {type: flatten}
    - {type: linear, name: fc2, out: 10, ternary: false}'
    expect_error "values per sample" "$TERN" train "$T/bad.yaml" --force
    no_stage_left ;;
force_test_size)
    # Test images of another size than the training images.
    rm "$T/data"/t10k-*
    make_idx5() { # dir prefix n: 5x5 images
        local dir=$1 p=$2 n=$3
        { be32 2051; be32 "$n"; be32 5; be32 5; for ((i = 0; i < n * 25; i++)); do printf '\x07'; done; } > "$dir/$p-images-idx3-ubyte"
        { be32 2049; be32 "$n"; for ((i = 0; i < n; i++)); do printf "\\x0$((i % 10))"; done; } > "$dir/$p-labels-idx1-ubyte"
    }
    make_idx5 "$T/data" t10k 10
    expect_error "the training images are (1,4,4) but the test images are (1,5,5)" \
        "$TERN" train "$T/good.yaml" --force
    no_stage_left ;;
force_memory)
    # 1.6e9 values per layer output and sample: fits int, not the machine.
    cfg "$T/bad.yaml" '    - {type: conv2d, name: c1, out: 100, kernel: 1, pad: 2000, ternary: false}
    - {type: global_avgpool}
    - {type: linear, name: fc2, out: 10, ternary: false}'
    expect_error "lower training.batch_size" "$TERN" train "$T/bad.yaml" --force
    no_stage_left ;;
force_nan_keeps_run)
    # A replacement that fails in its first epoch (the loss overflows)
    # leaves the earlier run whole.
    cfg "$T/bad.yaml" "$GOOD_LAYERS"
    sed -i 's/lr: 0.01/lr: 1e30/' "$T/bad.yaml"
    expect_failed_run "no checkpoint was written and the run directory is as it was" "$TERN" train "$T/bad.yaml" --force
    no_stage_left ;;
force_replaces_whole)
    # --force replaces the run directory whole: the old run's other files
    # (an export, notes) go with it, and nothing is left beside it.
    echo notes > "$T/run/notes.txt"
    cfg "$T/two.yaml" "$GOOD_LAYERS"
    sed -i 's/epochs: 1,/epochs: 2,/' "$T/two.yaml"
    "$TERN" train "$T/two.yaml" > /dev/null 2> "$T/err" && fail "replaced a run without --force"
    grep -q "already holds a run" "$T/err" || fail "no 'already holds a run': $(cat "$T/err")"
    "$TERN" train "$T/two.yaml" --force > /dev/null 2> "$T/err" || fail "--force failed: $(cat "$T/err")"
    [ ! -e "$T/run/notes.txt" ] || fail "the old run's notes.txt survived a --force"
    [ "$(epochs_of "$T/run/metrics.csv")" = "1 2 " ] || fail "metrics.csv: $(cat "$T/run/metrics.csv")"
    grep -q "epochs: 2" "$T/run/config.yaml" || fail "config.yaml is not the new run's"
    "$TERN" eval "$T/run/last.h5" > /dev/null 2>&1 || fail "the new last.h5 does not evaluate"
    no_stage_left
    echo "ok [$CASE]" ;;
not_a_run_dir)
    # A directory of other files is never a run directory, --force or not.
    mkdir -p "$T/home" && echo precious > "$T/home/thesis.tex"
    cfg "$T/bad.yaml" "$GOOD_LAYERS"
    sed -i "s|output: {dir: .*}|output: {dir: $T/home}|" "$T/bad.yaml"
    expect_error "thesis.tex', which is not part of a tern run" "$TERN" train "$T/bad.yaml" --force
    [ "$(cat "$T/home/thesis.tex")" = precious ] || fail "thesis.tex changed" ;;
resume_into_other_run)
    # Run A elsewhere; resuming it with run B's config (output.dir = run B)
    # used to overwrite B's last.h5 and splice A's epoch into B's metrics.
    cfg "$T/a.yaml" "$GOOD_LAYERS"
    sed -i "s|output: {dir: .*}|output: {dir: $T/runA}|" "$T/a.yaml"
    "$TERN" train "$T/a.yaml" --set training.epochs=1 > /dev/null 2>&1 || fail "setup: run A"
    expect_error "already holds a run" "$TERN" train "$T/good.yaml" --set training.epochs=2 --resume "$T/runA/last.h5" ;;
resume_copied_run)
    # A copy resumes in its own directory; the original is not moved forward
    # (the stored output.dir names the original).
    cp -r "$T/run" "$T/copy"
    "$TERN" train --resume "$T/copy/last.h5" --set training.epochs=2 > /dev/null 2> "$T/err" ||
        fail "resume of the copy failed: $(cat "$T/err")"
    [ "$(epochs_of "$T/copy/metrics.csv")" = "1 2 " ] || fail "copy's metrics.csv: $(cat "$T/copy/metrics.csv")"
    ( cd "$T/run" && sha256sum --quiet -c "$T/run.sha256" ) || fail "the original run changed"
    no_stage_left
    echo "ok [$CASE]" ;;
resume_fork)
    # Continuing elsewhere is an explicit fork: the history comes along, the
    # original stays, and an existing run there needs --force.
    "$TERN" train --resume "$T/run/last.h5" --set training.epochs=2 --set output.dir="$T/fork" > /dev/null 2> "$T/err" ||
        fail "fork failed: $(cat "$T/err")"
    [ "$(epochs_of "$T/fork/metrics.csv")" = "1 2 " ] || fail "fork's metrics.csv: $(cat "$T/fork/metrics.csv")"
    ( cd "$T/run" && sha256sum --quiet -c "$T/run.sha256" ) || fail "the original run changed"
    ( cd "$T/fork" && sha256sum config.yaml metrics.csv last.h5 > "$T/fork.sha256" )
    "$TERN" train --resume "$T/run/last.h5" --set training.epochs=3 --set output.dir="$T/fork" > /dev/null 2> "$T/err" &&
        fail "a second fork replaced the first without --force"
    grep -q "already holds a run" "$T/err" || fail "no 'already holds a run': $(cat "$T/err")"
    ( cd "$T/fork" && sha256sum --quiet -c "$T/fork.sha256" ) || fail "the first fork changed"
    no_stage_left
    echo "ok [$CASE]" ;;
resume_complete)
    # It used to print "epoch 2 of 1 ... test accuracy nan%" and exit 0.
    expect_error "the run is complete (epoch 1 of training.epochs 1); to train further, resume with --set training.epochs=N" \
        "$TERN" train --resume "$T/run/last.h5" ;;
sighup_checkpoints)
    # Closing the terminal (SIGHUP) checkpoints like SIGTERM.
    cfg "$T/long.yaml" "$GOOD_LAYERS"
    sed -i "s|epochs: 1,|epochs: 1000000, checkpoint_every: 0,|; s|output: {dir: .*}|output: {dir: $T/long}|" "$T/long.yaml"
    "$TERN" train "$T/long.yaml" > /dev/null 2> "$T/err" &
    pid=$!
    for _ in $(seq 100); do grep -q "epoch" "$T/err" 2> /dev/null && break; sleep 0.1; done
    kill -HUP "$pid"
    wait "$pid"
    rc=$?
    [ "$rc" -eq 129 ] || fail "exit status $rc after SIGHUP, want 129: $(tail -2 "$T/err")"
    grep -q "stopped by signal 1" "$T/err" || fail "no 'stopped by signal 1': $(tail -2 "$T/err")"
    [ -f "$T/long/last.h5" ] || fail "no checkpoint after SIGHUP"
    no_stage_left
    echo "ok [$CASE]" ;;
eval_data_size)
    mkdir -p "$T/data5"
    { be32 2051; be32 10; be32 5; be32 5; for ((i = 0; i < 250; i++)); do printf '\x07'; done; } > "$T/data5/t10k-images-idx3-ubyte"
    cp "$T/data/t10k-labels-idx1-ubyte" "$T/data5/"
    expect_error "--data $T/data5 holds (1,5,5) images but the checkpoint's model was trained on (1,4,4)" \
        "$TERN" eval "$T/run/last.h5" --data "$T/data5" ;;
bad_set_after_config)
    # A bad --set after a good config (under a sanitizer build, the config
    # it leaked turned this one line into a leak report).
    expect_error "training.epochz: unknown key" "$TERN" train "$T/good.yaml" --force --set training.epochz=3 ;;
outdir_is_file)
    expect_error "output.dir exists and is not a directory" "$TERN" train "$T/good.yaml" --force --set output.dir="$T/run/last.h5"
    no_stage_left ;;
outdir_link_loop)
    ln -s "$T/loop" "$T/loop"
    expect_error "loop: output.dir cannot be used" "$TERN" train "$T/good.yaml" --force --set output.dir="$T/loop"
    no_stage_left ;;
bad_selection)
    # The validation split and model selection: each bad value is one line
    # with the file, line and column of the key, and what is wrong.
    bad() { # sed-script want
        sed "$1" "$T/good.yaml" > "$T/bad.yaml"
        expect_error "$2" "$TERN" train "$T/bad.yaml" --force
        grep -qE "^tern train: $T/bad.yaml:[0-9]+:[0-9]+: " "$T/err" || fail "no FILE:LINE:COL: $(cat "$T/err")"
    }
    val='s|path: \([^}]*\)}|path: \1, validation: '
    bad "${val}1.5}|" "dataset.validation: 1.5 is neither a fraction in (0,1) nor a whole count"
    bad "${val}-3}|" "dataset.validation: -3 must be >= 0"
    bad "${val}20}|" "dataset.validation: 20 asks for 20 validation samples of the 20 in mnist's training split"
    bad "${val}5}|" "dataset.validation: split: class '5' has 2 of mnist's 20 samples: too few to give one of 5"
    bad 's|threads: 1}|threads: 1, early_stopping: {patience: -1}}|' "training.early_stopping.patience: -1 must be >= 0"
    bad 's|threads: 1}|threads: 1, best_metric: foo}|' "training.best_metric: unknown best_metric 'foo' (val_acc, val_loss)"
    bad 's|threads: 1}|threads: 1, early_stopping: {patience: 2}}|' "training.early_stopping.patience: early stopping watches the validation split"
    ;;
best_and_early_stop)
    # A validation split of one sample per class: best.h5 beside last.h5,
    # validation columns in metrics.csv, the final lines name both
    # checkpoints; with patience 1 and a min_delta no gain can beat, the
    # run ends after its second epoch.
    sed 's|path: \([^}]*\)}|path: \1, validation: 10}|; s|epochs: 1,|epochs: 5,|; s|threads: 1}|threads: 1, early_stopping: {patience: 1, min_delta: 2}}|; s|run}|es}|' \
        "$T/good.yaml" > "$T/es.yaml"
    "$TERN" train "$T/es.yaml" > "$T/out" 2> "$T/err" || fail "exit status $?: $(cat "$T/err")"
    [ -f "$T/es/best.h5" ] && [ -f "$T/es/last.h5" ] || fail "no best.h5 beside last.h5: $(ls "$T/es")"
    head -1 "$T/es/metrics.csv" | grep -q '^epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,.*,sparsity_fc1,alpha_fc1$' \
        || fail "metrics.csv header: $(head -1 "$T/es/metrics.csv")"
    [ "$(epochs_of "$T/es/metrics.csv")" = "1 2 " ] || fail "epochs run: $(epochs_of "$T/es/metrics.csv"), not 1 2"
    grep -q "^done: 2 epochs (early stopping), " "$T/out" || fail "final line: $(cat "$T/out")"
    grep -q "^best: epoch [12], validation accuracy .* test accuracy .*, checkpoint $T/es/best.h5$" "$T/out" \
        || fail "no best line: $(cat "$T/out")"
    "$TERN" eval "$T/es/best.h5" > /dev/null 2>&1 || fail "best.h5 does not evaluate"
    # Resuming it says what ended the run and which knob continues it.
    "$TERN" train --resume "$T/es/last.h5" > /dev/null 2> "$T/err" && fail "resuming a stopped run trained again"
    grep -q "early stopping ended the run at epoch 2; to train further, resume with a larger --set training.early_stopping.patience" \
        "$T/err" || fail "resume message: $(cat "$T/err")"
    echo "ok [$CASE]" ;;
*)
    fail "unknown case" ;;
esac
