#!/usr/bin/env bash
# init_from.sh — tern train --init-from CKPT, a fine-tune's start (see lib.sh):
# a checkpoint of other layers is one line naming it and leaves no run
# directory; --resume with it is refused; a precision change fine-tunes.
# cases: other_arch with_resume flip_precision
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Nothing of the refused run: no run directory, no "<dir>.tmp.*" sibling.
no_run_left() {
    [ ! -e "$T/ft" ] || fail "a run directory was left: $(ls -A "$T/ft")"
    local left
    left=$(ls -d "$T"/*.tmp.* 2> /dev/null)
    [ -z "$left" ] || fail "a temporary run directory was left: $left"
}

case "$CASE" in
other_arch)
    # fc1 wider than the checkpoint's.
    expect_error "$T/run/last.h5: parameter 'fc1.weight' is (8,16) in the checkpoint but (12,16) in the model" \
        "$TERN" train "$T/good.yaml" --init-from "$T/run/last.h5" --set model.layers.fc1.out=12 \
        --set "output.dir=$T/ft"
    grep -qF "another architecture" "$T/err" || fail "the error does not say why: $(cat "$T/err")"
    no_run_left ;;
with_resume)
    expect_error "--init-from and --resume exclude each other" \
        "$TERN" train "$T/good.yaml" --resume "$T/run/last.h5" --init-from "$T/run/last.h5" --force
    no_run_left ;;
flip_precision)
    # fc1 ternary in the checkpoint, fp32 now; fc2 the other way round.
    "$TERN" train "$T/good.yaml" --init-from "$T/run/last.h5" --set model.layers.fc1.ternary=false \
        --set model.layers.fc2.ternary=true --set "output.dir=$T/ft" > "$T/out" 2> "$T/err" ||
        fail "the fine-tune failed: $(cat "$T/err")"
    [ -s "$T/ft/last.h5" ] || fail "no checkpoint in the fine-tune's run directory"
    grep -qF -- "--init-from CKPT" <("$TERN" train --help) || fail "--help does not mention --init-from"
    ( cd "$T/run" && sha256sum --quiet -c "$T/run.sha256" ) || fail "the checkpoint it started from changed"
    echo "ok [$CASE]" ;;
*) fail "unknown case" ;;
esac
