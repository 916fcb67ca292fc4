#!/bin/sh
# Time to quality: reverse ESS reached against wall-clock training time.
#
# usage: bench/u1_time_to_ess.sh REFERENCE [OUT_DIR]
#   REFERENCE: the lenz3000/unified-path-gradients repository (a checkout with
#              unified_path/, or a bare git directory), or "none" to skip it.
#   environment: SEEDS ("1 2"), U1_STEPS (2000), U1_LR (3e-3, the shipped
#              config's, on both sides), PHI4_STEPS (2000), EVERY
#              (100), SAMPLES (1024), LEVELS ("0.02 0.05 0.1 0.2 0.3"),
#              PATHFLOW (./build/pathflow), PYTHON (python3 with torch).
# Runs, interleaved seed by seed, each on one thread (OPENBLAS_NUM_THREADS=1,
# torch.set_num_threads(1)):
#   U(1) 8×8, β = 2, configs/u1_reverse_path.cfg: pathflow `path`, pathflow
#   `total`, and the reference PyTorch flow of the same architecture with its
#   fast path gradient (batch 64, Adam U1_LR, cosine over U1_STEPS);
#   φ⁴ 8×8, configs/phi4_symmetric_path.cfg (conv z2): pathflow `path` and `total`.
# Every EVERY steps both sides evaluate the ESS of SAMPLES fresh samples; the
# times are wall-clock seconds since training began, evaluations included on
# both sides. Prints, per run and ESS level, the first time the ESS reached
# it (median over seeds; "—" if never). Minutes per run: not in CI.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 REFERENCE|none [OUT_DIR]" >&2; exit 2; }
REF=$1
OUT=${2:-runs/u1_time_to_ess}
SEEDS=${SEEDS:-1 2}
U1_STEPS=${U1_STEPS:-2000}
PHI4_STEPS=${PHI4_STEPS:-2000}
U1_LR=${U1_LR:-3e-3}
EVERY=${EVERY:-100}
SAMPLES=${SAMPLES:-1024}
LEVELS=${LEVELS:-0.02 0.05 0.1 0.2 0.3}
PATHFLOW=${PATHFLOW:-./build/pathflow}
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
export OPENBLAS_NUM_THREADS=1
mkdir -p "$OUT"

SRC=
. "$HERE/reference_src.sh"
[ "$REF" = none ] || reference_src "$REF"

pf() { # config estimator steps seed name [extra --set arguments]
    c=$1 est=$2 n=$3 seed=$4 name=$5
    shift 5
    "$PATHFLOW" train "$HERE/../configs/$c.cfg" --set training.estimator="$est" "$@" \
        --set training.steps="$n" --set eval.every="$EVERY" --set eval.samples="$SAMPLES" \
        --set experiment.seed="$seed" --out "$OUT/${name}_seed$seed" --force >/dev/null
}

echo "load before: $(uptime)" >"$OUT/load.txt"
for s in $SEEDS; do
    pf u1_reverse_path path "$U1_STEPS" "$s" u1_path --set training.lr="$U1_LR"
    if [ -n "$SRC" ]; then
        "$PYTHON" "$HERE/u1_reference.py" "$SRC" --seed "$s" --steps "$U1_STEPS" \
            --every "$EVERY" --samples "$SAMPLES" --lr "$U1_LR" --out "$OUT/u1_reference_seed$s.csv"
    fi
    pf u1_reverse_path total "$U1_STEPS" "$s" u1_total --set training.lr="$U1_LR"
    pf phi4_symmetric_path path "$PHI4_STEPS" "$s" phi4_path
    pf phi4_symmetric_path total "$PHI4_STEPS" "$s" phi4_total
done
echo "load after: $(uptime)" >>"$OUT/load.txt"

"$PYTHON" - "$OUT" "$SEEDS" "$LEVELS" <<'EOF'
import csv, os, statistics, sys
out, seeds, levels = sys.argv[1], sys.argv[2].split(), [float(v) for v in sys.argv[3].split()]
def rows(path):
    with open(path) as f:
        return [(float(r["seconds"]), float(r["ess"] or "nan"), int(r["step"]))
                for r in csv.DictReader(l for l in f if not l.startswith("#"))]
runs = {}
for name in ["u1_path", "u1_total", "u1_reference", "phi4_path", "phi4_total"]:
    paths = [os.path.join(out, f"{name}_seed{s}", "metrics.csv") for s in seeds]
    if name == "u1_reference":
        paths = [os.path.join(out, f"{name}_seed{s}.csv") for s in seeds]
    runs[name] = [rows(p) for p in paths if os.path.exists(p)]
print("| run | seeds | final ESS | s/step | " + " | ".join(f"t(ESS ≥ {v})" for v in levels) + " |")
print("|---|---:|---:|---:|" + "---:|" * len(levels))
for name, rs in runs.items():
    if not rs:
        continue
    cells = []
    for v in levels:
        ts = [next((t for t, e, _ in r if e >= v), None) for r in rs]
        reached = [t for t in ts if t is not None]
        cells.append(f"{statistics.median(reached):.0f} s ({len(reached)}/{len(rs)})"
                     if reached else "—")
    final = statistics.median(r[-1][1] for r in rs)
    per_step = statistics.median(r[-1][0] / r[-1][2] for r in rs)
    print(f"| {name} | {len(rs)} | {final:.3f} | {per_step:.3f} | " + " | ".join(cells) + " |")

def median_time(name, v):
    ts = [next((t for t, e, _ in r if e >= v), None) for r in runs.get(name, [])]
    return statistics.median(ts) if ts and None not in ts else None
print()
print("| ESS level | reference / pathflow path (time to reach it) | total / path (U(1)) | total / path (φ⁴) |")
print("|---:|---:|---:|---:|")
for v in levels:
    def ratio(a, b):
        ta, tb = median_time(a, v), median_time(b, v)
        return f"{ta / tb:.2f}" if ta and tb else "—"
    print(f"| {v} | {ratio('u1_reference', 'u1_path')} | {ratio('u1_total', 'u1_path')} | "
          f"{ratio('phi4_total', 'phi4_path')} |")
EOF
cat "$OUT/load.txt"
