#!/usr/bin/env bash
# train.sh — `tern train` on 2 ranks under $MPIEXEC: a stop on one rank stops
# both cleanly with one checkpoint that resumes, and a config error every
# rank sees is said once, before anything is written.
#
#   bash tests/mpi/train.sh TERN_BINARY CASE
# cases: sigint_one_rank config_error
set -uo pipefail
TERN="$1"
CASE="$2"
T="$(mktemp -d /tmp/tern_mpi_train.XXXXXX)"
MPIPID=
cleanup() { [ -n "$MPIPID" ] && kill -KILL "$MPIPID" 2> /dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL [$CASE]: $*" >&2; exit 1; }
RUN=("${MPIEXEC:-mpiexec}" -q -n 2)

# A tiny MNIST-format dataset: 20 images of 4x4, labels 0..9; 3 batches of 8 an epoch.
source "$(dirname "${BASH_SOURCE[0]}")/../idx.sh"
make_idx "$T/data" train 20
make_idx "$T/data" t10k 10
cfg() { # file batch_size epochs
    cat > "$1" <<YAML
dataset: {name: mnist, path: $T/data, augment: {hflip: true}}
model:
  layers:
    - {type: flatten}
    - {type: linear, name: fc1, out: 8}
    - {type: linear, name: fc2, out: 10, ternary: false}
optimizer: {name: adam, lr: 0.01}
training: {epochs: $3, batch_size: $2, threads: 1, checkpoint_every: 0}
output: {dir: $T/run}
YAML
}

case "$CASE" in
sigint_one_rank)
    # SIGINT to one rank's process (not to mpirun): both ranks stop after
    # the same step, rank 0 checkpoints once, both exit 130 as one process would.
    cfg "$T/long.yaml" 8 1000000
    "${RUN[@]}" "$TERN" train "$T/long.yaml" > "$T/out" 2> "$T/err" &
    MPIPID=$!
    for _ in $(seq 200); do grep -q "^epoch" "$T/err" 2> /dev/null && break; sleep 0.1; done
    grep -q "^epoch" "$T/err" || fail "no progress after 20 s: $(cat "$T/err")"
    ranks=$(pgrep -P "$MPIPID" | sort -n)
    [ "$(echo "$ranks" | wc -l)" -eq 2 ] || fail "mpirun's children are not 2 ranks: $ranks"
    kill -INT "$(echo "$ranks" | tail -1)"
    for _ in $(seq 300); do kill -0 "$MPIPID" 2> /dev/null || break; sleep 0.1; done
    kill -0 "$MPIPID" 2> /dev/null && fail "still running 30 s after SIGINT (a hung rank): $(tail -3 "$T/err")"
    wait "$MPIPID"
    rc=$?
    MPIPID=
    [ "$rc" -eq 130 ] || fail "exit status $rc after SIGINT, want 130: $(tail -3 "$T/err")"
    line=$(grep "stopped by signal 2 after" "$T/err") || fail "no 'stopped by signal 2': $(tail -3 "$T/err")"
    [ "$(grep -c "^checkpoint:" "$T/err")" -eq 1 ] || fail "not one checkpoint line: $(grep checkpoint "$T/err")"
    [ -f "$T/run/last.h5" ] || fail "no last.h5 after SIGINT"
    ls -d "$T"/run.tmp.* > /dev/null 2>&1 && fail "a temporary run directory was left"
    steps=$(echo "$line" | sed 's/.*after \([0-9]*\) steps.*/\1/')
    # Resumed on 2 ranks, the run finishes two epochs later.
    epochs=$((steps / 3 + 2))
    "${RUN[@]}" "$TERN" train --resume "$T/run/last.h5" --set training.epochs=$epochs > "$T/out2" 2> "$T/err2" ||
        fail "the resume on 2 ranks failed: $(tail -3 "$T/err2")"
    grep -q "^done: $epochs epochs" "$T/out2" || fail "the resumed run did not finish: $(cat "$T/out2")"
    [ "$(tail -1 "$T/run/metrics.csv" | cut -d, -f1)" = "$epochs" ] || fail "metrics.csv lacks epoch $epochs"
    echo "ok [$CASE]: $line" ;;
config_error)
    # A global batch of 3 on 2 ranks: every rank refuses it; one line, no run directory.
    cfg "$T/bad.yaml" 3 1
    "${RUN[@]}" "$TERN" train "$T/bad.yaml" > "$T/out" 2> "$T/err"
    rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "exit status $rc, want an error's"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "stderr is not one line: $(cat "$T/err")"
    grep -q "training.batch_size: 3 is the global batch of the 2 processes" "$T/err" || fail "unexpected: $(cat "$T/err")"
    [ -e "$T/run" ] && fail "a run directory was written"
    ls -d "$T"/run.tmp.* > /dev/null 2>&1 && fail "a temporary run directory was left"
    echo "ok [$CASE]: $(cat "$T/err")" ;;
*) fail "unknown case" ;;
esac
