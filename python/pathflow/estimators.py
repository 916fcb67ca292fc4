"""The six gradient estimators: reverse KL `total`, `path`, `path-dropin`;
forward KL `ml`, `path`, `path-dropin`."""
import ctypes

import numpy as np

from . import _lib as L


def objective_code(name):
    v = ctypes.c_int()
    L.check(L.pf_objective_from_name(str(name).encode(), ctypes.byref(v)))
    return v.value


def estimator_code(objective, name):
    v = ctypes.c_int()
    L.check(L.pf_estimator_kind_from_name(objective, str(name).encode(), ctypes.byref(v)))
    return v.value


class Estimator(L.Handle):
    """Estimator(flow, target, objective="reverse", estimator="path", batch=256).

    eval(batch) → (loss, grad): the plain Monte-Carlo loss of the objective and
    the batch-mean gradient (n_params,). The batch is base samples z (B, d)
    for the reverse objective (flow.sample_base) and target samples x for the
    forward one; B ≤ `batch`, the workspace size. The estimator keeps its
    flow and target alive."""

    def __init__(self, flow, target, objective="reverse", estimator="path", batch=256):
        super().__init__()
        self.objective = str(objective)
        obj = objective_code(objective)
        kind = estimator_code(obj, estimator)
        self.estimator = L.text(L.pf_estimator_kind_name(kind))
        self.flow, self.target, self.batch = flow, target, int(batch)
        h = ctypes.c_void_p()
        with L.using(flow, target):
            L.check(L.pf_estimator_create(obj, kind, flow.h, target.h, self.batch, ctypes.byref(h)))
        self._h = h.value
        flow._reserved = max(flow._reserved, self.batch)
        self.grad_norm = float("nan")
        self._last_B = 0

    def close(self):
        with self._lock:
            if self._h:
                L.pf_estimator_destroy(self._h)
            self._h = None

    def __repr__(self):
        return f"<pathflow.Estimator {self.objective} {self.estimator} batch={self.batch}>"

    def eval(self, batch, out=None, log_w=False):
        """(loss, grad), or (loss, grad, log_w) with log_w=True: the log
        importance weights −S(x) − log q_θ(x) of the batch's samples. out: an
        (n_params,) float64 array to receive the gradient. The gradient's norm
        is left in self.grad_norm."""
        x = L.as_input(batch, "batch", (None, self.flow.dim))
        B = x.shape[0]
        if not 1 <= B <= self.batch:
            raise ValueError(f"batch: {B} rows outside [1, {self.batch}] (the estimator's size)")
        grad = L.as_output(out, "out", (self.flow.n_params,))
        lw = np.empty(B) if log_w else None
        r = L.Estimate()
        with L.using(self, self.flow, self.target):
            L.check(L.pf_estimator_eval(self.h, B, L.ptr(x), L.ptr(grad), L.ptr(lw),
                                        ctypes.byref(r)))
        self.grad_norm = r.grad_norm
        self._last_B = B
        return (r.loss, grad, lw) if log_w else (r.loss, grad)

    @property
    def samples(self):
        """A copy of the flow samples x (B, d) of the last reverse evaluation
        (the data for forward)."""
        if not self._last_B:
            return None
        p = L.pf_estimator_samples(self.h)
        return L.view(p, (self._last_B, self.flow.dim), owner=self, readonly=True).copy()
