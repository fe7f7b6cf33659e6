#!/usr/bin/env bash
# messages.sh — an error names what is wrong in one line, whatever the user
# typed (see lib.sh): control characters in names, values and paths come out
# as C escapes.
# cases: newline_in_layer_name newline_in_set newline_in_path
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "$CASE" in
newline_in_layer_name)
    cfg "$T/bad.yaml" '    - {type: flatten}
    - {type: linear, name: "a\nb", out: 8}
    - {type: linear, name: fc2, out: 10, ternary: false}'
    expect_error "'a\\nb'" "$TERN" train "$T/bad.yaml" --force ;;
newline_in_set)
    expect_error 'training.epochs=1\nfoo' "$TERN" train "$T/good.yaml" --force --set $'training.epochs=1\nfoo: 2' ;;
newline_in_path)
    cp "$T/run/last.h5" "$T/a"$'\n'"b.h5"
    printf 'junk' >> "$T/a"$'\n'"b.h5"
    expect_error 'a\nb.h5' "$TERN" eval "$T/a"$'\n'"b.h5" ;;
*)
    fail "unknown case" ;;
esac
