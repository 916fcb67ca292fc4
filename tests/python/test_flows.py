"""Flows through the binding: inverse of forward, log q by both directions,
the forward score recursion and the vector–Jacobian product against finite
differences, θ as a writable view, checkpoints, option errors."""
import numpy as np
import pytest

import pathflow as pf
from conftest import max_rel_err


def flows():
    return {
        "realnvp": pf.Flow.realnvp(3, layers=3, hidden=[8], zero_init=False, init_scale=0.5,
                                   mask="even_odd", seed=2),
        "cnf": pf.Flow.cnf(2, hidden=[8], zero_init=False, init_scale=0.5, seed=2,
                           rtol=1e-10, atol=1e-10),
        "u1": pf.Flow.u1(4, 4, layers=2, hidden=[4], zero_init=False, init_scale=0.5, seed=2),
        "realnvp_conv_z2": pf.Flow.realnvp(16, layers=2, hidden=[4], zero_init=False,
                                           init_scale=0.5, mask="checkerboard", lattice=(4, 4),
                                           conditioner="conv", kernel=3, symmetry="z2", seed=2),
        "realnvp_z2_mixture": pf.Flow.realnvp(16, layers=2, hidden=[4], zero_init=False,
                                              init_scale=0.5, mask="checkerboard",
                                              lattice=(4, 4), conditioner="conv", kernel=3,
                                              symmetry="z2", base="z2_mixture", base_shift=1.5,
                                              seed=2),
        "cnf_lattice": pf.Flow.cnf(16, field="lattice", lattice=(4, 4), features=3,
                                   zero_init=False, init_scale=0.5, seed=2, rtol=1e-10,
                                   atol=1e-10),
    }


@pytest.mark.parametrize("kind", ["realnvp", "cnf", "u1", "realnvp_conv_z2", "cnf_lattice",
                                  "realnvp_z2_mixture"])
def test_inverse_undoes_forward_and_log_q_agrees_both_ways(kind):
    f = flows()[kind]
    assert f.kind == kind.split("_")[0] and f.n_params == f.params.shape[0] > 0
    z = f.sample_base(6, seed=4)
    x, ldj = f.forward(z)
    z2, ldj_inv = f.inverse(x)
    tol = {"realnvp": 1e-12, "cnf": 1e-7, "u1": 1e-8}[kind.split("_")[0]]
    d = z2 - z
    if kind == "u1":  # link angles: equal modulo 2π
        d = (d + np.pi) % (2 * np.pi) - np.pi
        assert f.base == "uniform" and f.root_finder_calls > 0
    assert np.max(np.abs(d)) < tol
    assert np.max(np.abs(ldj + ldj_inv)) < tol
    lq_forward = f.base_log_prob(z) - ldj
    assert np.max(np.abs(f.log_prob(x) - lq_forward)) < tol
    assert (f.ode_stats is not None) == kind.startswith("cnf")


def test_the_z2_mixture_base_is_the_two_mode_mixture():
    f = flows()["realnvp_z2_mixture"]
    assert f.base == "z2_mixture"
    z = f.sample_base(2000, seed=3)
    mode = z.mean(axis=1)  # ±1.5 + N(0, 1/16)
    assert np.all(np.abs(np.abs(mode) - 1.5) < 6 / 4)
    assert abs(np.mean(mode > 0) - 0.5) < 5 * np.sqrt(0.25 / 2000)
    lq, s = f.base_log_prob(z[:5], score=True)
    a = -0.5 * ((z[:5] - 1.5) ** 2).sum(1)
    b = -0.5 * ((z[:5] + 1.5) ** 2).sum(1)
    direct = np.logaddexp(a, b) - np.log(2) - 8 * np.log(2 * np.pi)
    assert np.max(np.abs(lq - direct)) < 1e-12
    h, e = 1e-5, np.eye(16)
    fd = np.array([[(f.base_log_prob(z[i:i + 1] + h * e[j]) - f.base_log_prob(z[i:i + 1] - h * e[j]))[0]
                    / (2 * h) for j in range(16)] for i in range(5)])
    assert max_rel_err(s, fd, floor=1.0) < 1e-8
    x, _ = f.forward(z[:4])
    assert np.max(np.abs(f.log_prob(x) - f.log_prob(-x))) < 1e-12  # q(−x) = q(x)
    with pytest.raises(ValueError, match="z2_mixture"):
        pf.Flow.realnvp(4, base="mixture")
    with pytest.raises(pf.ArgumentError, match="base_shift"):
        pf.Flow.realnvp(4, base="z2_mixture", base_shift=-1.0)


def test_forward_score_recursion_is_the_gradient_of_log_q():
    f = flows()["realnvp"]
    z = f.sample_base(4, seed=5)
    lq0, s0 = f.base_log_prob(z, score=True)
    assert np.allclose(s0, -z)
    x, ldj, score = f.forward(z, score=s0)
    h, fd = 1e-5, np.empty_like(x)
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        fd[:, i] = (f.log_prob(x + e) - f.log_prob(x - e)) / (2 * h)
    assert max_rel_err(score, fd, 1e-3) < 1e-7


def test_backward_is_the_vector_jacobian_product_of_the_last_pass():
    f = flows()["realnvp"]
    z = f.sample_base(5, seed=6)
    rng = np.random.default_rng(0)
    xb, lb = rng.normal(size=(5, 3)), rng.normal(size=5)

    def objective():
        x, ldj = f.forward(z)
        return float((xb * x).sum() + (lb * ldj).sum())

    objective()
    grad, zbar = f.backward(xb, lb)
    theta = f.params  # a view: writing it changes the flow
    base = theta.copy()
    for k in range(3):  # directional derivatives along random directions
        v = rng.normal(size=f.n_params)
        h = 1e-6
        theta[:] = base + h * v
        up = objective()
        theta[:] = base - h * v
        down = objective()
        theta[:] = base
        assert abs((up - down) / (2 * h) - grad @ v) < 1e-6 * max(1, abs(grad @ v))
    # and the input cotangent, coordinate by coordinate
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1e-6
        up = (xb * f.forward(z + e)[0]).sum() + (lb * f.forward(z + e)[1]).sum()
        down = (xb * f.forward(z - e)[0]).sum() + (lb * f.forward(z - e)[1]).sum()
        assert abs((up - down) / 2e-6 - zbar[:, i].sum()) < 1e-6


def test_params_is_the_flows_memory():
    f = flows()["realnvp"]
    p1, p2 = f.params, f.params
    assert np.shares_memory(p1, p2) and p1.flags.writeable
    z = f.sample_base(2, seed=1)
    x0 = f.forward(z)[0]
    p1 *= 0.5
    assert not np.allclose(f.forward(z)[0], x0)
    f.params = np.zeros(f.n_params)
    assert np.all(p2 == 0)
    with pytest.raises(ValueError, match="params"):
        f.params = np.zeros(3)
    view = f.params
    del f, p1, p2  # the view keeps the flow alive
    assert view.sum() == 0


def test_checkpoints_round_trip_and_refuse_another_architecture(tmp_path):
    target = pf.Target.mgm(3)
    f = flows()["realnvp"]
    tr = pf.Trainer(f, target, batch=32, steps=5, eval_every=5, eval_samples=64)
    for _ in range(3):
        tr.step()
    path = tmp_path / "c.pfc"
    tr.save(path)
    g = pf.Flow.realnvp(3, layers=3, hidden=[8], zero_init=False, init_scale=0.5,
                        mask="even_odd", seed=99)
    g.load_checkpoint(path)
    assert np.array_equal(g.params, f.params)
    tr2 = pf.Trainer(g, target, batch=32, steps=5, eval_every=5, eval_samples=64)
    tr2.load(path)
    assert tr2.steps_done == 3
    other = pf.Flow.realnvp(3, layers=2, hidden=[8])
    with pytest.raises(pf.PathflowError, match="c.pfc"):
        other.load_checkpoint(path)
    with pytest.raises(pf.FileError, match="missing.pfc"):
        g.load_checkpoint(tmp_path / "missing.pfc")
    (tmp_path / "bad.pfc").write_bytes(b"PFCKPT\0\1 not a checkpoint")
    with pytest.raises(pf.FormatError, match="bad.pfc"):
        g.load_checkpoint(tmp_path / "bad.pfc")


def test_bad_options_raise_with_the_librarys_message():
    with pytest.raises(ValueError, match="mask"):
        pf.Flow.realnvp(2, mask="diagonal")
    with pytest.raises(ValueError, match="at most 16"):
        pf.Flow.realnvp(2, hidden=[4] * 17)
    with pytest.raises(pf.ArgumentError, match="second derivative"):
        pf.Flow.cnf(2, activation="relu")
    with pytest.raises(pf.ArgumentError, match="multiples of 4"):
        pf.Flow.u1(5, 4)
    with pytest.raises(pf.ArgumentError, match="activation"):
        pf.Flow.realnvp(2, activation="sigmoid-ish")
    with pytest.raises(ValueError, match="method"):
        pf.Flow.cnf(2, method="rk4")
