#!/bin/sh
# A trained U(1) run's reweighted observables against HMC.
#
# usage: bench/u1_hmc_agreement.sh RUN [N_FLOW] [N_HMC]
#   RUN: a run directory of a U(1) config (config.cfg, checkpoint.pfc).
#   N_FLOW (default 20000): flow samples for `pathflow eval RUN`;
#   N_HMC (default 20000): samples of `pathflow hmc RUN/config.cfg`, every
#   other trajectory, after the default thermalisation.
#   environment: PATHFLOW (./build/pathflow), PYTHON (python3 with numpy).
# Prints ⟨cos P⟩, ⟨Q⟩ and χ_t = (⟨Q²⟩ − ⟨Q⟩²)/V from both, the flow's with
# eval's jackknife errors, HMC's with binning errors (bins doubled until fewer
# than 64 remain; the largest error is taken, so autocorrelations are covered
# once the bins outlast them), and the difference in combined errors.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 RUN [N_FLOW] [N_HMC]" >&2; exit 2; }
RUN=$1
N_FLOW=${2:-20000}
N_HMC=${3:-20000}
PATHFLOW=${PATHFLOW:-./build/pathflow}
PYTHON=${PYTHON:-python3}

"$PATHFLOW" eval "$RUN" -n "$N_FLOW" >"$RUN/eval.txt"
"$PATHFLOW" hmc "$RUN/config.cfg" -o "$RUN/hmc.npy" -n "$N_HMC" --thin 2 2>"$RUN/hmc.txt"
cat "$RUN/hmc.txt"

"$PYTHON" - "$RUN" <<'EOF'
import re, sys
import numpy as np
run = sys.argv[1]
text = open(f"{run}/eval.txt").read()
flow = {m[0]: (float(m[1]), float(m[2]))
        for m in re.findall(r"^\| (plaquette|Q|chi_t) \| ([^|]+) \| ([^|]+) \|$", text, re.M)}
ess = float(re.search(r"reverse ESS ([0-9.eE+-]+)", text).group(1))
lat = re.search(r"lattice = \[\s*(\d+),\s*(\d+)\s*\]", open(f"{run}/config.cfg").read())
L0, L1 = int(lat.group(1)), int(lat.group(2))
V = L0 * L1
x = np.load(f"{run}/hmc.npy")                       # (N, 2V): θ_μ(x) at μ·V + x0·L1 + x1
t0 = x[:, :V].reshape(-1, L0, L1)
t1 = x[:, V:].reshape(-1, L0, L1)
# P(x) = θ₀(x) + θ₁(x + 0̂) − θ₀(x + 1̂) − θ₁(x)
P = t0 + np.roll(t1, -1, axis=1) - np.roll(t0, -1, axis=2) - t1
plaq = np.cos(P).mean(axis=(1, 2))
Q = (np.remainder(P + np.pi, 2 * np.pi) - np.pi).sum(axis=(1, 2)) / (2 * np.pi)

def binned(f, columns):
    """f(means of the columns) and its error: jackknife over bins of 1, 2, 4, ...
    samples while at least 64 bins remain, the largest error taken."""
    n = len(columns[0])
    est, worst, size = f(*[c.mean() for c in columns]), 0.0, 1
    while n // size >= 64:
        nb, m = n // size, n // size * size
        sums = [c[:m].reshape(nb, size).sum(axis=1) for c in columns]
        jk = f(*[(s.sum() - s) / (m - size) for s in sums])   # leave one bin out
        worst = max(worst, np.sqrt((nb - 1) / nb * ((jk - jk.mean()) ** 2).sum()))
        size *= 2
    return est, worst

hmc = {"plaquette": binned(lambda p: p, [plaq]),
       "Q": binned(lambda q: q, [Q]),
       "chi_t": binned(lambda q, q2: (q2 - q * q) / V, [Q, Q * Q])}
n = len(plaq)
print(f"\n{run}: reverse ESS {ess:.4f} on the flow samples, {n} HMC samples\n")
print("| observable | flow (reweighted) | HMC | difference / combined error |")
print("|---|---|---|---:|")
for k in ["plaquette", "Q", "chi_t"]:
    (f, fe), (h, he) = flow[k], hmc[k]
    print(f"| {k} | {f:.5f} ± {fe:.5f} | {h:.5f} ± {he:.5f} | {(f - h) / np.hypot(fe, he):+.2f} |")
EOF
