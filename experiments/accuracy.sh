#!/usr/bin/env bash
# accuracy.sh — train every shipped config three ways and print the accuracy
# table (the last epoch's test accuracy, full test sets):
#   ternary, 8-bit act.  the config as shipped (quant.act_bits: 8), into
#                        runs/NAME; then exported to runs/NAME.h5 and that
#                        deploy file evaluated on the int8 kernels, which must
#                        give the training-time accuracy to the digit;
#   ternary, float act.  --set quant.act_bits=0, into runs/NAME_float;
#   fp32 twin            --set quant.enabled=false, into runs/NAME_fp32.
#
#   bash experiments/accuracy.sh [CONFIG_NAME...]
#   RUNS="int8" bash experiments/accuracy.sh   # train only these of: int8 float fp32;
#                                              # the other columns read runs/ as it is
#   THREADS=1 bash experiments/accuracy.sh     # training.threads (default 0: all cores)
#
# A run gives the same bits on any thread count.
# CIFAR-10 reads CIFAR_DIR (default ../shared/datasets/cifar-10-batches-bin,
# a partial copy: 4,000 training and 1,000 test images). The conv models
# take minutes each on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CIFAR_DIR="${CIFAR_DIR:-$ROOT/../shared/datasets/cifar-10-batches-bin}"
RUNS="${RUNS:-int8 float fp32}"
THREADS="${THREADS:-0}"
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(mnist_mlp mnist_lenet5 fashion_cnn cifar10_vgg_small)
bash trainers/setup.sh --data mnist --data fashion-mnist

# The last row's value of column `name` of a metrics.csv, by its header.
last_col() { # metrics.csv name
    awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next } { v = $c } END { print v }' "$1"
}
last_acc() { # run dir -> "acc%", or "–" without a run
    [ -f "$1/metrics.csv" ] || { echo "–"; return; }
    awk -v a="$(last_col "$1/metrics.csv" test_acc)" 'BEGIN { printf "%.2f%%", 100 * a }'
}
train() { # name dir [--set ...]: train one run when RUNS asks for its kind
    local n=$1 dir=$2 kind=$3
    shift 3
    case " $RUNS " in *" $kind "*) ;; *) return 0 ;; esac
    build/tern train "configs/$n.yaml" --set "output.dir=$dir" --set "training.threads=$THREADS" --force \
        "${extra[@]}" "$@" >&2
}
printf '| config | ternary, 8-bit act. | deployed, int8 kernels | ternary, float act. | fp32 twin | zero weights | epochs |\n' > runs/accuracy.md
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n' >> runs/accuracy.md
for n in "${NAMES[@]}"; do
    extra=() data=()
    [ "$n" = cifar10_vgg_small ] && extra=(--set "dataset.path=$CIFAR_DIR") data=(--data "$CIFAR_DIR")
    train "$n" "runs/$n" int8
    train "$n" "runs/${n}_float" float --set quant.act_bits=0
    train "$n" "runs/${n}_fp32" fp32 --set quant.enabled=false
    build/tern export "runs/$n/last.h5" -o "runs/$n.h5" >&2
    deployed=$(build/tern eval "runs/$n.h5" "${data[@]}" | awk '/^accuracy/ { print $2 }')
    [ "$deployed" = "$(last_acc "runs/$n")" ] || echo "accuracy.sh: $n: the deploy file scores $deployed, training-time evaluation $(last_acc "runs/$n")" >&2
    tail=$(awk -v s="$(last_col "runs/$n/metrics.csv" sparsity)" -v e="$(last_col "runs/$n/metrics.csv" epoch)" \
        'BEGIN { printf "%.1f%% | %d", 100 * s, e }')
    echo "| $n | $(last_acc "runs/$n") | $deployed | $(last_acc "runs/${n}_float") | $(last_acc "runs/${n}_fp32") | $tail |" >> runs/accuracy.md
done
cat runs/accuracy.md
