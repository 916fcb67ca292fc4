"""The trainer (Adam, schedules, clipping, diagnostics, checkpoints) and the
effective-sample-size diagnostics."""
import collections
import ctypes

import numpy as np

from . import _lib as L
from .estimators import estimator_code, objective_code

Metrics = collections.namedtuple(
    "Metrics", "step loss grad_norm ess ess_forward nll kl seconds skipped nfe_forward nfe_backward")
Metrics.__doc__ = """One row of training metrics (NaN where a figure does not apply):
steps done, mean loss and gradient norm since the previous row, reverse ESS on
eval_samples flow samples, forward ESS and NLL on held-out target samples,
KL(q‖p) when log Z is known, wall seconds, skipped steps, CNF right-hand-side
evaluations (forward/inverse and adjoint)."""


def metrics_from_c(m):
    return Metrics(*(getattr(m, name) for name, _ in L.CMetrics._fields_))


def _schedule_code(name):
    v = ctypes.c_int()
    L.check(L.pf_schedule_from_name(str(name).encode(), ctypes.byref(v)))
    return v.value


def options_to_dict(o):
    """A pf_train_options as a dict of the Trainer's keyword arguments."""
    return {"objective": L.text(L.pf_objective_name(o.objective)),
            "estimator": L.text(L.pf_estimator_kind_name(o.estimator)),
            "batch": o.batch, "steps": o.steps, "lr": o.lr, "min_lr": o.min_lr,
            "schedule": L.text(L.pf_schedule_name(o.schedule)), "warmup": o.warmup,
            "beta1": o.beta1, "beta2": o.beta2, "eps": o.eps, "clip_norm": o.clip_norm,
            "clip_relative": o.clip_relative, "seed": o.seed, "eval_every": o.eval_every, "eval_samples": o.eval_samples,
            "max_bad_steps": o.max_bad_steps, "n_data": o.n_data if o.data else 0,
            "n_holdout": o.n_holdout, "settings_hash": o.settings_hash}


class Trainer(L.Handle):
    """Trainer(flow, target, objective="reverse", estimator="path", batch=256,
    steps=1000, lr=1e-3, min_lr=0, schedule="cosine", warmup=0, beta1=0.9,
    beta2=0.999, eps=1e-8, clip_norm=0, clip_relative=5, seed=1, eval_every=100,
    eval_samples=2000, max_bad_steps=10, data=None, holdout=None,
    n_holdout=2000, settings_hash=0).

    data: forward-KL training samples (N, d) (None: fresh exact samples every
    step); holdout: target samples for NLL and forward ESS (None: n_holdout
    drawn from the exact sampler if there is one). The trainer keeps its
    flow, target and arrays alive. step() takes one gradient step; run()
    trains to the end with Python callbacks (the GIL is released during the
    library's work, so other Python threads run meanwhile)."""

    def __init__(self, flow, target, objective=None, estimator=None, batch=None, steps=None,
                 lr=None, min_lr=None, schedule=None, warmup=None, beta1=None, beta2=None,
                 eps=None, clip_norm=None, seed=None, eval_every=None, eval_samples=None,
                 max_bad_steps=None, data=None, holdout=None, n_holdout=None,
                 settings_hash=None, clip_relative=None):
        super().__init__()
        o = L.pf_train_options_default()
        if objective is not None:
            o.objective = objective_code(objective)
        if estimator is not None:
            o.estimator = estimator_code(o.objective, estimator)
        if schedule is not None:
            o.schedule = _schedule_code(schedule)
        for k, v in dict(batch=batch, steps=steps, lr=lr, min_lr=min_lr, warmup=warmup,
                         beta1=beta1, beta2=beta2, eps=eps, clip_norm=clip_norm,
                         clip_relative=clip_relative, seed=seed,
                         eval_every=eval_every, eval_samples=eval_samples,
                         max_bad_steps=max_bad_steps, n_holdout=n_holdout,
                         settings_hash=settings_hash).items():
            if v is not None:
                setattr(o, k, v)
        self._data = self._holdout = None
        if data is not None:
            self._data = L.as_input(data, "data", (None, flow.dim))
            L.check_batch(self._data.shape[0], "data")
            o.data, o.n_data = L.ptr(self._data), self._data.shape[0]
        if holdout is not None:
            self._holdout = L.as_input(holdout, "holdout", (None, flow.dim))
            L.check_batch(self._holdout.shape[0], "holdout")
            o.holdout, o.n_holdout = L.ptr(self._holdout), self._holdout.shape[0]
        self.flow, self.target = flow, target
        h = ctypes.c_void_p()
        with L.using(flow, target):
            L.check(L.pf_trainer_create(flow.h, target.h, ctypes.byref(o), ctypes.byref(h)))
        self._h = h.value
        self.options = options_to_dict(o)
        flow._reserved = max(flow._reserved, o.batch)

    def close(self):
        with self._lock:
            if self._h:
                L.pf_trainer_destroy(self._h)
            self._h = None

    def __repr__(self):
        o = self.options
        return (f"<pathflow.Trainer {o['objective']} {o['estimator']} batch={o['batch']} "
                f"steps={self.steps_done}/{o['steps']}>")

    @property
    def steps_done(self):
        return L.pf_trainer_steps_done(self.h)

    def step(self):
        """One gradient step: (loss, grad_norm) (NaN if it was skipped)."""
        loss, gn = ctypes.c_double(), ctypes.c_double()
        with L.using(self, self.flow, self.target):
            L.check(L.pf_trainer_step(self.h, ctypes.byref(loss), ctypes.byref(gn)))
        return loss.value, gn.value

    def evaluate(self):
        """Diagnostics at the current parameters: a Metrics row."""
        m = L.CMetrics()
        with L.using(self, self.flow, self.target):
            L.check(L.pf_trainer_evaluate(self.h, ctypes.byref(m)))
        return metrics_from_c(m)

    def run(self, callback=None, on_step=None, stop_at=0):
        """Trains the remaining steps (up to step stop_at if 0 < stop_at <
        steps) and returns the list of Metrics rows (every eval_every steps
        and the last step).

        callback(metrics) is called with each row, on_step(step, loss) after
        every step; either returning a true value ends the run after that
        step (which gets a last row). An exception raised in either (also
        KeyboardInterrupt during training) ends the run and is raised here."""
        rows = []

        def c_row(user, m):
            if L.take_interrupt():
                return 1
            try:
                row = metrics_from_c(m.contents)
                rows.append(row)
                return 1 if callback is not None and callback(row) else 0
            except BaseException as e:  # noqa: B902 — raised by check() below
                L.set_pending(e)
                return 1

        def c_step(user, step, loss):
            if L.take_interrupt():
                return 1
            try:
                return 1 if on_step is not None and on_step(step, loss) else 0
            except BaseException as e:  # noqa: B902
                L.set_pending(e)
                return 1

        cb_row, cb_step = L.TRAIN_CALLBACK(c_row), L.STEP_CALLBACK(c_step)
        with L.using(self, self.flow, self.target):
            # a step callback even without on_step: Ctrl-C is seen every step
            L.pf_trainer_set_step_callback(self.h, cb_step, None)
            try:
                st = L.pf_trainer_run_until(self.h, int(stop_at), cb_row, None)
            finally:
                L.pf_trainer_set_step_callback(self.h, L.STEP_CALLBACK(), None)
            L.check(st)
        return rows

    def save(self, path):
        """Writes a checkpoint (θ, Adam state, step), atomically."""
        with L.using(self, self.flow):
            L.check(L.pf_trainer_save(self.h, str(path).encode()))

    def load(self, path):
        """Restores θ, the Adam state and the step count from a checkpoint of
        the same flow."""
        with L.using(self, self.flow):
            L.check(L.pf_trainer_load(self.h, str(path).encode()))


def _doubles(a, name):
    a = L.as_input(a, name, (None,))
    L.check_batch(a.shape[0], name)
    return a


def reverse_ess(log_w):
    """Reverse effective sample size (Σw)²/(N Σw²) ∈ (0, 1] from log weights
    of flow samples."""
    a = _doubles(log_w, "log_w")
    return L.pf_reverse_ess(a.shape[0], L.ptr(a))


def forward_ess(log_w):
    """Forward ESS 1/(mean(w)·mean(1/w)) ∈ (0, 1] from log weights of target
    samples."""
    a = _doubles(log_w, "log_w")
    return L.pf_forward_ess(a.shape[0], L.ptr(a))


def log_mean_exp(a):
    """log((1/N) Σ exp(a_i)), stable."""
    a = _doubles(a, "a")
    return L.pf_log_mean_exp(a.shape[0], L.ptr(a))


def random_normal(n, seed, stream=0, first=0):
    """Draws first .. first+n−1 of the standard-normal domain of Philox stream
    (seed, stream): the numbers the library draws."""
    out = np.empty(int(n))
    rng = L.pf_rng_make(seed, stream)
    L.pf_rng_normal_at(ctypes.byref(rng), int(first), int(n), L.ptr(out))
    return out


def random_uniform(n, seed, stream=0, first=0):
    """Uniform draws in (0, 1) of Philox stream (seed, stream)."""
    out = np.empty(int(n))
    rng = L.pf_rng_make(seed, stream)
    L.pf_rng_uniform_at(ctypes.byref(rng), int(first), int(n), L.ptr(out))
    return out
