#!/usr/bin/env bash
# run.sh BUILD_DIR SOURCE_DIR — tern installed and used as a library:
# `cmake --install` into a temporary prefix must give the headers, libtern.a,
# libtern.so with its SONAME chain, the tern program, ternConfig.cmake and
# tern.pc; examples/classify, built against that prefix three times
# (find_package with tern::tern and with tern::tern_static, and pkg-config
# with the shared library), must print the class `tern infer` prints for the
# same image and model (a small model trained as tests/cli/lib.sh trains it).
# Exits 77 when pkg-config or make is missing, and in sanitizer builds.
set -uo pipefail
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: run.sh BUILD_DIR SOURCE_DIR}" && pwd)
case "${TERN_SANITIZE:-OFF}" in ON | 1 | TRUE) echo "install_examples: programs linking a sanitizer build of libtern need the sanitizer runtimes"; exit 77 ;; esac
for tool in pkg-config make; do
    command -v $tool > /dev/null || { echo "install_examples: $tool missing (Debian: $tool)"; exit 77; }
done
TERN="$BUILD/tern" CASE=install_examples
. "$SRC/tests/cli/lib.sh"   # $T, fail, and a small trained model in $T/run/last.h5
P="$T/prefix"
cmake --install "$BUILD" --prefix "$P" > "$T/install.log" 2>&1 || fail "cmake --install: $(tail -3 "$T/install.log")"

# ---- the installed tree --------------------------------------------------
LIB="$P/lib"
for f in include/tern.h lib/libtern.a lib/pkgconfig/tern.pc lib/cmake/tern/ternConfig.cmake \
         lib/cmake/tern/ternConfigVersion.cmake lib/cmake/tern/ternTargets.cmake bin/tern; do
    [ -f "$P/$f" ] || fail "not installed: $f"
done
for h in "$SRC"/include/tern/*.h; do
    cmp -s "$h" "$P/include/tern/${h##*/}" || fail "header not installed as it is: include/tern/${h##*/}"
done
ver=$(sed -n 's/^#define TERN_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$SRC/include/tern/api.h" | paste -sd.)
major=${ver%%.*}
[ "$(readlink "$LIB/libtern.so")" = "libtern.so.$major" ] || fail "libtern.so does not link to libtern.so.$major"
[ "$(readlink "$LIB/libtern.so.$major")" = "libtern.so.$ver" ] || fail "libtern.so.$major does not link to libtern.so.$ver"
[ -f "$LIB/libtern.so.$ver" ] && [ ! -L "$LIB/libtern.so.$ver" ] || fail "libtern.so.$ver is not a file"
# grep reads all of objdump's output: with -q it stops at the match and, under pipefail,
# objdump's SIGPIPE fails the line.
objdump -p "$LIB/libtern.so.$ver" | grep "SONAME *libtern.so.$major$" >/dev/null || fail "libtern.so.$ver lacks SONAME libtern.so.$major"

# ---- the model, an image, and what tern infer says -----------------------
"$P/bin/tern" export "$T/run/last.h5" -o "$T/model.h5" --data "$T/data" > /dev/null 2>&1 || fail "export failed"
tail -c +17 "$T/data/t10k-images-idx3-ubyte" | head -c 16 > "$T/image.raw"   # test image 0, 4x4
"$P/bin/tern" infer "$T/model.h5" "$T/image.raw" > "$T/infer" 2>&1 || fail "tern infer: $(cat "$T/infer")"
want=$(sed -n "1s/.*: \(class [0-9]* '[^']*'\) (p = \([0-9.]*\)).*/\1 p=\2/p" "$T/infer")
[ -n "$want" ] || fail "cannot read tern infer's class: $(head -1 "$T/infer")"

check() { # how, binary, then env assignments
    local how=$1 bin=$2; shift 2
    env "$@" "$bin" "$T/model.h5" "$T/image.raw" > "$T/got" 2>&1 || fail "$how: classify failed: $(cat "$T/got")"
    [ "$(cat "$T/got")" = "$want" ] || fail "$how: classify printed '$(cat "$T/got")', tern infer '$want'"
    echo "ok: $how: $want"
}

# ---- find_package: tern::tern (shared) and tern::tern_static --------------
for kind in shared static; do
    b="$T/cmake-$kind"
    { cmake -S "$SRC/examples/classify" -B "$b" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release \
          -DCLASSIFY_STATIC=$([ $kind = static ] && echo ON || echo OFF) &&
      cmake --build "$b"; } > "$T/cmake-$kind.log" 2>&1 ||
        fail "find_package ($kind): build failed: $(grep -iE 'error' "$T/cmake-$kind.log" | head -3)"
    if [ $kind = shared ]; then
        readelf -d "$b/classify" | grep -q "NEEDED.*libtern.so.$major" || fail "find_package: classify does not load libtern.so.$major"
    else
        ! readelf -d "$b/classify" | grep -q "libtern.so" || fail "find_package: tern::tern_static loads libtern.so"
    fi
    check "find_package ($kind)" "$b/classify"
done

# ---- pkg-config, shared -----------------------------------------------------
mkdir "$T/mk" && cp "$SRC/examples/classify/classify.c" "$SRC/examples/classify/Makefile" "$T/mk/"
# The path on make's command line, as README gives it, and in the environment.
make -C "$T/mk" PKG_CONFIG_PATH="$LIB/pkgconfig" > "$T/make.log" 2>&1 ||
    fail "pkg-config: make PKG_CONFIG_PATH=... failed: $(grep -iE 'error|not found' "$T/make.log" | head -3)"
check "pkg-config (shared)" "$T/mk/classify" LD_LIBRARY_PATH="$LIB"
make -C "$T/mk" clean > /dev/null
PKG_CONFIG_PATH="$LIB/pkgconfig" make -C "$T/mk" > "$T/make.log" 2>&1 ||
    fail "pkg-config: PKG_CONFIG_PATH=... make failed: $(grep -iE 'error|not found' "$T/make.log" | head -3)"
check "pkg-config (shared, path from the environment)" "$T/mk/classify" LD_LIBRARY_PATH="$LIB"
