#!/usr/bin/env bash
# sweep.sh — `tern sweep` on two ranks through the program, against one process:
#
#   bash tests/mpi/sweep.sh TERN_BINARY CASE   ($MPIEXEC set, as ctest does)
#
# equal:   the same spec on one process and on two ranks gives the same
#          results.csv but for the timing columns (dense_us, zskip_us,
#          seconds) and the same summary.csv accuracy and sparsity columns;
#          rank 0 alone prints, once per point.
# sigterm: SIGTERM to both ranks (as mpirun forwards one) in the middle of
#          a two-rank sweep stops both (no process left); one process then
#          finishes it without retraining the points finished before, and
#          with the same results.
# cases: equal sigterm
set -uo pipefail
TERN=$1
CASE=$2
MPIEXEC=${MPIEXEC:-mpiexec}
command -v "$MPIEXEC" > /dev/null || { echo "skip: no $MPIEXEC"; exit 77; }
source "$(dirname "$0")/../cli/tiny_run.sh"

# The tiny MLP of tiny_run.sh on 300 images; specs of three seeds with the
# fp32 baseline: 12 points with ALL, 9 with TWN.
tiny_config "$T/base.yaml" "$T/unused" 300 2 32
ALL='{quantizer: twn, t: [0.3, 0.7]}, {quantizer: absmean, t: [0.5]}'
TWN='{quantizer: twn, t: [0.3, 0.7]}'
spec() { # file out epochs methods
    printf 'base: base.yaml\nset: [training.epochs=%s]\nmethods: [%s]\nseeds: [1, 2, 3]\nbaseline: true\n' "$3" "$4" > "$T/$1"
    printf 'out: %s\nlatency: {batch: 2, repeats: 3}\n' "$2" >> "$T/$1"
}
# results.csv without the timing columns; summary.csv up to them.
outcomes() { cut -d, -f1-5,9- "$1/results.csv"; }
summary() { cut -d, -f1-7 "$1/summary.csv"; }

case "$CASE" in
equal)
    spec one.yaml one 2 "$ALL"
    spec two.yaml two 2 "$ALL"
    "$TERN" sweep "$T/one.yaml" > "$T/one.out" 2> "$T/one.err" || fail "one process: $(tail -3 "$T/one.err")"
    "$MPIEXEC" -n 2 "$TERN" sweep "$T/two.yaml" > "$T/two.out" 2> "$T/two.err" || fail "two ranks: $(tail -3 "$T/two.err")"
    [ "$(wc -l < "$T/one/results.csv")" -eq 13 ] || fail "one process: not 12 rows: $(cat "$T/one/results.csv")"
    diff <(outcomes "$T/one") <(outcomes "$T/two") > "$T/d" || fail "results.csv differ: $(head -20 "$T/d")"
    diff <(summary "$T/one") <(summary "$T/two") > "$T/d" || fail "summary.csv differ: $(head -20 "$T/d")"
    # One voice: the out line, a line per point (of either rank), the done line.
    [ "$(grep -c '^out: ' "$T/two.out")" -eq 1 ] || fail "out line not once: $(cat "$T/two.out")"
    [ "$(grep -c ': acc .* on rank [01])$' "$T/two.out")" -eq 12 ] || fail "not 12 point lines: $(cat "$T/two.out")"
    grep -q ' on rank 1)$' "$T/two.out" || fail "no point of rank 1 reported: $(cat "$T/two.out")"
    grep -q '^done: 12 points trained (0 resumed), 0 already done' "$T/two.out" || fail "done line: $(cat "$T/two.out")"
    # A rerun on two ranks trains nothing and says so once.
    "$MPIEXEC" -n 2 "$TERN" sweep "$T/two.yaml" > "$T/again.out" 2> "$T/again.err" || fail "rerun: $(tail -3 "$T/again.err")"
    grep -q '^done: 0 points trained (0 resumed), 12 already done' "$T/again.out" || fail "rerun: $(cat "$T/again.out")"
    [ ! -s "$T/again.err" ] || fail "rerun printed on stderr: $(cat "$T/again.err")"
    echo "ok [$CASE]" ;;
sigterm)
    spec ref.yaml ref 20 "$TWN"
    spec cut.yaml cut 20 "$TWN"
    "$TERN" sweep "$T/ref.yaml" > "$T/ref.out" 2> "$T/ref.err" || fail "one process: $(tail -3 "$T/ref.err")"
    "$MPIEXEC" -n 2 "$TERN" sweep "$T/cut.yaml" > "$T/cut.out" 2> "$T/cut.err" &
    mpid=$!
    # The first point finished: its row file (mpirun relays the output lines late).
    first() { compgen -G "$T/cut/runs/*/result.csv" > /dev/null; }
    for _ in $(seq 600); do first && break; sleep 0.05; done
    first || { kill "$mpid"; fail "no point finished within 30 s: $(tail -3 "$T/cut.err")"; }
    # What mpirun does with a SIGTERM of its own, about a second later (then
    # it SIGKILLs): a SIGTERM to every rank, sent here straight away.
    pids=$(pgrep -P "$mpid" -f "sweep $T/cut.yaml")
    [ "$(echo $pids | wc -w)" -eq 2 ] || { kill "$mpid"; fail "not two ranks under mpirun: $pids"; }
    kill -TERM $pids
    wait "$mpid"
    rc=$?
    [ "$rc" -ne 0 ] || fail "mpirun exited 0 after the SIGTERM: $(cat "$T/cut.out")"
    grep -q 'stopped by signal 15' "$T/cut.err" || fail "no stop message: $(tail -5 "$T/cut.err")"
    ! pgrep -f "sweep $T/cut.yaml" > /dev/null || fail "a rank outlived mpirun"
    # The points finished so far: their checkpoints' times, which a retraining would change.
    ls "$T"/cut/runs/*/result.csv > "$T/finished" 2> /dev/null || fail "no point recorded"
    n=$(wc -l < "$T/finished")
    [ "$n" -lt 9 ] || fail "the sweep finished before the signal; nothing to resume"
    while read -r f; do stat -c '%n %Y.%y' "${f%/result.csv}/last.h5"; done < "$T/finished" > "$T/times"
    "$TERN" sweep "$T/cut.yaml" > "$T/rerun.out" 2> "$T/rerun.err" || fail "rerun: $(tail -3 "$T/rerun.err")"
    grep -q "^done: $((9 - n)) points trained .*, $n already done" "$T/rerun.out" ||
        fail "rerun did not skip the $n finished points: $(tail -2 "$T/rerun.out")"
    while read -r f; do stat -c '%n %Y.%y' "${f%/result.csv}/last.h5"; done < "$T/finished" | diff - "$T/times" > "$T/d" ||
        fail "a finished point was trained again: $(cat "$T/d")"
    diff <(outcomes "$T/ref") <(outcomes "$T/cut") > "$T/d" || fail "results.csv differ: $(head -20 "$T/d")"
    diff <(summary "$T/ref") <(summary "$T/cut") > "$T/d" || fail "summary.csv differ: $(head -20 "$T/d")"
    echo "ok [$CASE]: $n of 9 points finished before SIGTERM; $(grep -c resuming "$T/rerun.err") resumed" ;;
*) fail "unknown case" ;;
esac
