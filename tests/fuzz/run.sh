#!/usr/bin/env bash
# run.sh — build the libFuzzer harnesses and run each over its corpus plus
# SECONDS of new inputs (default 30); exits non-zero on the first crash,
# leak, sanitizer report or timeout.
#
#   bash tests/fuzz/run.sh [SECONDS] [TARGET...]     # targets: config idx cifar deploy ckpt
#
# Each harness first runs every committed seed (tests/fuzz/corpus/<target>)
# and every kept reproducer (tests/fuzz/found/<target>, which must no longer
# crash), then mutates for SECONDS. New interesting inputs go to
# $BUILD_DIR/corpus/<target> (kept between runs, so a later run starts where
# this one stopped); a crashing input is written to
# $BUILD_DIR/artifacts/<target>/ and its stack printed. BUILD_DIR defaults to
# build-fuzz; FUZZ_ARGS adds libFuzzer flags (e.g. FUZZ_ARGS=-jobs=8).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-fuzz}"
SECONDS_EACH="${1:-30}"
[ $# -gt 0 ] && shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(config idx cifar deploy ckpt)

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTERN_FUZZ=ON -DTERN_TESTS=OFF > /dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${TARGETS[@]}") > /dev/null

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$HERE/lsan.supp}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export OPENBLAS_NUM_THREADS=1
status=0
for t in "${TARGETS[@]}"; do
    corpus="$BUILD_DIR/corpus/$t" artifacts="$BUILD_DIR/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    dirs=("$corpus" "$HERE/corpus/$t")
    [ -d "$HERE/found/$t" ] && dirs+=("$HERE/found/$t")
    echo "fuzz $t: ${SECONDS_EACH}s" >&2
    log="$BUILD_DIR/fuzz_$t.log"
    if "$BUILD_DIR/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} "${dirs[@]}" > "$log" 2>&1; then
        # The last status line: "#N DONE cov: C ft: F corp: ..."
        grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | tr -s '\t ' ' ' | sed "s/^/fuzz $t: /" >&2
    else
        echo "fuzz $t: FAILED (log: $log; reproducer in $artifacts/)" >&2
        grep -A40 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|==ERROR' "$log" | head -60 >&2 || tail -40 "$log" >&2
        status=1
    fi
done
exit $status
