#!/usr/bin/env bash
# make_corpus.sh — (re)generate the seed corpora of tests/fuzz/corpus/:
#
#   bash tests/fuzz/make_corpus.sh TERN_BINARY
#
# config: the shipped configs and a few --set lines; idx, cifar: tiny files
# written here; deploy, ckpt: tern trains three tiny models (an MLP, a conv
# net with batchnorm and TTQ, a residual conv net with int8 activations) on
# a 20-image 28x28 MNIST-format dataset and exports them. Checkpoint seeds
# carry the mode byte 01 (fuzz_util.h: the harness fixes the CRC header).
set -euo pipefail
TERN="$(realpath "$1")"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
C="$HERE/corpus"
T="$(mktemp -d /tmp/tern_corpus.XXXXXX)"
trap 'rm -rf "$T"' EXIT
rm -rf "$C"
mkdir -p "$C"/{config,idx,cifar,deploy,ckpt}

# ---- config: YAML, then NUL-separated --set assignments ----
for f in "$ROOT"/configs/*.yaml; do cp "$f" "$C/config/$(basename "$f" .yaml)"; done
{ cat "$ROOT/configs/mnist_mlp.yaml"; printf '\0training.epochs=3\0model.layers.1.quant.method=ttq\0quant.act_bits=0'; } > "$C/config/mlp_set"
{ cat "$ROOT/configs/mnist_lenet5.yaml"; printf '\0model.layers.conv2={type: conv2d, out: 8, kernel: 3}\0schedule={name: step, step_epochs: 2}'; } > "$C/config/lenet_set"

# ---- idx: images then labels, plain and gzip ----
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
idx_images() { # n h w
    be32 2051; be32 "$1"; be32 "$2"; be32 "$3"
    head -c $(($1 * $2 * $3)) /dev/urandom
}
idx_labels() { # n
    be32 2049; be32 "$1"; for ((i = 0; i < $1; i++)); do printf "\\x0$((i % 10))"; done
}
{ idx_images 3 4 4; idx_labels 3; } > "$C/idx/plain_3x4x4"
{ idx_images 2 28 28; idx_labels 2; } > "$C/idx/plain_2x28x28"
{ idx_images 4 3 5 | gzip -9n; idx_labels 4; } > "$C/idx/gzip_4x3x5"

# ---- cifar: records of label + 3072 bytes, then TERNMETA and class names ----
cifar_records() { for ((i = 0; i < $1; i++)); do printf "\\x0$((i % 10))"; head -c 3072 /dev/urandom; done; }
cifar_records 2 > "$C/cifar/two_records"
{ cifar_records 1; printf 'TERNMETA'; printf 'plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n'; } > "$C/cifar/one_record_meta"

# ---- deploy and ckpt: tiny trained models ----
mkdir -p "$T/data"
{ idx_images 20 28 28; } > "$T/data/train-images-idx3-ubyte"
idx_labels 20 > "$T/data/train-labels-idx1-ubyte"
idx_images 10 28 28 > "$T/data/t10k-images-idx3-ubyte"
idx_labels 10 > "$T/data/t10k-labels-idx1-ubyte"
model() { # name optimizer-yaml layers-yaml
    cat > "$T/$1.yaml" <<YAML
dataset: {name: mnist, path: $T/data}
model:
  layers:
$3
optimizer: $2
training: {epochs: 1, batch_size: 8, threads: 1}
output: {dir: $T/$1}
YAML
    "$TERN" train "$T/$1.yaml" > /dev/null 2>&1 || { echo "make_corpus: tern train $1 failed" >&2; "$TERN" train "$T/$1.yaml" --force >/dev/null; }
    "$TERN" export "$T/$1/last.h5" -o "$T/$1.deploy.h5" --data "$T/data" > /dev/null
    { printf '\1'; cat "$T/$1/last.h5"; } > "$C/ckpt/$1"
    { printf '\1'; cat "$T/$1.deploy.h5"; } > "$C/deploy/$1"
}
model mlp '{name: adam, lr: 0.01}' '    - {type: flatten}
    - {type: linear, name: fc1, out: 8}
    - {type: linear, name: fc2, out: 10, ternary: false}'
model conv_bn_ttq '{name: sgd, lr: 0.1, momentum: 0.9}' '    - {type: conv2d, name: c1, out: 4, kernel: 7, stride: 7, quant: {method: ttq}}
    - {type: batchnorm, name: bn1, act: relu}
    - {type: flatten}
    - {type: linear, name: fc, out: 10, ternary: false}'
model res_int8 '{name: adamw, lr: 0.01}' '    - {type: conv2d, name: c1, out: 2, kernel: 4, stride: 4, ternary: false}
    - {type: conv2d, name: c2, out: 2, kernel: 3, pad: 1, quant: {act_bits: 8}}
    - {type: add, from: 0}
    - {type: maxpool, kernel: 2}
    - {type: global_avgpool}
    - {type: linear, name: fc, out: 10, quant: {act_bits: 8}}'
du -sh "$C"/*
