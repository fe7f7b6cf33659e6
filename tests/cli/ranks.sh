#!/usr/bin/env bash
# ranks.sh — commands that do not share their work between processes refuse
# to run as one of N a launcher started (mpirun sets OMPI_COMM_WORLD_SIZE),
# rather than running N copies that write the same files.
# cases: eval_under_mpirun
set -uo pipefail
TERN="$1"
CASE="$2"
T="$(mktemp -d /tmp/tern_ranks.XXXXXX)"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL [$CASE]: $*" >&2; exit 1; }

case "$CASE" in
eval_under_mpirun)
    OMPI_COMM_WORLD_SIZE=2 "$TERN" eval "$T/last.h5" > "$T/out" 2> "$T/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "exit status $rc, want 2: $(cat "$T/err")"
    [ "$(wc -l < "$T/err")" -eq 1 ] || fail "stderr is not one line: $(cat "$T/err")"
    grep -q "tern eval: started as one of 2 processes" "$T/err" || fail "unexpected: $(cat "$T/err")"
    [ -s "$T/out" ] && fail "stdout is not empty: $(cat "$T/out")"
    echo "ok [$CASE]: $(cat "$T/err")" ;;
*) fail "unknown case" ;;
esac
