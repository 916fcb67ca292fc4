"""Experiments from libconfig files (what `pathflow train` runs), trained runs,
sampling and evaluation of a trained flow."""
import ctypes
import math
import os

import numpy as np

from . import _lib as L
from .flows import Flow
from .targets import Target
from .training import metrics_from_c, options_to_dict, reverse_ess


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_value(e) for e in v) + "]"
    raise TypeError(f"set: cannot write a {type(v).__name__} as a configuration value")


def overrides(values):
    """{"training.steps": 100, ...} (or ["training.steps=100", ...]) as the
    library's "section.key=value" texts."""
    if values is None:
        return []
    if isinstance(values, dict):
        return [f"{k}={_value(v)}" for k, v in values.items()]
    return [str(v) for v in values]


class Experiment(L.Handle):
    """Experiment(config_path, set={"training.steps": 100, ...}): a validated
    configuration with defaults filled in. Errors name the file, line and key
    (ConfigError). build() makes its target, flow and training settings;
    run() trains and writes a run directory."""

    def __init__(self, path, set=None):  # noqa: A002 — `set` as in `pathflow train --set`
        super().__init__()
        texts = [t.encode() for t in overrides(set)]
        arr = (ctypes.c_char_p * max(len(texts), 1))(*texts)
        h = ctypes.c_void_p()
        L.check(L.pf_experiment_load(os.fspath(path).encode(), arr, len(texts), ctypes.byref(h)))
        self._h = h.value
        self.path = os.fspath(path)
        self._target = self._flow = None

    def close(self):
        """Frees the experiment with its target and flow."""
        with self._lock:
            for obj in (self._target, self._flow):
                if obj is not None:
                    obj._h = None
            if self._h:
                L.pf_experiment_destroy(self._h)
            self._h = None

    def __repr__(self):
        return f"<pathflow.Experiment {self.name} from {self.path}>"

    @property
    def name(self):
        return L.text(L.pf_experiment_name(self.h))

    @property
    def default_out_dir(self):
        return L.text(L.pf_experiment_default_out_dir(self.h))

    def write_config(self, path):
        """Writes the resolved configuration (every default filled in)."""
        L.check(L.pf_experiment_write_config(self.h, os.fspath(path).encode()))

    def build(self):
        """Builds the target, the flow and the training settings (idempotent)."""
        with L.using(self):
            L.check(L.pf_experiment_build(self.h))
        if self._target is None:
            self._target = Target(L.pf_experiment_target(self.h), owner=self)
            self._flow = Flow(L.pf_experiment_flow(self.h), owner=self)
        return self

    @property
    def target(self):
        """The experiment's target (built on first use; owned by the experiment)."""
        return self.build()._target

    @property
    def flow(self):
        """The experiment's flow (built on first use; owned by the experiment)."""
        return self.build()._flow

    @property
    def train_options(self):
        self.build()
        return options_to_dict(L.pf_experiment_train_options(self.h).contents)

    def run(self, out=None, verbose=False, stop_at=0, resume=False):
        """Trains the flow in place and writes the run directory `out` (None:
        experiment.output_dir/name): config.cfg, metrics.csv, checkpoint.pfc,
        samples.npy, log_weights.npy. verbose: progress lines on stderr.
        stop_at > 0 stops after that step; resume continues the run in `out`
        from its checkpoint. Returns a Run."""
        self.build()
        log = L.c_stderr if verbose else None
        m = L.CMetrics()
        out_b = None if out is None else os.fspath(out).encode()
        with L.using(self, self._flow, self._target):
            st = L.pf_experiment_run_with(self.h, out_b, log, ctypes.byref(m), int(stop_at),
                                          int(bool(resume)))
            if verbose:
                L.flush_c_stderr()
            L.check(st)
        return Run(self, os.fspath(out) if out is not None else self.default_out_dir,
                   metrics_from_c(m))


class Run:
    """A run directory with the experiment that made (or reloaded) it:
    out_dir, last (the final Metrics row, None for a reloaded run), flow,
    target, and readers for what the run wrote."""

    def __init__(self, experiment, out_dir, last=None):
        self.experiment, self.out_dir, self.last = experiment, out_dir, last

    def __repr__(self):
        return f"<pathflow.Run {self.out_dir}>"

    @property
    def flow(self):
        return self.experiment.flow

    @property
    def target(self):
        return self.experiment.target

    @property
    def metrics(self):
        """metrics.csv as a NumPy structured array (fields step, loss, ...;
        NaN for empty cells)."""
        return np.genfromtxt(os.path.join(self.out_dir, "metrics.csv"), delimiter=",",
                             names=True, dtype=None, missing_values="", filling_values=np.nan,
                             ndmin=1)

    def samples(self):
        return np.load(os.path.join(self.out_dir, "samples.npy"))

    def log_weights(self):
        return np.load(os.path.join(self.out_dir, "log_weights.npy"))


def train(config, set=None, out=None, verbose=False, stop_at=0, resume=False):  # noqa: A002
    """pathflow.train("configs/x.cfg", set={"training.steps": 200}) trains as
    `pathflow train` does and returns the Run (see Experiment.run)."""
    return Experiment(config, set=set).run(out=out, verbose=verbose, stop_at=stop_at,
                                           resume=resume)


def load_run(path):
    """A trained flow from a run directory (config.cfg + checkpoint.pfc) or a
    checkpoint file with the config.cfg beside it, as `pathflow sample` and
    `pathflow eval` read them."""
    path = os.fspath(path)
    if os.path.isdir(path):
        config, checkpoint, out_dir = (os.path.join(path, "config.cfg"),
                                       os.path.join(path, "checkpoint.pfc"), path)
    elif os.path.exists(path):
        out_dir = os.path.dirname(path) or "."
        config, checkpoint = os.path.join(out_dir, "config.cfg"), path
    else:
        raise FileNotFoundError(f"{path}: no such run directory or checkpoint")
    e = Experiment(config).build()
    e.flow.load_checkpoint(checkpoint)
    return Run(e, out_dir)


_SAMPLE_STREAM = 0x5A3B1E   # the stream `pathflow sample` and `eval` draw from
_METROPOLIS_STREAM = 0x1AB  # `pathflow eval`'s acceptance draws
_CHUNK = 256


def sample(flow, target, n, seed=1):
    """n flow samples x (n, d) and their log importance weights
    −S(x) − log q_θ(x) (n,), drawn as `pathflow sample --seed` draws them
    (the same numbers)."""
    n = int(n)
    L.check_batch(n, "n")
    d = flow.dim
    x, log_w = np.empty((n, d)), np.empty(n)
    z, ldj, lq0 = np.empty((_CHUNK, d)), np.empty(_CHUNK), np.empty(_CHUNK)
    flow.reserve(_CHUNK)
    rng = L.pf_rng_make(seed, _SAMPLE_STREAM)
    with L.using(flow, target):
        for off in range(0, n, _CHUNK):
            k = min(_CHUNK, n - off)
            xo = x[off:off + k]
            L.pf_flow_sample_base(flow.h, ctypes.byref(rng), k, L.ptr(z))
            L.check(L.pf_flow_forward(flow.h, k, L.ptr(z), L.ptr(xo), L.ptr(ldj), None, None))
            L.pf_flow_base_log_prob(flow.h, k, L.ptr(z), L.ptr(lq0), None)
            L.check(L.pf_target_action(target.h, k, L.ptr(xo), L.ptr(log_w[off:off + k])))
            log_w[off:off + k] = -log_w[off:off + k] - (lq0[:k] - ldj[:k])
    return x, log_w


def _tau_int(v):
    """Integrated autocorrelation time by Sokal's window (c = 5), and the variance."""
    N = len(v)
    mean = v.mean()
    var = float(np.mean((v - mean) ** 2))
    if var <= 0:
        return 0.5, var
    dv = v - mean
    tau = 0.5
    for lag in range(1, N // 2):
        tau += float(np.dot(dv[:-lag], dv[lag:])) / ((N - lag) * var)
        if lag >= 5 * tau:
            break
    return tau, var


def evaluate(flow, target, n=10000, seed=2, blocks=20):
    """What `pathflow eval` prints, as numbers: on n flow samples drawn as
    `pathflow eval --seed` draws them,
      "ess": the reverse ESS;
      "summaries": {name: (estimate, jackknife error over `blocks` blocks)},
        the target's summaries by self-normalised importance reweighting;
      "acceptance" and "observables": {name: (mean, error, tau_int)} along an
        independence Metropolis chain with the flow as proposal."""
    n, blocks = int(n), int(blocks)
    if n < 10 or not 2 <= blocks <= n:
        raise ValueError(f"evaluate: need n ≥ 10 and 2 ≤ blocks ≤ n, got n={n}, blocks={blocks}")
    x, lw = sample(flow, target, n, seed)
    names = target.summary_names
    full = target.summaries(x, lw)
    jk = np.empty((blocks, len(names)))
    for j in range(blocks):
        lo, hi = n * j // blocks, n * (j + 1) // blocks
        keep = np.r_[0:lo, hi:n]
        jk[j] = list(target.summaries(x[keep], lw[keep]).values())
    err = np.sqrt(((jk - jk.mean(axis=0)) ** 2).sum(axis=0) * (blocks - 1) / blocks)
    summaries = {k: (full[k], float(e)) for k, e in zip(names, err)}
    # independence Metropolis through the samples in order
    u = np.empty(n - 1)
    rng = L.pf_rng_make(seed, _METROPOLIS_STREAM)
    L.pf_rng_uniform_at(ctypes.byref(rng), 0, n - 1, L.ptr(u))
    state = np.zeros(n, dtype=np.int64)
    accepted = 0
    logu = np.log(u)
    for i in range(1, n):
        if logu[i - 1] < lw[i] - lw[state[i - 1]]:
            state[i] = i
            accepted += 1
        else:
            state[i] = state[i - 1]
    obs = target.observables(x)[state]
    observables = {}
    for k, name in enumerate(target.observable_names):
        tau, var = _tau_int(obs[:, k])
        observables[name] = (float(obs[:, k].mean()), math.sqrt(2 * tau * var / n), tau)
    return {"ess": reverse_ess(lw), "summaries": summaries,
            "acceptance": accepted / (n - 1), "observables": observables}
