#!/bin/bash
# host.sh TERN CEXPORT_REF DIR — ctest cexport_host: `tern export --format c`
# of small trained models of each kind (TTQ and symmetric scales, int8 and
# fp32 activations, every deploy layer type), compiled by the host's cc (and
# clang when present) with -std=c99 -Wall -Wextra -pedantic -Werror, must
# give tern's runtime's logits bit for bit on 256 inputs (half noise, half
# sparse): int8 models against the default path, the fp32-activation one
# against --kernel scalar without zero-skipping (tern_run.h says why).
# arm-none-eabi-gcc, when present, must compile it for a Cortex-M4F too.
set -uo pipefail
TERN=${1:?usage: host.sh TERN CEXPORT_REF DIR}
REF=${2:?}
HERE=${3:?}
command -v cc > /dev/null || { echo "cexport_host: skipped: no C compiler (apt-get install gcc)"; exit 77; }
T="$(mktemp -d /tmp/tern_cexport.XXXXXX)"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A 12x12 MNIST-format dataset: 64 training and 16 test images.
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
make_idx() { # prefix n seed
    { be32 2051; be32 "$2"; be32 12; be32 12; "$REF" gen "$2" 144 "$3"; } > "$T/data/$1-images-idx3-ubyte"
    { be32 2049; be32 "$2"; for ((i = 0; i < $2; i++)); do printf "\\x0$((i * 7 % 10))"; done; } > "$T/data/$1-labels-idx1-ubyte"
}
mkdir -p "$T/data"
make_idx train 64 11
make_idx t10k 16 12
"$REF" gen 256 144 5 > "$T/pixels"

# model NAME QUANT LAYERS: train two epochs, export the deploy file and the C export.
model() {
    cat > "$T/$1.yaml" <<YAML
dataset: {name: mnist, path: $T/data, normalize: given, mean: [0.25], std: [0.4]}
model:
  layers:
$3
quant: $2
optimizer: {name: adam, lr: 0.01}
training: {epochs: 2, batch_size: 16, threads: 1}
output: {dir: $T/$1}
YAML
    "$TERN" train "$T/$1.yaml" > "$T/$1.log" 2>&1 || fail "$1: training failed: $(tail -1 "$T/$1.log")"
    "$TERN" export "$T/$1/last.h5" -o "$T/$1.h5" > /dev/null || fail "$1: export to h5"
    "$TERN" export "$T/$1.h5" --format c -o "$T/$1_c" > "$T/$1.summary" || fail "$1: export --format c"
    [ "$(ls "$T/$1_c" | tr '\n' ' ')" = "model.c model.h tern_portable.h tern_portable_dsp.h tern_run.c tern_run.h " ] ||
        fail "$1: DIR holds $(ls "$T/$1_c")"
}

# check NAME KERNEL: every compiler's build of NAME's export against the library on KERNEL.
check() {
    "$REF" run "$T/$1.h5" "$T/pixels" "$2" > "$T/$1.lib" || fail "$1: the library's run"
    [ "$(wc -l < "$T/$1.lib")" -eq 256 ] || fail "$1: the library gave $(wc -l < "$T/$1.lib") lines"
    for c in cc clang; do
        command -v $c > /dev/null || continue
        $c -std=c99 -Wall -Wextra -pedantic -Werror -O2 -I "$T/$1_c" "$T/$1_c"/*.c "$HERE/main.c" -o "$T/$1.$c" -lm \
            || fail "$1: $c does not build the export"
        "$T/$1.$c" < "$T/pixels" > "$T/$1.$c.out" || fail "$1: the $c build failed"
        cmp -s "$T/$1.lib" "$T/$1.$c.out" ||
            fail "$1 ($c vs --kernel $2): logits differ, first: $(diff "$T/$1.lib" "$T/$1.$c.out" | sed -n 2p)"
    done
    # The Cortex-M4F build must compile cleanly too (running it is tests/mcu's).
    if command -v arm-none-eabi-gcc > /dev/null; then
        for f in model tern_run; do
            arm-none-eabi-gcc -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard -std=c99 -Wall -Wextra -pedantic -Werror \
                -O2 -c "$T/$1_c/$f.c" -o "$T/$1.$f.o" || fail "$1: arm-none-eabi-gcc does not build $f.c"
        done
    fi
    echo "ok $1: 256 inputs bit-identical to --kernel $2; $(sed -n '2p;3p' "$T/$1.summary" | tr -s ' ' | tr '\n' ';')"
}

model mlp "{method: twn, act_bits: 8}" '    - {type: flatten}
    - {type: linear, name: fc1, out: 20, bias: false}
    - {type: batchnorm, name: bn1, act: relu}
    - {type: linear, name: fc2, out: 13, act: hardtanh}
    - {type: linear, name: fc3, out: 10, ternary: false}'
check mlp auto

model cnn "{method: twn, act_bits: 8}" '    - {type: conv2d, name: conv1, out: 6, kernel: 3, pad: 1, bias: false, ternary: false}
    - {type: batchnorm, name: bn1, act: relu}
    - {type: maxpool, kernel: 2}
    - {type: conv2d, name: conv2, out: 11, kernel: 3, pad: 1}
    - {type: batchnorm, name: bn2, act: relu}
    - {type: maxpool, kernel: 3, stride: 2, pad: 1}
    - {type: conv2d, name: conv3, out: 11, kernel: 1, stride: 1, act: relu, quant: {method: ttq}}
    - {type: add, from: 5}
    - {type: batchnorm, name: bn3}
    - {type: avgpool, kernel: 2}
    - {type: flatten}
    - {type: linear, name: fc1, out: 17, act: relu, quant: {method: ttq}}
    - {type: linear, name: fc2, out: 10, ternary: false}'
check cnn auto

model f32 "{method: ttq, act_bits: 0}" '    - {type: conv2d, name: conv1, out: 5, kernel: 5, stride: 2, pad: 2}
    - {type: batchnorm, name: bn1, act: hardtanh}
    - {type: conv2d, name: conv2, out: 9, kernel: 3}
    - {type: relu}
    - {type: global_avgpool}
    - {type: linear, name: fc1, out: 10}'
check f32 scalar
exit 0
