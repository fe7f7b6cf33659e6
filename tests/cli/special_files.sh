#!/usr/bin/env bash
# special_files.sh — FIFOs, directories and devices where tern reads or
# writes a file (see lib.sh): a reader never waits on a FIFO, and a writer
# never renames a file over something that is not a regular file.
# cases: export_to_fifo export_to_dir fp32_out_to_fifo infer_fifo_image eval_fifo_model inspect_fifo_model
# cases: resume_fifo_ckpt
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CKPT="$T/run/last.h5"
# Each command runs under a time bound: a hang is a failure, not a stuck ctest.
bounded() { timeout 20 "$@"; }
is_fifo() { [ -p "$1" ] || fail "$1 is no longer a FIFO"; }
deploy() { "$TERN" export "$CKPT" -o "$T/model.h5" --data "$T/data" > /dev/null 2>&1 || fail "setup: export failed"; }

case "$CASE" in
export_to_fifo)
    mkfifo "$T/out.h5"
    expect_error "out.h5: is a FIFO" bounded "$TERN" export "$CKPT" -o "$T/out.h5" --force --data "$T/data"
    is_fifo "$T/out.h5" ;;
export_to_dir)
    mkdir "$T/out.h5"
    expect_error "out.h5" bounded "$TERN" export "$CKPT" -o "$T/out.h5" --force --data "$T/data"
    [ -d "$T/out.h5" ] || fail "the directory was replaced" ;;
fp32_out_to_fifo)
    mkfifo "$T/fp32.h5"
    expect_error "fp32.h5: is a FIFO" bounded "$TERN" export "$CKPT" -o "$T/model.h5" --fp32-out "$T/fp32.h5" --force --data "$T/data"
    is_fifo "$T/fp32.h5" ;;
infer_fifo_image)
    deploy
    mkfifo "$T/img.pgm"
    expect_error "img.pgm: is a FIFO" bounded "$TERN" infer "$T/model.h5" "$T/img.pgm" ;;
eval_fifo_model)
    mkfifo "$T/m.h5"
    expect_error "m.h5: is a FIFO" bounded "$TERN" eval "$T/m.h5" --data "$T/data" ;;
inspect_fifo_model)
    mkfifo "$T/m.h5"
    expect_error "m.h5: is a FIFO" bounded "$TERN" inspect "$T/m.h5" ;;
resume_fifo_ckpt)
    mkfifo "$T/c.h5"
    expect_error "c.h5: is a FIFO" bounded "$TERN" train --resume "$T/c.h5" ;;
*)
    fail "unknown case" ;;
esac
