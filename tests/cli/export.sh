#!/usr/bin/env bash
# export.sh — tern export, and deploy files damaged or crafted (see lib.sh):
# export never replaces its own input or a training checkpoint unasked, never
# leaves a file it cannot load, and a damaged deploy file is one line.
# cases: onto_input onto_input_symlink onto_input_hardlink over_train_ckpt fp32_out_over_train_ckpt
# cases: force_replaces_train_ckpt long_layer_name long_ckpt_path damaged_magic damaged_magic_infer
# cases: huge_header_version fp32_out_onto_input
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CKPT="$T/run/last.h5"
export_ok() { # out, then more export arguments: must succeed and load
    "$TERN" export "$CKPT" -o "$@" --data "$T/data" > "$T/out" 2> "$T/err" || fail "export failed: $(cat "$T/err")"
    "$TERN" eval "$1" --data "$T/data" > "$T/out" 2> "$T/err" || fail "the exported file does not evaluate: $(cat "$T/err")"
}
sums() { ( cd "$T" && sha256sum "$@" > "$T/case.sha256" ); }
unchanged() { ( cd "$T" && sha256sum --quiet -c "$T/case.sha256" ) || fail "a file that must survive changed"; }
# The deploy header rewritten with another version line (size and CRC kept).
rehead() { # in, out, version
    local bytes crc
    bytes=$(head -c 512 "$1" | tr -d '\0' | sed -n 's/^bytes //p')
    crc=$(head -c 512 "$1" | tr -d '\0' | sed -n 's/^crc32 //p')
    { printf 'tern-deploy model\nversion %s\nbytes %s\ncrc32 %s\n' "$3" "$bytes" "$crc"; head -c 512 /dev/zero; } | head -c 512 > "$2"
    tail -c +513 "$1" >> "$2"
}
flip() { # file, offset: one bit flipped in place
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "\\x$(printf %02x $((b ^ 4)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

case "$CASE" in
onto_input)
    expect_error "is the training checkpoint being exported" "$TERN" export "$CKPT" -o "$CKPT" --data "$T/data" ;;
onto_input_symlink)
    ln -s "$CKPT" "$T/link.h5"
    expect_error "is the training checkpoint being exported" "$TERN" export "$CKPT" -o "$T/link.h5" --force --data "$T/data" ;;
onto_input_hardlink)
    ln "$CKPT" "$T/hard.h5"
    expect_error "is the training checkpoint being exported" "$TERN" export "$T/hard.h5" -o "$CKPT" --force --data "$T/data" ;;
over_train_ckpt)
    cp "$CKPT" "$T/ck.h5"
    sums ck.h5
    expect_error "ck.h5 exists and is a training checkpoint; pass --force" "$TERN" export "$CKPT" -o "$T/ck.h5" --data "$T/data"
    unchanged ;;
fp32_out_over_train_ckpt)
    cp "$CKPT" "$T/ck.h5"
    sums ck.h5
    expect_error "ck.h5 exists and is a training checkpoint" "$TERN" export "$CKPT" -o "$T/m.h5" --fp32-out "$T/ck.h5" --data "$T/data"
    unchanged
    [ ! -e "$T/m.h5" ] || fail "the deploy file was written although the export was refused" ;;
force_replaces_train_ckpt)
    cp "$CKPT" "$T/ck.h5"
    export_ok "$T/ck.h5" --force ;;
long_layer_name)
    # 31 characters, the most a layer name may have; over an earlier export.
    export_ok "$T/model.h5"
    cfg "$T/long.yaml" '    - {type: flatten}
    - {type: linear, name: a_layer_name_of_31_characters_x, out: 8}
    - {type: linear, name: fc2, out: 10, ternary: false}'
    sed -i "s|output: {dir: .*}|output: {dir: $T/run31}|" "$T/long.yaml"
    "$TERN" train "$T/long.yaml" > /dev/null 2>&1 || fail "setup: the long-name config does not train"
    CKPT="$T/run31/last.h5"
    export_ok "$T/model.h5"
    "$TERN" inspect "$T/model.h5" 2>&1 | grep -q a_layer_name_of_31_characters_x || fail "the name is not in the file" ;;
long_ckpt_path)
    # Checkpoint paths of 255 and 300 characters (the source attribute holds 255).
    for len in 255 300; do
        d="$T"
        while [ $(( ${#d} + 60 )) -lt "$len" ]; do d="$d/$(printf 'd%.0s' $(seq 50))"; done
        f="$d/$(printf 'c%.0s' $(seq $(( len - ${#d} - 4 )))).h5"
        mkdir -p "$d" && cp "$CKPT" "$f"
        [ "${#f}" -eq "$len" ] || fail "setup: path of ${#f} characters, not $len"
        CKPT="$f"
        export_ok "$T/model$len.h5"
        CKPT="$T/run/last.h5"
    done ;;
damaged_magic | damaged_magic_infer)
    # The first header line and HDF5's metadata just after the header
    # damaged: tern's CRC check speaks, HDF5 never parses the damaged body
    # (which it would answer with its own dump at exit).
    export_ok "$T/model.h5"
    cp "$T/model.h5" "$T/bad.h5"
    flip "$T/bad.h5" 2
    flip "$T/bad.h5" 600
    if [ "$CASE" = damaged_magic ]; then
        expect_error "CRC-32" "$TERN" eval "$T/bad.h5" --data "$T/data"
    else
        printf 'P5\n4 4\n255\n' > "$T/img.pgm" && head -c 16 /dev/zero >> "$T/img.pgm"
        expect_error "CRC-32" "$TERN" infer "$T/bad.h5" "$T/img.pgm"
    fi ;;
fp32_out_onto_input)
    expect_error "--fp32-out $CKPT is the training checkpoint" "$TERN" export "$CKPT" -o "$T/m.h5" --fp32-out "$CKPT" --force --data "$T/data" ;;
huge_header_version)
    export_ok "$T/model.h5"
    rehead "$T/model.h5" "$T/v.h5" 99999999999999999999
    expect_error "version 99999999999999999999, but this tern reads version 2" "$TERN" eval "$T/v.h5" --data "$T/data" ;;
*)
    fail "unknown case" ;;
esac
echo "ok [$CASE]"
