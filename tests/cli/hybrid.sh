#!/usr/bin/env bash
# hybrid.sh — `tern hybrid CONFIG`, the precision search, end to end on a
# tiny MLP (three linear layers on 4x4 images, 1 epoch, under a second a
# training):
#
# search:        a search with no budget writes every file of tern/hybrid.h
#                with its columns; the same OUT with --max-bytes (the median
#                predicted bytes) trains none of the runs finished before
#                (no START line names one, SKIP lines do), chooses an
#                assignment within the budget, and its hybrid.yaml trains
#                with tern train; with gnuplot the two plots are PNGs.
# impossible:    --max-bytes 1 says the smallest possible bytes and trains
#                nothing (no OUT/runs).
# no_quant_layer: a config without a linear or conv2d layer: one line.
# other_arch:    --from a checkpoint of another architecture: one line
#                naming the file.
# two_budgets:   --max-bytes with --max-latency-us: one line, exit 2.
# bad_numbers:   non-numeric, non-positive and out-of-range values and bad
#                seed lists: one line each, exit 2, nothing written.
# interrupt:     SIGINT after the first run finished: exit 130 and a line
#                saying to rerun; the rerun finishes without training a
#                finished run again (their checkpoints untouched).
# cases: search impossible no_quant_layer other_arch two_budgets bad_numbers interrupt
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/tiny_hybrid.sh"

FAST=(--repeats 3 --confirm 1)

# One line on stderr holding want, a non-zero exit below 128.
expect_line() { # want, then the command
    local want="$1"; shift
    "$@" > "$T/out" 2> "$T/err"
    local rc=$?
    [ "$rc" -ne 0 ] || fail "exit status 0 for: $*"
    [ "$rc" -lt 128 ] || fail "exit status $rc: killed by a signal (crash)"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "stderr is not one line: $(cat "$T/err")"
    grep -qF -- "$want" "$T/err" || fail "stderr lacks '$want': $(cat "$T/err")"
    echo "ok [$CASE]: $(cat "$T/err")"
}
# Column `name` of csv file f, every row.
col() { # file name
    awk -F, -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i; if (!c) exit 1; next } { print $c }' "$1" ||
        fail "$1 has no column $2: $(head -1 "$1")"
}
header_is() { # file columns
    [ "$(head -1 "$1")" = "$2" ] || fail "$1's header: $(head -1 "$1"), expected $2"
}

case "$CASE" in
search)
    hybrid_config "$T/c.yaml" 200 1
    "$TERN" hybrid "$T/c.yaml" --out "$T/o" "${FAST[@]}" > "$T/a.out" 2> "$T/a.err" || fail "search: $(tail -3 "$T/a.err")"
    for f in hybrid_base.yaml layers.csv runs.csv search.csv summary.csv hybrid.yaml; do
        [ -s "$T/o/$f" ] || fail "no $f in OUT: $(ls "$T/o")"
    done
    header_is "$T/o/layers.csv" "name,index,base,weights,macs,bytes_t,bytes_f,latency_us_t,latency_us_f,energy_nj_t,energy_nj_f,delta"
    header_is "$T/o/search.csv" "assignment,pred_acc,bytes,latency_us,energy_nj,front,within"
    [ "$(col "$T/o/layers.csv" name | head -3 | tr '\n' ' ')" = "fc1 fc2 fc3 " ] || fail "layers.csv: $(cat "$T/o/layers.csv")"
    [ "$(tail -n +2 "$T/o/search.csv" | wc -l)" -eq 8 ] || fail "not the 8 assignments of 3 layers: $(cat "$T/o/search.csv")"
    for a in TTT FFF FTF; do col "$T/o/summary.csv" assignment | grep -qx "$a" || fail "no reference $a in summary.csv"; done
    grep -q '^sensitivity: ' "$T/a.out" || fail "no sensitivities printed: $(cat "$T/a.out")"
    grep -q '^config: ' "$T/a.out" || fail "no config line: $(cat "$T/a.out")"
    # The second budget: the median predicted bytes.
    budget=$(col "$T/o/search.csv" bytes | sort -n | sed -n 4p)
    ls "$T"/o/runs > "$T/first_runs"
    "$TERN" hybrid "$T/c.yaml" --out "$T/o" "${FAST[@]}" --max-bytes "$budget" > "$T/b.out" 2> "$T/b.err" ||
        fail "second budget: $(tail -3 "$T/b.err")"
    while read -r r; do
        ! grep -q " $r: training" "$T/b.err" || fail "second budget trained $r again: $(cat "$T/b.err")"
    done < "$T/first_runs"
    grep -q ': done before, skipped$' "$T/b.out" || fail "no SKIP line: $(cat "$T/b.out")"
    chosen=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "chosen") c = i; if ($i == "bytes") b = i } next }
                      $c == 1 { print $1, $b }' "$T/o/summary.csv")
    if [ -z "$chosen" ] || [ "$(echo "$chosen" | wc -l)" -ne 1 ]; then fail "not one chosen row: $(cat "$T/o/summary.csv")"; fi
    awk -v b="${chosen#* }" -v m="$budget" 'BEGIN { exit !(b <= m) }' || fail "chosen $chosen over the budget $budget"
    grep -q '^budget: met' "$T/b.out" || fail "budget not reported met: $(cat "$T/b.out")"
    # hybrid.yaml: the chosen precisions, ready for tern train (its output.dir is relative).
    ( cd "$T" && "$TERN" train "$T/o/hybrid.yaml" --set training.epochs=1 > "$T/t.out" 2> "$T/t.err" ) ||
        fail "hybrid.yaml does not train: $(tail -3 "$T/t.err")"
    if command -v gnuplot > /dev/null; then
        for p in accuracy_vs_bytes accuracy_vs_latency; do
            [ "$(head -c 8 "$T/o/$p.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$p.png is not a PNG"
        done
    else
        grep -q '^plots skipped: gnuplot not found' "$T/b.out" || fail "no line saying the plots were skipped"
    fi
    echo "ok [$CASE]: chosen ${chosen% *} at ${chosen#* } bytes (budget $budget); $(wc -l < "$T/first_runs") runs reused" ;;
impossible)
    hybrid_config "$T/c.yaml" 40 1
    expect_line "below the smallest" "$TERN" hybrid "$T/c.yaml" --out "$T/o" "${FAST[@]}" --max-bytes 1
    grep -q "TTT" "$T/err" || fail "the smallest assignment is not named: $(cat "$T/err")"
    [ ! -e "$T/o/runs" ] || fail "runs were trained: $(ls "$T/o/runs")" ;;
no_quant_layer)
    hybrid_config "$T/c.yaml" 40 1
    printf 'dataset: {name: mnist, path: %s}\nmodel:\n  layers:\n    - {type: flatten}\noptimizer: {lr: 0.01}\n' "$T/data" > "$T/none.yaml"
    expect_line "none.yaml" "$TERN" hybrid "$T/none.yaml" --out "$T/o" "${FAST[@]}"
    grep -q "linear or conv2d" "$T/err" || fail "does not say what is missing: $(cat "$T/err")" ;;
other_arch)
    hybrid_config "$T/c.yaml" 40 1
    hybrid_config "$T/other.yaml" 40 1 12
    "$TERN" train "$T/other.yaml" --set output.dir="$T/other" > /dev/null 2>&1 || fail "the other model does not train"
    expect_line "$T/other/last.h5" "$TERN" hybrid "$T/c.yaml" --out "$T/o" "${FAST[@]}" --from "$T/other/last.h5"
    [ ! -e "$T/o/runs" ] || fail "runs were trained: $(ls "$T/o/runs")" ;;
two_budgets)
    hybrid_config "$T/c.yaml" 40 1
    expect_line "give at most one budget" "$TERN" hybrid "$T/c.yaml" --out "$T/o" --max-bytes 5000 --max-latency-us 3
    [ ! -e "$T/o" ] || fail "OUT was created" ;;
bad_numbers)
    hybrid_config "$T/c.yaml" 40 1
    bad() { # want, then the options
        local want="$1"; shift
        "$TERN" hybrid "$T/c.yaml" --out "$T/o" "$@" > "$T/out" 2> "$T/err"
        local rc=$?
        [ "$rc" -eq 2 ] || fail "exit status $rc for $*"
        [ "$(wc -l < "$T/err")" -eq 1 ] || fail "stderr is not one line for $*: $(cat "$T/err")"
        grep -qF -- "tern hybrid: $want" "$T/err" || fail "stderr lacks 'tern hybrid: $want': $(cat "$T/err")"
    }
    bad "--max-bytes abc: not a number" --max-bytes abc
    bad "--max-bytes 12x: not a number" --max-bytes 12x
    bad "--max-latency-us 0: not a positive number" --max-latency-us 0
    bad "--max-energy-nj -3: not a positive number" --max-energy-nj -3
    bad "--max-bytes inf: not a number" --max-bytes inf
    bad "--min-accuracy 0: not a percentage in (0, 100]" --min-accuracy 0
    bad "--min-accuracy 100.5: not a percentage in (0, 100]" --min-accuracy 100.5
    bad "--min-accuracy x: not a percentage in (0, 100]" --min-accuracy x
    bad "--seeds 1,1: not a list" --seeds 1,1
    bad "--seeds 1,: not a list" --seeds 1,
    bad "--seeds 0: not a list" --seeds 0
    bad "--cost energy and --max-bytes: the budget names another cost" --cost energy --max-bytes 100
    [ ! -e "$T/o" ] || fail "OUT was created"
    echo "ok [$CASE]" ;;
interrupt)
    hybrid_config "$T/c.yaml" 300 20
    "$TERN" hybrid "$T/c.yaml" --out "$T/o" "${FAST[@]}" > "$T/a.out" 2> "$T/a.err" &
    pid=$!
    first() { compgen -G "$T/o/runs/*/result.csv" > /dev/null; }
    for _ in $(seq 600); do first && break; sleep 0.05; done
    first || { kill "$pid"; fail "no run finished within 30 s: $(tail -3 "$T/a.err")"; }
    kill -INT "$pid"
    wait "$pid"
    rc=$?
    [ "$rc" -eq 130 ] || fail "exit status $rc after SIGINT, not 130: $(tail -3 "$T/a.err")"
    tail -1 "$T/a.err" | grep -q 'stopped by signal 2 .*rerun the same command' || fail "no stop line: $(tail -3 "$T/a.err")"
    ls "$T"/o/runs/*/result.csv > "$T/finished"
    while read -r f; do stat -c '%n %Y.%y' "${f%/result.csv}/last.h5"; done < "$T/finished" > "$T/times"
    "$TERN" hybrid "$T/c.yaml" --out "$T/o" "${FAST[@]}" > "$T/b.out" 2> "$T/b.err" || fail "rerun: $(tail -3 "$T/b.err")"
    grep -q '^config: ' "$T/b.out" || fail "the rerun did not finish: $(tail -3 "$T/b.out")"
    while read -r f; do stat -c '%n %Y.%y' "${f%/result.csv}/last.h5"; done < "$T/finished" | diff - "$T/times" > "$T/d" ||
        fail "a finished run was trained again: $(cat "$T/d")"
    echo "ok [$CASE]: $(wc -l < "$T/finished") runs finished before SIGINT, kept" ;;
*) fail "unknown case" ;;
esac
