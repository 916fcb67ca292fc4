"""Bad input gives Python exceptions with the library's message (never a
crash): shapes, dtypes, names, sizes, closed objects."""
import numpy as np
import pytest

import pathflow as pf


def test_library_errors_carry_pf_last_error():
    with pytest.raises(pf.ArgumentError) as info:
        pf.Target.mgm(0)
    e = info.value
    assert isinstance(e, ValueError) and isinstance(e, pf.PathflowError)
    assert e.status == -1 and "mgm" in e.message and str(e) == e.message
    with pytest.raises(pf.ArgumentError, match="L0"):
        pf.Target.phi4(1, 4, 0.3, 0.02)
    with pytest.raises(pf.NumericError, match=r"covariances\[0\].*not positive definite"):
        pf.Target.gmm([1.0], [[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]])


def test_names_are_checked_with_the_valid_ones_listed():
    flow, target = pf.Flow.realnvp(2), pf.Target.mgm(2)
    with pytest.raises(pf.ConfigError, match=r"'ml' unknown .*valid: total, path, path-dropin"):
        pf.Estimator(flow, target, "reverse", "ml")
    with pytest.raises(pf.ConfigError, match="sideways"):
        pf.Estimator(flow, target, "sideways", "path")
    with pytest.raises(pf.ConfigError, match="cosine"):
        pf.Trainer(flow, target, schedule="linear")


def test_shapes_and_dtypes_are_checked():
    t, f = pf.Target.mgm(2), pf.Flow.realnvp(2)
    with pytest.raises(ValueError, match=r"x: expected shape \(B, 2\), got \(4, 3\)"):
        t.action(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="empty"):
        t.action(np.zeros((0, 2)))
    with pytest.raises(TypeError, match="x: expected an array of numbers"):
        t.action([["a", "b"]])
    with pytest.raises(TypeError, match="float64"):
        t.action(np.zeros((4, 2)), out=np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"out: expected shape \(4,\)"):
        t.action(np.zeros((4, 2)), out=np.zeros(5))
    with pytest.raises(ValueError, match="C-contiguous"):
        t.force(np.zeros((4, 2)), out=np.zeros((2, 4)).T)
    with pytest.raises(ValueError, match="z: expected shape"):
        f.forward(np.zeros((3, 5)))
    est = pf.Estimator(f, t, batch=8)
    with pytest.raises(ValueError, match=r"9 rows outside \[1, 8\]"):
        est.eval(np.zeros((9, 2)))
    with pytest.raises(ValueError, match="log_w"):
        t.summaries(np.zeros((4, 2)), log_w=np.zeros(3))
    with pytest.raises(pf.NumericError, match="log_w"):
        t.summaries(np.zeros((2, 2)), log_w=[0.0, np.nan])
    with pytest.raises(pf.ArgumentError, match="hmc"):
        pf.Target.phi4(4, 4, 0.3, 0.02).hmc(n_samples=0)
    with pytest.raises(TypeError, match="callable"):
        pf.Target.custom(2, "not a function")


def test_trainer_options_are_checked():
    t, f = pf.Target.mgm(2), pf.Flow.realnvp(2)
    with pytest.raises(pf.ArgumentError, match="batch"):
        pf.Trainer(f, t, batch=0)
    with pytest.raises(pf.ArgumentError, match="lr"):
        pf.Trainer(f, t, lr=-1.0)
    with pytest.raises(ValueError, match="data"):
        pf.Trainer(f, t, objective="forward", estimator="ml", data=np.zeros((5, 3)))
    custom = pf.Target.custom(2, lambda x: (x ** 2).sum(axis=1))
    with pytest.raises(pf.PathflowError):  # forward KL without data needs a sampler
        pf.Trainer(f, custom, objective="forward", estimator="ml")


def test_closed_objects_refuse_calls():
    t = pf.Target.mgm(2)
    t.close()
    with pytest.raises(ValueError, match="closed"):
        t.action(np.zeros((1, 2)))
    t.close()  # twice is fine
    with pf.Flow.realnvp(2) as f:
        pass
    with pytest.raises(ValueError, match="closed"):
        f.forward(np.zeros((1, 2)))
