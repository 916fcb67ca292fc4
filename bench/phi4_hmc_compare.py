#!/usr/bin/env python3
"""Compare a trained phi^4 flow's reweighted observables with Hybrid Monte Carlo.

Usage (from the worktree root, after `make build`):

    ./build/pathflow train configs/phi4_symmetric_path.cfg --out runs/sym
    ./build/pathflow hmc configs/phi4_symmetric_path.cfg -o runs/sym_hmc.npy -n 20000 --thin 2
    ./build/pathflow sample runs/sym -n 20000 -o runs/sym_flow.npy
    python3 bench/phi4_hmc_compare.py --lattice 8 8 --hmc runs/sym_hmc.npy \
        --flow runs/sym_flow.npy [--blocks 20] [--thermalize 0]

The flow file's log importance weights are read from FLOW_log_weights.npy
(written next to it by `pathflow sample`).

Observables, per configuration phi (L0 x L1, site x0*L1 + x1), M = sum(phi)/V:
  <|M|>, chi = V (<M^2> - <|M|>^2), G_c(t) = <G(t)> - L1 <M>^2 with
  G(t) = (1/V) sum_{y0} S(y0) S(y0 + t), S(y0) = sum_{y1} phi_{y0,y1}
(the definitions of `pathflow eval`).

Errors: jackknife over K contiguous blocks. For the HMC chain the blocks are
long stretches of the chain, so the error includes its autocorrelation as
long as a block is much longer than the integrated autocorrelation time
(the script prints tau_int of |M| and M^2 so this can be checked; with --z2
the mirrored configurations double the rows without adding information on
|M|, M^2 or G, so tau_int counts rows, twice as many); for the
flow's i.i.d. samples, the same jackknife applied to the self-normalised
importance-weighted means. The last column is |flow - HMC| in units of the
combined error sqrt(e_flow^2 + e_hmc^2); "agree" means < 3.

Pure Python (no numpy): reads little-endian float64 .npy files only.
"""
import argparse
import ast
import math
import struct
import sys
from array import array


def read_npy(path):
    """(shape, flat array('d')) of a little-endian float64 C-order .npy file."""
    with open(path, "rb") as f:
        magic = f.read(6)
        if magic != b"\x93NUMPY":
            sys.exit(f"{path}: not an .npy file")
        major = f.read(2)[0]
        n = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
        header = ast.literal_eval(f.read(n).decode("latin1"))
        if header["descr"] != "<f8" or header["fortran_order"]:
            sys.exit(f"{path}: expected little-endian float64 in C order, got {header}")
        data = array("d")
        data.frombytes(f.read())
        return header["shape"], data


def per_sample(shape, data, L0, L1):
    """Rows of (|M|, M^2, M, G(0..L0-1)) per configuration."""
    N, V = shape[0], 1
    for s in shape[1:]:
        V *= s
    if V != L0 * L1:
        sys.exit(f"configurations have {V} sites, the lattice {L0}x{L1} has {L0 * L1}")
    rows = []
    for i in range(N):
        phi = data[i * V:(i + 1) * V]
        slices = [sum(phi[y0 * L1:(y0 + 1) * L1]) for y0 in range(L0)]
        m = sum(slices) / V
        G = [sum(slices[y0] * slices[(y0 + t) % L0] for y0 in range(L0)) / V for t in range(L0)]
        rows.append([abs(m), m * m, m] + G)
    return rows


def estimates(rows, w, V, L1, lo=0, hi=0):
    """<|M|>, chi, G_c(t) with weights w over rows outside [lo, hi)."""
    n_obs = len(rows[0])
    acc = [0.0] * n_obs
    sw = 0.0
    for i, r in enumerate(rows):
        if lo <= i < hi:
            continue
        wi = w[i]
        sw += wi
        for k in range(n_obs):
            acc[k] += wi * r[k]
    mean = [a / sw for a in acc]
    abs_m, m2, m = mean[0], mean[1], mean[2]
    return [abs_m, V * (m2 - abs_m * abs_m)] + [g - L1 * m * m for g in mean[3:]]


def jackknife(rows, w, V, L1, K):
    N = len(rows)
    full = estimates(rows, w, V, L1)
    jk = [estimates(rows, w, V, L1, N * j // K, N * (j + 1) // K) for j in range(K)]
    errors = []
    for q in range(len(full)):
        mean = sum(j[q] for j in jk) / K
        errors.append(math.sqrt((K - 1) / K * sum((j[q] - mean) ** 2 for j in jk)))
    return full, errors


def tau_int(v):
    """Integrated autocorrelation time, Sokal's window c = 5."""
    N = len(v)
    mean = sum(v) / N
    var = sum((x - mean) ** 2 for x in v) / N
    if var <= 0:
        return 0.5
    tau = 0.5
    for lag in range(1, N // 2):
        c = sum((v[i] - mean) * (v[i + lag] - mean) for i in range(N - lag)) / ((N - lag) * var)
        tau += c
        if lag >= 5 * tau:
            break
    return tau


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lattice", type=int, nargs=2, required=True, metavar=("L0", "L1"))
    ap.add_argument("--hmc", required=True, help="HMC samples (N, V) from `pathflow hmc`")
    ap.add_argument("--flow", required=True, help="flow samples (N, V) from `pathflow sample`")
    ap.add_argument("--blocks", type=int, default=20)
    ap.add_argument("--thermalize", type=int, default=0, help="HMC rows to drop first")
    ap.add_argument("--z2", action="store_true",
                    help="add -phi after every HMC configuration: S(phi) = S(-phi), and in the "
                         "broken phase a chain rarely tunnels between the vacua, so <M> (hence "
                         "G_c) would reflect the vacuum it sits in, not the symmetric ensemble")
    a = ap.parse_args()
    L0, L1 = a.lattice
    V = L0 * L1

    shape, data = read_npy(a.hmc)
    hmc = per_sample(shape, data, L0, L1)[a.thermalize:]
    if a.z2:  # the mirror -phi: same |M|, M^2 and G(t), opposite M; kept next to phi
        hmc = [r for row in hmc for r in (row, row[:2] + [-row[2]] + row[3:])]
    ref, ref_err = jackknife(hmc, [1.0] * len(hmc), V, L1, a.blocks)
    taus = [tau_int([r[k] for r in hmc]) for k in (0, 1)]

    stem = a.flow[:-4] if a.flow.endswith(".npy") else a.flow
    shape, data = read_npy(a.flow)
    flow = per_sample(shape, data, L0, L1)
    wshape, lw = read_npy(stem + "_log_weights.npy")
    if wshape[0] != len(flow):
        sys.exit("flow samples and log weights differ in length")
    top = max(lw)
    w = [math.exp(x - top) for x in lw]
    ess = sum(w) ** 2 / (len(w) * sum(x * x for x in w))
    val, val_err = jackknife(flow, w, V, L1, a.blocks)

    print(f"# HMC: {len(hmc)} samples, tau_int(|M|) = {taus[0]:.2f}, tau_int(M^2) = {taus[1]:.2f}"
          f" (block length {len(hmc) // a.blocks})")
    print(f"# flow: {len(flow)} samples, reverse ESS {ess:.4f}")
    print("| observable | flow (reweighted) | HMC | |diff| / combined error |")
    print("|---|---|---|---|")
    names = ["<|M|>", "chi"] + [f"G_c({t})" for t in range(L0)]
    worst = 0.0
    for k, name in enumerate(names):
        comb = math.hypot(val_err[k], ref_err[k])
        pull = abs(val[k] - ref[k]) / comb if comb > 0 else float("inf")
        worst = max(worst, pull)
        print(f"| {name} | {val[k]:.5g} ± {val_err[k]:.2g} | {ref[k]:.5g} ± {ref_err[k]:.2g} |"
              f" {pull:.2f} |")
    print(f"# largest deviation {worst:.2f} combined errors: "
          f"{'agree (< 3)' if worst < 3 else 'DISAGREE'}")
    return 0 if worst < 3 else 1


if __name__ == "__main__":
    sys.exit(main())
