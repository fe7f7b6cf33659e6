#!/usr/bin/env bash
# demo.sh — the main job on a fresh Debian 12 machine.
#
#   bash experiments/demo.sh
#
# Installs what is missing, builds tern, fetches MNIST, and measures tern's
# training throughput beside PyTorch's (interleaved; PyTorch is skipped with
# a message when python3-torch is absent).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/trainers/setup.sh" --data mnist
bash "$ROOT/experiments/bench_train.sh" 3 100
