#!/usr/bin/env bash
# scaling_model.sh — experiments/scaling_model.sh's arithmetic against numbers
# worked by hand, from a compute.csv written here (no measuring, no tern run).
# cases: formula node_speed bad_links not_measured
set -uo pipefail
CASE="$2"
SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/experiments/scaling_model.sh"
T="$(mktemp -d /tmp/tern_scaling.XXXXXX)"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL [$CASE]: $*" >&2; exit 1; }

# 1,000,000 parameters (4 MB of gradients), global batch 8: 8 ms per step
# at batch 8 (1 ms per sample), 4.4 at 4, 2.6 at 2, 1.7 at 1.
cat >"$T/compute.csv" <<'CSV'
model,config,params,global_batch,batch,step_ms,min_ms,max_ms,rounds
toy,configs/toy.yaml,1000000,8,1,1.7,1.7,1.7,1
toy,configs/toy.yaml,1000000,8,2,2.6,2.6,2.6,1
toy,configs/toy.yaml,1000000,8,4,4.4,4.4,4.4,1
toy,configs/toy.yaml,1000000,8,8,8.0,8.0,8.0,1
CSV
row() { awk -F, -v g="$1" -v n="$2" '$4 == g && $6 == n' "$T/model.csv"; }
# $1 = row, $2 = column name, $3 = expected value, within 1e-3.
expect() {
    local got
    got=$(awk -F, -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next } { print $k }' \
        <(head -n 1 "$T/model.csv"; echo "$1"))
    awk -v a="$got" -v b="$3" 'BEGIN { exit !(a - b < 1e-3 && b - a < 1e-3) }' || fail "$2 is $got, expected $3 (row: $1)"
}

case "$CASE" in
formula)
    bash "$SCRIPT" --out "$T" --links "10:20 100:2" >/dev/null || fail "the model failed"
    [ "$(wc -l <"$T/model.csv")" = 9 ] || fail "model.csv has $(wc -l <"$T/model.csv") lines, expected 1 + 4 N x 2 links"
    # N = 4 on 10 Gb/s: 2(3)/4 x 4e6 B / 1.25e9 B/s = 4.8 ms, + 6 x 20 µs = 4.92 ms;
    # step 2.6 + 4.92 = 7.52 ms; speed-up 8 / 7.52 = 1.064; efficiency 0.266; b* = 4.92 / 1 = 4.92.
    r=$(row 10 4)
    expect "$r" allreduce_ms 4.92
    expect "$r" step_ms 7.52
    expect "$r" speedup 1.064
    expect "$r" efficiency 0.266
    expect "$r" b_star 4.9
    # N = 8 on 100 Gb/s: 2(7)/8 x 4e6 / 12.5e9 = 0.56 ms + 14 x 2 µs = 0.588 ms; step 1.7 + 0.588.
    r=$(row 100 8)
    expect "$r" allreduce_ms 0.588
    expect "$r" step_ms 2.288
    # N = 1: no all-reduce, speed-up 1.
    r=$(row 10 1)
    expect "$r" allreduce_ms 0
    expect "$r" speedup 1
    grep -q '^| 4 | 2 | 2.60 | 4.92 | 7.52 | 1.06 | 27% | 4.9 | 0.49 |' "$T/tables.md" || fail "tables.md lacks the N = 4 row" ;;
node_speed)
    # A node 4 times faster: compute / 4, the all-reduce unchanged, b* x 4.
    bash "$SCRIPT" --out "$T" --links "10:20" --node-speed 4 >/dev/null || fail "the model failed"
    r=$(row 10 4)
    expect "$r" compute_ms 0.65
    expect "$r" allreduce_ms 4.92
    expect "$r" b_star 19.7 ;;
bad_links)
    out=$(bash "$SCRIPT" --out "$T" --links "10" 2>&1) && fail "a link without a latency was accepted"
    [[ "$out" == *"--links: '10' is not GBPS:LATENCY_US"* ]] || fail "unexpected message: $out" ;;
not_measured)
    rm "$T/compute.csv"
    out=$(bash "$SCRIPT" --out "$T" 2>&1) && fail "ran without compute.csv"
    [[ "$out" == *"compute.csv: not measured yet"* ]] || fail "unexpected message: $out" ;;
*) fail "unknown case" ;;
esac
