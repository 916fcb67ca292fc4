"""Loading libpathflow, its C prototypes, errors as exceptions, array checks.

The binding uses ctypes from the standard library: nothing to compile, no
dependency beyond NumPy, and ctypes releases the GIL around every call into
the library (CDLL), while callbacks from C (custom actions, training
callbacks) take it back for the Python code they run.

Where the library is looked for, first hit wins:
  1. the environment variable PATHFLOW_LIBRARY (a path to libpathflow.so);
  2. the library installed with this package (``cmake --install`` writes its
     location relative to the package into ``_install.py``);
  3. the dynamic loader's search path (LD_LIBRARY_PATH, ldconfig).
"""
import ctypes
import ctypes.util
import os
import signal
import threading

import numpy as np

c_int, c_long, c_double, c_char_p, c_void_p = (ctypes.c_int, ctypes.c_long, ctypes.c_double,
                                               ctypes.c_char_p, ctypes.c_void_p)
c_size_t, c_uint64, c_ulonglong = ctypes.c_size_t, ctypes.c_uint64, ctypes.c_ulonglong
P_double = ctypes.POINTER(c_double)
P_int = ctypes.POINTER(c_int)


# ---- errors -----------------------------------------------------------------

class PathflowError(Exception):
    """A failure reported by libpathflow: `status` is the pf_status code,
    `message` the library's own message (pf_last_error) naming the input at
    fault."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class ArgumentError(PathflowError, ValueError):
    """PF_ERR_ARG: an argument is invalid (shape, range)."""


class OutOfMemoryError(PathflowError, MemoryError):
    """PF_ERR_NOMEM."""


class FileError(PathflowError, OSError):
    """PF_ERR_IO: a file could not be opened, read or written."""


class FormatError(PathflowError, ValueError):
    """PF_ERR_FORMAT: a file is malformed."""


class ConfigError(PathflowError, ValueError):
    """PF_ERR_CONFIG: a configuration key is unknown, mistyped or out of range."""


class NumericError(PathflowError, ArithmeticError):
    """PF_ERR_NUMERIC: a non-finite value or a failed factorisation."""


class SolverError(PathflowError, ArithmeticError):
    """PF_ERR_SOLVER: the ODE solver (CVODES) failed."""


class CallbackError(PathflowError):
    """PF_ERR_CALLBACK: a user callback failed; when it was a Python callable
    that raised, that exception is this one's __cause__."""


class UnsupportedError(PathflowError, NotImplementedError):
    """PF_ERR_UNSUPPORTED: the object does not offer the operation."""


class ParallelError(PathflowError):
    """PF_ERR_PARALLEL."""


_ERRORS = {-1: ArgumentError, -2: OutOfMemoryError, -3: FileError, -4: FormatError,
           -5: ConfigError, -6: NumericError, -7: SolverError, -8: CallbackError,
           -9: UnsupportedError, -10: ParallelError}


# ---- the library --------------------------------------------------------------

def _candidates():
    env = os.environ.get("PATHFLOW_LIBRARY")
    if env:
        return [env]
    names = []
    try:
        from . import _install  # written by cmake --install
        here = os.path.dirname(os.path.abspath(__file__))
        names.append(os.path.normpath(os.path.join(here, _install.LIBDIR, _install.SONAME)))
    except ImportError:
        pass
    names.append("libpathflow.so.0")
    found = ctypes.util.find_library("pathflow")
    if found:
        names.append(found)
    return names


def _load():
    tried = []
    for name in _candidates():
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            tried.append(f"{name} ({e})")
    raise ImportError("pathflow: cannot load libpathflow; tried " + "; ".join(tried) +
                      ". Set PATHFLOW_LIBRARY to the path of libpathflow.so.")


lib, library_path = _load()


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


# ---- structures (must match include/pathflow/*.h; a test compares sizes and
# offsets with the C compiler's) --------------------------------------------------

class Rng(ctypes.Structure):
    _fields_ = [("seed", c_uint64), ("stream", c_uint64), ("next_uniform", c_uint64),
                ("next_normal", c_uint64), ("next_rademacher", c_uint64)]


class HmcOptions(ctypes.Structure):
    _fields_ = [("n_samples", c_int), ("thermalize", c_int), ("thin", c_int),
                ("n_leapfrog", c_int), ("step_size", c_double), ("seed", c_ulonglong)]


class RealNVPOptions(ctypes.Structure):
    _fields_ = [("dim", c_int), ("n_layers", c_int), ("n_hidden", c_int),
                ("hidden", c_int * 16), ("activation", c_char_p), ("mask", c_int),
                ("lattice", c_int * 2), ("conditioner", c_int), ("kernel", c_int),
                ("symmetry", c_int), ("zero_init", c_int), ("init_scale", c_double),
                ("seed", c_ulonglong), ("base", c_int), ("base_shift", c_double)]


class U1FlowOptions(ctypes.Structure):
    _fields_ = [("L0", c_int), ("L1", c_int), ("n_layers", c_int), ("n_hidden", c_int),
                ("hidden", c_int * 8), ("kernel", c_int), ("n_mixture", c_int),
                ("activation", c_char_p), ("tolerance", c_double), ("zero_init", c_int),
                ("init_scale", c_double), ("seed", c_ulonglong)]


class CNFOptions(ctypes.Structure):
    _fields_ = [("dim", c_int), ("n_hidden", c_int), ("hidden", c_int * 16),
                ("activation", c_char_p), ("zero_init", c_int), ("init_scale", c_double),
                ("seed", c_ulonglong), ("t1", c_double), ("rtol", c_double),
                ("atol", c_double), ("max_steps", c_long), ("checkpoint_steps", c_int),
                ("bdf", c_int), ("hutchinson", c_int), ("field", c_char_p),
                ("n_lattice", c_int), ("lattice", c_int * 4), ("features", c_int),
                ("frequency", c_double), ("odd", c_int), ("time_basis", c_int),
                ("radius", c_double), ("symmetric", c_int)]


class OdeStats(ctypes.Structure):
    _fields_ = [(n, c_long) for n in ("solves", "steps", "rhs_evals", "solves_b", "steps_b",
                                      "rhs_evals_b", "checkpoints", "failures")]


class Estimate(ctypes.Structure):
    _fields_ = [("loss", c_double), ("grad_norm", c_double)]


class TrainOptions(ctypes.Structure):
    _fields_ = [("objective", c_int), ("estimator", c_int), ("batch", c_int),
                ("steps", c_long), ("lr", c_double), ("min_lr", c_double),
                ("schedule", c_int), ("warmup", c_long), ("beta1", c_double),
                ("beta2", c_double), ("eps", c_double), ("clip_norm", c_double),
                ("clip_relative", c_double),
                ("seed", c_ulonglong), ("eval_every", c_long), ("eval_samples", c_int),
                ("max_bad_steps", c_int), ("data", P_double), ("n_data", c_int),
                ("holdout", P_double), ("n_holdout", c_int), ("settings_hash", c_uint64)]


class CMetrics(ctypes.Structure):
    _fields_ = [("step", c_long), ("loss", c_double), ("grad_norm", c_double),
                ("ess", c_double), ("ess_forward", c_double), ("nll", c_double),
                ("kl", c_double), ("seconds", c_double), ("skipped", c_long),
                ("nfe_forward", c_double), ("nfe_backward", c_double)]


STRUCTS = {"pf_rng": Rng, "pf_hmc_options": HmcOptions, "pf_realnvp_options": RealNVPOptions,
           "pf_u1_flow_options": U1FlowOptions, "pf_cnf_options": CNFOptions,
           "pf_ode_stats": OdeStats, "pf_estimate": Estimate,
           "pf_train_options": TrainOptions, "pf_metrics": CMetrics}

# callbacks
# (user, B, x, out) with the pointers as integers: cheaper than pointer objects
ACTION_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, c_void_p, c_void_p)
TRAIN_CALLBACK = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(CMetrics))
STEP_CALLBACK = ctypes.CFUNCTYPE(c_int, c_void_p, c_long, c_double)

# ---- prototypes ------------------------------------------------------------------

pf_version = _fn("pf_version", c_char_p)
pf_strerror = _fn("pf_strerror", c_char_p, c_int)
pf_last_error = _fn("pf_last_error", c_char_p)
pf_clear_error = _fn("pf_clear_error", None)

pf_rng_make = _fn("pf_rng_make", Rng, c_uint64, c_uint64)
pf_rng_uniform_at = _fn("pf_rng_uniform_at", None, ctypes.POINTER(Rng), c_uint64, c_size_t, P_double)
pf_rng_normal_at = _fn("pf_rng_normal_at", None, ctypes.POINTER(Rng), c_uint64, c_size_t, P_double)

# targets
pf_target_custom_create = _fn("pf_target_custom_create", c_int, c_int, ACTION_FN, ACTION_FN,
                              c_void_p, ctypes.POINTER(c_void_p))
pf_target_gmm_create = _fn("pf_target_gmm_create", c_int, c_int, c_int, P_double, P_double,
                           P_double, ctypes.POINTER(c_void_p))
pf_target_mgm_create = _fn("pf_target_mgm_create", c_int, c_int, c_double, c_double,
                           ctypes.POINTER(c_void_p))
pf_target_phi4_create = _fn("pf_target_phi4_create", c_int, c_int, c_int, c_double, c_double,
                            ctypes.POINTER(c_void_p))
pf_target_phi4_mass_create = _fn("pf_target_phi4_mass_create", c_int, c_int, c_int, c_double,
                                 c_double, ctypes.POINTER(c_void_p))
pf_phi4_hopping_from_mass = _fn("pf_phi4_hopping_from_mass", c_int, c_double, c_double,
                                P_double, P_double)
pf_target_u1_create = _fn("pf_target_u1_create", c_int, c_int, c_int, c_double,
                          ctypes.POINTER(c_void_p))
pf_target_destroy = _fn("pf_target_destroy", None, c_void_p)
pf_target_dim = _fn("pf_target_dim", c_int, c_void_p)
pf_target_kind = _fn("pf_target_kind", c_char_p, c_void_p)
pf_target_shape = _fn("pf_target_shape", c_int, c_void_p, P_int)
pf_target_action = _fn("pf_target_action", c_int, c_void_p, c_int, P_double, P_double)
pf_target_force = _fn("pf_target_force", c_int, c_void_p, c_int, P_double, P_double)
pf_target_has_sampler = _fn("pf_target_has_sampler", c_int, c_void_p)
pf_target_sample = _fn("pf_target_sample", c_int, c_void_p, ctypes.POINTER(Rng), c_int, P_double)
pf_target_log_z = _fn("pf_target_log_z", c_int, c_void_p, P_double)
pf_target_n_observables = _fn("pf_target_n_observables", c_int, c_void_p)
pf_target_observable_name = _fn("pf_target_observable_name", c_char_p, c_void_p, c_int)
pf_target_observables = _fn("pf_target_observables", c_int, c_void_p, c_int, P_double, P_double)
pf_target_n_summaries = _fn("pf_target_n_summaries", c_int, c_void_p)
pf_target_summary_name = _fn("pf_target_summary_name", c_char_p, c_void_p, c_int)
pf_target_summaries = _fn("pf_target_summaries", c_int, c_void_p, c_int, P_double, P_double,
                          P_double)
pf_hmc_options_default = _fn("pf_hmc_options_default", HmcOptions)
pf_target_hmc = _fn("pf_target_hmc", c_int, c_void_p, ctypes.POINTER(HmcOptions), P_double,
                    P_double, P_double)

# flows
pf_realnvp_options_default = _fn("pf_realnvp_options_default", RealNVPOptions)
pf_flow_realnvp_create = _fn("pf_flow_realnvp_create", c_int, ctypes.POINTER(RealNVPOptions),
                             ctypes.POINTER(c_void_p))
pf_u1_flow_options_default = _fn("pf_u1_flow_options_default", U1FlowOptions)
pf_flow_u1_create = _fn("pf_flow_u1_create", c_int, ctypes.POINTER(U1FlowOptions),
                        ctypes.POINTER(c_void_p))
pf_cnf_options_default = _fn("pf_cnf_options_default", CNFOptions)
pf_flow_cnf_create = _fn("pf_flow_cnf_create", c_int, ctypes.POINTER(CNFOptions),
                         ctypes.POINTER(c_void_p))
pf_flow_root_finder_calls = _fn("pf_flow_root_finder_calls", c_long, c_void_p)
pf_flow_ode_stats = _fn("pf_flow_ode_stats", ctypes.POINTER(OdeStats), c_void_p)
pf_flow_ode_stats_reset = _fn("pf_flow_ode_stats_reset", None, c_void_p)
pf_flow_destroy = _fn("pf_flow_destroy", None, c_void_p)
pf_flow_dim = _fn("pf_flow_dim", c_int, c_void_p)
pf_flow_kind = _fn("pf_flow_kind", c_char_p, c_void_p)
pf_flow_base = _fn("pf_flow_base", c_int, c_void_p)
pf_flow_n_params = _fn("pf_flow_n_params", c_size_t, c_void_p)
pf_flow_params = _fn("pf_flow_params", c_void_p, c_void_p)
pf_flow_reserve = _fn("pf_flow_reserve", c_int, c_void_p, c_int)
pf_flow_sample_base = _fn("pf_flow_sample_base", None, c_void_p, ctypes.POINTER(Rng), c_int,
                          P_double)
pf_flow_set_noise = _fn("pf_flow_set_noise", None, c_void_p, c_uint64, c_uint64)
pf_flow_base_log_prob = _fn("pf_flow_base_log_prob", None, c_void_p, c_int, P_double, P_double,
                            P_double)
pf_flow_forward = _fn("pf_flow_forward", c_int, c_void_p, c_int, P_double, P_double, P_double,
                      P_double, P_double)
pf_flow_inverse = _fn("pf_flow_inverse", c_int, c_void_p, c_int, P_double, P_double, P_double,
                      P_double, P_double)
pf_flow_backward = _fn("pf_flow_backward", c_int, c_void_p, c_int, P_double, P_double, P_double,
                       P_double)
pf_flow_describe = _fn("pf_flow_describe", c_char_p, c_void_p)
pf_flow_load_checkpoint = _fn("pf_flow_load_checkpoint", c_int, c_void_p, c_char_p)

# estimators
pf_objective_from_name = _fn("pf_objective_from_name", c_int, c_char_p, P_int)
pf_estimator_kind_from_name = _fn("pf_estimator_kind_from_name", c_int, c_int, c_char_p, P_int)
pf_objective_name = _fn("pf_objective_name", c_char_p, c_int)
pf_estimator_kind_name = _fn("pf_estimator_kind_name", c_char_p, c_int)
pf_estimator_create = _fn("pf_estimator_create", c_int, c_int, c_int, c_void_p, c_void_p, c_int,
                          ctypes.POINTER(c_void_p))
pf_estimator_destroy = _fn("pf_estimator_destroy", None, c_void_p)
pf_estimator_eval = _fn("pf_estimator_eval", c_int, c_void_p, c_int, P_double, P_double,
                        P_double, ctypes.POINTER(Estimate))
pf_estimator_samples = _fn("pf_estimator_samples", c_void_p, c_void_p)

# training
pf_schedule_from_name = _fn("pf_schedule_from_name", c_int, c_char_p, P_int)
pf_schedule_name = _fn("pf_schedule_name", c_char_p, c_int)
pf_reverse_ess = _fn("pf_reverse_ess", c_double, c_int, P_double)
pf_forward_ess = _fn("pf_forward_ess", c_double, c_int, P_double)
pf_log_mean_exp = _fn("pf_log_mean_exp", c_double, c_int, P_double)
pf_train_options_default = _fn("pf_train_options_default", TrainOptions)
pf_trainer_create = _fn("pf_trainer_create", c_int, c_void_p, c_void_p,
                        ctypes.POINTER(TrainOptions), ctypes.POINTER(c_void_p))
pf_trainer_destroy = _fn("pf_trainer_destroy", None, c_void_p)
pf_trainer_step = _fn("pf_trainer_step", c_int, c_void_p, P_double, P_double)
pf_trainer_evaluate = _fn("pf_trainer_evaluate", c_int, c_void_p, ctypes.POINTER(CMetrics))
pf_trainer_run_until = _fn("pf_trainer_run_until", c_int, c_void_p, c_long, TRAIN_CALLBACK,
                           c_void_p)
pf_trainer_steps_done = _fn("pf_trainer_steps_done", c_long, c_void_p)
pf_trainer_set_step_callback = _fn("pf_trainer_set_step_callback", None, c_void_p,
                                   STEP_CALLBACK, c_void_p)
pf_trainer_save = _fn("pf_trainer_save", c_int, c_void_p, c_char_p)
pf_trainer_load = _fn("pf_trainer_load", c_int, c_void_p, c_char_p)

# experiments
pf_experiment_load = _fn("pf_experiment_load", c_int, c_char_p, ctypes.POINTER(c_char_p), c_int,
                         ctypes.POINTER(c_void_p))
pf_experiment_destroy = _fn("pf_experiment_destroy", None, c_void_p)
pf_experiment_name = _fn("pf_experiment_name", c_char_p, c_void_p)
pf_experiment_default_out_dir = _fn("pf_experiment_default_out_dir", c_char_p, c_void_p)
pf_experiment_write_config = _fn("pf_experiment_write_config", c_int, c_void_p, c_char_p)
pf_experiment_build = _fn("pf_experiment_build", c_int, c_void_p)
pf_experiment_target = _fn("pf_experiment_target", c_void_p, c_void_p)
pf_experiment_flow = _fn("pf_experiment_flow", c_void_p, c_void_p)
pf_experiment_train_options = _fn("pf_experiment_train_options", ctypes.POINTER(TrainOptions),
                                  c_void_p)
pf_experiment_run_with = _fn("pf_experiment_run_with", c_int, c_void_p, c_char_p, c_void_p,
                             ctypes.POINTER(CMetrics), c_long, c_int)

# the C library's stderr, for experiment logs
_libc = ctypes.CDLL(None)
try:
    c_stderr = c_void_p.in_dll(_libc, "stderr")
except ValueError:  # not glibc: logs are then unavailable
    c_stderr = None
_fflush = _libc.fflush
_fflush.argtypes = [c_void_p]


def flush_c_stderr():
    if c_stderr is not None:
        _fflush(c_stderr)


# ---- helpers -------------------------------------------------------------------

_pending = threading.local()


def set_pending(exc):
    """Called by a Python callback that failed (it then returns failure to C):
    the exception is raised by the next check() in this thread."""
    if getattr(_pending, "error", None) is None:
        _pending.error = exc


def check(status):
    """Raises the exception of a failed pf_status with pf_last_error()'s
    message (read in this thread, right after the call: the message is
    thread-local in the library). An exception raised by a Python callback
    during the call is raised as it is if the call itself succeeded (a
    training callback that raised stops the run) or if it is not an
    Exception (KeyboardInterrupt), else as the cause of the CallbackError."""
    cause = getattr(_pending, "error", None)
    _pending.error = None
    if status == 0:
        if cause is not None:
            raise cause
        return
    if cause is not None and not isinstance(cause, Exception):
        raise cause
    message = pf_last_error().decode("utf-8", "replace")
    if not message:
        message = pf_strerror(status).decode()
    err = _ERRORS.get(status, PathflowError)(status, message)
    if cause is not None:
        raise err from cause
    raise err


def text(b):
    return b.decode("utf-8", "replace") if b is not None else None


def ptr(a):
    """A double* to the data of a C-contiguous float64 array (None → NULL)."""
    if a is None:
        return None
    return a.ctypes.data_as(P_double)


def as_input(x, name, shape=None):
    """x as a C-contiguous float64 array: the same memory when it already is
    one (no copy), else a converted copy. shape: the required shape, with
    None for a free extent; a 1-D input is taken as one row when the shape
    asks for 2-D. Raises ValueError naming the argument."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: expected an array of numbers, got {type(x).__name__}") from e
    if shape is not None and len(shape) == 2 and a.ndim == 1:
        a = a.reshape(1, -1)
    if shape is not None:
        if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape)):
            want = "(" + ", ".join("B" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {a.shape}")
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return a


def as_output(out, name, shape):
    """A new array of `shape`, or `out` checked: C-contiguous, float64,
    writable and of that exact shape (an output is never converted)."""
    if out is None:
        return np.empty(shape, dtype=np.float64)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise TypeError(f"{name}: expected dtype float64, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name}: must be C-contiguous and writable")
    return out


def check_batch(n, name):
    if n < 1:
        raise ValueError(f"{name}: the batch is empty")
    if n > 2**31 - 1:
        raise ValueError(f"{name}: {n} rows exceed the library's int range")


class _View:
    """Exposes C memory to NumPy; keeps `owner` alive while a view exists."""

    def __init__(self, address, shape, owner, readonly):
        self.__array_interface__ = {"shape": tuple(shape), "typestr": "<f8",
                                    "data": (address, readonly), "version": 3}
        self._owner = owner


def view(address, shape, owner=None, readonly=False):
    """A NumPy array over C memory (no copy); owner is kept alive by it."""
    if isinstance(address, ctypes._Pointer):
        address = ctypes.cast(address, c_void_p).value
    return np.asarray(_View(address, shape, owner, readonly))


class Handle:
    """Base of the objects wrapping a C handle: `_h` is the pointer, `_lock`
    serialises calls on it (a handle must not be used by two threads at once;
    the GIL is released during calls, so Python threads would otherwise)."""

    _h = None

    def __init__(self):
        self._lock = threading.RLock()

    def close(self):
        """Frees the C object (subclasses); closing twice is harmless."""
        raise NotImplementedError

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def h(self):
        """The C handle; ValueError once the object is closed."""
        if not self._h:
            raise ValueError(f"pathflow.{type(self).__name__} is closed")
        return self._h


# ---- Ctrl-C while the library runs Python callbacks ------------------------------
# CPython raises KeyboardInterrupt at the next Python frame it enters; when that
# is a ctypes callback, the exception is raised before any code of the callback
# runs, and ctypes prints and drops it. So during library calls made from the
# main thread, SIGINT only sets a flag: callbacks turn it into a failure (or a
# stop of training), and the call raises KeyboardInterrupt when it returns.

_interrupted = False


def _on_sigint(signum, frame):
    global _interrupted
    _interrupted = True


def take_interrupt():
    """True (once) if Ctrl-C came during the current library call; then a
    KeyboardInterrupt is pending for check()."""
    global _interrupted
    if not _interrupted:
        return False
    _interrupted = False
    set_pending(KeyboardInterrupt())
    return True


class using:
    """Context manager around library calls: holds the locks of the handles
    (in a fixed order), refuses closed ones, and defers Ctrl-C (see above)."""

    def __init__(self, *handles):
        self.handles = [h for h in handles if h is not None]
        self.locks = [h._lock for h in sorted({id(h): h for h in handles if h is not None}.values(),
                                              key=id)]

    def __enter__(self):
        for lk in self.locks:
            lk.acquire()
        self.old_handler = None
        try:
            for h in self.handles:
                h.h  # noqa: B018 — raises if closed
            if (threading.current_thread() is threading.main_thread()
                    and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
                self.old_handler = signal.signal(signal.SIGINT, _on_sigint)
        except ValueError:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        global _interrupted
        if self.old_handler is not None:
            signal.signal(signal.SIGINT, self.old_handler)
        for lk in reversed(self.locks):
            lk.release()
        if self.old_handler is not None and _interrupted and exc_type is None:
            _interrupted = False
            _pending.error = None
            raise KeyboardInterrupt
