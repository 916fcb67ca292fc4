#!/bin/sh
# valgrind memcheck over every test suite of a build directory (default: build).
# Each suite runs under memcheck with its children traced (Criterion runs every test
# in a child process; test_cli and test_experiment also run the pathflow tool).
# Any invalid access, use of an uninitialised value or definite leak fails the run.
# Not traced: gnuplot, and mpirun with the processes it starts (test_mpi's
# pathflow runs natively; OpenMPI's own allocations are not ours).
# Usage: scripts/memcheck.sh [BUILD_DIR] [SUITE...]
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
suites=${*:-$(cd "$build/tests" && ls test_* | grep -v '\.' )}
export OPENBLAS_NUM_THREADS=1
status=0
for s in $suites; do
    log="$build/tests/memcheck-$s.log"
    start=$(date +%s)
    if (cd "$build/tests" && valgrind --tool=memcheck --trace-children=yes --trace-children-skip="*gnuplot*,*mpirun*,*mpiexec*,*orterun*" \
            --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            --suppressions="$here/memcheck.supp" --log-file="memcheck-$s.%p.log" \
            "./$s" --jobs 1 >/dev/null 2>&1); then
        echo "memcheck $s: clean ($(( $(date +%s) - start )) s)"
    else
        echo "memcheck $s: FAILED (logs: $build/tests/memcheck-$s.*.log)"
        status=1
    fi
    # keep only the logs that report errors
    for f in "$build/tests/memcheck-$s".*.log; do
        grep -q 'ERROR SUMMARY: 0 errors' "$f" && rm -f "$f"
    done
done
exit $status
