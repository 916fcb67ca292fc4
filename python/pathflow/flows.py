"""Flows T_θ: base samples z ~ q₀ → x = T_θ(z), with log-determinants, the
score recursion, vector–Jacobian products and the parameter vector θ."""
import ctypes

import numpy as np

from . import _lib as L

_MASKS = {"halves": 0, "even_odd": 1, "checkerboard": 2}


def _hidden(values, limit, name):
    h = [int(v) for v in values]
    if len(h) > limit:
        raise ValueError(f"{name}: at most {limit} hidden layers, got {len(h)}")
    return h


def _set(o, **kw):
    for k, v in kw.items():
        if v is not None:
            setattr(o, k, v)


class Flow(L.Handle):
    """A pathflow flow. Build one with Flow.realnvp, Flow.cnf or Flow.u1 (or
    get an experiment's). `params` is θ itself, a writable float64 array over
    the flow's memory."""

    def __init__(self, handle, owner=None):
        super().__init__()
        self._h = handle
        self._owner = owner
        self._reserved = 0
        self.dim = L.pf_flow_dim(handle)
        self.kind = L.text(L.pf_flow_kind(handle))
        self.base = {1: "uniform", 2: "z2_mixture"}.get(L.pf_flow_base(handle), "normal")
        self.n_params = L.pf_flow_n_params(handle)

    @staticmethod
    def _create(fn, options):
        h = ctypes.c_void_p()
        L.check(fn(ctypes.byref(options), ctypes.byref(h)))
        return Flow(h.value)

    # ---- constructors ------------------------------------------------------------

    @classmethod
    def realnvp(cls, dim, layers=None, hidden=None, activation=None, mask=None, lattice=None,
                zero_init=None, init_scale=None, seed=None, conditioner=None, kernel=None,
                symmetry=None, base=None, base_shift=None):
        """RealNVP: `layers` affine couplings with MLP conditioners of widths
        `hidden` (default 4 × [32, 32], tanh); mask "halves", "even_odd" or
        "checkerboard" (with lattice=(L0, L1), L0·L1 = dim); zero_init: the
        flow starts as the identity (default True). conditioner "dense" (an
        MLP) or "conv" (a periodic CNN of odd `kernel` size and hidden
        channels `hidden`, checkerboard lattices only); symmetry "none" or
        "z2" (s even, t odd: the flow commutes with φ → −φ); base "normal"
        (N(0, I), the default) or "z2_mixture" (½N(m·1, I) + ½N(−m·1, I),
        m = base_shift, default 1: two modes for the two vacua of a broken
        phase)."""
        o = L.pf_realnvp_options_default()
        o.dim = int(dim)
        if conditioner is not None:
            if conditioner not in ("dense", "conv"):
                raise ValueError(f"realnvp conditioner: '{conditioner}' is not dense or conv")
            o.conditioner = int(conditioner == "conv")
        if symmetry is not None:
            if symmetry not in ("none", "z2"):
                raise ValueError(f"realnvp symmetry: '{symmetry}' is not none or z2")
            o.symmetry = int(symmetry == "z2")
        if base is not None:
            if base not in ("normal", "z2_mixture"):
                raise ValueError(f"realnvp base: '{base}' is not normal or z2_mixture")
            o.base = 2 if base == "z2_mixture" else 0
        _set(o, base_shift=base_shift)
        _set(o, n_layers=layers, init_scale=init_scale, seed=seed, kernel=kernel,
             zero_init=None if zero_init is None else int(bool(zero_init)))
        if hidden is not None:
            h = _hidden(hidden, 16, "realnvp hidden")
            o.n_hidden = len(h)
            o.hidden[:len(h)] = h
        if activation is not None:
            act = activation.encode()
            o.activation = act
        if mask is not None:
            if mask not in _MASKS:
                raise ValueError(f"realnvp mask: '{mask}' is not one of {', '.join(_MASKS)}")
            o.mask = _MASKS[mask]
        if lattice is not None:
            o.lattice[0], o.lattice[1] = (int(v) for v in lattice)
        return cls._create(L.pf_flow_realnvp_create, o)

    @classmethod
    def cnf(cls, dim, hidden=None, activation=None, zero_init=None, init_scale=None, seed=None,
            t1=None, rtol=None, atol=None, max_steps=None, checkpoint_steps=None,
            method=None, divergence=None, field=None, lattice=None, features=None,
            frequency=None, odd=None, time_basis=None, radius=None, symmetric=None):
        """A continuous normalizing flow dx/dt = f_θ(x, t) solved by CVODES:
        vector field MLP of widths `hidden` (default [32, 32], tanh or
        softplus), integration time t1, tolerances rtol/atol, method "adams"
        or "bdf", divergence "exact" or "hutchinson". field="lattice" selects
        the translation-equivariant lattice field instead (lattice=(L0, L1),
        `features` sine features up to `frequency`, `time_basis` functions of
        t, kernel radius `radius`, odd/symmetric flags); its divergence is
        exact and cheap, and its parameters do not depend on the lattice size."""
        o = L.pf_cnf_options_default()
        o.dim = int(dim)
        if field is not None:
            if field not in ("mlp", "lattice"):
                raise ValueError(f"cnf field: '{field}' is not mlp or lattice")
            field_name = field.encode()
            o.field = field_name
        if lattice is not None:
            ext = [int(v) for v in lattice]
            if not 1 <= len(ext) <= 4:
                raise ValueError("cnf lattice: 1 to 4 extents")
            o.n_lattice = len(ext)
            o.lattice[:len(ext)] = ext
        _set(o, features=features, frequency=frequency, time_basis=time_basis, radius=radius,
             odd=None if odd is None else int(bool(odd)),
             symmetric=None if symmetric is None else int(bool(symmetric)))
        _set(o, init_scale=init_scale, seed=seed, t1=t1, rtol=rtol, atol=atol,
             max_steps=max_steps, checkpoint_steps=checkpoint_steps,
             zero_init=None if zero_init is None else int(bool(zero_init)))
        if hidden is not None:
            h = _hidden(hidden, 16, "cnf hidden")
            o.n_hidden = len(h)
            o.hidden[:len(h)] = h
        if activation is not None:
            act = activation.encode()
            o.activation = act
        if method is not None:
            if method not in ("adams", "bdf"):
                raise ValueError(f"cnf method: '{method}' is not adams or bdf")
            o.bdf = int(method == "bdf")
        if divergence is not None:
            if divergence not in ("exact", "hutchinson"):
                raise ValueError(f"cnf divergence: '{divergence}' is not exact or hutchinson")
            o.hutchinson = int(divergence == "hutchinson")
        return cls._create(L.pf_flow_cnf_create, o)

    @classmethod
    def u1(cls, L0, L1, layers=None, hidden=None, kernel=None, mixture=None, activation=None,
           tolerance=None, zero_init=None, init_scale=None, seed=None):
        """The gauge-equivariant U(1) coupling flow on an L0×L1 lattice
        (multiples of 4): `layers` couplings (default 16), CNN conditioners of
        channels `hidden` (default [8, 8]) and odd `kernel` (3), `mixture` tan
        transforms (2), root-finder `tolerance` (1e-10)."""
        o = L.pf_u1_flow_options_default()
        o.L0, o.L1 = int(L0), int(L1)
        _set(o, n_layers=layers, kernel=kernel, n_mixture=mixture, tolerance=tolerance,
             init_scale=init_scale, seed=seed,
             zero_init=None if zero_init is None else int(bool(zero_init)))
        if hidden is not None:
            h = _hidden(hidden, 8, "u1 hidden")
            o.n_hidden = len(h)
            o.hidden[:len(h)] = h
        if activation is not None:
            act = activation.encode()
            o.activation = act
        return cls._create(L.pf_flow_u1_create, o)

    # ---- lifetime ------------------------------------------------------------------

    def close(self):
        """Frees the flow (an experiment's flow is freed with the experiment);
        arrays from `params` must not be used afterwards."""
        with self._lock:
            if self._h and self._owner is None:
                L.pf_flow_destroy(self._h)
            self._h = None

    def __repr__(self):
        return f"<pathflow.Flow {self.kind} dim={self.dim} params={self.n_params}>"

    # ---- parameters and description ---------------------------------------------

    @property
    def params(self):
        """θ: a writable (n_params,) view of the flow's own parameters (no copy;
        it keeps the flow object alive, but not past close())."""
        return L.view(L.pf_flow_params(self.h), (self.n_params,), owner=self)

    @params.setter
    def params(self, values):
        self.params[...] = L.as_input(values, "params", (self.n_params,))

    def describe(self):
        """The architecture text stored in checkpoints."""
        return L.text(L.pf_flow_describe(self.h))

    @property
    def root_finder_calls(self):
        return L.pf_flow_root_finder_calls(self.h)

    @property
    def ode_stats(self):
        """CVODES counts since creation or reset_ode_stats() (None but for CNFs)."""
        p = L.pf_flow_ode_stats(self.h)
        if not p:
            return None
        s = p.contents
        return {name: getattr(s, name) for name, _ in L.OdeStats._fields_}

    def reset_ode_stats(self):
        L.pf_flow_ode_stats_reset(self.h)

    def load_checkpoint(self, path):
        """Loads θ from a checkpoint written for the same architecture."""
        with L.using(self):
            L.check(L.pf_flow_load_checkpoint(self.h, str(path).encode()))

    def reserve(self, B):
        """Sizes the flow's tape for batches of up to B rows (done on demand)."""
        B = int(B)
        if B > self._reserved:
            with L.using(self):
                L.check(L.pf_flow_reserve(self.h, B))
            self._reserved = B

    def _rows(self, x, name):
        x = L.as_input(x, name, (None, self.dim))
        L.check_batch(x.shape[0], name)
        self.reserve(x.shape[0])
        return x

    # ---- base distribution ----------------------------------------------------------

    def sample_base(self, n, seed=0, stream=0):
        """n base samples (n, d) from the normal (or uniform) draws of stream
        (seed, stream); a z2_mixture base adds ±base_shift to each row."""
        L.check_batch(int(n), "n")
        z = np.empty((int(n), self.dim))
        rng = L.pf_rng_make(seed, stream)
        L.pf_flow_sample_base(self.h, ctypes.byref(rng), int(n), L.ptr(z))
        return z

    def base_log_prob(self, z, score=False):
        """log q₀(z): (B,), and with score=True also ∇ log q₀(z): (B, d)."""
        z = L.as_input(z, "z", (None, self.dim))
        L.check_batch(z.shape[0], "z")
        lq = np.empty(z.shape[0])
        s = np.empty(z.shape) if score else None
        L.pf_flow_base_log_prob(self.h, z.shape[0], L.ptr(z), L.ptr(lq), L.ptr(s))
        return (lq, s) if score else lq

    def set_noise(self, key, first_row=0):
        """Keys the random numbers drawn inside passes (CNF Hutchinson probes)."""
        L.pf_flow_set_noise(self.h, int(key), int(first_row))

    # ---- passes ------------------------------------------------------------------------

    def forward(self, z, score=None):
        """x = T(z) and ldj = log|det ∂x/∂z|; with score (∇ log q₀ at z, (B, d))
        also the score of q_θ at x by the forward recursion: (x, ldj, score_x)."""
        z = self._rows(z, "z")
        B = z.shape[0]
        x, ldj = np.empty(z.shape), np.empty(B)
        s_in = None if score is None else L.as_input(score, "score", z.shape)
        s_out = None if score is None else np.empty(z.shape)
        with L.using(self):
            L.check(L.pf_flow_forward(self.h, B, L.ptr(z), L.ptr(x), L.ptr(ldj), L.ptr(s_in),
                                      L.ptr(s_out)))
        return (x, ldj) if score is None else (x, ldj, s_out)

    def inverse(self, x, score=None):
        """z = T⁻¹(x) and ldj_inv = log|det ∂z/∂x|; with score (a score at x,
        e.g. −force) also its pullback at z: (z, ldj_inv, score_z)."""
        x = self._rows(x, "x")
        B = x.shape[0]
        z, ldj = np.empty(x.shape), np.empty(B)
        s_in = None if score is None else L.as_input(score, "score", x.shape)
        s_out = None if score is None else np.empty(x.shape)
        with L.using(self):
            L.check(L.pf_flow_inverse(self.h, B, L.ptr(x), L.ptr(z), L.ptr(ldj), L.ptr(s_in),
                                      L.ptr(s_out)))
        return (z, ldj) if score is None else (z, ldj, s_out)

    def log_prob(self, x):
        """log q_θ(x) = log q₀(T⁻¹x) + log|det ∂T⁻¹/∂x|: (B,)."""
        z, ldj = self.inverse(x)
        return self.base_log_prob(z) + ldj

    def backward(self, out_bar, ldj_bar=None):
        """The vector–Jacobian product of the last forward or inverse pass:
        given cotangents of its output (B, d) and of its log-determinant (B,)
        returns (∂/∂θ, ∂/∂input) of Σ out_bar·output + Σ ldj_bar·ldj."""
        ob = L.as_input(out_bar, "out_bar", (None, self.dim))
        B = ob.shape[0]
        lb = None if ldj_bar is None else L.as_input(ldj_bar, "ldj_bar", (B,))
        grad, in_bar = np.zeros(self.n_params), np.zeros(ob.shape)
        with L.using(self):
            L.check(L.pf_flow_backward(self.h, B, L.ptr(ob), L.ptr(lb), L.ptr(grad),
                                       L.ptr(in_bar)))
        return grad, in_bar
