#!/usr/bin/env python3
"""pathflow against the paper's PyTorch code, side by side (bench/vs_reference.sh).

For each case of `pathflow bench` that the reference code can express, builds the
reference flow with the same architecture (parameter counts printed next to each
other), the same target and batch, and alternates: one `pathflow bench --case C`
run (its six estimators interleaved over --rounds rounds), then the reference's
six estimators interleaved over as many rounds, --alternations times. Both run in
float64 on one thread (torch.set_num_threads(1), pathflow --threads 1), so both
sides do the same GEMMs through the same BLAS. Prints, per case and estimator,
the median step time of each side (median over alternations of the per-run
medians) and the ratio reference / pathflow (> 1: pathflow is faster). For the
RealNVP cases also the step's GEMMs alone (`pathflow bench`'s GEMM-only column,
the fastest over alternations) and reference / that: the largest ratio any
implementation on this BLAS could reach, since both sides run the same products.

Estimators (pathflow name = reference class): reverse total = RepQP, reverse
path = FastPath (reverse), reverse path-dropin = DropInPathQP, forward ml =
MaximumLikelihood, forward path = FastPath (forward), forward path-dropin =
FastDropInPathPQ. Forward-KL data: target samples where the target has a
sampler (MGM), flow samples otherwise (φ⁴, U(1)), as `pathflow bench` does.
Not available in the reference: forward path on U(1) (its U(1) path flow has
no reverse piggy-back), shown as "—".
"""
import argparse
import csv
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types

import torch

ESTIMATORS = [("reverse", "total", "RepQP"), ("reverse", "path", "fastPathQP"),
              ("reverse", "path-dropin", "DropInQP"), ("forward", "ml", "ML"),
              ("forward", "path", "fastPathPQ"), ("forward", "path-dropin", "FastDropInPQ")]


def import_reference(root):
    try:
        import einops  # noqa: F401  (the reference's MGM needs einops.repeat)
    except ImportError:
        # Only `einops.repeat(eye, "i j -> c i j", c=C)` is used: the same tensor by expand.
        shim = types.ModuleType("einops")

        def repeat(t, pattern, c):
            assert pattern == "i j -> c i j", pattern
            return t.unsqueeze(0).expand(c, *t.shape).clone()

        shim.repeat = repeat
        sys.modules["einops"] = shim
    sys.path.insert(0, root)
    from unified_path import action, loss  # noqa: E402
    from unified_path.models import realNVP, u1flow  # noqa: E402
    return action, loss, realNVP, u1flow


class Phi4(torch.nn.Module):
    """φ⁴ in hopping form on a periodic lattice, as pathflow's target:
    S = Σ_x [−2κ Σ_μ φ_x φ_{x+μ} + (1 − 2λ) φ_x² + λ φ_x⁴]."""

    def __init__(self, shape, kappa, lam):
        super().__init__()
        self.shape, self.kappa, self.lam = shape, kappa, lam

    def forward(self, phi):
        phi = phi.reshape(phi.shape[0], *self.shape)
        hop = sum((phi * torch.roll(phi, 1, d)).sum((1, 2)) for d in (1, 2))
        p2 = phi * phi
        return -2 * self.kappa * hop + ((1 - 2 * self.lam) * p2 + self.lam * p2 * p2).sum((1, 2))


def make_case(name, ref):
    """Builders of the reference flow (path variant or not), the action, the lattice
    shape of the samples, the batch and whether the target has a sampler."""
    action_mod, _, realNVP, u1flow = ref

    def realnvp(dim_shape, layers, n_hidden, width):
        def build(path):
            cls = realNVP.RealNVP_Path if path else realNVP.RealNVP
            kw = {"loss": "fastPathQP"} if path else {}
            return cls(lat_shape=dim_shape, coupling_factory="AltFCS", ncouplings=layers,
                       nblocks=n_hidden - 1, n_hidden=width, **kw)
        return build

    if name == "RealNVP small":
        return realnvp([2], 4, 2, 32), action_mod.MGM(dim=2, cluster_loc=1.0, cluster_scale=0.5), [2], 500, True
    if name == "RealNVP MGM":
        return realnvp([6], 4, 6, 500), action_mod.MGM(dim=6, cluster_loc=1.0, cluster_scale=0.5), [6], 500, True
    if name == "RealNVP lattice":
        return realnvp([8, 8], 8, 2, 256), Phi4((8, 8), 0.3, 0.022), [8, 8], 256, False
    if name == "U(1) 8x8":
        def build(path):
            cls = u1flow.U1Flow_Path if path else u1flow.U1Flow
            return cls(lat_shape=[8, 8], n_layers=16, n_mixture_comps=2, hidden_sizes=[8, 8],
                       kernel_size=3)
        return build, action_mod.U1GaugeAction(beta=2.0), [2, 8, 8], 64, False
    raise ValueError(name)


def reference_steps(name, ref, seed):
    """One callable per estimator (None where the reference has none): a full
    gradient step without the optimiser, sampling included."""
    _, loss_mod, _, _ = ref
    build, action, lat_shape, batch, has_sampler = make_case(name, ref)
    torch.manual_seed(seed)
    flows = {False: build(False), True: build(True)}
    with torch.no_grad():
        data = (action.sample((batch,)) if has_sampler
                else flows[False].sample_with_logprob(batch)[0]).detach()

    def sampler():
        while True:
            yield data

    steps = []
    for objective, kind, est in ESTIMATORS:
        if name.startswith("U(1)") and est == "fastPathPQ":
            steps.append(None)
            continue
        flow = flows["fastPath" in est]
        cfg = argparse.Namespace(gradient_estimator=est, lat_shape=lat_shape, batch_size=batch)
        estimator = loss_mod.load_loss(cfg, flow, action, torch.device("cpu"),
                                       config_sampler=sampler())

        def step(estimator=estimator, flow=flow):
            flow.zero_grad()
            value = estimator()[0]
            value.backward()
        steps.append(step)
    n_params = sum(p.numel() for p in flows[False].parameters() if p.requires_grad)
    return steps, n_params


def time_reference(steps, warmup, rounds):
    times = [[] for _ in steps]
    for r in range(warmup + rounds):
        for k, step in enumerate(steps):
            if step is None:
                continue
            t0 = time.perf_counter()
            step()
            if r >= warmup:
                times[k].append(1e3 * (time.perf_counter() - t0))
    return [statistics.median(t) if t else math.nan for t in times]


def time_pathflow(binary, name, rounds, threads):
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([binary, "bench", "--case", name, "--rounds", str(rounds), "--threads",
                        str(threads), "--out", out], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "bench.csv")) as f:
            rows = [r for r in csv.DictReader(f) if r["case"] == name]
    medians = {(r["objective"], r["estimator"]): float(r["median_ms"]) for r in rows}
    floors = {(r["objective"], r["estimator"]): float(r.get("gemm_only_ms") or "nan")
              for r in rows}
    n_params = int(float(rows[0]["n_params"])) if rows and "n_params" in rows[0] else -1
    busy = any(r.get("busy") == "1" for r in rows)
    return ([medians[(o, k)] for o, k, _ in ESTIMATORS],
            [floors[(o, k)] for o, k, _ in ESTIMATORS], n_params, busy)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reference", required=True, help="a checkout of unified-path-gradients")
    p.add_argument("--pathflow", required=True, help="the pathflow executable")
    p.add_argument("--cases", default="RealNVP small,RealNVP MGM,RealNVP lattice,U(1) 8x8")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--alternations", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    ref = import_reference(args.reference)
    print(f"# pathflow vs the reference (torch {torch.__version__}, float64, one thread each); "
          f"{args.alternations} alternations of {args.rounds} rounds per side\n")
    print("| case | objective | estimator | pathflow ms | reference ms | reference / pathflow "
          "| pathflow's GEMMs alone ms | reference / GEMMs alone |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.cases.split(","):
        steps, ref_params = reference_steps(name, ref, args.seed)
        pf_runs, floor_runs, ref_runs, busy = [], [], [], False
        for _ in range(args.alternations):
            pf, floor, pf_params, b = time_pathflow(args.pathflow, name, args.rounds, 1)
            pf_runs.append(pf)
            floor_runs.append(floor)
            busy = busy or b
            ref_runs.append(time_reference(steps, 2, args.rounds))
        for k, (objective, kind, _) in enumerate(ESTIMATORS):
            a = statistics.median(r[k] for r in pf_runs)
            b = statistics.median(r[k] for r in ref_runs)
            g = min(r[k] for r in floor_runs)  # nan for flows without dense couplings
            ratio = "—" if math.isnan(b) else f"{b / a:.2f}"
            ref_cell = "—" if math.isnan(b) else f"{b:.2f}"
            floor_cell = "—" if math.isnan(g) else f"{g:.2f}"
            bound = "—" if math.isnan(b) or math.isnan(g) else f"{b / g:.2f}"
            print(f"| {name} | {objective} | {kind} | {a:.2f} | {ref_cell} | {ratio} | {floor_cell} "
                  f"| {bound} |", flush=True)
        print(f"<!-- {name}: parameters pathflow {pf_params}, reference {ref_params}"
              f"{'; pathflow rows flagged busy' if busy else ''} -->", flush=True)


if __name__ == "__main__":
    main()
