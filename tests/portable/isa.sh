#!/usr/bin/env bash
# isa.sh BUILD_DIR TERN_NATIVE — the default build runs on any x86-64 CPU:
# no object of libtern or of the tern program, except the AVX2 and AVX-512
# kernels of src/kernels/x86/ (chosen at run time by src/kernels/dispatch.c),
# holds an AVX instruction: a VEX or EVEX encoding (which covers ymm, zmm,
# FMA and BMI) or an opmask register. Prints each offending object with its
# count and first instruction; exits with their number. A TERN_NATIVE=ON
# build is tuned for its CPU on purpose and exits 77 (skipped).
set -uo pipefail
BUILD=${1:?usage: isa.sh BUILD_DIR TERN_NATIVE}
NATIVE=${2:?usage: isa.sh BUILD_DIR TERN_NATIVE}
case "$(uname -m)" in x86_64 | amd64) ;; *) echo "portable_isa: checks x86-64 objects; this is $(uname -m)"; exit 77 ;; esac
case "$NATIVE" in ON | on | 1 | TRUE | true | YES | yes)
    echo "portable_isa: a TERN_NATIVE=ON build is tuned for this CPU; only the default build must run anywhere"; exit 77 ;;
esac
command -v objdump > /dev/null || { echo "portable_isa: objdump missing (Debian: binutils)"; exit 77; }

objs=$(find "$BUILD/CMakeFiles/tern.dir" "$BUILD/CMakeFiles/tern_cli.dir" -name '*.o' 2>/dev/null |
       grep -v '/src/kernels/x86/' | sort)
[ -n "$objs" ] || { echo "portable_isa: no objects under $BUILD/CMakeFiles (build tern first)"; exit 2; }
bad=0 n=0
for o in $objs; do
    n=$((n + 1))
    # objdump -d lines: "addr:<TAB>bytes<TAB>instruction". In 64-bit mode an
    # instruction that starts with c4/c5 is VEX-encoded and one with 62 EVEX
    # (neither may follow a REX or 66/F2/F3 prefix).
    hits=$(objdump -d "$o" | awk -F'\t' '
        NF >= 3 && ($2 ~ /^(c4|c5|62) / || $3 ~ /%[yz]mm|%k[0-7]/) { n++; if (!first) first = $3 }
        END { if (n) printf "%d %s\n", n, first }')
    if [ -n "$hits" ]; then
        echo "portable_isa: ${o#"$BUILD"/CMakeFiles/}: ${hits%% *} AVX instructions, first: ${hits#* }"
        bad=$((bad + 1))
    fi
done
[ $bad -eq 0 ] && echo "portable_isa: $n objects, no AVX instruction outside src/kernels/x86/"
exit $((bad > 100 ? 100 : bad))
