#!/usr/bin/env bash
# run.sh — tern's kernels and their tests on aarch64, under qemu-aarch64.
# The aarch64_* ctest cases call it (tests/CMakeLists.txt):
#
#   run.sh build SRC BIN    cross-configure tests/aarch64 into BIN/aarch64
#                           (once) and build it
#   run.sh run BIN PROGRAM  run BIN/aarch64/PROGRAM under qemu-aarch64 -cpu max
#   run.sh sdot BIN         the dot-product programs hold sdot instructions,
#                           the baseline ones none
#
# Exits 77 (skipped), after one line naming the package, when the cross
# compiler, qemu-aarch64 or cmocka for arm64 is missing; tests/aarch64/setup.sh
# installs all three.
set -euo pipefail

need() { # command or file, package
    if [[ $1 == /* ]]; then [ -e "$1" ] && return 0; else command -v "$1" >/dev/null && return 0; fi
    echo "aarch64: skipped, $1 is missing (apt-get install $2, or bash tests/aarch64/setup.sh)"
    exit 77
}
need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
need qemu-aarch64 qemu-user
need /usr/lib/aarch64-linux-gnu/libcmocka.so libcmocka-dev:arm64

mode="${1:-}"
case "$mode" in
build)
    src="$2" dir="$3/aarch64"
    cmake="${CMAKE:-cmake}"
    if [ ! -f "$dir/CMakeCache.txt" ]; then
        "$cmake" -S "$src/tests/aarch64" -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" \
            -DCMAKE_BUILD_TYPE=Release >/dev/null
    fi
    "$cmake" --build "$dir" -j2
    ;;
run)
    prog="$2/aarch64/$3"
    [ -x "$prog" ] || { echo "aarch64: $prog was not built (see the aarch64_build case)"; exit 1; }
    # No -L: the programs load Debian's arm64 C library and cmocka
    # (multiarch, /lib/aarch64-linux-gnu), the set libcmocka-dev:arm64 brought.
    exec qemu-aarch64 -cpu max "$prog"
    ;;
sdot)
    dir="$2/aarch64" status=0 seen=0
    for prog in "$dir"/test_*; do
        [ -x "$prog" ] || continue
        n=$(aarch64-linux-gnu-objdump -d "$prog" | grep -cw sdot || true)
        name=$(basename "$prog") seen=$((seen + 1))
        echo "$name: $n sdot"
        if [[ $name == *_dotprod ]]; then
            # Every dot-product program runs NEON GEMMs or convs: sdot must be there.
            ((n > 0)) || { echo "aarch64: $name holds no sdot: the dot-product build did not take"; status=1; }
        elif ((n > 0)); then
            echo "aarch64: $name holds sdot, which an Armv8.0 CPU cannot run"; status=1
        fi
    done
    ((seen > 0)) || { echo "aarch64: no test program in $dir (see the aarch64_build case)"; exit 1; }
    exit $status
    ;;
*)
    echo "usage: run.sh build SRC BIN | run BIN PROGRAM | sdot BIN" >&2
    exit 2
    ;;
esac
