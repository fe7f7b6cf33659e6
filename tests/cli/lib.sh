# lib.sh — what every bad-input script of tests/cli shares. A script
# sources it after `set -uo pipefail` with TERN and CASE set:
#
#   bash tests/cli/SCRIPT.sh TERN_BINARY CASE
#
# ctest registers one test per name on the script's `# cases:` lines
# (tests/CMakeLists.txt reads them), so a new case needs only its script.
#
# Each case must give a non-zero exit that is not a crash (no signal), exactly
# one line on stderr naming the file or field and what is wrong, and leave an
# earlier run's files byte for byte as they were: training runs use --force,
# so only the validation itself stands between the bad input and those files.
T="$(mktemp -d /tmp/tern_bad_input.XXXXXX)"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL [$CASE]: $*" >&2; exit 1; }

# A tiny MNIST-format dataset: 20 images of 4x4, labels 0..9.
source "$(dirname "${BASH_SOURCE[0]}")/../idx.sh"
make_idx "$T/data" train 20
make_idx "$T/data" t10k 10

cfg() { # file out-layers-yaml
    cat > "$1" <<YAML
dataset: {name: mnist, path: $T/data}
model:
  layers:
$2
optimizer: {name: adam, lr: 0.01}
training: {epochs: 1, batch_size: 8, threads: 1}
output: {dir: $T/run}
YAML
}
GOOD_LAYERS='    - {type: flatten}
    - {type: linear, name: fc1, out: 8}
    - {type: linear, name: fc2, out: 10, ternary: false}'
cfg "$T/good.yaml" "$GOOD_LAYERS"

# An earlier run whose files must survive every case.
"$TERN" train "$T/good.yaml" > /dev/null 2>&1 || fail "setup: the good config does not train"
( cd "$T/run" && sha256sum config.yaml metrics.csv last.h5 > "$T/run.sha256" ) || fail "setup: no run files"

expect_error() { # substring, then the command
    local want="$1"; shift
    "$@" > "$T/out" 2> "$T/err"
    local rc=$?
    [ "$rc" -ne 0 ] || fail "exit status 0"
    [ "$rc" -lt 128 ] || fail "exit status $rc: killed by a signal (crash)"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "stderr is not one line: $(cat "$T/err")"
    grep -qF -- "$want" "$T/err" || fail "stderr lacks '$want': $(cat "$T/err")"
    ( cd "$T/run" && sha256sum --quiet -c "$T/run.sha256" ) || fail "an earlier run's file changed"
    echo "ok [$CASE]: $(cat "$T/err")"
}

