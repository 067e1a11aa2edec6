"""Noise: Euler–Maruyama and stochastic Heun, the random stream, reproducibility."""

import numpy as np
import pytest

from symrates.runtime.integrate import integrate
from symrates.runtime.problem import FunctionProblem
from symrates.runtime.rng import normals

N_UNITS = 2000


def wiener_increments(seed, n_steps, n_states, dt):
    """The documented stream: dW[k, i] = sqrt(dt) * normals(seed, k, i, n_states)."""
    return np.sqrt(dt) * np.array([normals(seed, k, np.arange(n_states), n_states)
                                   for k in range(n_steps)])


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_ornstein_uhlenbeck_stationary_variance(method):
    theta, sigma = 1.0, 0.5
    ou = FunctionProblem(lambda t, y, k: -theta * y, N_UNITS)
    _t, Y, y_end = integrate(ou, np.zeros(N_UNITS), t_end=10.0, dt=0.01, method=method,
                             sampling=1.0, noise=np.full(N_UNITS, sigma), rng_seed=12)
    # at t = 10 the OU process is stationary: mean 0, variance sigma^2/(2 theta) = 0.125
    var = sigma**2 / (2 * theta)
    se_var = var * np.sqrt(2 / (N_UNITS - 1))      # sampling error of the variance: 0.004
    assert abs(y_end.var(ddof=1) - var) < 4 * se_var, y_end.var(ddof=1)
    assert abs(y_end.mean()) < 4 * np.sqrt(var / N_UNITS)
    # and it got there from 0: var(t) = var (1 - exp(-2 theta t))
    assert abs(Y[1].var(ddof=1) - var * (1 - np.exp(-2.0))) < 4 * se_var


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_noise_follows_the_documented_stream(method):
    # dy = sigma dW with f = 0: y_k = sigma * (dW_0 + ... + dW_{k-1})
    n, dt, n_steps, seed = 3, 0.01, 250, 42
    sigma = np.array([0.5, 1.0, 2.0])
    flat = FunctionProblem(lambda t, y, k: np.zeros(n), n)
    expected = sigma * np.cumsum(wiener_increments(seed, n_steps, n, dt), axis=0)
    _t, Y, _ = integrate(flat, np.zeros(n), t_end=n_steps * dt, dt=dt, method=method,
                         noise=sigma, rng_seed=seed)
    np.testing.assert_allclose(Y[1:], expected, rtol=1e-12, atol=1e-15)


def test_same_seed_same_path_other_seed_other_path():
    ou = FunctionProblem(lambda t, y, k: -y, 4)
    runs = {}
    for method in ("euler", "heun"):
        for seed in (1, 1, 2, None, None):
            _t, Y, _ = integrate(ou, np.zeros(4), t_end=1.0, dt=0.01, method=method,
                                 noise=0.3, rng_seed=seed)
            runs.setdefault((method, seed), []).append(Y)
        a, b = runs[(method, 1)]
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, runs[(method, 2)][0])
        c, d = runs[(method, None)]            # fresh entropy each time
        assert not np.array_equal(c, d)


def test_zero_noise_equals_the_deterministic_method():
    fhn = FunctionProblem(lambda t, y, k: np.array([y[0] - y[0] ** 3 / 3 - y[1] + 0.5,
                                                    0.08 * (y[0] + 0.7 - 0.8 * y[1])]), 2)
    for method in ("euler", "heun"):
        _t, plain, _ = integrate(fhn, [-1.0, 1.0], t_end=5.0, dt=0.01, method=method)
        _t, noisy, _ = integrate(fhn, [-1.0, 1.0], t_end=5.0, dt=0.01, method=method,
                                 noise=0.0, rng_seed=3)
        np.testing.assert_allclose(noisy, plain, rtol=1e-14, atol=1e-15)


@pytest.fixture(scope="module")
def gbm_paths():
    """Geometric Brownian motion dX = mu X dt + s X dW on 200 paths, with its Wiener paths."""
    mu, s, dt, n_steps, n, seed = 0.5, 0.8, 1e-3, 1000, 200, 9
    problem = FunctionProblem(lambda t, y, k: mu * y, n)
    runs = {
        method: integrate(problem, np.ones(n), t_end=n_steps * dt, dt=dt, method=method,
                          noise=lambda t, y, k: s * y, rng_seed=seed)[2]
        for method in ("euler", "heun")
    }
    W = wiener_increments(seed, n_steps, n, dt).sum(axis=0)
    T = n_steps * dt
    ito = np.exp((mu - s**2 / 2) * T + s * W)
    stratonovich = np.exp(mu * T + s * W)
    return runs, ito, stratonovich


def test_euler_maruyama_converges_to_the_ito_solution(gbm_paths):
    runs, ito, stratonovich = gbm_paths
    err = np.mean(np.abs(runs["euler"] - ito) / ito)
    assert err < 0.03, err                                     # strong order 1/2
    assert np.mean(np.abs(runs["euler"] - stratonovich) / stratonovich) > 0.2


def test_stochastic_heun_converges_to_the_stratonovich_solution(gbm_paths):
    runs, ito, stratonovich = gbm_paths
    err = np.mean(np.abs(runs["heun"] - stratonovich) / stratonovich)
    assert err < 2e-3, err                                     # strong order 1 (diagonal noise)
    assert np.mean(np.abs(runs["heun"] - ito) / ito) > 0.2
