"""Exact derivatives of f(y, p), checked against central differences (STYLE.md §6: rtol 1e-6)."""

import numpy as np
import pytest

import symrates as sr
from symrates.analysis.derivatives import ParametricSystem
from symrates.errors import ModelDefinitionError

RNG = np.random.default_rng(7)


def _central(fn, x, k, h):
    e = np.zeros_like(x)
    e[k] = h
    return (fn(x + e) - fn(x - e)) / (2 * h)


@pytest.fixture(scope="module")
def jr6():
    ps = ParametricSystem.of(sr.build("jansen_rit.JR6"))
    # a point near the equilibria, where the sigmoids are curved
    y = np.array([0.09, 20.0, 13.0, 0.5, -0.3, 0.2])
    return ps, y, ps.defaults.copy()


def test_built_once_and_cached_on_the_system():
    system = sr.build("fitzhugh_nagumo.FHN")
    ps = ParametricSystem.of(system)
    assert ParametricSystem.of(system) is ps
    assert ps.parameter(ps.slots("I")) is ps.parameter(ps.slots("I"))


def test_rhs_and_jacobian_match_the_vector_field(jr6):
    ps, y, p = jr6
    np.testing.assert_allclose(ps.f(y, p), ps.system.vector_field(y), rtol=1e-12)
    J = ps.jacobian(y, p)
    for k in range(ps.n):
        col = _central(lambda z: ps.f(z, p), y, k, 1e-6)
        np.testing.assert_allclose(J[:, k], col, rtol=1e-6, atol=1e-6 * np.abs(J).max())


def test_parameter_derivatives(jr6):
    ps, y, p = jr6
    for name in ("p", "C", "r"):
        slots = ps.slots(name)
        pd = ps.parameter(slots)
        m = slots[0]
        h = 1e-6 * max(1.0, abs(p[m]))
        fp = _central(lambda q: ps.f(y, q), p, m, h)
        np.testing.assert_allclose(pd.f_p(y, p), fp, rtol=1e-6, atol=1e-7 * np.abs(fp).max())
        Jp = (ps.jacobian(y, p + h * np.eye(len(p))[m]) - ps.jacobian(y, p - h * np.eye(len(p))[m]))
        Jp /= 2 * h
        np.testing.assert_allclose(pd.J_p(y, p), Jp, rtol=1e-6, atol=1e-7 * np.abs(Jp).max())


def test_second_and_third_derivative_forms(jr6):
    ps, y, p = jr6
    u, v, w = (RNG.standard_normal(ps.n) for _ in range(3))
    # B(u, v) = d/ds J(y + s v) u; C(u, v, w) = d/ds B(y + s w)(u, v)
    h = 1e-6
    B_fd = (ps.jacobian(y + h * v, p) - ps.jacobian(y - h * v, p)) @ u / (2 * h)
    B = ps.B(y, p, u, v)
    np.testing.assert_allclose(B, B_fd, rtol=1e-6, atol=1e-7 * np.abs(B_fd).max())
    np.testing.assert_allclose(ps.B(y, p, v, u), B, rtol=1e-13)          # symmetric
    np.testing.assert_allclose(ps.hessian_matrix(y, p, u) @ v, B, rtol=1e-12, atol=1e-9)
    C_fd = (ps.B(y + h * w, p, u, v) - ps.B(y - h * w, p, u, v)) / (2 * h)
    C = ps.C(y, p, u, v, w)
    np.testing.assert_allclose(C, C_fd, rtol=1e-6, atol=1e-7 * np.abs(C_fd).max())
    for perm in ((v, w, u), (w, u, v), (u, w, v)):                      # symmetric
        np.testing.assert_allclose(ps.C(y, p, *perm), C, rtol=1e-10, atol=1e-6)
    # complex arguments are linear in each slot
    z = u + 1j * v
    np.testing.assert_allclose(ps.B(y, p, z, z.conj()), ps.B(y, p, u, u) + ps.B(y, p, v, v),
                               rtol=1e-10, atol=1e-8)


def test_polynomial_model_has_exact_forms():
    cubic = sr.OperatorTemplate("cubic", ["x' = k - x*(lam - x^2)", "y' = -y + x*y"],
                                {"x": "output(0.0)", "y": "variable(0.0)", "k": 0.0, "lam": 1.0})
    ps = ParametricSystem.of(sr.build(cubic))
    y, p = np.array([0.5, 2.0]), ps.defaults
    e0, e1 = np.eye(2)
    np.testing.assert_allclose(ps.B(y, p, e0, e0), [6 * 0.5, 0.0])
    np.testing.assert_allclose(ps.B(y, p, e0, e1), [0.0, 1.0])
    np.testing.assert_allclose(ps.C(y, p, e0, e0, e0), [6.0, 0.0])
    np.testing.assert_allclose(ps.C(y, p, e0, e0, e1), [0.0, 0.0])


def test_errors():
    forced = sr.OperatorTemplate("forced", ["x' = -x + sin(t)"], {"x": "output(0.0)"})
    with pytest.raises(ModelDefinitionError, match=r"depends explicitly on time t"):
        ParametricSystem.of(sr.build(forced))
    delayed = sr.OperatorTemplate("delayed", ["x' = -x + x(t - 1.5)"], {"x": "output(0.0)"})
    with pytest.raises(ModelDefinitionError, match=r"has delayed couplings or equations"):
        ParametricSystem.of(sr.build(delayed))
    ps = ParametricSystem.of(sr.build("montbrio.QIF"))
    with pytest.raises(ModelDefinitionError, match=r"names 'v', which is a state, not a param"):
        ps.slots("v")
    with pytest.raises(ModelDefinitionError, match=r"'nope'"):
        ps.slots("nope")
