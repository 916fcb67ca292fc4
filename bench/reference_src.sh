# Sourced by the bench scripts that run the paper's reference code (POSIX sh).
# reference_src REFERENCE: sets SRC to a directory holding unified_path/.
#   REFERENCE is a checkout of lenz3000/unified-path-gradients (used as it is)
#   or a git directory of it (its HEAD is exported with git archive into a
#   temporary directory, removed when the script exits). Exits 2 otherwise.
reference_src() {
    if [ -d "$1/unified_path" ]; then
        SRC=$1
    elif git -C "$1" rev-parse --git-dir >/dev/null 2>&1; then
        SRC=$(mktemp -d)
        # shellcheck disable=SC2064  # expand SRC now: the trap runs after it may change
        trap "rm -rf '$SRC'" EXIT
        git -C "$1" archive HEAD | tar -x -C "$SRC"
        [ -d "$SRC/unified_path" ] || { echo "$0: $1 has no unified_path/ at HEAD" >&2; exit 2; }
    else
        echo "$0: $1 is neither a checkout with unified_path/ nor a git directory" >&2
        exit 2
    fi
}
