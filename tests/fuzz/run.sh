#!/usr/bin/env bash
# run.sh — build the libFuzzer harnesses and run each over its corpus plus
# SECONDS of new inputs (default 30); exits non-zero when tern crashes,
# leaks, reaches undefined behaviour, runs out of memory or hangs.
#
#   bash tests/fuzz/run.sh [SECONDS] [TARGET...]     # targets: config idx cifar deploy ckpt
#
# Each harness first runs every committed seed (tests/fuzz/corpus/<target>)
# and every kept reproducer of a tern bug (tests/fuzz/found/<target>, which
# must no longer fail), then mutates for SECONDS. New interesting inputs go
# to $BUILD_DIR/corpus/<target> (kept between runs, so a later run starts
# where this one stopped); a failing input is written to
# $BUILD_DIR/artifacts/<target>/ and its report printed.
#
# Crashes inside HDF5 itself: the checkpoint harnesses recompute the CRC
# header (fuzz_util.h), so they feed HDF5 1.10 crafted files it does not
# survive (e.g. a bad free in H5Literate over damaged dense link storage).
# tern cannot fix those; a damaged file is stopped by the CRC before HDF5
# reads it. A report whose first frame outside the sanitizer runtime and
# the C library's memory functions is in libhdf5 is counted as HDF5's: it is
# printed, its input moved to artifacts/<target>/hdf5/, and fuzzing goes on
# for the rest of the time. (A tern bug that only shows inside HDF5, such as
# a too-small buffer handed to H5Dread, would be misfiled there: read them.)
#
# BUILD_DIR defaults to build-fuzz; FUZZ_ARGS adds libFuzzer flags.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-fuzz}"
BUDGET="${1:-30}"
[ $# -gt 0 ] && shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(config idx cifar deploy ckpt)

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTERN_FUZZ=ON -DTERN_TESTS=OFF > /dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${TARGETS[@]}") > /dev/null

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$HERE/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export OPENBLAS_NUM_THREADS=1

# 0 when the report in log $1 is HDF5's own (see the overview).
in_hdf5() {
    grep -E '^ +#[0-9]+ 0x' "$1" |
        grep -vE ' in ((__sanitizer|__asan|__lsan|__ubsan|__interceptor_|fuzzer::)[^ ]*|(m|c|re)alloc|free|mem(cpy|move|set|cmp)|str[a-z]*)( |$)' |
        head -1 | grep -q 'libhdf5'
}

status=0
for t in "${TARGETS[@]}"; do
    corpus="$BUILD_DIR/corpus/$t" artifacts="$BUILD_DIR/artifacts/$t"
    mkdir -p "$corpus" "$artifacts/hdf5"
    dirs=("$corpus" "$HERE/corpus/$t")
    [ -d "$HERE/found/$t" ] && dirs+=("$HERE/found/$t")
    log="$BUILD_DIR/fuzz_$t.log"
    : > "$log"
    end=$((SECONDS + BUDGET)) execs=0 hdf5=0 last=""
    echo "fuzz $t: ${BUDGET}s" >&2
    while :; do
        left=$((end - SECONDS))
        [ "$left" -ge 1 ] || left=1  # the corpus is always run once
        run_log="$log.run"
        rc=0
        "$BUILD_DIR/tests/fuzz/fuzz_$t" -max_total_time="$left" -timeout=30 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} "${dirs[@]}" > "$run_log" 2>&1 || rc=$?
        cat "$run_log" >> "$log"
        execs=$((execs + $(sed -n 's/^stat::number_of_executed_units: *//p' "$run_log" | tail -1)))
        done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$run_log" | tail -1 | tr -s '\t ' ' ' |
            grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
        [ -n "$done_line" ] && last="$done_line"
        [ "$rc" -ne 0 ] || break
        input=$(sed -n "s/.*Test unit written to //p" "$run_log" | tail -1)
        if in_hdf5 "$run_log" && [ -n "$input" ]; then
            hdf5=$((hdf5 + 1))
            mv "$input" "$artifacts/hdf5/"
            echo "fuzz $t: crash inside HDF5 (not tern's), input kept in $artifacts/hdf5/:" >&2
            grep -m1 -E 'ERROR: AddressSanitizer|runtime error|ERROR: libFuzzer' "$run_log" >&2 || true
            [ $((end - SECONDS)) -ge 2 ] || break
            continue
        fi
        echo "fuzz $t: FAILED (log: $log; input: ${input:-none})" >&2
        grep -A40 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|left [0-9]+ HDF5 objects|round trip' "$run_log" |
            head -60 >&2 || tail -40 "$run_log" >&2
        status=1
        break
    done
    echo "fuzz $t: $execs executions, $last, $hdf5 crash(es) inside HDF5" >&2
    rm -f "$BUILD_DIR/fuzz_$t.log.run"
done
exit $status
