"""Discrete delays: edge delays and ``x(t - d)`` in equations, in both backends.

The references are exact: linear delay equations solved piecewise by the method of steps in
sympy. Convergence orders are fitted over four halvings of ``dt``; the compiled engine is held
to the numpy reference at rtol 1e-12 (same method, same step), also for a JRC network with
per-edge delays that are not multiples of ``dt``, an input time series and noise.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import sympy

import symrates as sr
from symrates.compile.cache import STATS
from symrates.errors import ModelDefinitionError, SymratesError
from tests.codegen.test_compiled import assert_agree
from tests.scenarios import two_leaky_chain

T, S = sympy.symbols("t s", real=True)
BACKENDS = ("numpy", "cython")
STEPS = (1 / 20, 1 / 40, 1 / 80, 1 / 160)


def method_of_steps(a, b, tau, pieces):
    """``x' = a x + b x(t - tau)``, ``x = 1`` for ``t <= 0``: the solution on each
    ``[i tau, (i + 1) tau]`` by variation of constants."""
    prev, start, out = sympy.Integer(1), sympy.Integer(1), []
    for i in range(pieces):
        t0 = i * tau
        forcing = b * prev.subs(T, S - tau)
        x = sympy.exp(a * (T - t0)) * start + sympy.integrate(
            sympy.exp(a * (T - S)) * forcing, (S, t0, T))
        out.append(x)
        start, prev = x.subs(T, t0 + tau), x
    return out


def orders(errors):
    errors = np.asarray(errors)
    return np.log2(errors[:-1] / errors[1:])


DDE = sr.OperatorTemplate("dde", ["x' = -2*x - x(t - tau)"], {"x": "output(1.0)", "tau": 1.0})
# x' = -x + y(t - tau) with y = t^4/24 (0 before t = 0): the delayed signal is smooth enough at
# t = 0 that no breakpoint limits the order, and tau is no multiple of dt.
SMOOTH = sr.OperatorTemplate(
    "smooth", ["x' = -x + y1(t - tau)", "y1' = y2", "y2' = y3", "y3' = y4", "y4' = 1"],
    {"x": "output(0.0)", "y1": "variable(0.0)", "y2": "variable(0.0)", "y3": "variable(0.0)",
     "y4": "variable(0.0)", "tau": 0.73},
)


@pytest.fixture(scope="module")
def dde_exact():
    return float(method_of_steps(-2, -1, sympy.Integer(1), 3)[2].subs(T, 2.5))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("method", "order"), [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_delay_equation_converges_at_the_order_of_the_method(dde_exact, backend, method, order):
    errors = [abs(sr.simulate(DDE, 2.5, dt=dt, method=method, backend=backend,
                              outputs=["x"])["x"][-1] - dde_exact) for dt in STEPS]
    assert np.all(np.abs(orders(errors) - order) < 0.1), errors
    assert errors[-1] < {1: 2e-3, 2: 1e-5, 4: 1e-10}[order]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("method", "order"), [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_delays_off_the_grid_are_interpolated_to_the_order_of_the_method(backend, method,
                                                                         order):
    g = (S - sympy.Rational(73, 100)) ** 4 / 24
    exact = float(sympy.integrate(sympy.exp(-(T - S)) * g, (S, sympy.Rational(73, 100), T))
                  .subs(T, 2.5))
    errors = [abs(sr.simulate(SMOOTH, 2.5, dt=dt, method=method, backend=backend,
                              outputs=["x"])["x"][-1] - exact) for dt in STEPS]
    fitted = orders(errors)
    assert np.all(np.abs(fitted - order) < 0.25), fitted
    # rounding the delay to the grid instead would leave an O(dt) error for every method
    assert errors[-1] < {1: 5e-3, 2: 1e-5, 4: 1e-11}[order]


@pytest.mark.parametrize("backend", BACKENDS)
def test_edge_delay_matches_the_exact_solution(backend):
    # a -> b with weight 3 and delay 0.5: a = a0 exp(-t/2) (a = a0 before 0), b solved exactly
    tau, a0 = sympy.Rational(1, 2), 2
    a = a0 * sympy.exp(-T / 2)
    before = 3 * a0 * (1 - sympy.exp(-T / 2))                           # b(0) = 0, t < tau
    b_tau = before.subs(T, tau)
    after = b_tau * sympy.exp(-(T - tau) / 2) + sympy.integrate(
        sympy.exp(-(T - S) / 2) * 3 * a.subs(T, S - tau) / 2, (S, tau, T))
    exact = float(after.subs(T, 3.0))
    res = sr.simulate(two_leaky_chain(delay=0.5), 3.0, dt=1e-2, method="rk4", backend=backend,
                      y0={"a/li/r": a0, "b/li/r": 0.0})
    assert res["b/li/r"][-1] == pytest.approx(exact, rel=1e-9)
    assert res["b/li/r"][50] == pytest.approx(float(before.subs(T, 0.5)), rel=1e-9)


def _b1_delayed(n, seed=0):
    """B1's JRC network with per-edge delays of 1-10 ms that are no multiples of dt."""
    rng = np.random.default_rng(seed)
    C = rng.uniform(size=(n, n))
    C[C > 0.1] = 0.0
    np.fill_diagonal(C, 0.0)
    s = C.sum(axis=1)
    C[s > 0] /= s[s > 0, None]
    D = np.where(C > 0, rng.uniform(1e-3, 1e-2, size=(n, n)), 0.0)
    return sr.network("jansen_rit.JRC", n, couplings=[
        sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", sp.csr_matrix(C * 10.0),
                    delays=sp.csr_matrix(D))])


@pytest.fixture(scope="module")
def b1_delayed():
    return sr.build(_b1_delayed(50))


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_compiled_matches_numpy_on_the_delayed_b1_network(b1_delayed, method):
    n, steps = 50, 1000
    u = 220.0 + 22.0 * np.random.default_rng(7).standard_normal((steps, n))
    options = dict(dt=1e-4, method=method, inputs={"u": u}, sampling=5e-4,
                   outputs=["pc/RPO_e_pc/v", "pc/RPO_i/v", "ein/RPO_e/v"],
                   y0=np.random.default_rng(1).uniform(0, 1e-3, b1_delayed.n_states))
    compiled = sr.simulate(b1_delayed, 0.1, backend="cython", **options)
    reference = sr.simulate(b1_delayed, 0.1, backend="numpy", **options)
    assert_agree(compiled, reference)
    # the delays matter: the undelayed network differs by far more than the tolerance
    undelayed = sr.simulate(sr.network("jansen_rit.JRC", n, couplings=[sr.Coupling(
        "pc/PRO/m_out", "pc/RPO_e_pc/m_in", b1_delayed.couplings[-1].weights)]), 0.1,
        backend="cython", **options)
    gap = np.max(np.abs(undelayed["pc/RPO_e_pc/v"] - reference["pc/RPO_e_pc/v"]))
    assert gap > 1e-6 * np.max(np.abs(reference["pc/RPO_e_pc/v"]))


def test_delayed_noisy_run_matches_numpy_and_new_delays_reuse_the_module(b1_delayed):
    n = 50
    options = dict(dt=1e-4, method="heun", sampling=1e-3, outputs=["pc/RPO_e_pc/v"],
                   noise={"pc/RPO_e_pc/v": 1e-4}, seed=11)
    assert_agree(sr.simulate(b1_delayed, 0.05, backend="cython", **options),
                 sr.simulate(b1_delayed, 0.05, backend="numpy", **options), rtol=1e-11)
    before = STATS.snapshot()
    other = sr.build(_b1_delayed(n // 2, seed=3))        # new N, W and delays
    sr.simulate(other, 0.02, backend="cython", **options)
    assert STATS.snapshot()["compiled"] == before["compiled"]


def test_delayed_network_is_bit_identical_for_1_and_2_threads():
    from symrates.runtime.compiled import CompiledProblem, kernel_module, threads_for
    from symrates.runtime.problem_numpy import ProblemSetup

    system = sr.build(_b1_delayed(700, seed=2))
    problem = CompiledProblem(ProblemSetup(system), kernel_module(system))
    if threads_for(problem, 2) != 2:
        pytest.skip("kernels are built without OpenMP here")
    options = dict(dt=1e-4, method="rk4", backend="cython", sampling=1e-3,
                   outputs=["pc/RPO_e_pc/v"], y0=np.zeros(system.n_states))
    one, two = (sr.simulate(system, 0.03, n_threads=nt, **options) for nt in (1, 2))
    np.testing.assert_array_equal(one["pc/RPO_e_pc/v"], two["pc/RPO_e_pc/v"])
    assert np.ptp(one["pc/RPO_e_pc/v"]) > 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_delays_from_parameters_follow_params_overrides(backend):
    short = sr.simulate(DDE, 2.0, dt=0.01, method="rk4", backend=backend,
                        params={"tau": 0.5}, outputs=["x"])
    exact = float(method_of_steps(-2, -1, sympy.Rational(1, 2), 4)[3].subs(T, 2.0))
    assert short["x"][-1] == pytest.approx(exact, rel=1e-7)


@pytest.mark.parametrize(("options", "match"), [
    (dict(dt=0.01, params={"tau": 0.004}),
     r"The delay 0.004 of the delayed value in the equations of group 'dde' of 'dde' is shorter "
     r"than the step dt = 0.01: .* Use dt <= 0.004, or set that delay to 0\."),
    (dict(dt=0.01, method="rk45"),
     r"The model has delays, which the fixed-step methods integrate \(euler, heun, rk4\); got "
     r"the adaptive method 'rk45'"),
    (dict(dt=0.01, inputs={"tau": np.ones(100)}),
     r"inputs= drives 'dde/tau', which sets the delay of the delayed value"),
])
def test_delay_errors(options, match):
    for backend in ("numpy", "auto"):
        with pytest.raises(ModelDefinitionError, match=match):
            sr.simulate(DDE, 1.0, backend=backend, **{"method": "rk4", **options})


def test_outputs_that_read_delayed_values_fail_before_the_run():
    op = sr.OperatorTemplate("echo", ["x' = -x + past(x, 0.5)", "e = x(t - 0.5)"],
                             {"x": "output(1.0)", "e": "variable(0.0)"})
    with pytest.raises(ModelDefinitionError, match=r"'echo/echo/e' of 'echo' depends on delayed "
                                                   r"values, which are not kept after the run"):
        sr.simulate(op, 1.0, dt=0.01, outputs=["x", "e"], backend="numpy")


def test_edge_delay_shorter_than_dt_names_the_coupling():
    with pytest.raises(SymratesError, match=r"The delay 0.001 of the coupling 'LI' -> 'LI'/"
                                            r"'li/I_ext' of 'chain' is shorter than the step"):
        sr.simulate(two_leaky_chain(delay=1e-3), 1.0, dt=0.01, method="rk4")


def test_a_scan_of_a_delayed_model_equals_each_simulation():
    # a scan may split a run into a transient and window pieces; a delayed model must not be
    # split (it would restart from a constant history)
    taus = [0.5, 1.0, 1.5]
    sc = sr.scan(DDE, {"tau": taus}, t_end=5.0, dt=0.01, method="rk4",
                 observables={"x": ["final", "mean"]})
    for i, tau in enumerate(taus):
        res = sr.simulate(DDE, 5.0, dt=0.01, method="rk4", params={"tau": tau})
        assert sc["x", "final"][i] == pytest.approx(res["x"][-1], rel=1e-12, abs=1e-15)
        window = res["x"][res.t >= 4.5]
        assert sc["x", "mean"][i] == pytest.approx(window.mean(), rel=1e-9, abs=1e-12)
