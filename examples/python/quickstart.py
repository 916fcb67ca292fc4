"""The quick start from Python, notebook style (each `# %%` is a cell).

A RealNVP flow learns the paper's Gaussian mixture in 2-D (four modes at
(±1, ±1), variance 0.5) by reverse KL with the fast path gradient, as
configs/quickstart.cfg does; then the same mixture is written as a Python
action and trained again. With matplotlib installed, the samples and the
loss are drawn into quickstart.png (the plot is skipped otherwise).

    python3 examples/python/quickstart.py            # from the repository root
    python3 examples/python/quickstart.py --steps 300  # shorter

(After `cmake --install` the package is found by python3; from a build tree
set PYTHONPATH=python and PATHFLOW_LIBRARY=build/libpathflow.so.)
"""
# %% set-up
import argparse
import time

import numpy as np

import pathflow as pf

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=1500)
parser.add_argument("--out", default="quickstart.png", help="the figure (with matplotlib)")
args = parser.parse_args()

# %% the target and the flow: the objects of configs/quickstart.cfg
target = pf.Target.mgm(2, loc=1.0, scale=0.5)
flow = pf.Flow.realnvp(2, layers=4, hidden=[32, 32], activation="tanh", mask="halves",
                       seed=3)
print(target, flow)

# %% training: a per-step callback collects the loss, a per-row one prints
losses = []
trainer = pf.Trainer(flow, target, objective="reverse", estimator="path", batch=128,
                     steps=args.steps, lr=5e-3, schedule="cosine", seed=3,
                     eval_every=max(args.steps // 6, 1), eval_samples=4000)
t0 = time.perf_counter()
rows = trainer.run(
    on_step=lambda step, loss: losses.append(loss),  # return True to stop early
    callback=lambda m: print(f"step {m.step:5d}  loss {m.loss:8.4f}  ESS {m.ess:.3f}  "
                             f"KL {m.kl:.4f}"))
print(f"{trainer.steps_done} steps in {time.perf_counter() - t0:.1f} s")

# %% the trained flow as a sampler: importance weights and an estimate
x, log_w = pf.sample(flow, target, 4000, seed=1)
w = np.exp(log_w - log_w.max())
w /= w.sum()
print(f"reverse ESS {pf.reverse_ess(log_w):.4f}; "
      f"<x0^2> = {np.sum(w * x[:, 0] ** 2):.4f} (exact 1.5)")
report = pf.evaluate(flow, target, n=4000)  # what `pathflow eval` prints
for name, (value, error) in report["summaries"].items():
    print(f"  {name}: {value:+.4f} ± {error:.4f} (exact 0)")


# %% the same mixture as a Python action: S = Σᵢ (xᵢ² + a²)/2s − log cosh(a xᵢ/s) + c
def log_cosh(y):
    y = np.abs(y)
    return y + np.log1p(np.exp(-2 * y)) - np.log(2)


a, s = 1.0, 0.5


def action(x):  # x: (B, 2) → (B,)
    return ((x ** 2 + a * a) / (2 * s) - log_cosh(a * x / s)).sum(axis=1) + np.log(2 * np.pi * s)


def force(x):  # ∇S: (B, 2)
    return x / s - (a / s) * np.tanh(a * x / s)


mine = pf.Target.custom(2, action, force)
probe = np.random.default_rng(0).normal(size=(5, 2))
assert np.allclose(mine.action(probe), target.action(probe), rtol=1e-12)
flow2 = pf.Flow.realnvp(2, layers=4, hidden=[32, 32], seed=3)
rows2 = pf.Trainer(flow2, mine, batch=128, steps=args.steps, lr=5e-3, seed=3,
                   eval_every=args.steps, eval_samples=4000).run()
print(f"Python action: ESS {rows2[-1].ess:.3f} after {rows2[-1].step} steps "
      f"({rows2[-1].seconds:.1f} s)")

# %% plots (matplotlib is optional)
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib not installed: no plot (apt-get install python3-matplotlib)")
else:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.5))
    g = np.linspace(-3, 3, 200)
    X, Y = np.meshgrid(g, g)
    P = np.exp(-target.action(np.stack([X.ravel(), Y.ravel()], axis=1))).reshape(X.shape)
    ax1.contour(X, Y, P, levels=8, colors="k", linewidths=0.6)
    ax1.scatter(x[:2000, 0], x[:2000, 1], s=2, alpha=0.4)
    ax1.set(title="flow samples over exp(−S)", xlabel="x₀", ylabel="x₁", aspect="equal")
    ax2.plot(np.arange(1, len(losses) + 1), losses, lw=0.5, label="loss per step")
    ax2.plot([r.step for r in rows], [r.loss for r in rows], "o-", label="mean per row")
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set(title="loss: KL(q‖p) estimate (log Z = 0)", xlabel="step")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"figure: {args.out}")
