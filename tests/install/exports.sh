#!/usr/bin/env bash
# exports.sh LIBTERN_SO SOURCE_DIR — the shared libtern exports exactly the
# TERN_API declarations of include/tern/*.h: no internal function leaks
# (libtern is built with hidden visibility), and none of the public ones is
# missing. Prints each difference; exits with their number.
set -uo pipefail
SO=${1:?usage: exports.sh LIBTERN_SO SOURCE_DIR}
SRC=${2:?usage: exports.sh LIBTERN_SO SOURCE_DIR}
command -v nm > /dev/null || { echo "shared_exports: nm missing (Debian: binutils)"; exit 77; }
T=$(mktemp -d /tmp/tern_exports.XXXXXX)
trap 'rm -rf "$T"' EXIT
# The name of each declaration: the identifier before its ( or [.
grep -ho 'TERN_API[^(;[]*' "$SRC"/include/tern/*.h | grep -o 'tern_[a-z0-9_]*[[:space:]]*$' | tr -d ' \t' | sort -u > "$T/declared"
nm -D --defined-only "$SO" | awk '{print $3}' | sort -u > "$T/exported"
[ -s "$T/declared" ] && [ -s "$T/exported" ] || { echo "shared_exports: no symbols read"; exit 2; }
grep -qx tern_deploy_load "$T/exported" && ! grep -qx tern_sgemm_ref "$T/exported" ||
    echo "shared_exports: tern_deploy_load must be exported and tern_sgemm_ref (internal, src/kernels/sgemm.h) not"
comm -13 "$T/declared" "$T/exported" | sed 's/^/shared_exports: exported but not TERN_API in include\/tern: /'
comm -23 "$T/declared" "$T/exported" | sed 's/^/shared_exports: TERN_API but not exported: /'
bad=$(comm -3 "$T/declared" "$T/exported" | wc -l)
[ "$bad" -eq 0 ] && echo "shared_exports: $(wc -l < "$T/exported") symbols, exactly the TERN_API ones"
exit $((bad > 100 ? 100 : bad))
