#!/usr/bin/env bash
# bench_train.sh — training throughput, tern beside PyTorch, interleaved.
#
#   bash experiments/bench_train.sh [ROUNDS] [STEPS]
#
# Each round runs every configuration once, one after another, so slow
# phases of a noisy machine hit all of them alike. Each run reports the
# median samples/s of its timed steps; the table gives, per configuration,
# the median (min, max) of those run medians over the rounds, and the ratio
# to PyTorch fp32. PyTorch is Debian's python3-torch run with /usr/bin/python3,
# OPENBLAS_NUM_THREADS=1 and torch.set_num_threads(2); it is skipped with a
# message when torch is not installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-5}"
STEPS="${2:-200}"
MODEL="${MODEL:-mlp}"
TERN="$ROOT/build/tern"
[ -x "$TERN" ] || bash "$ROOT/trainers/setup.sh"
export OPENBLAS_NUM_THREADS=1

HAVE_TORCH=1
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "bench_train: PyTorch skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)" >&2
    HAVE_TORCH=0
fi

OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
CONFIGS=("tern fp32 threads=1|$TERN bench train --model $MODEL --steps $STEPS --threads 1"
         "tern fp32 threads=2|$TERN bench train --model $MODEL --steps $STEPS --threads 2"
         "tern twn threads=1|$TERN bench train --model $MODEL --quant twn --steps $STEPS --threads 1"
         "tern absmean threads=1|$TERN bench train --model $MODEL --quant absmean --steps $STEPS --threads 1"
         "tern ttq threads=1|$TERN bench train --model $MODEL --quant ttq --steps $STEPS --threads 1")
if [ "$HAVE_TORCH" = 1 ] && [ "$MODEL" = mlp ]; then
    CONFIGS+=("torch fp32 threads=2|/usr/bin/python3 $ROOT/experiments/peers/torch_train_mlp.py --steps $STEPS --threads 2")
fi

for r in $(seq 1 "$ROUNDS"); do
    for c in "${CONFIGS[@]}"; do
        name="${c%%|*}"
        cmd="${c#*|}"
        sps=$($cmd | sed -n 's/.*samples_per_s=\([0-9.]*\).*/\1/p')
        echo "$name|$sps" >> "$OUT"
        echo "round $r: $name $sps samples/s" >&2
    done
done

echo
echo "model=$MODEL batch=128, $ROUNDS interleaved rounds of $STEPS timed steps each"
printf '%-22s %12s %12s %12s %10s\n' configuration median min max "vs torch"
awk -F'|' -v have_torch="$HAVE_TORCH" '
  { v[$1] = v[$1] " " $2; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
  function med(s,   a, k, i, j, t) {
      k = split(s, a, " ")
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      lo = a[1]; hi = a[k]
      return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END {
      ref = 0
      for (i = 1; i <= n; i++) if (order[i] ~ /^torch fp32/) ref = med(v[order[i]])
      for (i = 1; i <= n; i++) {
          m = med(v[order[i]])
          ratio = ref > 0 ? sprintf("%.2fx", m / ref) : "n/a"
          printf "%-22s %12.0f %12.0f %12.0f %10s\n", order[i], m, lo, hi, ratio
      }
  }' "$OUT"
