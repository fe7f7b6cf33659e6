#!/usr/bin/env bash
# accuracy.sh — train every shipped config, ternary and its fp32 twin, and
# print the accuracy table (the last epoch's test accuracy, full test sets).
#
#   bash experiments/accuracy.sh [CONFIG_NAME...]
#
# Each run is `build/tern train configs/NAME.yaml` on all cores (a run gives
# the same bits on any thread count) plus `--set quant.enabled=false` for the
# fp32 twin, into runs/NAME[_fp32].
# CIFAR-10 reads CIFAR_DIR (default ../shared/datasets/cifar-10-batches-bin,
# a partial copy: 4,000 training and 1,000 test images). The conv models
# take minutes each on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CIFAR_DIR="${CIFAR_DIR:-$ROOT/../shared/datasets/cifar-10-batches-bin}"
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(mnist_mlp mnist_lenet5 fashion_cnn cifar10_vgg_small)
bash trainers/setup.sh --data mnist --data fashion-mnist

last_acc() { # run dir -> "acc% epochs"
    awk -F, 'NR > 1 { a = $5; e = $1 } END { printf "%.2f%% (%d epochs)", 100 * a, e }' "$1/metrics.csv"
}
printf '| config | ternary | fp32 twin | sparsity |\n| --- | ---: | ---: | ---: |\n' > runs/accuracy.md
for n in "${NAMES[@]}"; do
    extra=()
    [ "$n" = cifar10_vgg_small ] && extra=(--set "dataset.path=$CIFAR_DIR")
    build/tern train "configs/$n.yaml" --set "output.dir=runs/$n" --force "${extra[@]}" >&2
    build/tern train "configs/$n.yaml" --set "output.dir=runs/${n}_fp32" --force \
        --set quant.enabled=false "${extra[@]}" >&2
    sparsity=$(awk -F, 'NR > 1 { s = $6 } END { printf "%.1f%%", 100 * s }' "runs/$n/metrics.csv")
    echo "| $n | $(last_acc "runs/$n") | $(last_acc "runs/${n}_fp32") | $sparsity |" >> runs/accuracy.md
done
cat runs/accuracy.md
