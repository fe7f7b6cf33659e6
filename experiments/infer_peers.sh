#!/usr/bin/env bash
# infer_peers.sh — inference per sample, tern beside PyTorch, interleaved.
#
#   bash experiments/infer_peers.sh [ROUNDS]       (5 rounds)
#
# For each network of tern's configs (MNIST MLP, LeNet-5, Fashion CNN, CIFAR
# VGG) tern's side is `tern profile MODEL.h5 --data random --batch 64` on the
# deploy model (ternary layers with 8-bit activations) and on its fp32 twin
# (`tern export --fp32-out`); PyTorch's side is peers/torch_infer.py: the same
# network in fp32 eager, TorchScript (frozen) and int8 static quantization on
# the oneDNN engine. Every round runs tern's side, then PyTorch's (the order
# flips each round), so slow phases of a noisy machine hit both alike; the
# table gives the median over rounds of each run's median, µs per sample at
# batch 1 and 64, one thread everywhere (OPENBLAS_NUM_THREADS=1,
# torch.set_num_threads(1)).
#
# Deploy models come from $RUNS (runs/infer_peers): NAME.h5 and NAME_fp32.h5.
# A missing one is trained for one epoch (`--set training.epochs=1 --set
# quant.act_bits=8`) and exported, when its dataset is in datasets/data;
# CIFAR-10, when not fetched (datasets/fetch.sh cifar10), is replaced by 512
# random images in its format (the time does not depend on the weights'
# values, only on their fraction of zeros, about the same after any TWN
# training); another missing dataset leaves tern's columns empty. Put a
# better-trained pair there to measure it instead.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-5}"
TERN="$ROOT/build/tern"
RUNS="${RUNS:-$ROOT/runs/infer_peers}"
[ -x "$TERN" ] || bash "$ROOT/trainers/setup.sh"
export OPENBLAS_NUM_THREADS=1
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "infer_peers: /usr/bin/python3 cannot import torch (apt-get install python3-torch)" >&2
    exit 3
fi

# name | config | dataset
NETS=("mlp|mnist_mlp|mnist" "lenet5|mnist_lenet5|mnist" "fashion_cnn|fashion_cnn|fashion-mnist"
      "cifar_vgg|cifar10_vgg_small|cifar10")
mkdir -p "$RUNS"
HAVE=()
for net in "${NETS[@]}"; do
    IFS='|' read -r name cfg ds <<<"$net"
    if [ ! -f "$RUNS/$name.h5" ] || [ ! -f "$RUNS/${name}_fp32.h5" ]; then
        data="$ROOT/datasets/data/$ds"
        if [ ! -d "$data" ] && [ "$ds" = cifar10 ]; then
            data="$RUNS/cifar10_random" # CIFAR-10's binary format, random pixels and labels
            /usr/bin/python3 -c 'import os, sys, numpy as np
r = np.random.default_rng(1)
os.makedirs(sys.argv[1], exist_ok=True)
for f, n in (("data_batch_1.bin", 512), ("test_batch.bin", 64)):
    rec = r.integers(0, 256, (n, 3073), dtype=np.uint8)
    rec[:, 0] %= 10
    rec.tofile(os.path.join(sys.argv[1], f))' "$data"
            echo "infer_peers: $name: no datasets/data/$ds: trained on 512 random images instead (the time does not depend on it)" >&2
        elif [ ! -d "$data" ]; then
            echo "infer_peers: $name: no $RUNS/$name.h5 and no datasets/data/$ds to train it: tern's side skipped" >&2
            continue
        fi
        echo "infer_peers: $name: training one epoch into $RUNS/$name (log: $RUNS/$name.log)" >&2
        (cd "$ROOT" && "$TERN" train "configs/$cfg.yaml" --set schedule.warmup_epochs=0 --set training.epochs=1 \
            --set quant.act_bits=8 --set dataset.validation=0 --set dataset.path="$data" --set output.dir="$RUNS/$name" --force \
            >"$RUNS/$name.log" 2>&1)
        "$TERN" export "$RUNS/$name/last.h5" -o "$RUNS/$name.h5" --fp32-out "$RUNS/${name}_fp32.h5" --data "$data" \
            --force >>"$RUNS/$name.log" 2>&1
    fi
    HAVE+=("$name")
done

OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
tern_side() {
    for name in "${HAVE[@]}"; do
        for kind in int8 fp32; do
            file="$RUNS/$name.h5"
            [ "$kind" = fp32 ] && file="$RUNS/${name}_fp32.h5"
            "$TERN" profile "$file" --data random --batch 64 --n 256 --repeats 3 |
                awk -v m="$name" -v k="$kind" '/^  batch /{print "tern model=" m " batch=" $2 " variant=" k " median_us=" $5}'
        done
    done >>"$OUT"
}
torch_side() { /usr/bin/python3 "$ROOT/experiments/peers/torch_infer.py" --rounds 3 >>"$OUT"; }
for r in $(seq 1 "$ROUNDS"); do
    echo "infer_peers: round $r of $ROUNDS" >&2
    if [ $((r % 2)) = 1 ]; then tern_side; torch_side; else torch_side; tern_side; fi
done

echo "tern $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg), $ROUNDS rounds"
/usr/bin/python3 - "$OUT" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = dict(kv.split("=") for kv in line.split()[1:])
    runs[(line.split()[0], f["model"], int(f["batch"]), f["variant"])].append(float(f["median_us"]))
med = {k: statistics.median(v) for k, v in runs.items()}
def cell(k):
    return "%.1f" % med[k] if k in med else "-"
def ratio(a, b):
    return "%.2fx" % (med[b] / med[a]) if a in med and b in med else "-"
print("| model | batch | tern ternary int8 | tern fp32 twin | PyTorch fp32 eager | TorchScript | PyTorch int8 "
      "| tern vs its fp32 | vs PyTorch fp32 | vs TorchScript | vs PyTorch int8 |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for m in ["mlp", "lenet5", "fashion_cnn", "cifar_vgg"]:
    for b in (1, 64):
        t, f = ("tern", m, b, "int8"), ("tern", m, b, "fp32")
        p = {v: ("torch", m, b, v) for v in ("fp32", "ts", "int8")}
        if not any(k in med for k in (t, f, *p.values())):
            continue
        print("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            m, b, cell(t), cell(f), cell(p["fp32"]), cell(p["ts"]), cell(p["int8"]), ratio(t, f),
            ratio(t, p["fp32"]), ratio(t, p["ts"]), ratio(t, p["int8"])))
print("\nµs per sample, 1 thread, median over rounds of each run's median; speed-ups = the other's time / tern ternary's")
EOF
