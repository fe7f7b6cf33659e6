#!/usr/bin/env bash
# hybrid.sh — the hybrid precision search of a config at two budgets, with
# its results committed under experiments/results/hybrid_NAME/.
#
#   experiments/hybrid.sh CONFIG NAME BUDGET1 BUDGET2 [tern hybrid options...]
#   e.g. experiments/hybrid.sh configs/fashion_cnn.yaml fashion_cnn bytes=40000 latency-us=60 \
#            --set training.epochs=5
#   TERN_LAUNCH="mpirun --allow-run-as-root --oversubscribe -np 2" experiments/hybrid.sh ...
#
# A BUDGET is KIND=VALUE, KIND one of bytes, latency-us, energy-nj (tern
# hybrid's --max-KIND VALUE). Both budgets use one OUT (runs/hybrid-NAME),
# seeds 1,2,3: the second reuses every run the first finished, and a rerun
# after an interruption continues. Copied into the results (never the run
# directories): layers.csv and runs.csv, and per budget search_B.csv,
# summary_B.csv, hybrid_B.yaml, accuracy_vs_bytes_B.png and
# accuracy_vs_latency_B.png (B: the budget as KIND_VALUE), and a README.md
# with every assignment trained on all seeds per budget (the references,
# among them the rule of thumb, first and last layer fp32, and the confirmed
# candidates), the chosen one in bold. TERN_LAUNCH runs tern under a launcher (MPI: the ranks share
# the trainings). Installs gnuplot and builds tern through trainers/setup.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TERN="${BUILD_DIR:-$ROOT/build}/tern"
(($# >= 4)) || { echo "usage: experiments/hybrid.sh CONFIG NAME BUDGET1 BUDGET2 [tern hybrid options...]" >&2; exit 2; }
CONFIG="$1" NAME="$2" BUDGETS=("$3" "$4")
shift 4
for b in "${BUDGETS[@]}"; do
    [[ "$b" =~ ^(bytes|latency-us|energy-nj)=[0-9.eE+]+$ ]] ||
        { echo "hybrid.sh: budget '$b': not KIND=VALUE with KIND bytes, latency-us or energy-nj" >&2; exit 2; }
done

if command -v gnuplot > /dev/null; then
    bash "$ROOT/trainers/setup.sh"
else
    bash "$ROOT/trainers/setup.sh" --package gnuplot-nox
fi

OUT="runs/hybrid-$NAME"
RES="$ROOT/experiments/results/hybrid_$NAME"
mkdir -p "$RES"
read -r -a LAUNCH <<< "${TERN_LAUNCH:-}"
for b in "${BUDGETS[@]}"; do
    tag="${b%%=*}_${b#*=}"
    ${LAUNCH[@]+"${LAUNCH[@]}"} "$TERN" hybrid "$CONFIG" --out "$OUT" --seeds 1,2,3 "--max-${b%%=*}" "${b#*=}" "$@" |
        tee "$RES/log_$tag.txt"
    cp "$OUT/search.csv" "$RES/search_$tag.csv"
    cp "$OUT/summary.csv" "$RES/summary_$tag.csv"
    cp "$OUT/hybrid.yaml" "$RES/hybrid_$tag.yaml"
    for p in accuracy_vs_bytes accuracy_vs_latency; do cp "$OUT/$p.png" "$RES/${p}_$tag.png"; done
done
cp "$OUT/layers.csv" "$OUT/runs.csv" "$RES/"

# README.md: per budget, every assignment trained on every seed (the
# references, the confirmed candidates), the chosen one in bold.
table() { # summary.csv
    awk -F, '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { b = $c["chosen"] == 1 ? "**" : ""
          printf "| %s%s%s | %s | %.2f ± %.2f | %.2f ± %.2f | %d | %.1f | %.0f |\n", b, $c["assignment"], b, $c["role"],
              100 * $c["val_acc_mean"], 100 * $c["val_acc_std"], 100 * $c["test_acc_mean"], 100 * $c["test_acc_std"],
              $c["bytes"], $c["latency_us"], $c["energy_nj"] }' "$1"
}
{
    echo "# Hybrid precision search: $NAME"
    echo
    echo "\`TERN_LAUNCH=\"${TERN_LAUNCH:-}\" experiments/hybrid.sh $CONFIG $NAME ${BUDGETS[*]} $*\`"
    echo "on $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%d). Accuracy: mean ± std over seeds 1, 2, 3 (validation"
    echo "chooses; test is reported). Latency: µs per sample at batch 1 on one thread, each assignment's seed-1"
    echo "model, all timed side by side at the end of the call. Assignment: T ternary, F fp32, per linear/conv"
    echo "layer in order; the chosen one in bold."
    for b in "${BUDGETS[@]}"; do
        tag="${b%%=*}_${b#*=}"
        echo
        echo "## --max-$b"
        echo
        echo "| assignment | role | val acc % | test acc % | bytes | latency µs | energy nJ |"
        echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
        table "$RES/summary_$tag.csv"
        echo
        echo "![accuracy against bytes](accuracy_vs_bytes_$tag.png) ![accuracy against latency](accuracy_vs_latency_$tag.png)"
    done
} > "$RES/README.md"
echo "results: $RES"
