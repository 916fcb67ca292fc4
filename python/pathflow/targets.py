"""Targets: unnormalised densities p(x) ∝ exp(−S(x)) with action S and force ∇S.

Batches are (B, d) float64 arrays (lattice targets also take (B, L0, L1) or
(B, 2, L0, L1), read in C order). Inputs that already are C-contiguous float64
are passed to the library without a copy; other array-likes are converted.
"""
import ctypes

import numpy as np

from . import _lib as L


class Target(L.Handle):
    """A pathflow target. Build one with a class method: Target.gmm, .mgm,
    .phi4, .phi4_mass, .u1 or .custom. Close it with close() or a with-block
    (the garbage collector also frees it)."""

    def __init__(self, handle, owner=None, callbacks=None):
        super().__init__()
        self._h = handle
        self._owner = owner          # an experiment that owns the handle, or None
        self._callbacks = callbacks  # the C function pointers of a custom target
        self.dim = L.pf_target_dim(handle)
        self.kind = L.text(L.pf_target_kind(handle))
        shape = (ctypes.c_int * 4)()
        n = L.pf_target_shape(handle, shape)
        self.shape = tuple(shape[:n])

    @staticmethod
    def _create(fn, *args, callbacks=None):
        h = ctypes.c_void_p()
        L.check(fn(*args, ctypes.byref(h)))
        return Target(h.value, callbacks=callbacks)

    # ---- constructors --------------------------------------------------------

    @classmethod
    def gmm(cls, weights, means, covariances):
        """Gaussian mixture Σ_c w_c N(μ_c, Σ_c), normalised (log Z = 0).
        weights: (C,), means: (C, d), covariances: (C, d, d) (copied)."""
        w = L.as_input(weights, "weights", (None,))
        C = w.shape[0]
        m = L.as_input(means, "means", (C, None))
        d = m.shape[1]
        c = L.as_input(covariances, "covariances", (C, d, d))
        return cls._create(L.pf_target_gmm_create, d, C, L.ptr(w), L.ptr(m), L.ptr(c))

    @classmethod
    def mgm(cls, dim, loc=1.0, scale=0.5):
        """The paper's mixture of 2^dim Gaussians at the corners {−loc, +loc}^dim,
        each with covariance scale·I."""
        return cls._create(L.pf_target_mgm_create, int(dim), float(loc), float(scale))

    @classmethod
    def phi4(cls, L0, L1, kappa, lam):
        """φ⁴ on a periodic L0×L1 lattice, hopping form:
        S = Σₓ [−2κ Σ_μ φₓφ_{x+μ} + (1 − 2λ)φₓ² + λφₓ⁴]."""
        return cls._create(L.pf_target_phi4_create, int(L0), int(L1), float(kappa), float(lam))

    @classmethod
    def phi4_mass(cls, L0, L1, m2, lam):
        """φ⁴ in the (m², λ) form: S = Σₓ [−Σ_μ ϕₓϕ_{x+μ} + (2 + m²/2)ϕₓ² + λϕₓ⁴]."""
        return cls._create(L.pf_target_phi4_mass_create, int(L0), int(L1), float(m2), float(lam))

    @classmethod
    def u1(cls, L0, L1, beta):
        """2-D U(1) gauge theory, Wilson action S = −β Σₓ cos P(x) on the
        2·L0·L1 link angles."""
        return cls._create(L.pf_target_u1_create, int(L0), int(L1), float(beta))

    @classmethod
    def custom(cls, dim, action, force=None):
        """A target from Python callables on batches: action(x) with x of shape
        (B, dim) returns S of shape (B,); force(x) returns ∇S, shape (B, dim).
        x is a read-only view of the library's memory, valid during the call
        only (copy it to keep it). force may be None if no gradient of the
        target is needed (forward `ml`; sampling). An exception raised by a
        callable fails the library call that made it, and is raised from it
        as the cause of a CallbackError (KeyboardInterrupt as itself). A
        configuration outside the physical domain may get S = inf or NaN:
        the trainer skips such steps."""
        if not callable(action) or (force is not None and not callable(force)):
            raise TypeError("custom target: action (and force, if given) must be callable")
        d = int(dim)
        if d < 1:
            raise ValueError(f"custom target: dim = {d} must be ≥ 1")
        c_action = L.ACTION_FN(_callback(action, d, (), "action"))
        c_force = L.ACTION_FN(_callback(force, d, (d,), "force")) if force else L.ACTION_FN()
        return cls._create(L.pf_target_custom_create, d, c_action, c_force, None,
                           callbacks=(c_action, c_force))

    # ---- lifetime ---------------------------------------------------------------

    def close(self):
        """Frees the target (an experiment's target is freed with the experiment)."""
        with self._lock:
            if self._h and self._owner is None:
                L.pf_target_destroy(self._h)
            self._h = None

    def __repr__(self):
        return f"<pathflow.Target {self.kind} dim={self.dim} shape={self.shape}>"

    # ---- evaluation ---------------------------------------------------------------

    def rows(self, x, name="x"):
        """x as a C-contiguous (B, d) float64 array (a view when possible)."""
        a = L.as_input(x, name)
        if a.ndim == len(self.shape) + 1 and a.shape[1:] == self.shape and a.ndim > 2:
            a = a.reshape(a.shape[0], self.dim)
        a = L.as_input(a, name, (None, self.dim))
        L.check_batch(a.shape[0], name)
        return a

    def action(self, x, out=None):
        """S(x) for each row of x: (B,)."""
        x = self.rows(x)
        S = L.as_output(out, "out", (x.shape[0],))
        with L.using(self):
            L.check(L.pf_target_action(self.h, x.shape[0], L.ptr(x), L.ptr(S)))
        return S

    def force(self, x, out=None):
        """∇S(x) for each row: (B, d) (the score of p is −force)."""
        x = self.rows(x)
        F = L.as_output(out, "out", x.shape)
        with L.using(self):
            L.check(L.pf_target_force(self.h, x.shape[0], L.ptr(x), L.ptr(F)))
        return F

    def log_prob(self, x):
        """log p(x) = −S(x) − log Z when log Z is known, else −S(x)."""
        lz = self.log_z
        return -self.action(x) - (lz if lz is not None else 0.0)

    @property
    def has_sampler(self):
        return bool(L.pf_target_has_sampler(self.h))

    def sample(self, n, seed=0, stream=0):
        """n exact samples (n, d) from stream (seed, stream); UnsupportedError
        for targets without an exact sampler (see hmc)."""
        L.check_batch(int(n), "n")
        x = np.empty((int(n), self.dim))
        rng = L.pf_rng_make(seed, stream)
        with L.using(self):
            L.check(L.pf_target_sample(self.h, ctypes.byref(rng), int(n), L.ptr(x)))
        return x

    @property
    def log_z(self):
        """log Z when known exactly (Gaussian mixtures: 0), else None."""
        v = ctypes.c_double()
        if L.pf_target_log_z(self.h, ctypes.byref(v)) != 0:
            L.pf_clear_error()
            return None
        return v.value

    @property
    def observable_names(self):
        return [L.text(L.pf_target_observable_name(self.h, i))
                for i in range(L.pf_target_n_observables(self.h))]

    @property
    def summary_names(self):
        return [L.text(L.pf_target_summary_name(self.h, i))
                for i in range(L.pf_target_n_summaries(self.h))]

    def observables(self, x):
        """Per-sample observables (B, n), columns named by observable_names."""
        x = self.rows(x)
        obs = np.empty((x.shape[0], L.pf_target_n_observables(self.h)))
        with L.using(self):
            L.check(L.pf_target_observables(self.h, x.shape[0], L.ptr(x), L.ptr(obs)))
        return obs

    def summaries(self, x, log_w=None):
        """Ensemble estimates from the batch x, self-normalised with importance
        weights exp(log_w) (None: equal weights): {name: value}."""
        x = self.rows(x)
        lw = None if log_w is None else L.as_input(log_w, "log_w", (x.shape[0],))
        values = np.empty(L.pf_target_n_summaries(self.h))
        with L.using(self):
            L.check(L.pf_target_summaries(self.h, x.shape[0], L.ptr(x), L.ptr(lw), L.ptr(values)))
        return dict(zip(self.summary_names, values.tolist()))

    def hmc(self, n_samples=1000, thermalize=200, thin=5, n_leapfrog=10, step_size=0.1,
            seed=1, x0=None):
        """Hybrid Monte Carlo samples (n_samples, d) and the acceptance rate;
        reproducible from seed. U(1) samples are wrapped into [0, 2π)."""
        o = L.pf_hmc_options_default()
        o.n_samples, o.thermalize, o.thin = int(n_samples), int(thermalize), int(thin)
        o.n_leapfrog, o.step_size, o.seed = int(n_leapfrog), float(step_size), int(seed)
        x0 = None if x0 is None else L.as_input(np.asarray(x0, dtype=float).reshape(-1), "x0",
                                                (self.dim,))
        out = np.empty((max(o.n_samples, 1), self.dim))
        acc = ctypes.c_double()
        with L.using(self):
            L.check(L.pf_target_hmc(self.h, ctypes.byref(o), L.ptr(x0), L.ptr(out),
                                    ctypes.byref(acc)))
        return out, acc.value


def phi4_hopping_from_mass(m2, lam):
    """(κ, λ_h) of the hopping form equal to the mass form (m², λ)."""
    k, lh = ctypes.c_double(), ctypes.c_double()
    L.check(L.pf_phi4_hopping_from_mass(float(m2), float(lam), ctypes.byref(k), ctypes.byref(lh)))
    return k.value, lh.value


def _callback(fn, d, tail, which):
    """A C callback (user, B, x, out) → int over the Python callable fn(x)."""
    def cb(user, B, x, out):
        if L.take_interrupt():
            return -1
        try:
            xv = L.view(x, (B, d), readonly=True)
            r = np.asarray(fn(xv), dtype=np.float64)
            if r.shape != (B,) + tail:
                raise ValueError(f"custom target: {which} returned shape {r.shape}, "
                                 f"expected {(B,) + tail}")
            L.view(out, (B,) + tail)[...] = r
            return 0
        except BaseException as e:  # noqa: B902 — reported by the caller (KeyboardInterrupt too)
            L.set_pending(e)
            return -1
    return cb
