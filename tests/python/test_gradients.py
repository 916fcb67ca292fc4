"""The binding computes what the C API computes: every estimator on every
flow kind, on fixed inputs, gives the loss, gradient and log weights that
pf_reference gets through the C API (same library code: equal to round-off;
the custom target's Python action agrees with its C twin to round-off)."""
import numpy as np
import pytest

import pathflow as pf
from conftest import max_rel_err

ESTIMATORS = [("reverse", "total"), ("reverse", "path"), ("reverse", "path-dropin"),
              ("forward", "ml"), ("forward", "path"), ("forward", "path-dropin")]
CASES = [("realnvp", "mgm"), ("realnvp", "gmm"), ("realnvp", "phi4"), ("realnvp", "phi4_mass"),
         ("realnvp", "custom"), ("cnf", "mgm"), ("u1", "u1")]


def double_well_action(x):
    return 2.0 * (x[:, 0] ** 2 - 1.0) ** 2 + 0.5 * x[:, 1] ** 2


def double_well_force(x):
    return np.stack([8.0 * x[:, 0] * (x[:, 0] ** 2 - 1.0), x[:, 1]], axis=1)


def make_target(kind):
    """The targets of pf_reference.c, built through the binding."""
    if kind == "mgm":
        return pf.Target.mgm(2, 1.0, 0.5)
    if kind == "gmm":
        return pf.Target.gmm([0.3, 0.7], [[-1.0, 0.5], [1.5, -0.5]],
                             [[[0.5, 0.1], [0.1, 0.3]], [[0.4, -0.2], [-0.2, 0.6]]])
    if kind == "phi4":
        return pf.Target.phi4(4, 4, 0.3, 0.02)
    if kind == "phi4_mass":
        return pf.Target.phi4_mass(4, 4, -1.0, 0.5)
    if kind == "u1":
        return pf.Target.u1(4, 4, 1.0)
    return pf.Target.custom(2, double_well_action, double_well_force)


def make_flow(kind, target):
    """The flows of pf_reference.c."""
    if kind == "realnvp":
        lattice = target.kind == "phi4"
        return pf.Flow.realnvp(target.dim, layers=2, hidden=[8, 8], zero_init=False,
                               init_scale=0.5, seed=11,
                               mask="checkerboard" if lattice else "halves",
                               lattice=(4, 4) if lattice else None)
    if kind == "cnf":
        return pf.Flow.cnf(target.dim, hidden=[8], zero_init=False, init_scale=0.5, seed=11,
                           rtol=1e-8, atol=1e-8)
    return pf.Flow.u1(4, 4, layers=2, hidden=[4], zero_init=False, init_scale=0.5, seed=11)


def batch_for(flow, target, objective, B=16):
    rng = np.random.default_rng(7)
    if objective == "reverse":
        return flow.sample_base(B, seed=7)
    if target.kind == "u1":
        return rng.uniform(0, 2 * np.pi, (B, target.dim))
    return rng.normal(0, 0.8, (B, target.dim))


@pytest.mark.parametrize("flow_kind,target_kind", CASES)
@pytest.mark.parametrize("objective,estimator", ESTIMATORS)
def test_estimator_matches_the_c_api(tmp_path, reference, flow_kind, target_kind, objective,
                                     estimator):
    target = make_target(target_kind)
    flow = make_flow(flow_kind, target)
    x = batch_for(flow, target, objective)
    np.save(tmp_path / "in.npy", x)
    described = reference("grad", flow_kind, target_kind, objective, estimator,
                          tmp_path / "in.npy", tmp_path / "out.npy").strip()
    assert described == flow.describe()
    ref = np.load(tmp_path / "out.npy")
    n = flow.n_params
    est = pf.Estimator(flow, target, objective, estimator, batch=len(x))
    loss, grad, log_w = est.eval(x, log_w=True)
    assert grad.shape == (n,) and log_w.shape == (len(x),)
    assert np.all(np.isfinite(grad)) and np.linalg.norm(grad) > 0
    # the same compiled code on both sides: equal; the custom target's
    # action is NumPy on one side and C on the other: round-off
    tol = 0.0 if target_kind != "custom" else 1e-12
    assert max_rel_err(loss, ref[0]) <= tol
    assert max_rel_err(est.grad_norm, ref[1]) <= tol
    err = max_rel_err(grad, ref[2:2 + n], 1e-12)
    assert err <= tol, f"gradient differs from the C API's: {err:.3g}"
    assert max_rel_err(log_w, ref[2 + n:]) <= tol


def test_path_and_path_dropin_agree_through_the_binding():
    """A second route inside the binding: the two path estimators compute the
    same gradient by different algorithms (recursion vs. inverse pass)."""
    target = make_target("mgm")
    flow = make_flow("realnvp", target)
    z = flow.sample_base(32, seed=3)
    g1 = pf.Estimator(flow, target, "reverse", "path", 32).eval(z)[1]
    g2 = pf.Estimator(flow, target, "reverse", "path-dropin", 32).eval(z)[1]
    assert max_rel_err(g1, g2, 1e-8) < 1e-9
