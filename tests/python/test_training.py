"""Training through the binding: per-step and per-row Python callbacks that
can stop a run, exceptions out of callbacks, the trainer's step against the
estimator on the same draws, Python custom actions trained to known answers,
and the GIL released while the library computes."""
import threading
import time

import numpy as np
import pytest

import pathflow as pf
from conftest import max_rel_err


def quick_trainer(steps=20, **kw):
    target = pf.Target.mgm(2, 1.0, 0.5)
    flow = pf.Flow.realnvp(2, layers=2, hidden=[16], seed=1)
    return pf.Trainer(flow, target, batch=64, steps=steps, lr=3e-3, eval_every=5,
                      eval_samples=128, n_holdout=128, **kw)


def test_callbacks_see_every_step_and_row_and_can_stop_the_run():
    tr = quick_trainer()
    seen, rows_seen = [], []
    rows = tr.run(callback=rows_seen.append, on_step=lambda s, loss: seen.append((s, loss)))
    assert [s for s, _ in seen] == list(range(1, 21))
    assert [r.step for r in rows] == [5, 10, 15, 20] and rows == rows_seen
    assert all(np.isfinite(loss) for _, loss in seen)
    last = rows[-1]
    assert isinstance(last, pf.Metrics) and 0 < last.ess <= 1 and last.kl >= -0.05
    assert np.isfinite(last.nll) and np.isnan(last.nfe_forward)
    # the mean loss of a row is the mean of its steps' losses
    assert max_rel_err(last.loss, np.mean([loss for _, loss in seen[15:]])) < 1e-12

    tr = quick_trainer()
    rows = tr.run(on_step=lambda s, loss: s == 7)
    assert tr.steps_done == 7 and [r.step for r in rows] == [5, 7]
    rows = tr.run(callback=lambda m: m.step >= 15)
    assert tr.steps_done == 15 and rows[-1].step == 15
    assert tr.run()[-1].step == 20 and tr.run() == []  # nothing left to do


def test_exceptions_in_callbacks_stop_the_run_and_are_raised():
    tr = quick_trainer()

    def boom(step, loss):
        if step == 3:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        tr.run(on_step=boom)
    assert tr.steps_done == 3

    def interrupt(m):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tr.run(callback=interrupt)
    assert tr.steps_done == 5
    # a failing custom action fails the step with the Python error as cause
    bad = pf.Target.custom(2, lambda x: 1 / 0, lambda x: x)
    t2 = pf.Trainer(pf.Flow.realnvp(2), bad, batch=8, steps=3, eval_every=1, eval_samples=8)
    with pytest.raises(pf.CallbackError) as info:
        t2.run()
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_a_trainer_step_is_the_estimator_on_the_same_draws():
    """Step k of reverse training draws its base samples from stream (seed, k):
    the loss the trainer reports is the estimator's on those samples."""
    tr = quick_trainer(seed=4)
    flow, target = tr.flow, tr.target
    est = pf.Estimator(flow, target, "reverse", "path", 64)
    loss_est, grad = est.eval(flow.sample_base(64, seed=4, stream=0))
    loss, grad_norm = tr.step()
    assert loss == loss_est
    assert max_rel_err(grad_norm, np.linalg.norm(grad)) < 1e-14


def weighted_moments(x, log_w, f):
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    v = f(x)
    mean = (w[:, None] * v).sum(axis=0)
    err = np.sqrt(((w[:, None] * (v - mean)) ** 2).sum(axis=0))  # delta method
    return mean, err


def test_python_gaussian_action_trains_to_its_exact_second_moments():
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    A = np.linalg.inv(cov)
    target = pf.Target.custom(2, lambda x: 0.5 * np.einsum("bi,ij,bj->b", x, A, x),
                              lambda x: x @ A)
    flow = pf.Flow.realnvp(2, layers=4, hidden=[16, 16], seed=3)
    tr = pf.Trainer(flow, target, batch=128, steps=400, lr=5e-3, eval_every=400,
                    eval_samples=2000, seed=5)
    rows = tr.run()
    assert rows[-1].ess > 0.97, rows[-1]
    x, lw = pf.sample(flow, target, 20000, seed=7)
    m2, err = weighted_moments(x, lw, lambda x: x ** 2)
    assert np.all(np.abs(m2 - np.diag(cov)) < 5 * err), (m2, err)
    assert pf.reverse_ess(lw) > 0.97


def test_python_double_well_trains_to_its_quadrature_moment():
    """S = 2(x₀² − 1)² + x₁²/2: ⟨x₀²⟩ by quadrature, ⟨x₁²⟩ = 1."""
    target = pf.Target.custom(
        2, lambda x: 2 * (x[:, 0] ** 2 - 1) ** 2 + 0.5 * x[:, 1] ** 2,
        lambda x: np.stack([8 * x[:, 0] * (x[:, 0] ** 2 - 1), x[:, 1]], axis=1))
    flow = pf.Flow.realnvp(2, layers=4, hidden=[32, 32], seed=3)
    tr = pf.Trainer(flow, target, batch=256, steps=400, lr=5e-3, eval_every=400,
                    eval_samples=2000, seed=1)
    assert tr.run()[-1].ess > 0.8
    g = np.linspace(-4, 4, 200001)
    p = np.exp(-2 * (g ** 2 - 1) ** 2)
    exact = (g ** 2 * p).sum() / p.sum()  # 0.8521...
    x, lw = pf.sample(flow, target, 20000, seed=3)
    m2, err = weighted_moments(x, lw, lambda x: x ** 2)
    assert abs(m2[0] - exact) < 5 * err[0] and abs(m2[1] - 1) < 5 * err[1], (m2, err, exact)
    assert err[0] < 0.02


def test_forward_training_on_python_data():
    target = pf.Target.mgm(2, 1.0, 0.5)
    data = target.sample(512, seed=8)
    flow = pf.Flow.realnvp(2, layers=2, hidden=[16], seed=1)
    tr = pf.Trainer(flow, target, objective="forward", estimator="path", batch=128, steps=60,
                    lr=5e-3, eval_every=30, eval_samples=256, data=data,
                    holdout=target.sample(512, seed=9))
    assert tr.options["n_data"] == 512 and tr.options["n_holdout"] == 512
    rows = tr.run()
    assert rows[-1].nll < rows[0].nll + 0.5 and np.isfinite(rows[-1].ess_forward)


def counting_thread():
    """A thread counting in a pure-Python loop that stamps the time every
    1000 iterations."""
    state = {"stop": False, "stamps": []}

    def count():
        i = 0
        while not state["stop"]:
            i += 1
            if i % 1000 == 0:
                state["stamps"].append(time.perf_counter())

    th = threading.Thread(target=count, daemon=True)
    th.start()
    return state, th


def stamps_inside(stamps, t0, t1):
    """Stamps in the middle 60% of [t0, t1]."""
    lo, hi = t0 + 0.2 * (t1 - t0), t1 - 0.2 * (t1 - t0)
    return sum(lo <= s <= hi for s in stamps)


def test_the_gil_is_released_while_the_library_trains():
    """A Python thread keeps running during every step of a training run.
    Between two calls of on_step the library trains (a large batch, ~0.1-0.3
    s) without running Python code: had it held the GIL, the counting thread
    could make no stamp in the middle of that window (it then makes none:
    checked by hand with the library loaded as ctypes.PyDLL)."""
    target = pf.Target.mgm(4, 1.0, 0.5)
    flow = pf.Flow.realnvp(4, layers=4, hidden=[128, 128], seed=1)
    tr = pf.Trainer(flow, target, batch=2048, steps=5, eval_every=5, eval_samples=64,
                    n_holdout=64)
    state, th = counting_thread()
    ends = []
    try:
        time.sleep(0.05)
        tr.run(on_step=lambda step, loss: ends.append(time.perf_counter()))
    finally:
        state["stop"] = True
        th.join()
    steps = [stamps_inside(state["stamps"], a, b) for a, b in zip(ends[:-1], ends[1:])]
    assert len(steps) == 4 and all(n > 0 for n in steps), steps


def test_ctrl_c_stops_training_within_a_step():
    """SIGINT during a long run ends it after the current step with
    KeyboardInterrupt, also for a custom Python target, and never lets a
    callback drop it (CPython would raise it on entering a ctypes callback,
    where ctypes prints and ignores it)."""
    for target in ("pf.Target.mgm(2)",
                   "pf.Target.custom(2, lambda x: (x * x).sum(1) / 2, lambda x: x)"):
        interrupt_training(target)


def interrupt_training(target):
    import signal
    import subprocess
    import sys
    code = """
import pathflow as pf, sys
t = """ + target + """
tr = pf.Trainer(pf.Flow.realnvp(2), t, batch=64, steps=10**7, eval_every=10**6,
                eval_samples=64)
print("training", flush=True)
try:
    tr.run()
except KeyboardInterrupt:
    print("interrupted after", tr.steps_done, "steps", flush=True)
    sys.exit(3)
"""
    # a shell without job control starts background jobs with SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler: reset it
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.stdout.readline().strip() == "training"
    time.sleep(0.5)
    t0 = time.perf_counter()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 3, (out, err)
    assert "Exception ignored" not in (err or "")
    steps = int(out.split()[2])
    assert 0 < steps < 10**7 and time.perf_counter() - t0 < 10


def test_cnf_and_u1_flows_train_with_solver_and_root_finder_counts():
    target = pf.Target.mgm(2, 1.0, 0.5)
    cnf = pf.Flow.cnf(2, hidden=[8], seed=1, rtol=1e-6, atol=1e-6)
    rows = pf.Trainer(cnf, target, batch=32, steps=3, eval_every=3, eval_samples=32,
                      n_holdout=32).run()
    assert rows[-1].nfe_forward > 0 and rows[-1].nfe_backward > 0
    assert cnf.ode_stats["solves"] > 0 and cnf.ode_stats["solves_b"] > 0
    u1 = pf.Flow.u1(4, 4, layers=2, hidden=[4], seed=1)
    lat = pf.Target.u1(4, 4, 1.0)
    tr = pf.Trainer(u1, lat, objective="reverse", estimator="path", batch=16, steps=3,
                    eval_every=3, eval_samples=16)
    calls = u1.root_finder_calls
    rows = tr.run()
    assert np.isfinite(rows[-1].loss) and 0 < rows[-1].ess <= 1
    assert u1.root_finder_calls == calls  # reverse `path` never inverts the flow
