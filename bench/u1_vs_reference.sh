#!/bin/sh
# pathflow's U(1) flow against the paper's PyTorch code, step for step.
#
# usage: bench/u1_vs_reference.sh REFERENCE [OUT_DIR]
#   REFERENCE: the lenz3000/unified-path-gradients repository: a checkout
#              (a directory with unified_path/) or a bare git directory
#              (exported with git archive into a temporary directory).
#   environment: SEEDS (default "1 2"), STEPS (600), EVERY (100), LR (1e-3),
#              PATHFLOW (./build/pathflow), PYTHON (python3, needs torch),
#              PF_SET (extra "--set key=value" arguments for pathflow),
#              SKIP_REFERENCE=1 (pathflow only, e.g. to try other settings),
#              SUMMARY_ONLY=1 (no runs: the table of the runs in OUT_DIR).
# Both sides: 8×8 lattice, β = 2, 16 couplings, K = 2, hidden [8, 8], kernel 3,
# batch 64, Adam at LR (default 1e-3, the reference code's; the shipped config
# uses 3e-3) with a cosine schedule to 0 over STEPS, reverse KL with
# the path-gradient estimator; runs interleaved seed by seed. Prints the loss
# (mean of each EVERY-step window) at every EVERY steps, mean ± spread
# (half the max − min) over the seeds. Takes minutes per run: not in CI.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 REFERENCE [OUT_DIR]" >&2; exit 2; }
REF=$1
OUT=${2:-runs/u1_vs_reference}
SEEDS=${SEEDS:-1 2}
STEPS=${STEPS:-600}
EVERY=${EVERY:-100}
LR=${LR:-1e-3}
PATHFLOW=${PATHFLOW:-./build/pathflow}
PYTHON=${PYTHON:-python3}
PF_SET=${PF_SET:-}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"

. "$HERE/reference_src.sh"
reference_src "$REF"
if [ -z "${SKIP_REFERENCE:-}${SUMMARY_ONLY:-}" ] && ! "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "$0: $PYTHON cannot import torch (set PYTHON=...)" >&2
    exit 2
fi

[ -n "${SUMMARY_ONLY:-}" ] && SEEDS_RUN= || SEEDS_RUN=$SEEDS
for s in $SEEDS_RUN; do
    # shellcheck disable=SC2086  # PF_SET is a list of arguments
    "$PATHFLOW" train "$HERE/../configs/u1_reverse_path.cfg" \
        --set training.steps="$STEPS" --set training.lr="$LR" --set eval.every="$EVERY" \
        --set eval.samples=64 --set experiment.seed="$s" $PF_SET --out "$OUT/pathflow_seed$s" \
        >/dev/null
    if [ -z "${SKIP_REFERENCE:-}" ]; then
        "$PYTHON" "$HERE/u1_reference.py" "$SRC" --seed "$s" --steps "$STEPS" --lr "$LR" \
            --every "$EVERY" --out "$OUT/reference_seed$s.csv"
    fi
done

"$PYTHON" - "$OUT" "$SEEDS" <<'EOF'
import csv, sys, os
out, seeds = sys.argv[1], sys.argv[2].split()
def rows(path):
    with open(path) as f:
        return {int(r["step"]): float(r["loss"])
                for r in csv.DictReader(l for l in f if not l.startswith("#"))}
sides = {"pathflow": [os.path.join(out, f"pathflow_seed{s}", "metrics.csv") for s in seeds],
         "reference": [os.path.join(out, f"reference_seed{s}.csv") for s in seeds]}
data = {k: [rows(p) for p in v if os.path.exists(p)] for k, v in sides.items()}
steps = sorted(set().union(*[set(r) for runs in data.values() for r in runs]))
print("| step | " + " | ".join(f"{k} loss ({len(v)} seeds)" for k, v in data.items() if v) + " |")
print("|---:|" + "---:|" * sum(1 for v in data.values() if v))
for st in steps:
    cells = []
    for runs in data.values():
        if not runs:
            continue
        xs = [r[st] for r in runs if st in r]
        m = sum(xs) / len(xs)
        cells.append(f"{m:.2f} ± {(max(xs) - min(xs)) / 2:.2f}")
    print(f"| {st} | " + " | ".join(cells) + " |")
EOF
