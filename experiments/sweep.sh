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
read -r BASE_ACC BASE_STD BASE_US < <(awk -F, '
    NR > 1 && $1 == "fp32" { a = 100 * $4; s = 100 * $5; u = ($8 == "" ? "NaN" : $8); found = 1 }
    END { if (found) print a, s, u; else print "NaN", "NaN", "NaN" }' "$SUMMARY")
gnuplot -e "dir='$OUT'; methods='$METHODS'; base_acc=$BASE_ACC; base_acc_std=$BASE_STD; base_us=$BASE_US; have_zskip=$HAVE_ZSKIP" \
    "$ROOT/experiments/plot_sweep.gp"
echo "plots: $OUT/accuracy_vs_sparsity.png $OUT/latency_vs_sparsity.png"
