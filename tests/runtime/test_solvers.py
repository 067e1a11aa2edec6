"""Integration methods: registry, convergence orders, adaptive accuracy, step indices."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from symrates.errors import ModelDefinitionError
from symrates.runtime.integrate import integrate, step_index
from symrates.runtime.problem import FunctionProblem, JacobianProblem, Problem
from symrates.runtime.solvers import (
    SOLVERS,
    AdaptiveSolver,
    FixedStepSolver,
    get_solver,
)

# FitzHugh–Nagumo: v' = v - v^3/3 - w + I, w' = eps (v + a - b w)
A, B, EPS, I_EXT = 0.7, 0.8, 0.08, 0.5
Y0 = np.array([-1.0, 1.0])
T_END = 20.0


def fhn(t, y, k=0):
    v, w = y
    return np.array([v - v**3 / 3 - w + I_EXT, EPS * (v + A - B * w)])


def fhn_jac(t, y, k=0):
    v, _w = y
    return np.array([[1 - v**2, -1.0], [EPS, -EPS * B]])


FHN = FunctionProblem(fhn, 2, state_names=("fhn/v", "fhn/w"))


@pytest.fixture(scope="module")
def fhn_reference():
    sol = solve_ivp(fhn, (0, T_END), Y0, method="DOP853", rtol=1e-13, atol=1e-13)
    assert sol.success
    return sol.y[:, -1]


def test_registry_has_all_methods_and_families():
    assert set(SOLVERS) >= {"euler", "heun", "rk4", "rk45", "dop853", "radau", "bdf", "lsoda"}
    for name, cls in SOLVERS.items():
        assert cls.name == name
        assert issubclass(cls, (FixedStepSolver, AdaptiveSolver))
    assert [get_solver(n).order for n in ("euler", "heun", "rk4")] == [1, 2, 4]
    assert {n for n, c in SOLVERS.items() if c.supports_noise} == {"euler", "heun"}
    assert get_solver("radau").implicit and not get_solver("rk45").implicit


@pytest.mark.parametrize("name", ["rk5", "RK4", "", None])
def test_unknown_method_lists_valid_ones(name):
    with pytest.raises(
        ModelDefinitionError,
        match=r"Unknown integration method .*valid methods: fixed-step euler, heun, rk4; "
        r"adaptive rk23, rk45, dop853, radau, bdf, lsoda",
    ):
        get_solver(name)


@pytest.mark.parametrize("method, order", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_fixed_step_convergence_order(method, order, fhn_reference):
    dts = np.array([0.04, 0.02, 0.01, 0.005])
    errors = []
    for dt in dts:
        _t, _y, y_end = integrate(FHN, Y0, t_end=T_END, dt=dt, method=method, sampling=T_END)
        errors.append(np.abs(y_end - fhn_reference).max())
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.25, (errors, slope)


@pytest.mark.parametrize("method", ["rk23", "rk45", "dop853", "radau", "bdf", "lsoda"])
def test_adaptive_methods_reach_rtol_level(method, fhn_reference):
    rtol = 1e-9
    _t, Y, y_end = integrate(FHN, Y0, t_end=T_END, dt=0.01, method=method, rtol=rtol,
                             atol=1e-11)
    rel = np.abs(y_end - fhn_reference).max() / np.abs(fhn_reference).max()
    assert rel < 50 * rtol, rel
    np.testing.assert_array_equal(Y[-1], y_end)
    # a loose tolerance is measurably less accurate: the option reaches scipy
    _t, _Y, y_loose = integrate(FHN, Y0, t_end=T_END, dt=0.01, method=method, rtol=1e-4,
                                atol=1e-6)
    assert np.abs(y_loose - fhn_reference).max() > 10 * np.abs(y_end - fhn_reference).max()


def test_fixed_step_single_steps_match_formulas():
    p = FunctionProblem(lambda t, y, k: -y, 1)
    y = np.array([1.0])
    h = 0.1
    assert get_solver("euler")().step(p, 0.0, y, h, 0)[0] == pytest.approx(1 - h, abs=1e-15)
    assert get_solver("heun")().step(p, 0.0, y, h, 0)[0] == pytest.approx(1 - h + h**2 / 2,
                                                                          abs=1e-15)
    taylor4 = 1 - h + h**2 / 2 - h**3 / 6 + h**4 / 24
    assert get_solver("rk4")().step(p, 0.0, y, h, 0)[0] == pytest.approx(taylor4, abs=1e-15)


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_inputs_by_step_index_are_integrated_exactly(method):
    rng = np.random.default_rng(11)
    n_steps, dt = 200, 0.005
    u = rng.normal(size=n_steps)
    calls = []

    def rhs(t, y, k):
        calls.append((t, k))
        return np.array([u[k]])

    t, Y, y_end = integrate(FunctionProblem(rhs, 1), [0.0], t_end=1.0, dt=dt, method=method)
    # x(t_k) = dt * (u_0 + ... + u_{k-1}): the exact integral of the piecewise-constant input
    np.testing.assert_allclose(Y[1:, 0], dt * np.cumsum(u), rtol=1e-12, atol=1e-15)
    assert y_end[0] == Y[-1, 0]
    # every stage of step k (including the one at (k+1) dt) sees row k
    ts, ks = np.array(calls).T
    assert set(ks.astype(int)) == set(range(n_steps))
    assert np.all(ks * dt <= ts + 1e-12) and np.all(ts <= (ks + 1) * dt + 1e-12)


@pytest.mark.parametrize("method", ["rk45", "dop853", "radau", "lsoda"])
def test_adaptive_methods_see_the_step_index_of_t(method):
    rng = np.random.default_rng(5)
    n_steps, dt = 40, 0.025
    u = rng.normal(size=n_steps)
    calls = []

    def rhs(t, y, k):
        calls.append((t, k))
        return np.array([u[k]])

    _t, Y, _ = integrate(FunctionProblem(rhs, 1), [0.0], t_end=1.0, dt=dt, method=method,
                         rtol=1e-10, atol=1e-12, max_step=dt)
    np.testing.assert_allclose(Y[1:, 0], dt * np.cumsum(u), atol=1e-8)
    ts, ks = np.array(calls).T
    # k = floor(t/dt) (up to rounding at grid times), clipped to the last step
    assert np.all(ks * dt <= ts * (1 + 1e-11))
    assert np.all((ts < (ks + 1) * dt) | (ks == n_steps - 1))
    assert ks.max() == n_steps - 1 and ts.max() >= 1.0


def test_step_index_of_grid_times_despite_rounding():
    assert int(0.3 / 0.1) == 2  # the rounding the guard protects against
    assert step_index(0.3, 0.1, 10) == 3
    assert step_index(0.2999, 0.1, 10) == 2
    assert [step_index(k * 0.01, 0.01, 10**6) for k in range(0, 10**6, 997)] == list(
        range(0, 10**6, 997))
    assert step_index(1.0, 0.1, 10) == 9 and step_index(5.0, 0.1, 10) == 9


def test_implicit_methods_use_the_problem_jacobian():
    n_jac = {"calls": 0}

    def jac(t, y, k):
        n_jac["calls"] += 1
        return fhn_jac(t, y)

    p = FunctionProblem(fhn, 2, jac=jac)
    assert isinstance(p, JacobianProblem) and isinstance(FHN, Problem)
    assert not isinstance(FHN, JacobianProblem)
    for method in ("radau", "bdf"):
        n_jac["calls"] = 0
        integrate(p, Y0, t_end=5.0, dt=0.01, method=method)
        assert n_jac["calls"] > 0, method
    n_jac["calls"] = 0
    integrate(p, Y0, t_end=5.0, dt=0.01, method="rk45")
    assert n_jac["calls"] == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rtol": 0.0}, r"rtol must be a positive finite number; got 0\.0"),
        ({"atol": -1.0}, r"atol must be a positive finite number"),
        ({"max_step": 0.0}, r"max_step must be positive"),
        ({"first_step": -0.1}, r"first_step must be a positive finite number or None"),
    ],
)
def test_adaptive_option_errors(kwargs, match):
    options = {"t_end": 1.0, "dt": 0.1, "method": "rk45", **kwargs}
    with pytest.raises(ModelDefinitionError, match=match):
        integrate(FHN, Y0, **options)


def test_first_and_max_step_reach_scipy():
    calls = []

    def rhs(t, y, k):
        calls.append(t)
        return -y

    p = FunctionProblem(rhs, 1)
    integrate(p, [1.0], t_end=1.0, dt=0.1, method="rk45", max_step=0.01)
    assert len(calls) > 100 * 6  # at least 100 steps of six stages
    calls.clear()
    integrate(p, [1.0], t_end=1.0, dt=0.1, method="rk45", first_step=1e-6)
    assert 0 < calls[2] < 1e-5  # the first trial step's stages lie within first_step


def test_function_problem_checks_its_arguments():
    with pytest.raises(ModelDefinitionError, match=r"state_names has 1 entries but n_states = 2"):
        FunctionProblem(fhn, 2, state_names=["v"])
    with pytest.raises(ModelDefinitionError, match=r"n_states must be a positive integer"):
        FunctionProblem(fhn, 0)
    with pytest.raises(TypeError, match=r"fun must be callable"):
        FunctionProblem(3.0, 1)
    assert FunctionProblem(fhn, 2).state_names == ("y[0]", "y[1]")
    assert "n_states=2" in repr(FunctionProblem(fhn, 2))
