"""pathflow: normalizing flows trained with fast path-gradient estimators,
from Python.

A binding of the C library libpathflow (ctypes, NumPy arrays in and out):

    import pathflow as pf
    target = pf.Target.mgm(2, loc=1.0, scale=0.5)
    flow = pf.Flow.realnvp(2, layers=4, hidden=[32, 32], seed=3)
    trainer = pf.Trainer(flow, target, objective="reverse", estimator="path",
                         batch=128, steps=1500, lr=5e-3)
    rows = trainer.run(on_step=lambda step, loss: None)   # a list of Metrics
    x, log_w = pf.sample(flow, target, 4000)

    run = pf.train("configs/quickstart.cfg", set={"training.steps": 500})

Failures raise PathflowError subclasses carrying the library's message.
See the README's "Python" section.
"""
from ._lib import (ArgumentError, CallbackError, ConfigError, FileError, FormatError,
                   NumericError, OutOfMemoryError, ParallelError, PathflowError, SolverError,
                   UnsupportedError, library_path)
from ._lib import pf_version as _pf_version
from .estimators import Estimator
from .experiments import Experiment, Run, evaluate, load_run, sample, train
from .flows import Flow
from .targets import Target, phi4_hopping_from_mass
from .training import (Metrics, Trainer, forward_ess, log_mean_exp, random_normal,
                       random_uniform, reverse_ess)

__version__ = "0.1.0"
library_version = _pf_version().decode()

__all__ = ["ArgumentError", "CallbackError", "ConfigError", "Estimator", "Experiment",
           "FileError", "Flow", "FormatError", "Metrics", "NumericError", "OutOfMemoryError",
           "ParallelError", "PathflowError", "Run", "SolverError", "Target", "Trainer",
           "UnsupportedError", "evaluate", "forward_ess", "library_path", "library_version",
           "load_run", "log_mean_exp", "phi4_hopping_from_mass", "random_normal",
           "random_uniform", "reverse_ess", "sample", "train"]
