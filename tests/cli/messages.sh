#!/usr/bin/env bash
# messages.sh — an error names what is wrong in one line, whatever the user
# typed (see lib.sh): control characters in names, values and paths come out
# as C escapes.
# cases: newline_in_layer_name newline_in_set newline_in_path sealed_damage_deploy sealed_damage_ckpt
# cases: eval_without_its_dataset
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Damage 64 bytes of the HDF5 body at one of 12 places, then re-seal the
# header's size and CRC-32 (gzip's trailer holds the same CRC), so that only
# tern's own checks and HDF5 stand between the damage and the user.
damage_sealed() { # in, out, place 0..11
    local n pos crc magic
    n=$(stat -c %s "$1")
    pos=$((512 + (n - 512) * $3 / 12))
    cp "$1" "$2"
    head -c 64 /dev/zero | dd of="$2" bs=1 seek="$pos" conv=notrunc status=none
    crc=$(tail -c +513 "$2" | gzip -c | tail -c 8 | head -c 4 | od -An -tx4 | tr -d ' \n')
    magic=$(head -n 1 "$2")
    { printf '%s\nversion 1\nbytes %s\ncrc32 %s\n' "$magic" "$n" "$crc"; head -c 512 /dev/zero; } | head -c 512 > "$2.head"
    tail -c +513 "$2" >> "$2.head" && mv "$2.head" "$2"
}
# Each damaged file is refused in one line or, where the damage hit only
# values, read; never a crash, a hang or HDF5's own output.
one_line_or_ok() {
    "$@" > "$T/out" 2> "$T/err"
    local rc=$?
    [ "$rc" -lt 124 ] || fail "exit status $rc (crash or hang): $*"
    [ "$rc" -eq 0 ] || [ "$(wc -l < "$T/err")" -eq 1 ] || fail "stderr is not one line: $(head -c 600 "$T/err")"
    ! grep -q HDF5-DIAG "$T/err" || fail "HDF5 printed its own error stack"
}

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
sealed_damage_deploy)
    "$TERN" export "$T/run/last.h5" -o "$T/model.h5" --data "$T/data" > /dev/null 2>&1 || fail "setup: export failed"
    printf 'P5\n4 4\n255\n' > "$T/img.pgm" && head -c 16 /dev/zero >> "$T/img.pgm"
    for k in $(seq 0 11); do
        damage_sealed "$T/model.h5" "$T/bad.h5" "$k"
        one_line_or_ok timeout 20 "$TERN" inspect "$T/bad.h5"
        one_line_or_ok timeout 20 "$TERN" infer "$T/bad.h5" "$T/img.pgm"
    done
    echo "ok [$CASE]" ;;
sealed_damage_ckpt)
    for k in $(seq 0 11); do
        damage_sealed "$T/run/last.h5" "$T/bad.h5" "$k"
        one_line_or_ok timeout 20 "$TERN" inspect "$T/bad.h5"
        one_line_or_ok timeout 20 "$TERN" eval "$T/bad.h5" --data "$T/data"
    done
    echo "ok [$CASE]" ;;
eval_without_its_dataset)
    # Run from a directory that does not hold datasets/data/mnist: the error
    # names the model and says how to point at the data.
    "$TERN" export "$T/run/last.h5" -o "$T/model.h5" --data "$T/data" > /dev/null 2>&1 || fail "setup: export failed"
    ( cd "$T" && expect_error "model.h5: its dataset: " "$TERN" eval "$T/model.h5" ) || exit 1
    ( cd "$T" && expect_error "with --data DIR" "$TERN" profile "$T/model.h5" ) || exit 1 ;;
*)
    fail "unknown case" ;;
esac
