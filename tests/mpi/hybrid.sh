#!/usr/bin/env bash
# hybrid.sh — `tern hybrid` on two ranks through the program, against one process:
#
#   bash tests/mpi/hybrid.sh TERN_BINARY CASE   ($MPIEXEC set, as ctest does)
#
# equal: the tiny search of tests/cli/tiny_hybrid.sh, with a bytes budget, on
#        one process and on two ranks trains the same assignments in the
#        same roles (summary.csv) and chooses the same one; rank 0 alone
#        prints (one 'out:' line, one 'config:' line); the two-rank OUT
#        holds every run of the one-process OUT.
# cases: equal
set -uo pipefail
TERN=$1
CASE=$2
MPIEXEC=${MPIEXEC:-mpiexec}
command -v "$MPIEXEC" > /dev/null || { echo "skip: no $MPIEXEC"; exit 77; }
source "$(dirname "$0")/../cli/tiny_hybrid.sh"

# summary.csv's assignment, role, seeds and chosen columns, by name.
picks() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
             { print $c["assignment"], $c["role"], $c["n"], $c["chosen"] }' "$1/summary.csv" | sort
}

case "$CASE" in
equal)
    hybrid_config "$T/c.yaml" 200 1
    # 3500 bytes: between the all-ternary model (2552) and the all-fp32 one (5032).
    opts=(--repeats 3 --confirm 1 --seeds 1,2 --max-bytes 3500)
    "$TERN" hybrid "$T/c.yaml" --out "$T/one" "${opts[@]}" > "$T/one.out" 2> "$T/one.err" ||
        fail "one process: $(tail -3 "$T/one.err")"
    "$MPIEXEC" -n 2 "$TERN" hybrid "$T/c.yaml" --out "$T/two" "${opts[@]}" > "$T/two.out" 2> "$T/two.err" ||
        fail "two ranks: $(tail -3 "$T/two.err")"
    diff <(picks "$T/one") <(picks "$T/two") > "$T/d" || fail "summary.csv differ: $(cat "$T/d")"
    [ "$(grep -c '^out: ' "$T/two.out")" -eq 1 ] || fail "out line not once: $(cat "$T/two.out")"
    [ "$(grep -c '^config: ' "$T/two.out")" -eq 1 ] || fail "config line not once: $(cat "$T/two.out")"
    diff <(ls "$T/one/runs") <(ls "$T/two/runs") > "$T/d" || fail "the runs differ: $(cat "$T/d")"
    echo "ok [$CASE]: $(grep '^chosen: ' "$T/two.out")" ;;
*) fail "unknown case" ;;
esac
