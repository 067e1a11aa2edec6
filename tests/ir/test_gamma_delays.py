"""Gamma-distributed delays become linear chains with the exact gamma impulse response."""

import numpy as np
import pytest
from scipy.special import gammainc, gammaincc

import symrates as sr
from symrates.errors import ModelDefinitionError
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
