#!/usr/bin/env bash
# bench_qat.sh — ternary QAT training on full MNIST, tern beside its PyTorch twin, interleaved.
#
#   bash experiments/bench_qat.sh [--model mlp|lenet5] [--epochs E] [--rounds R]
#                                 [--tern-threads T] [--tern BINARY]
#
# The workload is configs/mnist_<model>.yaml's model and quantizer (twn t =
# 0.7 per tensor, closed-form alpha, identity STE, 8-bit activations; batch
# 128) trained as the twin trains it: Adam lr 1e-3, cosine over the run, all
# 60,000 training images, no augmentation, no label smoothing (the shipped
# recipes' validation split, shifts, one-cycle and smoothing are set back),
# with training.epochs = E; the twin is
# experiments/peers/torch_qat.py, the same training in PyTorch. Each round
# runs tern, then PyTorch, so slow phases of a noisy machine hit both alike.
# Per run: training samples/s (training steps only: tern's metrics.csv
# samples_per_s, over all E epochs; the twin times the same span), peak RSS,
# and the test accuracy after the E epochs. The table gives median (min, max)
# over the R rounds and the speed ratio of the medians.
#
# PyTorch is Debian's python3-torch run with /usr/bin/python3,
# OPENBLAS_NUM_THREADS=1 and torch.set_num_threads(2); it is skipped with a
# message when torch is not installed. tern runs with training.threads = T
# (default 0: all cores): T worker threads, OpenBLAS single-threaded in each.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL=mlp EPOCHS=1 ROUNDS=3 THREADS=0 TERN="$ROOT/build/tern"
while [ $# -gt 0 ]; do
    case "$1" in
    --model) MODEL="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --tern-threads) THREADS="$2"; shift 2 ;;
    --tern) TERN="$2"; shift 2 ;;
    *) echo "bench_qat: unknown argument '$1' (--model, --epochs, --rounds, --tern-threads, --tern)" >&2; exit 2 ;;
    esac
done
CONFIG="$ROOT/configs/mnist_$MODEL.yaml"
[ -f "$CONFIG" ] || { echo "bench_qat: $CONFIG: no such config (--model mlp or lenet5)" >&2; exit 2; }
[ -x "$TERN" ] || { echo "bench_qat: $TERN: not built (cmake -S . -B build && cmake --build build)" >&2; exit 2; }
export OPENBLAS_NUM_THREADS=1

HAVE_TORCH=1
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "bench_qat: PyTorch skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)" >&2
    HAVE_TORCH=0
fi

# The twin's training (experiments/peers/torch_qat.py), whatever recipe the config ships.
TWIN=(--set dataset.validation=0 --set dataset.augment.crop_pad=0 --set training.label_smoothing=0
      --set schedule.name=cosine --set schedule.warmup_epochs=0 --set optimizer.lr=1e-3)
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
OUT="$WORK/results"  # lines: name|samples_per_s|peak_rss_mb|test_acc
for r in $(seq 1 "$ROUNDS"); do
    "$TERN" train "$CONFIG" --set training.epochs="$EPOCHS" --set training.threads="$THREADS" \
        "${TWIN[@]}" --set output.dir="$WORK/run" --force >"$WORK/log" 2>&1 || { cat "$WORK/log" >&2; exit 1; }
    # samples/s over all epochs = sum(samples_per_s * seconds) / sum(seconds); peak RSS and accuracy of the last.
    line=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
                    { s += $col["samples_per_s"] * $col["seconds"]; t += $col["seconds"]
                      rss = $col["peak_rss_mb"]; acc = $col["test_acc"] }
                    END { printf "tern|%.1f|%.1f|%.4f", s / t, rss, acc }' "$WORK/run/metrics.csv")
    echo "$line" >> "$OUT"
    echo "round $r: $line" >&2
    if [ "$HAVE_TORCH" = 1 ]; then
        res=$(/usr/bin/python3 "$ROOT/experiments/peers/torch_qat.py" --model "$MODEL" --epochs "$EPOCHS" --threads 2)
        line=$(echo "$res" | sed -n 's/.*samples_per_s=\([0-9.]*\).*test_acc=\([0-9.]*\) peak_rss_mb=\([0-9.]*\).*/torch|\1|\3|\2/p')
        echo "$line" >> "$OUT"
        echo "round $r: $line" >&2
    fi
done

echo
echo "model=$MODEL (configs/mnist_$MODEL.yaml, twn) batch=128, full MNIST, $EPOCHS epoch(s), $ROUNDS interleaved rounds"
echo "tern training.threads=$THREADS; torch threads=2, OPENBLAS_NUM_THREADS=1"
printf '%-6s %10s %10s %10s %9s %14s %16s\n' run "samples/s" min max "vs torch" "peak RSS MB" "test acc %"
awk -F'|' '
  function med(s,   a, k, i, j, t) {
      k = split(s, a, " ")
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      lo = a[1]; hi = a[k]
      return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  { sps[$1] = sps[$1] " " $2; rss[$1] = rss[$1] " " $3; acc[$1] = acc[$1] " " $4
    if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
  END {
      ref = ("torch" in seen) ? med(sps["torch"]) : 0
      for (i = 1; i <= n; i++) {
          k = order[i]
          m = med(sps[k]); slo = lo; shi = hi
          r = med(rss[k])
          a = med(acc[k]); alo = lo; ahi = hi
          ratio = ref > 0 ? sprintf("%.2fx", m / ref) : "n/a"
          printf "%-6s %10.0f %10.0f %10.0f %9s %14.0f %6.2f (%.2f-%.2f)\n", k, m, slo, shi, ratio, r,
                 100 * a, 100 * alo, 100 * ahi
      }
  }' "$OUT"
