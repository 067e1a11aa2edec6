"""Gamma-distributed delays become linear chains with the exact gamma impulse response."""

import numpy as np
import pytest
from scipy.special import gammainc, gammaincc

import symrates as sr
from symrates.errors import CodegenError, ModelDefinitionError
from symrates.ir.delays import chain_order

SOURCE = sr.OperatorTemplate("src", ["x' = -x"], {"x": "output(1.0)"})
TARGET = sr.OperatorTemplate("li", ["y' = inp"], {"y": "output(0.0)", "inp": "input(0.0)"})


def _circuit(delay, spread, weight=1.5):
    return sr.CircuitTemplate(
        "gamma", {"a": sr.NodeTemplate("S", [SOURCE]), "b": sr.NodeTemplate("T", [TARGET])},
        [("a/src/x", "b/li/inp", None, {"weight": weight, "delay": delay, "spread": spread})])


@pytest.mark.parametrize("delay, spread", [(2.0, 1.0), (1.0, 0.5), (0.6, 0.6)])
def test_gamma_chain_convolves_the_source_with_the_gamma_kernel(delay, spread):
    k = int(chain_order(np.array([delay]), np.array([spread]))[0])
    a = k / delay
    system = sr.build(_circuit(delay, spread))
    assert f"_gamma{k}/chain/z{k}" in system.states and not system.has_delays
    res = sr.simulate(system, 6.0, dt=1e-3, method="rk4", outputs=["b/li/inp"], sampling=0.1)
    t = res.t
    # source exp(-t) for t >= 0 and 1 before: (g * s)(t) in closed form
    expected = (np.exp(-t) * (a / (a - 1)) ** k * gammainc(k, (a - 1) * t)
                + gammaincc(k, a * t))
    np.testing.assert_allclose(res["b/li/inp"], 1.5 * expected, rtol=1e-9, atol=1e-12)


def test_chain_order_and_mean():
    assert chain_order(np.array([2.0, 1.0, 1.0]), np.array([1.0, 1.0, 3.0])).tolist() == [4, 1, 1]


def test_spread_without_delay_is_an_error():
    with pytest.raises(ModelDefinitionError, match=r"has a spread but no delay"):
        sr.build(_circuit(0.0, 0.5))


def test_network_spread_shares_chains_per_source_and_keeps_plain_edges():
    W = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    D = np.full((3, 3), 0.5)
    S = np.zeros((3, 3))
    S[:, 0] = 0.25                                        # spread only on edges from unit 0
    net = sr.network(sr.NodeTemplate("T", [TARGET, SOURCE]), 3,
                     couplings=[sr.Coupling("x", "inp", W, delays=D, spread=S)])
    system = sr.build(net)
    chain = system.group("_gamma4")
    assert chain.n == 1                                   # unit 0 feeds two targets: one chain
    discrete = [c for c in system.couplings if c.delays is not None]
    assert len(discrete) == 1 and discrete[0].weights.nnz == 3    # edges from units 1 and 2


LI = sr.OperatorTemplate("li", ["r' = -r + i"], {"r": "output(1.0)", "i": "input(0.0)"})
PAIR = sr.CircuitTemplate("c", {"a": sr.NodeTemplate("n", [LI]), "b": sr.NodeTemplate("n", [LI])},
                          [("a/li/r", "b/li/i", None, {"delay": 1.0, "spread": 1.0})])


def test_a_network_of_a_unit_with_gamma_chains_gets_its_own_chain_group():
    # the unit's edge and the network coupling both need one-stage chains (k = 1)
    W = np.array([[0.5, 1.0], [2.0, 0.0]])
    net = sr.network(PAIR, 2, couplings=[sr.Coupling("a/li/r", "a/li/i", W, delays=2.0,
                                                     spread=2.0)])
    system = sr.build(net)
    assert [g.name for g in system.groups] == ["n", "_gamma1", "_gamma1_2"]
    assert system.states == ("a/li/r", "b/li/r", "_gamma1/chain/z1", "_gamma1_2/chain/z1")
    assert system.n_states == 8
    # the same model written out as one circuit
    nodes = {f"c{i}": PAIR for i in range(2)}
    edges = [(f"c{j}/a/li/r", f"c{i}/a/li/i", None, {"weight": W[i, j], "delay": 2.0,
                                                      "spread": 2.0})
             for i in range(2) for j in range(2) if W[i, j]]
    circuit = sr.CircuitTemplate("copies", nodes, edges)
    a = sr.simulate(net, 3.0, dt=1e-3, method="rk4", backend="numpy", sampling=0.1)
    b = sr.simulate(circuit, 3.0, dt=1e-3, method="rk4", backend="numpy", sampling=0.1)
    for path in ("a/li/r", "b/li/r"):
        for i in range(2):
            np.testing.assert_allclose(a[path][:, i], b[f"c{i}/{path}"], rtol=1e-12, atol=1e-15)
    # b is driven by a one-stage chain of rate 1 (mean delay 1) started at a's initial value
    assert not np.allclose(a["b/li/r"], a["b/li/r"][0])


def test_a_user_node_named_like_a_chain_does_not_clash_with_it():
    clash = sr.CircuitTemplate(
        "c", {"a": sr.NodeTemplate("_gamma1", [LI]), "b": sr.NodeTemplate("_gamma1", [LI])},
        PAIR.edges)
    system = sr.build(clash)
    assert [g.name for g in system.groups] == ["_gamma1", "_gamma1_2"]
    assert system.states == ("a/li/r", "b/li/r", "_gamma1_2/chain/z1")
    ra, rb, z = (system.symbol(p) for p in system.states)
    ia, ib, zin, rate = (system.symbol(p) for p in system.parameters)
    assert list(system.parameters) == ["a/li/i", "b/li/i", "_gamma1_2/chain/in",
                                       "_gamma1_2/chain/rate"]
    assert list(system.rhs) == [ia - ra, ib - rb + z, rate * (zin + ra - z)]
    assert system.parameters["_gamma1_2/chain/rate"] == 1.0
    # a decays as exp(-t); the chain z' = a - z from z(0) = 1 gives z = (1 + t) exp(-t); and
    # b' = -b + z from b(0) = 1 gives b = (1 + t + t²/2) exp(-t)
    res = sr.simulate(clash, 3.0, dt=1e-3, method="rk4", backend="numpy", sampling=0.1)
    t = res.t
    np.testing.assert_allclose(res["b/li/r"], (1 + t + t**2 / 2) * np.exp(-t), rtol=1e-9)
    np.testing.assert_allclose(res["_gamma1_2/chain/z1"][:, 0], (1 + t) * np.exp(-t), rtol=1e-9)
    ref = sr.simulate(PAIR, 3.0, dt=1e-3, method="rk4", backend="numpy", sampling=0.1)
    np.testing.assert_array_equal(res["b/li/r"], ref["b/li/r"])


def _spread_from(source_eq):
    op = sr.OperatorTemplate("Op", ["x' = -x + i", source_eq],
                             {"x": "output(2.0)", "y": "variable", "i": "input(0.0)"})
    return sr.CircuitTemplate("C", {"a": op, "b": op},
                              [("a/y", "b/i", None, {"delay": 1.0, "spread": 1.0})])


def test_a_chain_fed_by_a_time_dependent_source_starts_at_its_value_at_t0():
    circuit = _spread_from("y = x + cos(t)")
    assert sr.build(circuit).group("_gamma1").initial["chain/z1"].tolist() == [3.0]
    # x_a = 2 exp(-t); the chain z' = x_a + cos(t) - z from z(0) = 3 gives
    # z = 2.5 exp(-t) + 2 t exp(-t) + (cos t + sin t)/2
    res = sr.simulate(circuit, 4.0, dt=1e-3, method="rk4", backend="numpy", sampling=0.1)
    t = res.t
    expected = 2.5 * np.exp(-t) + 2 * t * np.exp(-t) + (np.cos(t) + np.sin(t)) / 2
    np.testing.assert_allclose(res["_gamma1/chain/z1"][:, 0], expected, rtol=1e-9)


def test_a_chain_fed_by_a_delayed_value_starts_at_its_history():
    # before t = 0 the history is the initial state: 3 * x(-0.5) = 3 * 2
    system = sr.build(_spread_from("y = 3 * x(t - 0.5)"))
    assert system.group("_gamma1").initial["chain/z1"].tolist() == [6.0]
    # running it is not supported yet: a coupling's source cannot hold a delayed value
    with pytest.raises(CodegenError, match=r"sends the delayed value past\(Op/x, 0.5\); a "
                                           r"coupling's source cannot hold a delayed value "
                                           r"yet\. Put the delay on the edge instead"):
        sr.simulate(system, 1.0, dt=1e-2, backend="numpy")


def test_a_plain_edge_that_sends_a_delayed_value_says_where_to_put_the_delay():
    op = sr.OperatorTemplate("Op", ["x' = -x + i", "y = 3 * x(t - 0.5)"],
                             {"x": "output(2.0)", "y": "variable", "i": "input(0.0)"})
    circuit = sr.CircuitTemplate("C", {"a": op, "b": op}, [("a/y", "b/i", None, {})])
    for backend in ("numpy", "cython"):
        with pytest.raises(CodegenError, match=r"the coupling from group 'Op' to 'Op' \(input "
                                               r"'Op/i'\) sends the delayed value past\(Op/x, "
                                               r"0\.5\); .* Put the delay on the edge instead"):
            sr.simulate(circuit, 1.0, dt=1e-2, method="euler", backend=backend)
