#!/usr/bin/env bash
# demo.sh — the main job on a fresh Debian 12 machine.
#
#   bash experiments/demo.sh
#
# Installs what is missing, builds tern, fetches MNIST, trains the ternary
# 784-256-256-10 MLP (configs/mnist_mlp.yaml, 8-bit activations so the int8
# kernels reproduce training-time evaluation), exports the packed 2-bit deploy
# checkpoint, evaluates it through the SIMD kernels, and compares its size
# with the same model's fp32 checkpoint. A few minutes on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/trainers/setup.sh" --data mnist
cd "$ROOT"
TERN=build/tern
RUN=runs/demo

echo "== 1. train (ternary hidden layers, TWN, 8-bit activations)"
$TERN train configs/mnist_mlp.yaml --set quant.act_bits=8 --set training.threads=1 \
      --set output.dir=$RUN --force
echo
echo "== 2. training-time evaluation of the checkpoint"
$TERN eval $RUN/last.h5 | sed -n 1,2p
echo
echo "== 3. export the packed deploy checkpoint"
$TERN export $RUN/last.h5 -o $RUN/mnist_mlp.h5 --fp32-out $RUN/mnist_mlp_fp32.h5
echo
echo "== 4. evaluate the deploy checkpoint through the kernels"
$TERN eval $RUN/mnist_mlp.h5
echo
echo "== 5. size"
deploy=$(stat -c %s $RUN/mnist_mlp.h5)
fp32=$(stat -c %s $RUN/mnist_mlp_fp32.h5)
train=$(stat -c %s $RUN/last.h5)
awk -v d="$deploy" -v f="$fp32" -v t="$train" 'BEGIN {
    printf "deploy checkpoint   %9d bytes\n", d
    printf "fp32 checkpoint     %9d bytes   (%.1fx the deploy file)\n", f, f / d
    printf "training checkpoint %9d bytes   (latent weights + Adam state)\n", t
}'
