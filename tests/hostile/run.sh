#!/usr/bin/env bash
# run.sh — run tern against the hostile-input corpus (gen.py) and check
# every case: no signal, no hang, no sanitizer report, the expected exit and
# exactly one stderr line naming the file or field for refused input, and
# every file that existed before the command unchanged, with no temporary
# file left behind.
#
#   bash tests/hostile/run.sh TERN_BINARY [FILTER]
#
# FILTER: an extended regex on case names (category.case). Prints one line per
# failing case, then `hostile: N passed, M failed` (and skipped ones); exits
# non-zero when any case failed. Environment: HOSTILE_JOBS (parallel cases,
# 3), HOSTILE_TIMEOUT (seconds per case, 30), HOSTILE_KEEP=1 keeps the work
# directory, HOSTILE_VERBOSE=1 prints passing cases too.
set -uo pipefail
if [ "${1:-}" = "--case" ]; then
    # One case: $2 = work dir, $3 = case name. Writes $W/res/NAME.
    W=$2
    NAME=$3
    mapfile -t F < "$W/m/$NAME"
    expect=${F[2]} protect=${F[3]} note=${F[4]} cmd=${F[5]} setup=${F[6]:-true}
    res="$W/res/$NAME"
    verdict() { printf '%s\t%s\t%s\n' "$1" "$2" "$note" > "$res"; exit 0; }
    case "$expect" in skip:*) verdict SKIP "${expect#skip:}" ;; esac
    C="$W/c/$NAME"
    mkdir -p "$C" && cp -a "$W/base/." "$C/" || verdict FAIL "setup: cannot copy the base"
    if [ -d "$W/cases/$NAME" ]; then
        # The case's files replace the base's, whatever their kinds.
        (cd "$W/cases/$NAME" && find . -mindepth 1 \( ! -type d -o -empty \) -printf '%P\n') > "$C.list"
        while IFS= read -r p; do rm -rf "${C:?}/$p"; done < "$C.list"
        cp -a "$W/cases/$NAME/." "$C/" || verdict FAIL "setup: cannot copy the case files"
    fi
    if [ "$setup" != true ]; then
        (cd "$C" && bash -c "$setup") > "$C.setup" 2>&1 || verdict FAIL "setup: $setup: $(head -c 200 "$C.setup")"
    fi
    snap() { (cd "$C" && find . -type f -size -64M -exec sha256sum {} + | sort -k2); }
    [ "$protect" = "all" ] && snap > "$C.pre"
    (cd "$C" && TERN="$TERN" timeout -k 5 "$TIMEOUT" bash -c "$cmd") > "$C.out" 2> "$C.err" < /dev/null
    rc=$?
    mapfile -t E < <(head -c 100000 "$C.err")
    nlines=${#E[@]}
    err1="${E[0]:-}"
    [ "$nlines" -gt 1 ] && err1="$err1 | ${E[1]:0:150}"
    err1=${err1:0:300}
    problems=()
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        problems+=("hang: no exit within ${TIMEOUT}s")
    elif [ "$rc" -ge 128 ]; then
        problems+=("killed by signal $((rc - 128))")
    fi
    for l in "${E[@]}"; do
        case "$l" in
        *AddressSanitizer* | *LeakSanitizer* | *UndefinedBehaviorSanitizer* | *"runtime error:"*)
            problems+=("sanitizer: ${l:0:200}"); break ;;
        *HDF5-DIAG*) problems+=("HDF5 error stack printed"); break ;;
        esac
    done
    if [ "$rc" -lt 124 ]; then
        kind=${expect%%:*}
        [[ "$expect" == *:* ]] || expect="$expect:"
        want=${expect#*:}
        check_err() {
            [ "$rc" -ne 0 ] || { problems+=("exit 0, expected an error"); return; }
            [ "$nlines" -eq 1 ] || { problems+=("stderr has $nlines lines: $err1"); return; }
            local IFS='|' w
            for w in $want; do
                [ -z "$w" ] || [[ "$err1" == *"$w"* ]] || problems+=("stderr lacks '$w': $err1")
            done
        }
        case "$kind" in
        err) check_err ;;
        any)
            # Odd but valid input may fail once training runs (a diverging
            # loss): after the progress lines, one line saying why.
            if [ "$rc" -ne 0 ] && [ "$nlines" -gt 1 ] && [[ "${E[0]}" == "tern train: run directory"* ]]; then
                err1=${E[nlines - 1]} nlines=1
            fi
            [ "$rc" -eq 0 ] || check_err ;;
        ok) [ "$rc" -eq 0 ] || problems+=("exit $rc, expected 0: $err1") ;;
        last)
            # After progress lines (a sweep's points), the last line says why.
            [ "$nlines" -gt 1 ] && err1=${E[nlines - 1]} nlines=1
            check_err ;;
        usage) [ "$rc" -ne 0 ] && [[ "$err1" == *usage:* ]] || problems+=("exit $rc, expected the usage on stderr: $err1") ;;
        nocrash) ;;
        esac
    fi
    snap > "$C.post"
    [ "$protect" = "all" ] || : > "$C.pre"
    # Files of before that differ or are gone; temporary files left behind.
    mapfile -t D < <(awk 'FILENAME == ARGV[1] { pre[$2] = $1; next }
                          { post[$2] = $1; if ($2 ~ /\.tmp\./) tmp = tmp " " $2 }
                          END { for (f in pre) if (post[f] != pre[f]) lost = lost " " f
                                if (lost != "") print "earlier files changed or lost:" lost
                                if (tmp != "") print "temporary files left:" tmp }' "$C.pre" "$C.post")
    problems+=("${D[@]}")
    if [ ${#problems[@]} -eq 0 ]; then
        [ -n "${HOSTILE_KEEP:-}" ] || rm -rf "$C" "$C.pre" "$C.post" "$C.out" "$C.err" "$C.list"
        verdict PASS "rc=$rc $err1"
    fi
    msg=$(printf '%s; ' "${problems[@]}")
    verdict FAIL "rc=$rc: ${msg%; }"
fi

TERN=$(realpath "${1:?usage: run.sh TERN_BINARY [FILTER]}")
FILTER=${2:-}
[ -x "$TERN" ] || { echo "run.sh: $TERN is not executable" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
W=$(mktemp -d /tmp/tern_hostile.XXXXXX)
[ -n "${HOSTILE_KEEP:-}" ] && echo "work directory: $W" >&2 || trap 'rm -rf "$W"' EXIT
export TERN TIMEOUT=${HOSTILE_TIMEOUT:-30} HOSTILE_KEEP=${HOSTILE_KEEP:-} OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# The base every case starts from: tiny datasets, configs, runs and deploy files.
"$PY" "$HERE/gen.py" base "$W" || { echo "run.sh: gen.py base failed" >&2; exit 2; }
setup() { (cd "$W/base" && "$TERN" "$@" > /dev/null 2> "$W/setup.err") || { echo "run.sh: setup failed: tern $*: $(cat "$W/setup.err")" >&2; exit 2; }; }
setup train good.yaml
setup train good.yaml --set output.dir=run2 --set training.seed=2
setup train conv.yaml
setup export run/last.h5 -o model.h5 --data data
setup export runc/last.h5 -o convmodel.h5 --data data
setup hybrid hyb.yaml --out hyb --seeds 1 --confirm 0
"$PY" "$HERE/gen.py" cases "$W" || { echo "run.sh: gen.py cases failed" >&2; exit 2; }
mkdir -p "$W/res" "$W/c"

cut -f1 "$W/manifest" | { if [ -n "$FILTER" ]; then grep -E -- "$FILTER"; else cat; fi; } > "$W/selected"
xargs -a "$W/selected" -P "${HOSTILE_JOBS:-3}" -I{} bash "$HERE/run.sh" --case "$W" {}

pass=0 fail=0 skip=0
while IFS= read -r name; do
    IFS=$'\t' read -r v what note < "$W/res/$name" 2> /dev/null || { v=FAIL what="no result (runner error)" note=""; }
    case "$v" in
    PASS) pass=$((pass + 1)); [ -n "${HOSTILE_VERBOSE:-}" ] && echo "ok   $name: $what" ;;
    SKIP) skip=$((skip + 1)) ;;
    *) fail=$((fail + 1)); echo "FAIL $name: $what${note:+ [known: $note]}" ;;
    esac
done < "$W/selected"
echo "hostile: $pass passed, $fail failed${skip:+, $skip skipped}"
[ "$fail" -eq 0 ]
