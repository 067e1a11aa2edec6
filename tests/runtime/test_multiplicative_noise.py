"""Multiplicative noise (DESIGN.md §5): ``noise={path: expression}``, its semantics and errors.

Geometric Brownian motion ``dX = mu X dt + s X dW`` has known solutions driven by the same
Wiener path ``W``: Itô ``X0 exp((mu - s^2/2) t + s W_t)`` (the limit of Euler–Maruyama) and
Stratonovich ``X0 exp(mu t + s W_t)`` (the limit of stochastic Heun). ``W_T`` is rebuilt from the
documented stream, ``dW[k, i] = sqrt(dt) * normals(seed, k, i, n_states)``.
"""

import numpy as np
import pytest
import sympy

import symrates as sr
from symrates.codegen.lower import lower_noise
from symrates.errors import CodegenError, EquationParseError, ModelDefinitionError
from symrates.runtime.noise import resolve_noise
from symrates.runtime.problem_numpy import lowered
from symrates.runtime.rng import normals
from tests.scenarios import LEAKY

MU, S, X0 = 1.0, 0.5, 1.0
N_PATHS = 2000
GBM = sr.OperatorTemplate("gbm", ["x' = mu * x"], {"x": f"output({X0})", "mu": MU, "s": S})


@pytest.fixture(scope="module")
def gbm():
    """N_PATHS independent GBM units: one run gives N_PATHS paths."""
    return sr.build(sr.network(GBM, N_PATHS))


def wiener_end(seed, n_steps, n, dt):
    """W_T of each of n states for the documented stream."""
    index = np.arange(n)
    return np.sqrt(dt) * sum(normals(seed, k, index, n) for k in range(n_steps))


@pytest.mark.parametrize(("method", "calculus", "order", "other"),
                         [("euler", "ito", (0.4, 0.75), "stratonovich"),
                          ("heun", "stratonovich", (0.85, 1.2), "ito")])
def test_gbm_converges_pathwise_to_its_exact_solution(gbm, method, calculus, order, other):
    T, seed = 1.0, 21
    dts = [T / 2**k for k in range(4, 10)]
    errors, other_errors = [], []
    for dt in dts:
        res = sr.simulate(gbm, T, dt=dt, method=method, backend="numpy",
                          noise={"x": "s * x"}, seed=seed, sampling=T)
        W = wiener_end(seed, round(T / dt), N_PATHS, dt)
        exact = {"ito": X0 * np.exp((MU - S**2 / 2) * T + S * W),
                 "stratonovich": X0 * np.exp(MU * T + S * W)}
        errors.append(np.mean(np.abs(res["x"][-1] - exact[calculus])))
        other_errors.append(np.mean(np.abs(res["x"][-1] - exact[other])))
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    # strong order 1/2 for Euler–Maruyama, 1 for stochastic Heun (diagonal noise); measured
    # 0.57 and 1.02
    assert order[0] < slope < order[1], (slope, errors)
    assert errors[-1] < {"euler": 0.03, "heun": 2e-3}[method], errors
    # and not to the solution of the other calculus: that error stays ~(s^2/2) E[X_T]
    assert other_errors[-1] > 10 * errors[-1], other_errors


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("method", ["euler", "heun"])
def test_gbm_ensemble_mean_is_the_analytic_mean(gbm, backend, method):
    T, dt = 1.0, 1e-3
    res = sr.simulate(gbm, T, dt=dt, method=method, backend=backend, noise={"x": "s * x"},
                      seed=5, sampling=0.25)
    x = res["x"]
    # Itô: E[X_t] = X0 e^(mu t); Stratonovich: the Itô GBM with drift mu + s^2/2
    drift = MU if method == "euler" else MU + S**2 / 2
    for row, t in zip(x[1:], res.t[1:]):
        mean = X0 * np.exp(drift * t)
        sd = mean * np.sqrt(np.exp(S**2 * t) - 1.0)      # the exact standard deviation
        assert abs(row.mean() - mean) < 4 * sd / np.sqrt(N_PATHS), (t, row.mean(), mean)
    # the Itô and Stratonovich means differ by 13 % at T = 1, 11 standard errors: the test
    # tells the two apart
    assert abs(np.exp(MU + S**2 / 2) - np.exp(MU)) > 8 * sd / np.sqrt(N_PATHS)


def test_expressions_read_states_parameters_inputs_and_t():
    # dx = 0 dt + g dW: x_k = sum_j g_j dW_j with g evaluated at the start of each step
    op = sr.OperatorTemplate("flat", ["x' = 0", "y' = 0"],
                             {"x": "output(1.0)", "y": "variable(2.0)", "a": 0.5, "b": 1.0})
    n, dt, n_steps, seed = 3, 0.01, 50, 4
    system = sr.build(sr.network(op, n, params={"a": np.array([0.1, 0.2, 0.3])}))
    drive = np.linspace(1.0, 2.0, n_steps)
    res = sr.simulate(system, n_steps * dt, dt=dt, method="euler", backend="numpy",
                      noise={"x": "a * y * (1 + t) * b"}, seed=seed, inputs={"b": drive},
                      params={"a": np.array([0.1, 0.2, 0.4])})
    dW = np.sqrt(dt) * np.array([normals(seed, k, np.arange(2 * n), 2 * n)[:n]
                                 for k in range(n_steps)])
    g = np.array([0.1, 0.2, 0.4]) * 2.0 * (1 + dt * np.arange(n_steps))[:, None] * drive[:, None]
    np.testing.assert_allclose(res["x"][1:], 1.0 + np.cumsum(g * dW, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(res["y"], 2.0)


def test_names_resolve_in_the_unit_of_the_state():
    system = sr.build("jansen_rit.JRC")
    noise = resolve_noise(system, {
        "pc/RPO_i/v": "1e-3 * sqrt(RPO_e_pc__v**2 + 1e-6)",   # another operator: by suffix
        "pc/RPO_i/x": "H * x",                                # own operator: by name
        "iin/RPO_e/v": "0.1 * abs(v) + 1e-3 * m_out",         # algebraic: its definition
        "ein/RPO_e/v": 2e-3,
    })
    by_state = {}
    for spec in noise.specs:
        g = lowered(system).groups[spec.group]
        for part in spec.parts:
            for j, e in zip(part.states, part.exprs):
                by_state[(g.name, part.nodes, g.states[j])] = e
    pc, ein = system.groups
    sym = {**pc.symbols, **{f"pc:{k}": v for k, v in pc.param_symbols.items()}}
    assert by_state[("PC", (0, 1), "RPO_i/v")] == sympy.Float(1e-3) * sympy.sqrt(
        sym["RPO_e_pc/v"] ** 2 + sympy.Float(1e-6))
    assert by_state[("PC", (0, 1), "RPO_i/x")] == sym["pc:RPO_i/H"] * sym["RPO_i/x"]
    # only the node iin of the group (ein, iin) has an expression; m_out is substituted
    iin = by_state[("EIN", (1, 2), "RPO_e/v")]
    assert ein.symbols["RPO_e/v"] in iin.free_symbols and ein.param_symbols["PRO/s"] in (
        iin.free_symbols)
    assert noise.sigma[system.layout["ein/RPO_e/v"][2]] == 2e-3
    assert noise.noisy.sum() == 4 and noise.multiplicative
    # a sympy expression works too, with the user's symbols (or the system's) by name
    x, tau = sympy.symbols("x tau")
    same = resolve_noise(system, {"pc/RPO_i/x": sympy.Symbol("H") * x,
                                  "pc/RPO_i/v": system.symbol("pc/RPO_i/tau") * tau})
    assert same.specs[0].parts[0].exprs == (pc.param_symbols["RPO_i/tau"] ** 2,
                                            sym["pc:RPO_i/H"] * sym["RPO_i/x"])


def test_constant_expressions_are_additive_noise():
    system = sr.build(LEAKY)
    for sigma in ("0.25", sympy.Float(0.25), "1/4"):
        noise = resolve_noise(system, {"r": sigma})
        assert not noise.multiplicative and noise.sigma.tolist() == [0.25]
    a = sr.simulate(LEAKY, 1.0, dt=0.01, method="heun", backend="numpy", noise={"r": 0.25},
                    seed=3)
    b = sr.simulate(LEAKY, 1.0, dt=0.01, method="heun", backend="numpy", noise={"r": "1/4"},
                    seed=3)
    np.testing.assert_array_equal(a["r"], b["r"])


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_additive_noise_keeps_its_scheme_bit_for_bit(method):
    # the numpy reference with a constant sigma is exactly the scheme of the docs, as before
    theta, sigma, dt, n_steps, seed = 1.5, 0.3, 0.01, 200, 8
    ou = sr.OperatorTemplate("ou", ["x' = -theta * x"], {"x": "output(0.5)", "theta": theta})
    res = sr.simulate(ou, n_steps * dt, dt=dt, method=method, backend="numpy",
                      noise={"x": sigma}, seed=seed)
    x, expected = 0.5, [0.5]
    for k in range(n_steps):
        dW = np.sqrt(dt) * normals(seed, k, np.arange(1), 1)[0]
        f1 = -theta * x
        if method == "euler":
            x = x + dt * f1 + sigma * dW
        else:
            f2 = -theta * (x + dt * f1 + sigma * dW)
            x = x + (0.5 * dt) * (f1 + f2) + sigma * dW
        expected.append(x)
    np.testing.assert_array_equal(res["x"], expected)


LAYERS = sr.NodeTemplate("cell", [
    sr.OperatorTemplate("a", ["u' = -u / tau"], {"u": "output(1.0)", "tau": 1.0}),
    sr.OperatorTemplate("b", ["w' = -w / tau"], {"w": "output(1.0)", "tau": 2.0}),
    sr.OperatorTemplate("c", ["z' = -z + inp"], {"z": "output(0.0)", "inp": "input(0.0)"}),
])
CELLS = sr.CircuitTemplate("cells", {"p": LAYERS, "q": LAYERS},
                           [("p/a/u", "q/c/inp", None, {"weight": 1.0})])


@pytest.mark.parametrize(("noise", "error", "match"), [
    ({"r": "tua * r"}, EquationParseError,
     r"Unknown symbol 'tua' in expression \"tua \* r\" of noise= of 'li' for the state "
     r"'li/li/r'; declared: .*Did you mean 'tau'\? Fix the name\. A noise expression may use"),
    ({"r": "r +"}, EquationParseError, r"Invalid syntax in expression \"r \+\" of noise= of 'li'"),
    ({"r": "sqrt(-1) * r"}, EquationParseError,
     r"'sqrt\(-1\)' in expression \"sqrt\(-1\) \* r\" of noise= of 'li' for the state 'li/li/r' "
     r"evaluates to I, not a finite real number"),
    ({"r": sympy.I * sympy.Symbol("r")}, ModelDefinitionError,
     r"The expression 'I\*r' of noise= of 'li' for the state 'li/li/r' is not real"),
    ({"r": sympy.Symbol("q") * 2}, ModelDefinitionError,
     r"Unknown symbol 'q' in the expression '2\*q' of noise= of 'li' for the state 'li/li/r'; "
     r"names of that unit include"),
    ({"r": "r(t - 1) * 0.1"}, ModelDefinitionError,
     r"The expression 'r\(t - 1\) \* 0.1' of noise= of 'li' for the state 'li/li/r' uses a "
     r"delayed value"),
    ({"tau": 0.1}, ModelDefinitionError,
     r"noise= of 'li' names 'tau', which is a parameter, not a state; noise is added to "
     r"state equations"),
    ({"r": -0.1}, ModelDefinitionError,
     r"The noise intensity of 'li/li/r' in 'li' must be a number >= 0 .* got -0.1\. A negative "),
    ({"r": "-0.1"}, ModelDefinitionError,
     r"The noise intensity of 'li/li/r' in 'li' must be a number >= 0 .* got '-0.1'"),
    ({"r": np.inf}, ModelDefinitionError, r"must be a number >= 0 .* got inf"),
    ({"r": [0.1, 0.2]}, ModelDefinitionError,
     r"must be a number >= 0 or an array of 1 such numbers \(one per unit\)"),
    ({"r": object()}, ModelDefinitionError,
     r"must be a number >= 0, an array of 1 such numbers, or an expression"),
])
def test_bad_noise_is_explained(noise, error, match):
    with pytest.raises(error, match=match):
        sr.simulate(LEAKY, 1.0, dt=0.01, method="euler", backend="numpy", noise=noise, seed=1)


@pytest.mark.parametrize(("noise", "match"), [
    ({"p/c/z": "0.1 * tau"},
     r"The name 'tau' in the expression '0.1 \* tau' of noise= of 'cells' for the state "
     r"'p/c/z' is ambiguous: it matches a/tau, b/tau of the unit 'p'\. Write one of a__tau, "
     r"b__tau\."),
    ({"q/c/z": "inp * z"},
     r"The expression 'inp \* z' of noise= of 'cells' for the state 'q/c/z' depends on the "
     r"coupled input\(s\) c/inp \(sums of incoming edges\)"),
    ({"q/c/inp": 0.1},
     r"noise= of 'cells' names 'q/c/inp', which is an input, not a state"),
    ({"p/c/z": "a__tau * z", "q/c/z": 1, "q/a/u": "z"}, None),
])
def test_names_of_other_operators_need_their_operator(noise, match):
    if match is None:       # the same names, written unambiguously, are fine
        assert resolve_noise(sr.build(CELLS), noise).multiplicative
        return
    with pytest.raises(ModelDefinitionError, match=match):
        resolve_noise(sr.build(CELLS), noise)


def test_noise_on_an_algebraic_variable_or_a_non_mapping_is_explained():
    with pytest.raises(ModelDefinitionError,
                       match=r"noise= of 'JRC' names 'pc/PRO/m_out', which is an algebraic "
                             r"variable, not a state.*on a state it is computed from"):
        resolve_noise(sr.build("jansen_rit.JRC"), {"pc/PRO/m_out": "0.1"})
    with pytest.raises(ModelDefinitionError, match=r"noise= of 'li' must be a mapping"):
        resolve_noise(sr.build(LEAKY), 0.1)
    for backend in ("numpy", "cython"):     # an array has no truth value: the same message
        with pytest.raises(ModelDefinitionError, match=r"noise= of 'li' must be a mapping "
                                                       r"\{state path: sigma\}"):
            sr.simulate(LEAKY, 1.0, dt=0.01, method="euler", backend=backend,
                        noise=np.array([0.1]))
    res = sr.simulate(LEAKY, 0.1, dt=0.01, method="euler", backend="numpy", noise={})
    assert np.all(np.isfinite(res["r"]))                            # {}: no noise
    with pytest.raises(ModelDefinitionError, match=r"noise= needs the 'euler' or 'heun'"):
        sr.simulate(LEAKY, 1.0, dt=0.01, method="rk4", backend="numpy", noise={"r": "0.1*r"})


def test_lowering_refuses_foreign_symbols():
    system = sr.build(LEAKY)
    with pytest.raises(CodegenError, match=r"The noise amplitude 2\*q of state 'li/r' .*it may "
                                           r"read the group's states, parameters and t only"):
        lower_noise(lowered(system), {(0, 0, 0): 2 * sympy.Symbol("q")})


def test_scans_take_additive_noise_only():
    with pytest.raises(ModelDefinitionError,
                       match=r"noise\['r'\] of the scan of 'li' is the expression '0.1 \* r'; "
                             r"scans take additive noise"):
        sr.scan(LEAKY, {"tau": [1.0, 2.0]}, t_end=1.0, dt=0.01, noise={"r": "0.1 * r"})
