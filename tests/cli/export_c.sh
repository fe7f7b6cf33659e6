#!/usr/bin/env bash
# export_c.sh — tern export --format c (see lib.sh): a bad option or budget
# is one line and writes nothing; an existing DIR is replaced only with
# --force, whole, once the new one is complete, and only when it is an
# earlier C export (its six files and nothing else).
# cases: unknown_format dir_exists max_ram_too_small max_ram_not_number fp32_out_with_c
# cases: force_replaces force_keeps_subdir force_keeps_foreign_file force_refuses_symlink
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CKPT="$T/run/last.h5"
OUT="$T/model_c"
absent() { [ ! -e "$OUT" ] || fail "$OUT was written"; ! ls "$T" | grep -q "model_c.tmp" || fail "a temporary directory was left"; }

case "$CASE" in
unknown_format)
    expect_error "--format" "$TERN" export "$CKPT" --format tflite -o "$OUT" --data "$T/data"
    absent ;;
dir_exists)
    mkdir "$OUT" && echo mine > "$OUT/notes.txt"
    expect_error "exists; pass --force" "$TERN" export "$CKPT" --format c -o "$OUT" --data "$T/data"
    [ "$(cat "$OUT/notes.txt")" = mine ] && [ "$(ls "$OUT")" = notes.txt ] || fail "the existing DIR changed" ;;
max_ram_too_small)
    expect_error "needs" "$TERN" export "$CKPT" --format c -o "$OUT" --max-ram 16 --data "$T/data"
    grep -qE "needs [0-9]+ bytes of RAM" "$T/err" || fail "the error does not say how much RAM: $(cat "$T/err")"
    absent ;;
max_ram_not_number)
    expect_error "--max-ram: '12kb' is not a number" "$TERN" export "$CKPT" --format c -o "$OUT" --max-ram 12kb --data "$T/data"
    absent ;;
fp32_out_with_c)
    expect_error "--fp32-out is for --format h5" "$TERN" export "$CKPT" --format c -o "$OUT" --fp32-out "$T/f.h5" --data "$T/data"
    absent ;;
force_replaces)
    "$TERN" export "$CKPT" --format c -o "$OUT" --data "$T/data" > "$T/out" 2> "$T/err" || fail "export: $(cat "$T/err")"
    grep -q "RAM" "$T/out" || fail "no summary: $(cat "$T/out")"
    echo stale > "$OUT/model.c"
    "$TERN" export "$CKPT" --format c -o "$OUT" --force --data "$T/data" > "$T/out" 2> "$T/err" || fail "--force: $(cat "$T/err")"
    [ "$(ls "$OUT" | tr '\n' ' ')" = "model.c model.h tern_portable.h tern_portable_dsp.h tern_run.c tern_run.h " ] ||
        fail "DIR holds $(ls "$OUT")"
    grep -q "tern_model_predict" "$OUT/model.c" || fail "model.c was not replaced"
    ! ls "$T" | grep -q "model_c\." || fail "a temporary or old directory was left: $(ls "$T")"
    echo "ok [$CASE]: an existing export replaced whole" ;;
force_keeps_subdir)
    mkdir -p "$OUT/src" && echo mine > "$OUT/src/main.c"
    expect_error "holds 'src', not a file of a C export" "$TERN" export "$CKPT" --format c -o "$OUT" --force --data "$T/data"
    [ "$(cat "$OUT/src/main.c")" = mine ] || fail "the existing DIR changed" ;;
force_keeps_foreign_file)
    "$TERN" export "$CKPT" --format c -o "$OUT" --data "$T/data" > /dev/null 2> "$T/err" || fail "export: $(cat "$T/err")"
    echo mine > "$OUT/notes.txt"
    expect_error "holds 'notes.txt', not a file of a C export" "$TERN" export "$CKPT" --format c -o "$OUT" --force --data "$T/data"
    [ "$(cat "$OUT/notes.txt")" = mine ] && [ "$(ls "$OUT" | wc -l)" = 7 ] || fail "the existing DIR changed" ;;
force_refuses_symlink)
    mkdir "$T/real" && echo mine > "$T/real/notes.txt" && ln -s real "$OUT"
    expect_error "is a symbolic link" "$TERN" export "$CKPT" --format c -o "$OUT" --force --data "$T/data"
    [ -L "$OUT" ] && [ "$(ls "$T/real")" = notes.txt ] || fail "the link or its directory changed" ;;
*) fail "unknown case" ;;
esac
