#!/bin/sh
# pathflow against the paper's PyTorch code on the bench cases, interleaved in one
# run, one thread each (optional; not part of CI). Needs Debian's python3-torch
# and github:lenz3000/unified-path-gradients: a checkout, or its git directory
# (exported to a temporary directory).
# Usage: bench/vs_reference.sh REFERENCE [PATHFLOW_BINARY] [driver options]
#   e.g. bench/vs_reference.sh ../unified-path-gradients build/pathflow --alternations 3
# PYTHON (default python3) must be a Python that imports torch.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 REFERENCE_CHECKOUT [PATHFLOW_BINARY] [driver options]" >&2; exit 2; }
ref=$1
shift
bin=build/pathflow
if [ $# -ge 1 ] && [ "${1#--}" = "$1" ]; then
    bin=$1
    shift
fi
python=${PYTHON:-python3}
. "$(dirname "$0")/reference_src.sh"
reference_src "$ref"
[ -x "$bin" ] || { echo "$0: $bin is not an executable (build pathflow first: make build)" >&2; exit 2; }
"$python" -c "import torch" 2>/dev/null || { echo "$0: $python cannot import torch (Debian: apt-get install python3-torch; or set PYTHON)" >&2; exit 2; }
echo "load before: $(uptime)"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$python" "$(dirname "$0")/vs_reference.py" \
    --reference "$SRC" --pathflow "$bin" "$@"
echo "load after: $(uptime)"
