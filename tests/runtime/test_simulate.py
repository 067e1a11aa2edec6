"""The reference simulator: convergence orders, inputs, outputs, sampling, noise, errors."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import symrates as sr
from symrates.errors import IntegrationError, ModelDefinitionError
from tests.scenarios import LEAKY, two_leaky_chain

FHN = sr.OperatorTemplate(
    "fhn",
    ["v' = v - v^3/3 - w + I", "w' = eps*(v + a - b*w)"],
    {"v": "output(-1.0)", "w": "variable(1.0)", "I": 0.5, "a": 0.7, "b": 0.8, "eps": 0.08},
)


def _fhn_reference(t_end):
    def f(t, y):
        v, w = y
        return [v - v**3 / 3 - w + 0.5, 0.08 * (v + 0.7 - 0.8 * w)]

    sol = solve_ivp(f, (0, t_end), [-1.0, 1.0], method="DOP853", rtol=1e-13, atol=1e-13)
    return sol.y[:, -1]


@pytest.mark.parametrize("method, order", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_fixed_step_methods_converge_at_their_order(method, order):
    exact = _fhn_reference(20.0)
    dts = [0.04, 0.02, 0.01, 0.005]
    errors = []
    for dt in dts:
        res = sr.simulate(FHN, 20.0, dt=dt, method=method, backend="numpy", sampling=20.0)
        errors.append(np.abs(np.array([res.final_state["v"], res.final_state["w"]])
                             - exact).max())
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.25, (errors, slope)


@pytest.mark.parametrize("method", ["rk45", "dop853", "radau", "bdf", "lsoda"])
def test_adaptive_methods_match_reference(method):
    res = sr.simulate(FHN, 20.0, dt=0.01, method=method, rtol=1e-10, atol=1e-12)
    got = np.array([res["v"][-1], res["w"][-1]])
    np.testing.assert_allclose(got, _fhn_reference(20.0), rtol=1e-6, atol=1e-7)


def test_samples_outputs_and_final_state():
    res = sr.simulate(two_leaky_chain(), 1.0, dt=0.01, sampling=0.1,
                      outputs=["b/li/r", "b/li/I_ext"])
    np.testing.assert_allclose(res.t, np.arange(11) * 0.1, rtol=0, atol=1e-12)
    assert res.paths == ("b/li/r", "b/li/I_ext") and res["r"].shape == (11,)
    # the input b/li/I_ext equals 3 * a/li/r at every sample
    full = sr.simulate(two_leaky_chain(), 1.0, dt=0.01, sampling=0.1,
                       outputs=["a/li/r", "b/li/I_ext"], y0={"a/li/r": 1.0})
    np.testing.assert_allclose(full["I_ext"], 3 * full["a/li/r"], rtol=1e-14)
    assert set(full.final_state) == {"a/li/r", "b/li/r"}
    assert isinstance(full.final_state["a/li/r"], float)


def test_linear_chain_matches_analytic_solution():
    # a' = -a/2 (a(0) = 1), b' = (-b + 3a)/2: b(t) = 3 (t/2) exp(-t/2)
    res = sr.simulate(two_leaky_chain(), 4.0, dt=1e-3, method="rk4", y0={"a/li/r": 1.0})
    t = res.t
    np.testing.assert_allclose(res["a/li/r"], np.exp(-t / 2), rtol=1e-12)
    np.testing.assert_allclose(res["b/li/r"], 1.5 * t * np.exp(-t / 2), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_input_rows_hold_during_each_step(method):
    # r' = (-r + I)/tau with tau -> huge is not exact; use an integrator node x' = I instead
    integ = sr.OperatorTemplate("int", ["x' = I"], {"x": "output(0.0)", "I": "input(0.0)"})
    rng = np.random.default_rng(3)
    u = rng.normal(size=100)
    res = sr.simulate(integ, 1.0, dt=0.01, method=method, inputs={"I": u})
    np.testing.assert_allclose(res["x"][1:], np.cumsum(u) * 0.01, rtol=1e-12, atol=1e-14)
    res_c = sr.simulate(integ, 1.0, dt=0.01, method=method, inputs={"I": lambda t: 2.0 * t})
    np.testing.assert_allclose(res_c["x"][-1], 1.0, rtol=1e-12 if method != "euler" else 2e-2)


def test_parameter_overrides():
    res = sr.simulate(LEAKY, 2.0, dt=1e-3, params={"I_ext": 1.0, "tau": 0.5})
    np.testing.assert_allclose(res["r"][-1], 1 - np.exp(-4.0), rtol=1e-10)


def test_noise_ornstein_uhlenbeck_variance_and_seeds():
    ou = sr.OperatorTemplate("ou", ["x' = -theta * x"], {"x": "output(0.0)", "theta": 1.0})
    nodes = {f"u{i}": sr.NodeTemplate("OU", [ou]) for i in range(400)}
    circ = sr.CircuitTemplate("ous", nodes)
    sigma = 0.5
    noise = {f"u{i}/ou/x": sigma for i in range(400)}
    for method in ("euler", "heun"):
        res = sr.simulate(circ, 20.0, dt=0.01, method=method, noise=noise, seed=7,
                          sampling=0.5)
        late = np.array([res[f"u{i}/ou/x"][10:] for i in range(400)])
        var = late.var()
        # stationary variance sigma^2/(2 theta) = 0.125; ~400 x 30 weakly correlated samples
        assert abs(var - 0.125) < 0.012, (method, var)
    a = sr.simulate(ou, 1.0, dt=0.01, method="heun", noise={"x": 0.3}, seed=1)
    b = sr.simulate(ou, 1.0, dt=0.01, method="heun", noise={"x": 0.3}, seed=1)
    c = sr.simulate(ou, 1.0, dt=0.01, method="heun", noise={"x": 0.3}, seed=2)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.array_equal(a["x"], c["x"])


def test_blow_up_names_time_and_variable():
    op = sr.OperatorTemplate("sq", ["x' = x^2"], {"x": "output(1.0)"})
    with pytest.raises(IntegrationError, match=r"diverged at t = 1\.0\d*: sq/sq/x became") as info:
        sr.simulate(op, 2.0, dt=1e-3, method="euler")
    assert 0.9 < info.value.t < 1.1
    with pytest.raises(IntegrationError, match=r"sq/sq/x"):
        sr.simulate(op, 2.0, dt=1e-3, method="rk45")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "rk5"}, r"Unknown method 'rk5'.*euler, heun, rk4"),
        ({"backend": "gpu"}, r"Unknown backend 'gpu'"),
        ({"dt": 0.3}, r"not a whole multiple of dt"),
        ({"dt": -1.0}, r"must be finite and > 0"),
        ({"sampling": 0.015}, r"sampling=0.015 must be a whole multiple of dt"),
        ({"outputs": ["nope"]}, r"Unknown variable 'nope'"),
        ({"params": {"r": 1.0}}, r"names 'r', which is a state"),
        ({"params": {"tau": [1.0, 2.0]}}, r"must be a number or an array of 1"),
        ({"inputs": {"I_ext": np.zeros(5)}}, r"has shape \(5,\); expected \(100,\)"),
        ({"y0": {"tau": 1.0}}, r"names 'tau', which is not a state"),
        ({"noise": {"r": 0.1}, "method": "rk4"}, r"noise= needs the 'euler'"),
        ({"noise": {"tau": 0.1}, "method": "euler"}, r"noise= of 'li' names 'tau'"),
        ({"n_threads": 0}, r"n_threads"),
    ],
)
def test_simulate_errors(kwargs, match):
    options = {"dt": 0.01, **kwargs}
    with pytest.raises((ModelDefinitionError, ValueError), match=match):
        sr.simulate(LEAKY, 1.0, **options)


def test_result_dataframe_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    res = sr.simulate(two_leaky_chain(), 1.0, dt=0.1, y0={"a/li/r": 1.0})
    df = res.to_dataframe()
    assert list(df.columns) == ["a/li/r", "b/li/r"] and df.index.name == "t"
    assert len(df) == 11 and len(res) == 11
    ax = res.plot()
    assert len(ax.get_lines()) == 2
    ax = res.plot("b/li/r")
    assert "b/li/r" in repr(res) and "b/li/r" in res and "zzz" not in res


def test_delays_are_recorded_and_integrated():
    delayed = two_leaky_chain(weight=1.0, delay=0.5)
    system = sr.build(delayed)
    assert system.has_delays and system.couplings[0].delays.tolist() == [0.5]
    res = sr.simulate(delayed, 1.0, dt=0.01, backend="numpy", y0={"a/li/r": 1.0})
    # b feels a only after the delay: b' = (-b + a(t - 0.5))/2 with a = 1 before t = 0
    assert res["b/li/r"][50] == pytest.approx(1.0 - np.exp(-0.25), rel=1e-8)


def test_numpy_results_do_not_depend_on_how_many_symbols_were_made_before():
    import sympy

    first = sr.simulate("jansen_rit.JRC", 0.05, dt=1e-4, backend="numpy")
    _ = [sympy.Dummy() for _ in range(5000)]        # moves sympy's Dummy counter across digits
    again = sr.simulate("jansen_rit.JRC", 0.05, dt=1e-4, backend="numpy")
    for path in first.paths:
        np.testing.assert_array_equal(first[path], again[path])


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_the_result_says_how_long_the_time_loop_took(backend):
    import time

    t0 = time.perf_counter()
    res = sr.simulate("wilson_cowan.WC_EI", 1.0, dt=1e-3, method="rk4", backend=backend)
    total = time.perf_counter() - t0
    assert 0.0 < res.timings["integrate_s"] < total


def test_params_and_inputs_leave_the_systems_values_alone():
    """A run's parameter arrays share the system's until params= or inputs= write them."""
    system = sr.build(sr.network("jansen_rit.JRC", 2))
    before = {k: np.array(v) for k, v in system.parameters.items()}
    u = np.full((100, 2), 300.0)
    for backend in ("numpy", "cython"):
        sr.simulate(system, 0.01, dt=1e-4, method="euler", backend=backend,
                    params={"pc/RPO_e_pc/tau": [0.02, 0.03]}, inputs={"u": u})
        after = system.parameters
        assert after.keys() == before.keys()
        for k, v in before.items():
            np.testing.assert_array_equal(after[k], v, err_msg=k)
