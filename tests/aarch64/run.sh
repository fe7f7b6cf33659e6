#!/usr/bin/env bash
# run.sh — tern's kernels and their tests on aarch64, under qemu-aarch64.
# The aarch64_* ctest cases call it (tests/CMakeLists.txt):
#
#   run.sh build SRC BIN    cross-configure tests/aarch64 into BIN/aarch64
#                           (once) and build it
#   run.sh run BIN PROGRAM [CPU [ARG...]]
#                           run BIN/aarch64/PROGRAM ARG... under qemu-aarch64
#                           -cpu CPU (max: every extension; cortex-a53: Armv8.0)
#   run.sh sdot BIN         the dot-product build of the NEON kernels
#                           (*_dotprod.c) holds sdot instructions, the rest of
#                           the library none, and the programs no others
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
    exec qemu-aarch64 -cpu "${4:-max}" "$prog" "${@:5}"
    ;;
sdot)
    # sdot per object of the library: the two dot-product objects must hold
    # some (else their flags did not take), every other object none (they
    # run on Armv8.0), nor the test programs' own objects.
    dir="$2/aarch64" lib="$2/aarch64/libtern_kernels.a" status=0
    [ -f "$lib" ] || { echo "aarch64: $lib was not built (see the aarch64_build case)"; exit 1; }
    count() { aarch64-linux-gnu-objdump -d "$@" | awk '/file format/ {m = $1} $3 == "sdot" {c[m]++}
                                                      END {for (k in c) print k, c[k]}'; }
    counts=$(count "$lib")
    echo "libtern_kernels.a: ${counts:-no sdot}" | tr '\n' ' '; echo
    for obj in neon_dotprod.c.o qconv_neon_dotprod.c.o; do
        if ! awk -v o="$obj:" '$1 == o {f = 1} END {exit !f}' <<<"$counts"; then
            echo "aarch64: $obj holds no sdot: its flags did not take"; status=1
        fi
    done
    others=$(awk '$1 != "neon_dotprod.c.o:" && $1 != "qconv_neon_dotprod.c.o:"' <<<"$counts"
             count $(find "$dir/CMakeFiles" -path '*/test_*.dir/*.o'))
    if [ -n "$others" ]; then
        echo "aarch64: sdot outside the dot-product objects, which an Armv8.0 CPU cannot run:" $others; status=1
    fi
    exit $status
    ;;
*)
    echo "usage: run.sh build SRC BIN | run BIN PROGRAM [CPU] | sdot BIN" >&2
    exit 2
    ;;
esac
