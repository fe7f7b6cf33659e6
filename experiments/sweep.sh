#!/usr/bin/env bash
# sweep.sh — run a tern sweep spec, then plot it.
#
#   experiments/sweep.sh SPEC [--force]      # sweep (resumable; rerun after Ctrl-C), then plot
#   experiments/sweep.sh SPEC --only-plot    # plot what OUT/results.csv holds so far
#
# Installs gnuplot (gnuplot-nox) when missing and builds tern, both through
# trainers/setup.sh; runs build/tern sweep SPEC; writes OUT/summary.csv and,
# with experiments/plot_sweep.gp, OUT/accuracy_vs_sparsity.png and
# OUT/latency_vs_sparsity.png (OUT is the spec's `out`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TERN="${BUILD_DIR:-$ROOT/build}/tern"
(($#)) || { echo "usage: experiments/sweep.sh SPEC [--force | --only-plot]" >&2; exit 2; }
SPEC="$1"
shift
ONLY_PLOT=0
for a in "$@"; do
    case "$a" in
    --only-plot) ONLY_PLOT=1 ;;
    --force) ;;
    *) echo "sweep.sh: unknown option '$a'" >&2; exit 2 ;;
    esac
done

if command -v gnuplot >/dev/null; then
    bash "$ROOT/trainers/setup.sh"
else
    bash "$ROOT/trainers/setup.sh" --package gnuplot-nox
fi

if ((!ONLY_PLOT)); then
    "$TERN" sweep "$SPEC" "$@"
fi
OUT="$("$TERN" sweep "$SPEC" --only-plot | sed -n 's/^out: //p')"
SUMMARY="$OUT/summary.csv"

# The quantizers in the summary, whether any zero-skipping latency was
# measured, and the fp32 baseline's accuracy (%) and latency.
METHODS="$(awk -F, 'NR > 1 && $1 != "fp32" && !seen[$1]++ { printf "%s ", $1 }' "$SUMMARY")"
HAVE_ZSKIP="$(awk -F, 'NR > 1 && $1 != "fp32" && $10 != "" { z = 1 } END { print z + 0 }' "$SUMMARY")"
read -r BASE_ACC BASE_STD BASE_US BASE_US_STD < <(awk -F, '
    NR > 1 && $1 == "fp32" { a = 100 * $4; s = 100 * $5; u = ($8 == "" ? "NaN" : $8); us = ($9 == "" ? 0 : $9); found = 1 }
    END { if (found) print a, s, u, us; else print "NaN", "NaN", "NaN", "NaN" }' "$SUMMARY")
# What the plots show, for their subtitles: the base config, and from the
# resolved config (sweep_base.yaml) the dataset, epochs and activation bits;
# the seeds from summary.csv; the timing from the spec.
yaml_key() { # section key: the value of `  key:` under `section:` in sweep_base.yaml
    awk -v s="$1:" -v k="$2:" '/^[^ ]/ { in_s = ($1 == s) } in_s && $1 == k { gsub(/"/, "", $2); print $2; exit }' \
        "$OUT/sweep_base.yaml"
}
BASE_CFG="$(sed -n 's/^base: *\([^ #]*\).*/\1/p' "$SPEC")"
ACT_BITS="$(yaml_key quant act_bits)"
case "$ACT_BITS" in
8) ACTS="8-bit activations (W1.58A8)" ;;
*) ACTS="float activations (W1.58A32)" ;;
esac
SEEDS="$(awk -F, 'NR > 1 && $3 > n { n = $3 } END { print n + 0 }' "$SUMMARY")"
INFO="model ${BASE_CFG##*../} on $(yaml_key dataset name), $(yaml_key training epochs) epochs, $SEEDS seeds, $ACTS"
BATCH="$(sed -n 's/^latency:.*batch: *\([0-9]*\).*/\1/p' "$SPEC")"
REPEATS="$(sed -n 's/^latency:.*repeats: *\([0-9]*\).*/\1/p' "$SPEC")"
TIMING="batch ${BATCH:-?}, 1 thread, median of ${REPEATS:-?} repeats"
gnuplot -e "dir='$OUT'; methods='$METHODS'; base_acc=$BASE_ACC; base_acc_std=$BASE_STD; base_us=$BASE_US; base_us_std=$BASE_US_STD; have_zskip=$HAVE_ZSKIP; info='$INFO'; timing='$TIMING'" \
    "$ROOT/experiments/plot_sweep.gp"
echo "plots: $OUT/accuracy_vs_sparsity.png $OUT/latency_vs_sparsity.png"
