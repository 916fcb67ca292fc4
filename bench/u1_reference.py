#!/usr/bin/env python3
"""Trains the paper's PyTorch U(1) flow (lenz3000/unified-path-gradients) with
its fast path-gradient reverse-KL loss and writes a CSV comparable with
pathflow's metrics.csv: step, loss (mean over the last `every` steps),
seconds (wall time since training began, evaluations included, as pathflow
counts it), cpu (process CPU seconds) and the reverse ESS of `samples` fresh
flow samples.

usage: u1_reference.py SRC_DIR --seed S [--steps N] [--every K] [--samples M]
                       [--lattice L] [--beta B] [--out FILE.csv]
SRC_DIR holds the reference's `unified_path` package (a checkout or an export
of the repository). Side-by-side comparisons only: not part of the test suite.
"""
import argparse
import os
import sys
import time
import types


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("src", help="directory holding the reference's unified_path package")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--samples", type=int, default=0, help="ESS samples per row (0: none)")
    p.add_argument("--lattice", type=int, default=8)
    p.add_argument("--beta", type=float, default=2.0)
    p.add_argument("--layers", type=int, default=16)
    p.add_argument("--mixture", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="-")
    return p.parse_args()


def main():
    a = parse_args()
    # action.py imports einops for its Gaussian-mixture target only; the U(1)
    # action does not use it, so a stand-in module is enough when it is absent.
    try:
        import einops  # noqa: F401
    except ImportError:
        sys.modules["einops"] = types.ModuleType("einops")
    sys.path.insert(0, os.path.abspath(a.src))
    import torch
    from unified_path.action import U1GaugeAction
    from unified_path.loss import FastPath
    from unified_path.models import U1Flow_Path

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    lat = [2, a.lattice, a.lattice]
    flow = U1Flow_Path(lat_shape=lat[1:], n_layers=a.layers, n_mixture_comps=a.mixture)
    action = U1GaugeAction(beta=a.beta)
    loss_fn = FastPath(model=flow, action=action, lat_shape=lat, batch_size=a.batch,
                       reverse=True)
    opt = torch.optim.Adam(flow.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.steps)
    n_params = sum(p.numel() for p in flow.parameters())
    out = sys.stdout if a.out == "-" else open(a.out, "w")
    print(f"# reference U1Flow_Path: {n_params} parameters, seed {a.seed}", file=out)
    print("step,loss,seconds,cpu,ess", file=out)
    window, t0, c0 = [], time.perf_counter(), time.process_time()
    for step in range(1, a.steps + 1):
        opt.zero_grad()
        loss, _, _ = loss_fn()
        loss.backward()
        opt.step()
        sched.step()
        window.append(loss.item())
        if step % a.every and step != a.steps:
            continue
        ess = float("nan")
        if a.samples > 0:
            with torch.no_grad():
                x, log_q = flow.sample_with_logprob(a.samples)
                log_w = -action(x) - log_q
                w = torch.exp(log_w - log_w.max()).double()
                ess = (w.sum() ** 2 / (w * w).sum()).item() / a.samples
        print(f"{step},{sum(window) / len(window):.6f},{time.perf_counter() - t0:.3f},"
              f"{time.process_time() - c0:.3f},{ess:.6g}", file=out, flush=True)
        window = []
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
