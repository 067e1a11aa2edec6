"""Fixed points by Newton's method with the exact Jacobian."""

import numpy as np
import pytest

import symrates as sr
from symrates.errors import ConvergenceError, ModelDefinitionError
from tests.scenarios import two_leaky_chain

FHN = sr.OperatorTemplate(
    "fhn",
    ["v' = v - v^3/3 - w + I", "w' = eps*(v + a - b*w)"],
    {"v": "output(-1.0)", "w": "variable(1.0)", "I": 0.0, "a": 0.7, "b": 0.8, "eps": 0.08},
)


def test_linear_chain_has_the_analytic_fixed_point():
    (fp,) = sr.fixed_points(two_leaky_chain(weight=3.0).update({"a/li/I_ext": 2.0}))
    np.testing.assert_allclose(fp.y, [2.0, 6.0], rtol=1e-12)
    np.testing.assert_allclose(sorted(fp.eigenvalues.real), [-0.5, -0.5], rtol=1e-12)
    assert fp.stable and fp.kind == "stable node"
    assert fp.state == {"a/li/r": pytest.approx(2.0), "b/li/r": pytest.approx(6.0)}


def test_fitzhugh_nagumo_single_fixed_point_and_stability():
    # b < 1: one equilibrium, v^3/3 + (1/b - 1) v + a/b - I = 0
    for current, stable in ((0.0, True), (0.5, False)):
        (fp,) = sr.fixed_points(FHN, params={"I": current})
        v = fp.state["fhn/fhn/v"]
        assert abs(v**3 / 3 + (1 / 0.8 - 1) * v + 0.7 / 0.8 - current) < 1e-12
        assert fp.stable is stable
    (fp,) = sr.fixed_points(FHN, params={"I": 0.5})
    assert fp.kind == "unstable focus"


def test_bistable_system_finds_all_three_equilibria_from_guesses():
    cubic = sr.OperatorTemplate("cubic", ["x' = x - x^3"], {"x": "output(0.2)"})
    fps = sr.fixed_points(cubic, guesses=[{"x": -2.0}, {"x": 0.1}, [2.0]], simulate=False)
    np.testing.assert_allclose([fp.y[0] for fp in fps], [-1.0, 0.0, 1.0], atol=1e-12)
    assert [fp.stable for fp in fps] == [True, False, True]
    assert [fp.kind for fp in fps] == ["stable node", "unstable node", "stable node"]


def test_errors():
    no_root = sr.OperatorTemplate("shift", ["x' = 1 + x^2"], {"x": "output(0.0)"})
    with pytest.raises(ConvergenceError, match=r"No fixed point of 'shift' found"):
        sr.fixed_points(no_root, simulate=False)
    with pytest.raises(ModelDefinitionError, match=r"names 'v', which is not a parameter"):
        sr.fixed_points(FHN, params={"v": 1.0})
    forced = sr.OperatorTemplate("forced", ["x' = -x + sin(t)"], {"x": "output(0.0)"})
    with pytest.raises(ModelDefinitionError, match=r"depends explicitly on time"):
        sr.fixed_points(forced)


def test_network_fixed_points_have_per_copy_states_and_start_a_continuation():
    from symrates.analysis import continuation

    n = 3
    net = sr.network("wilson_cowan.WC", n, couplings=[sr.Coupling("E", "P", np.full((n, n), 0.2))])
    (fp,) = sr.fixed_points(net, params={"P": 0.5})
    assert fp.state["WC/WC_op/E"].shape == (n,) and np.ptp(fp.state["WC/WC_op/E"]) < 1e-12
    assert "WC/WC_op/E=[0.006" in repr(fp) and "stable node" in repr(fp)
    branch = continuation(net, "P", start=fp, bounds=(0.0, 1.0))
    assert branch.parameter[0] == 0.0 and branch.parameter[-1] == 1.0
    assert branch.values("E").shape == (len(branch), n)
