# tiny_run.sh — sourced by the scripts that need a dataset and a run but no
# earlier run to protect (progress.sh, summary.sh, plot.sh); lib.sh's setup,
# which trains one, is slower. Sets T (removed at exit) and fail, and defines
# tiny_idx and tiny_config. Not a test itself: it has no cases line.
T="$(mktemp -d /tmp/tern_tiny.XXXXXX)"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL [$CASE]: $*" >&2; exit 1; }

# An MNIST-format split of n 4x4 images, labels 0..9 in turn.
tiny_idx() { # dir prefix n
    mkdir -p "$1"
    LC_ALL=C awk -v n="$3" 'BEGIN { printf "%c%c%c%c", 0, 0, 8, 3
        printf "%c%c%c%c%c%c%c%c%c%c%c%c", int(n / 16777216) % 256, int(n / 65536) % 256, int(n / 256) % 256, n % 256, 0, 0, 0, 4, 0, 0, 0, 4
        for (i = 0; i < n * 16; i++) printf "%c", (i * 37 + int(i / 16) % 10 * 50) % 256 }' > "$1/$2-images-idx3-ubyte"
    LC_ALL=C awk -v n="$3" 'BEGIN { printf "%c%c%c%c", 0, 0, 8, 1
        printf "%c%c%c%c", int(n / 16777216) % 256, int(n / 65536) % 256, int(n / 256) % 256, n % 256
        for (i = 0; i < n; i++) printf "%c", i % 10 }' > "$1/$2-labels-idx1-ubyte"
}

# A config of a small MLP on $T/data (n training images) into run directory $2.
tiny_config() { # file run-dir n-train epochs batch
    tiny_idx "$T/data" train "$3"
    tiny_idx "$T/data" t10k 100
    cat > "$1" <<YAML
dataset: {name: mnist, path: $T/data}
model:
  layers:
    - {type: flatten}
    - {type: linear, name: fc1, out: 64}
    - {type: batchnorm, name: bn1, act: relu}
    - {type: linear, name: fc2, out: 10, ternary: false}
optimizer: {name: adam, lr: 0.01}
training: {epochs: $4, batch_size: $5, threads: 1}
output: {dir: $2}
YAML
}
