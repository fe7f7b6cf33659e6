#!/usr/bin/env bash
# init_from.sh — `tern train --init-from` on 2 ranks under $MPIEXEC: every
# rank starts from the checkpoint (of a run on one process), and a
# checkpoint of other layers is said once, before anything is written.
#
#   bash tests/mpi/init_from.sh TERN_BINARY CASE
# cases: every_rank other_arch
set -uo pipefail
TERN="$1"
CASE="$2"
T="$(mktemp -d /tmp/tern_mpi_init.XXXXXX)"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL [$CASE]: $*" >&2; exit 1; }
RUN=("${MPIEXEC:-mpiexec}" -q -n 2)

# A tiny MNIST-format dataset: 20 images of 4x4, labels 0..9; 3 batches of 8 an epoch.
source "$(dirname "${BASH_SOURCE[0]}")/../idx.sh"
make_idx "$T/data" train 20
make_idx "$T/data" t10k 10
cat > "$T/c.yaml" <<YAML
dataset: {name: mnist, path: $T/data}
model:
  layers:
    - {type: flatten}
    - {type: linear, name: fc1, out: 8}
    - {type: linear, name: fc2, out: 10, ternary: false}
optimizer: {name: adam, lr: 0.01}
training: {epochs: 3, batch_size: 8, threads: 1, checkpoint_every: 0}
output: {dir: $T/base}
YAML
"$TERN" train "$T/c.yaml" > /dev/null 2>&1 || fail "setup: the base run on one process failed"

case "$CASE" in
every_rank)
    # At lr 1e-9 the fine-tune's test split (shared out between the ranks)
    # gives the base's loss: both ranks hold its parameters.
    want=$("$TERN" eval "$T/base/last.h5" --data "$T/data" 2> /dev/null | grep -o "test loss [0-9.]*") ||
        fail "tern eval of the base failed"
    "${RUN[@]}" "$TERN" train "$T/c.yaml" --init-from "$T/base/last.h5" --set training.epochs=1 \
        --set optimizer.lr=1e-9 --set "output.dir=$T/ft" > "$T/out" 2> "$T/err" ||
        fail "the fine-tune on 2 ranks failed: $(tail -3 "$T/err")"
    got=$(grep -o "test loss [0-9.]*" "$T/out") || fail "no test loss: $(cat "$T/out")"
    [ "$got" = "$want" ] || fail "the fine-tune's first evaluation gives '$got', the base's '$want'"
    echo "ok [$CASE]: $got on 2 ranks from a 1-process checkpoint" ;;
other_arch)
    "${RUN[@]}" "$TERN" train "$T/c.yaml" --init-from "$T/base/last.h5" --set model.layers.fc1.out=9 \
        --set "output.dir=$T/ft" > "$T/out" 2> "$T/err"
    rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "exit status $rc, want an error's"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "stderr is not one line: $(cat "$T/err")"
    grep -qF "$T/base/last.h5: parameter 'fc1.weight' is (8,16) in the checkpoint but (9,16)" "$T/err" ||
        fail "unexpected: $(cat "$T/err")"
    [ -e "$T/ft" ] && fail "a run directory was written"
    ls -d "$T"/ft.tmp.* > /dev/null 2>&1 && fail "a temporary run directory was left"
    echo "ok [$CASE]: $(cat "$T/err")" ;;
*) fail "unknown case" ;;
esac
