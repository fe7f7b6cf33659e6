# tiny_hybrid.sh — sourced by the scripts of `tern hybrid` (tests/cli/hybrid.sh,
# tests/mpi/hybrid.sh): tiny_run.sh's T, fail and tiny_idx, and a config
# with three quantizable layers. Not a test itself: it has no cases line.
. "$(dirname "${BASH_SOURCE[0]}")/tiny_run.sh"

# The tiny MLP: 3 quantizable layers, a validation split; n training images, epochs.
hybrid_config() { # file n-train epochs [fc1 width]
    tiny_idx "$T/data" train "$2"
    tiny_idx "$T/data" t10k 50
    cat > "$1" <<YAML
dataset: {name: mnist, path: $T/data, validation: 0.25}
model:
  layers:
    - {type: flatten}
    - {type: linear, name: fc1, out: ${4:-24}, ternary: false}
    - {type: batchnorm, name: bn1, act: relu}
    - {type: linear, name: fc2, out: 24}
    - {type: batchnorm, name: bn2, act: relu}
    - {type: linear, name: fc3, out: 10, ternary: false}
optimizer: {name: adam, lr: 0.01}
training: {epochs: $3, batch_size: 16, threads: 1}
output: {dir: $T/unused}
YAML
}
