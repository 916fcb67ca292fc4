"""What a Python action costs: one training step of the quick start with the
mixture as the built-in C target against the same mixture written in NumPy
(Target.custom), per-step wall time, interleaved rounds, medians.

    python3 examples/python/custom_action_overhead.py [--steps 300] [--rounds 7] [--batch 128]

Both trainers start from the same parameters and draw the same samples; the
script checks that the two actions agree before timing. It reports the
median ms per step of each, their ratio, and the time spent inside the
Python callables (the rest of the difference is the crossing between C and
Python: the GIL, the array views). Wall times on a shared machine are noisy;
the CPU time of the training thread (time.thread_time, with one BLAS thread)
is much less so: both are reported.
"""
import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # all the work in this thread: CPU times
import numpy as np  # noqa: E402

import pathflow as pf  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=300)
parser.add_argument("--rounds", type=int, default=7)
parser.add_argument("--batch", type=int, default=128)
args = parser.parse_args()

a, s = 1.0, 0.5  # configs/quickstart.cfg: target.loc, target.scale
inside = {"seconds": 0.0, "calls": 0}


def log_cosh(y):
    y = np.abs(y)
    return y + np.log1p(np.exp(-2 * y)) - np.log(2)


def action(x):
    t0 = time.thread_time()
    S = ((x ** 2 + a * a) / (2 * s) - log_cosh(a * x / s)).sum(axis=1) + np.log(2 * np.pi * s)
    inside["seconds"] += time.thread_time() - t0
    inside["calls"] += 1
    return S


def force(x):
    t0 = time.thread_time()
    F = x / s - (a / s) * np.tanh(a * x / s)
    inside["seconds"] += time.thread_time() - t0
    inside["calls"] += 1
    return F


targets = {"C (built-in mgm)": pf.Target.mgm(2, a, s),
           "Python (Target.custom)": pf.Target.custom(2, action, force)}
probe = np.random.default_rng(0).normal(size=(64, 2))
c, py = targets.values()
assert np.allclose(c.action(probe), py.action(probe), rtol=1e-12, atol=0)
assert np.allclose(c.force(probe), py.force(probe), rtol=1e-12, atol=1e-15)


def per_step_times(target):
    flow = pf.Flow.realnvp(2, layers=4, hidden=[32, 32], activation="tanh", seed=3)
    tr = pf.Trainer(flow, target, batch=args.batch, steps=args.steps, lr=5e-3, seed=3,
                    eval_every=args.steps, eval_samples=128, n_holdout=0)
    wall, cpu = np.empty(args.steps), np.empty(args.steps)
    for k in range(args.steps):
        t0, c0 = time.perf_counter(), time.thread_time()
        tr.step()
        wall[k], cpu[k] = time.perf_counter() - t0, time.thread_time() - c0
    return wall, cpu


results = {name: [] for name in targets}
python_inside = []
for r in range(args.rounds):
    names = list(targets) if r % 2 == 0 else list(reversed(targets))
    for name in names:
        before = inside["seconds"]
        results[name].append(per_step_times(targets[name]))
        if name.startswith("Python"):
            python_inside.append((inside["seconds"] - before) / args.steps)

load = os.getloadavg()
print(f"quick start, batch {args.batch}, {args.rounds} rounds × {args.steps} steps, "
      f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
print("| target | median ms/step (wall) | min (wall) | median ms/step (CPU of the thread) |")
print("|---|---|---|---|")
med = {}
for name, runs in results.items():
    wall = np.concatenate([w for w, _ in runs]) * 1e3
    cpu = np.concatenate([c for _, c in runs]) * 1e3
    med[name] = (np.median(wall), np.median(cpu))
    print(f"| {name} | {med[name][0]:.3f} | {wall.min():.3f} | {med[name][1]:.3f} |")
cn, pn = list(targets)
print(f"ratio Python / C per step: wall {med[pn][0] / med[cn][0]:.2f}, "
      f"CPU {med[pn][1] / med[cn][1]:.2f} (+{med[pn][1] - med[cn][1]:.3f} ms CPU per step); "
      f"CPU inside the NumPy callables {np.median(python_inside) * 1e3:.3f} ms per step "
      f"({inside['calls'] / (args.rounds * args.steps):.0f} calls per step)")
