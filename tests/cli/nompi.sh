#!/usr/bin/env bash
# nompi.sh — a tern built without MPI, started by a launcher as one of N
# processes, refuses to train rather than running N independent copies that
# write the same run directory. (CI's clang build is configured with
# TERN_MPI=OFF; in an MPI build the case has nothing to check and skips.)
# cases: train_refused
set -uo pipefail
TERN="$1" CASE="$2"
if ldd "$TERN" | grep libmpi > /dev/null; then  # not grep -q: ldd would die of SIGPIPE (pipefail)
    echo "skip: $TERN is built with MPI" >&2
    exit 77
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "$CASE" in
train_refused)
    for var in OMPI_COMM_WORLD_SIZE PMI_SIZE SLURM_NTASKS; do
        expect_error "built without MPI" env "$var=2" "$TERN" train "$T/good.yaml" --set output.dir="$T/new"
        env "$var=2" "$TERN" train "$T/good.yaml" --set output.dir="$T/new" > /dev/null 2>&1
        [ $? = 2 ] || fail "$var=2: the exit status is not 2 (a usage error)"
        [ ! -e "$T/new" ] || fail "$var=2: a run directory was written"
    done
    ;;
*) fail "unknown case" ;;
esac
