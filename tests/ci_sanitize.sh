#!/usr/bin/env bash
# ci_sanitize.sh — the checks CI runs after the README's test command:
#
#   bash tests/ci_sanitize.sh [FUZZ_SECONDS]
#
#   1. build with clang and without MPI (build-clang, TERN_MPI=OFF: the build
#      for machines without it) and run the cmocka suite and the cli cases;
#   2. the same with clang + ASan + UBSan + float-cast-overflow (build-asan),
#      every finding fatal (-fno-sanitize-recover=all, halt_on_error);
#   3. the libFuzzer harnesses over their corpora plus FUZZ_SECONDS (default
#      20) of new inputs each (tests/fuzz/run.sh, build-fuzz);
#   4. the corpus of hostile inputs (tests/hostile/run.sh) against the tern
#      program the README's test command built (build/tern).
# Installs clang and its sanitizer runtimes, and h5py for the corpus's
# edited HDF5 files, when missing (Debian 12). Tests
# that read the real datasets find them in datasets/data, as tests/run.sh
# left them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_SECONDS="${1:-20}"
JOBS="$(nproc)"

# The packages through the project's one installer (a no-op when present;
# build/ is already up to date after tests/run.sh).
bash "$ROOT/trainers/setup.sh" --package clang --package libclang-rt-14-dev --package python3-h5py

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/tests/fuzz/lsan.supp:print_suppressions=0}"

say() { echo "ci: [$((SECONDS / 60))m$((SECONDS % 60))s] $*" >&2; }

suite() { # build-dir, then cmake arguments
    local dir="$ROOT/$1"; shift
    say "$(basename "$dir"): build (log: $dir/build.log)"
    mkdir -p "$dir"
    cmake -S "$ROOT" -B "$dir" -DCMAKE_C_COMPILER=clang "$@" > "$dir/build.log" 2>&1 &&
        cmake --build "$dir" -j"$JOBS" >> "$dir/build.log" 2>&1 ||
        { grep -E 'error|Error' "$dir/build.log" | head -30 >&2; say "$(basename "$dir"): build FAILED"; return 1; }
    say "$(basename "$dir"): ctest"
    (cd "$dir" && ctest --output-on-failure -j"$JOBS")
}

status=0
suite build-clang -DCMAKE_BUILD_TYPE=Release -DTERN_MPI=OFF || status=1
suite build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTERN_SANITIZE=ON || status=1
say "fuzzing, ${FUZZ_SECONDS}s a target"
bash "$ROOT/tests/fuzz/run.sh" "$FUZZ_SECONDS" || status=1
say "hostile inputs against build/tern"
bash "$ROOT/tests/hostile/run.sh" "$ROOT/build/tern" || status=1
say "done, $([ $status = 0 ] && echo ok || echo FAILED)"
exit $status
