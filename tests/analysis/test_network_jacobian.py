"""The structured sparse Jacobian equals the flattened sympy Jacobian and finite differences."""

import numpy as np
import pytest
import scipy.sparse as sp
import sympy
from scipy.optimize import brentq

import symrates as sr
from symrates.analysis.derivatives import ParametricSystem
from symrates.analysis.network_jacobian import (
    StructuredJacobian,
    sparse_jacobian,
    without_delays,
)
from symrates.analysis.stability import eigenvalues
from symrates.errors import ModelDefinitionError
from symrates.runtime.problem_numpy import NumpyProblem
from tests.scenarios import LEAKY

SRC, TGT = "pc/PRO/m_out", "pc/RPO_e_pc/m_in"


def _random_weights(n, density, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    W = sp.random(n, n, density=density, random_state=rng, format="csr",
                  data_rvs=lambda k: rng.uniform(0.1, 1.0, k)) * scale
    W.setdiag(0.0)
    W.eliminate_zeros()
    return W


def _compare(model, y, params=None):
    """Max |J_structured - J_flat| / max|J| and the same against central differences."""
    system = sr.build(model)
    J = sparse_jacobian(system, y, params=params)
    assert sp.isspmatrix_csr(J) and J.shape == (system.n_states,) * 2
    ps = ParametricSystem.of(system)                  # the flattened sympy view, lambdified
    p = ps.parameter_vector(params)
    J_flat = ps.jacobian(np.asarray(y, dtype=float), p)
    # the structural pattern covers every symbolically non-zero entry of the flattened view
    symbolic = np.array(system.jacobian().applyfunc(lambda e: int(e != 0)), dtype=bool)
    assert not np.any(symbolic & (J.toarray() == 0) & (J_flat != 0))
    problem = NumpyProblem(system, params=params)
    y = np.asarray(y, dtype=float)
    fd = np.empty_like(J_flat)
    for j in range(y.size):
        h = 1e-6 * (1.0 + abs(y[j]))
        e = np.zeros_like(y)
        e[j] = h
        fd[:, j] = (problem.rhs(0.0, y + e, 0) - problem.rhs(0.0, y - e, 0)) / (2 * h)
    scale = np.abs(J_flat).max()
    dense = J.toarray()
    return np.abs(dense - J_flat).max() / scale, np.abs(dense - fd).max() / scale


def _state(system, seed, scale=1.0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, system.n_states) * scale


def test_jansen_rit_network_with_random_sparse_weights_and_per_unit_inputs():
    n = 4
    net = sr.network("jansen_rit.JRC", n, couplings=[sr.Coupling(SRC, TGT, _random_weights(n, 0.5,
                                                                                          1))],
                     params={"u": [150.0, 200.0, 250.0, 300.0]})
    system = sr.build(net)
    y = _state(system, 2, scale=5e-3)                   # potentials of mV, in V
    flat, fd = _compare(net, y)
    assert flat < 1e-12 and fd < 1e-6
    # parameter overrides reach the Jacobian per unit
    slopes = {"pc/PRO/s": [400.0, 500.0, 560.0, 700.0]}
    flat, fd = _compare(net, y, params=slopes)
    assert flat < 1e-12 and fd < 1e-6
    changed = sparse_jacobian(net, y, params=slopes) - sparse_jacobian(net, y)
    assert abs(changed).max() > 1.0


def test_per_unit_parameters_and_couplings_between_different_variables():
    n = 5
    rng = np.random.default_rng(3)
    net = sr.network(
        "wilson_cowan.WC", n,
        couplings=[sr.Coupling("E", "P", _random_weights(n, 0.6, 4)),
                   sr.Coupling("I", "Q", _random_weights(n, 0.6, 5, scale=-0.5)),
                   sr.Coupling("E", "Q", np.eye(n) * 0.3)],
        params={"c1": rng.uniform(10, 16, n), "a_i": rng.uniform(1, 2, n), "P": rng.normal(size=n)},
    )
    system = sr.build(net)
    flat, fd = _compare(net, _state(system, 6, scale=0.5))
    assert flat < 1e-12 and fd < 1e-6


def test_edge_operators_algebraic_and_with_states_chain_through_couplings():
    square = sr.OperatorTemplate("sq", ["out = k * tanh(inp)^2"],
                                 {"out": "output", "inp": "input", "k": 1.5})
    synapse = sr.OperatorTemplate("syn", ["s' = (-s + inp) / tau_s", "out = s^2 + s"],
                                  {"s": "variable(0.0)", "out": "output", "inp": "input",
                                   "tau_s": 0.7})
    node = sr.NodeTemplate("LI", [LEAKY])
    circ = sr.CircuitTemplate(
        "edges", {"a": node, "b": node, "c": node},
        [("a/li/r", "b/li/I_ext", sr.EdgeTemplate("squarer", [square]), {"weight": 2.0}),
         ("b/li/r", "c/li/I_ext", sr.EdgeTemplate("synapse", [synapse]), {"weight": -1.5}),
         ("c/li/r", "a/li/I_ext", None, {"weight": 0.5})],
    )
    system = sr.build(circ)
    assert any(g.name == "squarer" and not g.states for g in system.groups)
    flat, fd = _compare(circ, _state(system, 7))
    assert flat < 1e-12 and fd < 1e-6
    # the same circuit as the unit of a network, coupled into the algebraic edge's input: the
    # network coupling's source reads a coupling sum (two chained couplings)
    n = 3
    net = sr.network(circ, n, couplings=[sr.Coupling("c/li/r", "squarer_0/sq/inp",
                                                     _random_weights(n, 0.7, 8))])
    flat, fd = _compare(net, _state(sr.build(net), 9))
    assert flat < 1e-12 and fd < 1e-6


def test_gamma_delay_chains_are_ordinary_states():
    n = 4
    D = np.full((n, n), 2.0)
    S = np.full((n, n), 1.0)                           # k = 4 stages per chain
    net = sr.network("wilson_cowan.WC", n,
                     couplings=[sr.Coupling("E", "P", _random_weights(n, 0.6, 10), delays=D,
                                            spread=S)])
    system = sr.build(net)
    assert any(g.name.startswith("_gamma") for g in system.groups) and not system.has_delays
    flat, fd = _compare(net, _state(system, 11, scale=0.5))
    assert flat < 1e-12 and fd < 1e-6


def test_jacobian_of_a_large_network_is_built_without_the_flattened_view():
    n = 1500                                             # 3000 states: beyond the flat view
    net = sr.network("wilson_cowan.WC", n,
                     couplings=[sr.Coupling("E", "P", _random_weights(n, 10 / n, 12, 0.1))])
    system = sr.build(net)
    y = _state(system, 13, scale=0.3)
    J = sparse_jacobian(system, y)
    assert "_flat" not in system.__dict__
    # 2x2 local blocks per unit plus one entry per edge in the E rows
    W = system.couplings[0].weights
    assert J.nnz == 4 * n + W.nnz
    # spot check rows against central differences
    problem = NumpyProblem(system)
    for j in (0, 5, n + 2, 2 * n - 1):                   # columns against central differences
        e = np.zeros_like(y)
        e[j] = 1e-6
        fd = (problem.rhs(0.0, y + e, 0) - problem.rhs(0.0, y - e, 0)) / 2e-6
        np.testing.assert_allclose(J[:, j].toarray().ravel(), fd, rtol=1e-6, atol=1e-8)


def test_evaluation_reuses_the_cached_structure():
    net = sr.network("wilson_cowan.WC", 3, couplings=[sr.Coupling("E", "P", np.ones((3, 3)))])
    system = sr.build(net)
    assert StructuredJacobian.of(system) is StructuredJacobian.of(system)


def test_sympy_jacobian_matches_exactly_on_a_rational_point():
    # a second, independent reference: the exact sympy Jacobian of the flattened view at a point
    net = sr.network("wilson_cowan.WC", 2, couplings=[sr.Coupling("E", "P", [[0, 0.5], [1, 0]])])
    system = sr.build(net)
    y = np.array([0.1, 0.2, 0.05, -0.1])
    subs = dict(zip(system.state_symbols, map(sympy.Float, y)))
    for path, value in system.parameters.items():
        for c, v in enumerate(np.atleast_1d(value)):
            subs[system._flat["params"][f"{path}[{c}]"]] = sympy.Float(float(v))
    exact = np.array(system.jacobian().subs(subs).evalf(30), dtype=float)
    np.testing.assert_allclose(sparse_jacobian(system, y).toarray(), exact, rtol=1e-13,
                               atol=1e-15)


# -- delays and errors -----------------------------------------------------------------------------

def _delayed_network():
    D = np.full((3, 3), 0.5)
    return sr.network("wilson_cowan.WC", 3,
                      couplings=[sr.Coupling("E", "P", 0.2 * np.ones((3, 3)), delays=D)])


def test_discrete_delays_are_refused_with_the_coupling_named():
    with pytest.raises(ModelDefinitionError,
                       match=r"The coupling WC/WC_op/E -> WC/WC_op/P of 'WC' has discrete delays "
                             r"\(up to 0.5\).*delays='ignore'"):
        sparse_jacobian(_delayed_network(), np.zeros(6))


def test_delays_in_equations_are_refused_with_the_variable_named():
    op = sr.OperatorTemplate("dde", ["x' = -x + tanh(x(t - d))"], {"x": "output(0.1)", "d": 1.0})
    with pytest.raises(ModelDefinitionError,
                       match=r"The equation of dde/dde/x in 'dde' uses delayed values"):
        sparse_jacobian(op, [0.1])
    J = StructuredJacobian.of(without_delays(sr.build(op)))
    assert J.system.has_delays is False
    # equilibria of x' = -x + tanh(x(t - d))/2 + 1 are those of the undelayed ODE
    op = sr.OperatorTemplate("dde", ["x' = -x + tanh(x(t - d))/2 + 1"],
                             {"x": "output(0.1)", "d": 1.0})
    with pytest.raises(ModelDefinitionError, match=r"The equation of dde/dde/x in 'dde' uses "
                                                   r"delayed values.*delays='ignore'"):
        sr.fixed_points(op)
    x = brentq(lambda x: -x + np.tanh(x) / 2 + 1, 0.0, 3.0, xtol=1e-15)
    for method in ("dense", "sparse"):
        (fp,) = sr.fixed_points(op, delays="ignore", method=method)
        assert fp.y[0] == pytest.approx(x, abs=1e-12)
        assert fp.eigenvalues[0] == pytest.approx(-1 + 0.5 / np.cosh(x) ** 2, abs=1e-12)


def test_without_delays_keeps_everything_else():
    system = sr.build(_delayed_network())
    plain = without_delays(system)
    assert not plain.has_delays and plain.states == system.states
    assert without_delays(system) is plain                      # cached
    ref = sr.build(sr.network("wilson_cowan.WC", 3,
                              couplings=[sr.Coupling("E", "P", 0.2 * np.ones((3, 3)))]))
    y = _state(ref, 14, scale=0.3)
    np.testing.assert_array_equal(sparse_jacobian(plain, y).toarray(),
                                  sparse_jacobian(ref, y).toarray())


# -- the rightmost eigenvalues ---------------------------------------------------------------------

def test_sparse_eigenvalues_find_the_rightmost_of_a_known_stiff_spectrum():
    # block diagonal: stiff real modes, a slow cluster, and oscillatory pairs whose real parts
    # are the largest but which are far from the origin (shift-invert about 0 alone misses them)
    rng = np.random.default_rng(15)
    stiff = -rng.uniform(1e3, 1e4, 600)
    cluster = -rng.uniform(0.5, 2.0, 394)
    pairs = [(-0.2, 80.0), (0.3, 120.0), (-0.05, 40.0)]
    blocks = [sp.diags(np.concatenate([stiff, cluster]))]
    blocks += [sp.csr_matrix([[a, b], [-b, a]]) for a, b in pairs]
    J = sp.block_diag(blocks, format="csr")
    perm = rng.permutation(J.shape[0])
    J = J[perm][:, perm]                                    # hide the structure
    expected = [0.3 + 120j, 0.3 - 120j, -0.05 + 40j, -0.05 - 40j, -0.2 + 80j, -0.2 - 80j]
    got = eigenvalues(J, k=6)
    np.testing.assert_allclose(got, expected, atol=1e-8)
    # the dense path (the default up to 1000 states) agrees
    np.testing.assert_allclose(eigenvalues(J)[:6], expected, atol=1e-8)


def test_sparse_newton_step_falls_back_to_least_squares_when_singular():
    from symrates.analysis.network_jacobian import SparseSystem

    J = sp.csr_matrix(np.array([[2.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(SparseSystem.solve(J, np.array([1.0, 0.0])), [0.5, 0.0],
                               atol=1e-12)
    J = sp.csr_matrix(np.array([[2.0, 1.0], [1.0, 3.0]]))
    np.testing.assert_allclose(SparseSystem.solve(J, np.array([1.0, 2.0])), [0.2, 0.6])
