#!/usr/bin/env bash
# bench_mpi.sh — one process with T threads against N ranks of one thread on
# this machine, training the MNIST MLP and LeNet-5, interleaved.
#
#   bash experiments/bench_mpi.sh [--models "mlp lenet5"] [--rounds R] [--ranks N] [--threads T]
#                                 [--images K] [--epochs E] [--tern BINARY] [--out DIR]
#
# Case A is `tern train configs/mnist_<model>.yaml` with training.threads = T
# (default 2); case B is `mpirun -np N tern train ...` (default N = 2) with
# training.threads = 1: the same global batch (the config's 128), split over
# the ranks. Each run trains the config as shipped (its augmentation,
# optimizer and schedule) on the first K (default 12,800: 100 steps) training
# images of MNIST, without a validation split, for E epochs (default 2), and
# tests on the first 1,000 test images; the table times the last epoch only
# (metrics.csv's samples_per_s and step_ms: training steps, with their data
# loading, not evaluation), so the first epoch is the warm-up. comm_ms is the
# mean ms per step in the gradient all-reduce (metrics.csv of a
# data-parallel tern; "n/a" where the column is missing), waiting for the
# other ranks included: on a busy machine it is mostly that wait.
#
# Rounds alternate the order (A, B, then B, A) so slow phases of a shared
# machine hit both alike. Per model and case: the median (min, max) samples/s
# over the rounds, the ratio of the medians B / A, and the median comm_ms and
# its share of the step. mpirun gets --bind-to none (the one-process case's
# threads are not pinned either) and, as root, --allow-run-as-root;
# MPIRUN (default mpirun) and MPIRUN_ARGS change that. Writes DIR/runs.csv
# (every run) and DIR/summary.md (default DIR: experiments/results/mpi_bench).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS="mlp lenet5" ROUNDS=5 RANKS=2 THREADS=2 IMAGES=12800 EPOCHS=2 TEST_IMAGES=1000
TERN="$ROOT/build/tern" OUT="$ROOT/experiments/results/mpi_bench"
while [ $# -gt 0 ]; do
    case "$1" in
    --models) MODELS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --ranks) RANKS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --images) IMAGES="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --tern) TERN="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "bench_mpi: unknown argument '$1' (--models, --rounds, --ranks, --threads, --images, --epochs, --tern, --out)" >&2
       exit 2 ;;
    esac
done
for v in ROUNDS RANKS THREADS IMAGES EPOCHS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench_mpi: --${v,,}: '${!v}' is not a whole number >= 1" >&2; exit 2; }
done
for m in $MODELS; do
    [ -f "$ROOT/configs/mnist_$m.yaml" ] || { echo "bench_mpi: --models: no configs/mnist_$m.yaml (mlp, lenet5)" >&2; exit 2; }
done
MNIST="$ROOT/datasets/data/mnist"
[ -x "$TERN" ] && [ -f "$MNIST/train-images-idx3-ubyte" ] || bash "$ROOT/trainers/setup.sh" --data mnist
(( IMAGES <= 60000 )) || { echo "bench_mpi: --images: $IMAGES; MNIST has 60000 training images" >&2; exit 2; }
MPIRUN="${MPIRUN:-mpirun}"
command -v "$MPIRUN" >/dev/null || { echo "bench_mpi: $MPIRUN not found (apt-get install openmpi-bin)" >&2; exit 2; }
read -r -a MPIRUN_ARGS <<<"${MPIRUN_ARGS:---bind-to none}"
[ "$(id -u)" = 0 ] && MPIRUN_ARGS+=(--allow-run-as-root)
export OPENBLAS_NUM_THREADS=1

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The first $3 records of idx file $1 (header of $4 bytes, records of $5 bytes) into $2, count rewritten.
idx_head() {
    local n=$3
    { head -c 4 "$1"
      printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))"
      head -c $(($4 + n * $5)) "$1" | tail -c +9; } >"$2"
}
mkdir -p "$WORK/mnist"
idx_head "$MNIST/train-images-idx3-ubyte" "$WORK/mnist/train-images-idx3-ubyte" "$IMAGES" 16 784
idx_head "$MNIST/train-labels-idx1-ubyte" "$WORK/mnist/train-labels-idx1-ubyte" "$IMAGES" 8 1
idx_head "$MNIST/t10k-images-idx3-ubyte" "$WORK/mnist/t10k-images-idx3-ubyte" "$TEST_IMAGES" 16 784
idx_head "$MNIST/t10k-labels-idx1-ubyte" "$WORK/mnist/t10k-labels-idx1-ubyte" "$TEST_IMAGES" 8 1

# Run case $2 ("A" or "B") of model $1 in round $3; append its line to runs.csv.
run_case() {
    local model=$1 case=$2 round=$3 dir="$WORK/run_$1_$2" ranks threads cmd=()
    if [ "$case" = A ]; then
        ranks=1 threads=$THREADS cmd=("$TERN")
    else
        ranks=$RANKS threads=1 cmd=("$MPIRUN" "${MPIRUN_ARGS[@]}" -np "$RANKS" "$TERN")
    fi
    "${cmd[@]}" train "$ROOT/configs/mnist_$model.yaml" --set dataset.path="$WORK/mnist" \
        --set dataset.validation=0 --set training.epochs="$EPOCHS" --set training.eval_every=0 \
        --set training.threads="$threads" --set output.dir="$dir" --force >"$WORK/log" 2>&1 ||
        { echo "bench_mpi: $model case $case failed:" >&2; tail -n 20 "$WORK/log" >&2; exit 1; }
    # The last epoch's row; comm_ms empty when this tern does not write it.
    awk -F, -v pre="$round,$model,$case,$ranks,$threads" '
      NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
      { last = $0 }
      END {
          n = split(last, f, ",")
          c = ("comm_ms" in col) ? f[col["comm_ms"]] : ""
          printf "%s,%s,%s,%s\n", pre, f[col["samples_per_s"]], f[col["step_ms"]], c
      }' "$dir/metrics.csv" >>"$RUNS"
    tail -n 1 "$RUNS" | awk -F, '{ printf "round %s: %s %s (%s rank(s) x %s thread(s)): %.0f samples/s, %s ms/step, comm %s ms\n",
                                   $1, $2, $3, $4, $5, $6, $7, ($8 == "" ? "n/a" : $8) }' >&2
}

mkdir -p "$OUT"
RUNS="$OUT/runs.csv.tmp"
echo "round,model,case,ranks,threads,samples_per_s,step_ms,comm_ms" >"$RUNS"
for r in $(seq 1 "$ROUNDS"); do
    for m in $MODELS; do
        if ((r % 2)); then run_case "$m" A "$r"; run_case "$m" B "$r"; else run_case "$m" B "$r"; run_case "$m" A "$r"; fi
    done
done
mv "$RUNS" "$OUT/runs.csv"
RUNS="$OUT/runs.csv"

{
    echo "# bench_mpi: 1 rank x $THREADS threads (A) against $RANKS ranks x 1 thread (B)"
    echo
    echo "$(date -u +%Y-%m-%d), repository at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
         "tern: $TERN, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end," \
         "$("$MPIRUN" --version 2>/dev/null | head -n 1)."
    echo "\`bash experiments/bench_mpi.sh --models \"$MODELS\" --rounds $ROUNDS --ranks $RANKS --threads $THREADS" \
         "--images $IMAGES --epochs $EPOCHS\`: $IMAGES training images, global batch 128, epoch $EPOCHS of $EPOCHS timed;" \
         "median (min, max) over $ROUNDS interleaved rounds."
    echo
    echo "| model | case | samples/s | B / A | comm ms per step | comm share of the step |"
    echo "| --- | --- | ---: | ---: | ---: | ---: |"
    awk -F, '
      function med(s,   a, k, i, j, t) {
          k = split(s, a, " ")
          for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
          lo = a[1]; hi = a[k]
          return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
      }
      NR == 1 { next }
      {
          key = $2 SUBSEP $3
          if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
          sps[key] = sps[key] " " $6
          if ($8 != "") { comm[key] = comm[key] " " $8; share[key] = share[key] " " ($7 > 0 ? $8 / $7 : 0) }
          label[key] = $4 " rank" ($4 > 1 ? "s" : "") " x " $5 " thread" ($5 > 1 ? "s" : "")
      }
      END {
          for (i = 1; i <= n; i++) {
              m = order[i]; a = med(sps[m, "A"])
              for (c = 1; c <= 2; c++) {
                  k = m SUBSEP (c == 1 ? "A" : "B")
                  s = med(sps[k]); s_lo = lo; s_hi = hi
                  ratio = (c == 2 && a > 0) ? sprintf("%.2f", s / a) : "–"
                  cm = (k in comm) ? sprintf("%.3f", med(comm[k])) : "n/a"
                  sh = (k in share) ? sprintf("%.1f%%", 100 * med(share[k])) : "n/a"
                  if (c == 1) cm = sh = "–"
                  printf "| %s | %s: %s | %.0f (%.0f, %.0f) | %s | %s | %s |\n", m, (c == 1 ? "A" : "B"), label[k],
                         s, s_lo, s_hi, ratio, cm, sh
              }
          }
      }' "$RUNS"
} >"$OUT/summary.md.tmp"
mv "$OUT/summary.md.tmp" "$OUT/summary.md"
cat "$OUT/summary.md"
