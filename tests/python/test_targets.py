"""Targets through the binding: each action against an independent NumPy
implementation, each force against finite differences of the action, the two
φ⁴ forms against each other, Python custom targets, HMC (against exact
moments, and bit for bit against `pathflow hmc`)."""
import numpy as np
import pytest

import pathflow as pf
import pathflow._lib as L
from conftest import max_rel_err


def fd_force(target, x, h=1e-5):
    """Central differences of the action, coordinate by coordinate."""
    F = np.empty_like(x)
    for i in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[i] = h
        F[:, i] = (target.action(x + e) - target.action(x - e)) / (2 * h)
    return F


def phi4_numpy(phi, a, b, c):
    """S = Σₓ [−a Σ_μ φₓ φ_{x+μ} + b φₓ² + c φₓ⁴] on (B, L0, L1) fields."""
    hop = phi * (np.roll(phi, -1, axis=1) + np.roll(phi, -1, axis=2))
    return (-a * hop + b * phi ** 2 + c * phi ** 4).sum(axis=(1, 2))


def test_phi4_hopping_form_action_and_force():
    kappa, lam = 0.3, 0.022
    t = pf.Target.phi4(4, 6, kappa, lam)
    assert (t.kind, t.dim, t.shape) == ("phi4", 24, (4, 6))
    phi = np.random.default_rng(1).normal(size=(5, 4, 6))
    S = t.action(phi)  # (B, L0, L1) is read as (B, d)
    assert max_rel_err(S, phi4_numpy(phi, 2 * kappa, 1 - 2 * lam, lam)) < 1e-13
    x = phi.reshape(5, 24)
    assert max_rel_err(t.force(x), fd_force(t, x), 1e-3) < 1e-8


def test_phi4_mass_form_equals_hopping_form_on_rescaled_fields():
    m2, lam = -1.0, 0.5
    kappa, lam_h = pf.phi4_hopping_from_mass(m2, lam)
    mass, hop = pf.Target.phi4_mass(4, 4, m2, lam), pf.Target.phi4(4, 4, kappa, lam_h)
    varphi = np.random.default_rng(2).normal(size=(6, 16))
    # S_mass(ϕ) = S_hop(ϕ/√(2κ)) and the mass form's own formula
    assert max_rel_err(mass.action(varphi), hop.action(varphi / np.sqrt(2 * kappa))) < 1e-12
    assert max_rel_err(mass.action(varphi),
                       phi4_numpy(varphi.reshape(6, 4, 4), 1.0, 2 + m2 / 2, lam)) < 1e-13
    assert max_rel_err(mass.force(varphi), fd_force(mass, varphi), 1e-3) < 1e-8
    with pytest.raises(pf.ArgumentError):
        pf.phi4_hopping_from_mass(-5.0, 0.1)  # needs 4 + m² > 0


def test_u1_action_against_plaquettes_and_force():
    L0, L1, beta = 4, 4, 1.3
    t = pf.Target.u1(L0, L1, beta)
    assert (t.dim, t.shape) == (32, (2, 4, 4))
    th = np.random.default_rng(3).uniform(0, 2 * np.pi, (3, 2, L0, L1))
    # P(x) = θ₀(x) + θ₁(x+0̂) − θ₀(x+1̂) − θ₁(x)
    P = th[:, 0] + np.roll(th[:, 1], -1, axis=1) - np.roll(th[:, 0], -1, axis=2) - th[:, 1]
    assert max_rel_err(t.action(th), -beta * np.cos(P).sum(axis=(1, 2))) < 1e-13
    x = th.reshape(3, 32)
    assert max_rel_err(t.force(x), fd_force(t, x), 1e-3) < 1e-8
    assert t.observable_names == ["plaquette", "Q"]
    obs = t.observables(x)
    assert obs.shape == (3, 2)
    assert max_rel_err(obs[:, 0], np.cos(P).mean(axis=(1, 2))) < 1e-13
    wrapped = (P + np.pi) % (2 * np.pi) - np.pi  # Q = (1/2π) Σ wrap(P), an integer
    assert max_rel_err(obs[:, 1], wrapped.sum(axis=(1, 2)) / (2 * np.pi), 1.0) < 1e-12


def test_gmm_action_sampler_and_summaries():
    w = np.array([0.3, 0.7])
    mu = np.array([[-1.0, 0.5], [1.5, -0.5]])
    cov = np.array([[[0.5, 0.1], [0.1, 0.3]], [[0.4, -0.2], [-0.2, 0.6]]])
    t = pf.Target.gmm(w, mu, cov)
    assert t.log_z == 0.0 and t.has_sampler
    x = np.random.default_rng(4).normal(size=(7, 2))
    dens = 0
    for c in range(2):
        r = x - mu[c]
        q = np.einsum("bi,ij,bj->b", r, np.linalg.inv(cov[c]), r)
        dens = dens + w[c] * np.exp(-q / 2) / (2 * np.pi * np.sqrt(np.linalg.det(cov[c])))
    assert max_rel_err(t.action(x), -np.log(dens)) < 1e-12
    assert max_rel_err(t.log_prob(x), np.log(dens), 1e-3) < 1e-12
    assert max_rel_err(t.force(x), fd_force(t, x), 1e-3) < 1e-8
    s = t.sample(40000, seed=5)
    mean, sd = w @ mu, np.sqrt(np.diag(sum(w[c] * (cov[c] + np.outer(mu[c], mu[c]))
                                            for c in range(2)) - np.outer(w @ mu, w @ mu)))
    assert np.all(np.abs(s.mean(axis=0) - mean) < 5 * sd / np.sqrt(len(s)))
    assert np.array_equal(s, t.sample(40000, seed=5))  # reproducible streams
    summ = t.summaries(s)
    assert list(summ) == t.summary_names
    assert max_rel_err(list(summ.values()), s.mean(axis=0)) < 1e-12


def test_mgm_is_the_mixture_of_its_corners():
    t = pf.Target.mgm(2, 1.0, 0.5)
    corners = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], dtype=float)
    g = pf.Target.gmm(np.ones(4), corners, np.tile(0.5 * np.eye(2), (4, 1, 1)))
    x = np.random.default_rng(6).normal(size=(9, 2))
    assert max_rel_err(t.action(x), g.action(x)) < 1e-12
    assert max_rel_err(t.force(x), g.force(x), 1e-6) < 1e-10


def test_custom_target_calls_python_with_batches_and_returns_their_values():
    calls = []

    def action(x):
        calls.append(x.shape)
        assert not x.flags.writeable  # a read-only view of the library's batch
        return 0.5 * (x ** 2).sum(axis=1)

    t = pf.Target.custom(3, action, lambda x: x.copy())
    x = np.random.default_rng(7).normal(size=(11, 3))
    assert np.array_equal(t.action(x), 0.5 * (x ** 2).sum(axis=1))
    assert np.array_equal(t.force(x), x)
    assert calls == [(11, 3)]
    assert (t.kind, t.log_z, t.has_sampler) == ("custom", None, False)
    with pytest.raises(pf.UnsupportedError):
        t.sample(3)
    no_force = pf.Target.custom(3, action)
    with pytest.raises(pf.UnsupportedError, match="force"):
        no_force.force(x)


def test_custom_target_errors_become_exceptions_with_their_cause():
    def bad(x):
        raise ZeroDivisionError("inside the action")

    t = pf.Target.custom(2, bad)
    with pytest.raises(pf.CallbackError, match="action callback") as info:
        t.action(np.zeros((4, 2)))
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert info.value.status == -8
    wrong = pf.Target.custom(2, lambda x: np.zeros(len(x) + 1))
    with pytest.raises(pf.CallbackError) as info:
        wrong.action(np.zeros((4, 2)))
    assert "returned shape (5,), expected (4,)" in str(info.value.__cause__)

    def interrupted(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pf.Target.custom(2, interrupted).action(np.zeros((1, 2)))
    # a later call in the same thread is not affected by the earlier failure
    assert t.kind == "custom" and pf.Target.custom(2, lambda x: x[:, 0]).action([[2.0, 0]])[0] == 2


def test_hmc_on_a_python_gaussian_reaches_its_exact_second_moments():
    sigma2 = np.array([1.0, 0.25])
    t = pf.Target.custom(2, lambda x: 0.5 * (x ** 2 / sigma2).sum(axis=1),
                         lambda x: x / sigma2)
    x, acc = t.hmc(n_samples=4000, thermalize=100, thin=2, n_leapfrog=10, step_size=0.2, seed=3)
    assert x.shape == (4000, 2) and 0.5 < acc <= 1
    m2 = (x ** 2).mean(axis=0)
    # error of a mean of x² (variance 2σ⁴) with a generous allowance for autocorrelation
    assert np.all(np.abs(m2 - sigma2) < 6 * np.sqrt(2 * sigma2 ** 2 / 4000) * 2), m2


def test_hmc_equals_pathflow_hmc(tmp_path, cli, source_dir):
    cfg = f"{source_dir}/configs/phi4_reverse_path.cfg"
    code, _, err = cli("hmc", cfg, "-o", tmp_path / "h.npy", "-n", 50, "--thermalize", 20,
                       "--seed", 9)
    assert code == 0, err
    e = pf.Experiment(cfg)
    x, acc = e.target.hmc(n_samples=50, thermalize=20, seed=9)
    assert np.array_equal(x, np.load(tmp_path / "h.npy"))


def test_inputs_are_not_copied_when_they_are_c_contiguous_float64():
    x = np.zeros((4, 2))
    assert L.as_input(x, "x", (None, 2)) is x
    assert np.shares_memory(L.as_input(x[1:3], "x", (None, 2)), x)
    strided = np.zeros((4, 4))[:, ::2]
    y = L.as_input(strided, "x", (None, 2))
    assert y.flags.c_contiguous and not np.shares_memory(y, strided)
    t = pf.Target.mgm(2)
    out = np.empty(4)
    assert t.action(strided, out=out) is out
