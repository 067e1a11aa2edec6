"""Normal-form coefficients against the exact answers of REFERENCES.md §7 (to 1e-8)."""

import numpy as np
import pytest

import symrates as sr
from symrates.analysis import continuation

#: Bautin normal form rho' = rho (mu + beta rho^2 - rho^4), theta' = omega, in x, y.
BAUTIN = sr.OperatorTemplate("bautin", [
    "x' = mu*x - omega*y + beta*(x^2 + y^2)*x - (x^2 + y^2)^2*x",
    "y' = omega*x + mu*y + beta*(x^2 + y^2)*y - (x^2 + y^2)^2*y",
], {"x": "output(0.0)", "y": "variable(0.0)", "mu": -0.5, "omega": 2.0, "beta": 0.5})

#: Cusp normal form x' = kappa - x (lambda - x^2).
CUSP = sr.OperatorTemplate("cusp", ["x' = kappa - x*(lam - x^2)"],
                           {"x": "output(-2.0)", "kappa": -1.0, "lam": 3.0})

#: Bogdanov-Takens normal form x' = y, y' = b1 + b2 x + x^2 + s x y.
BT = sr.OperatorTemplate("bt", ["x' = y", "y' = b1 + b2*x + x^2 + s*x*y"],
                         {"x": "output(-1.0)", "y": "variable(0.0)", "b1": -0.5, "b2": -1.0,
                          "s": -1.0})

ORIGIN = {"x": 0.0, "y": 0.0}


@pytest.mark.parametrize("c_re, c_im, omega", [(-1.0, 0.0, 2 * np.pi), (-1.5, 0.3, 2.0),
                                               (0.7, -2.0, 5.0)])
def test_stuart_landau_l1_is_2_re_c_over_omega(c_re, c_im, omega):
    branch = continuation("stuart_landau.StuartLandau", "mu", bounds=(-1.0, 1.0), start=ORIGIN,
                             params={"mu": -0.5, "c_re": c_re, "c_im": c_im, "omega": omega})
    (hb,) = branch.special_points
    assert hb.kind == "HB" and abs(hb.parameter) < 1e-12
    assert hb.lyapunov == pytest.approx(2 * c_re / omega, abs=1e-8)
    assert hb.frequency == pytest.approx(omega / (2 * np.pi), rel=1e-12)
    assert (hb.lyapunov < 0) == (c_re < 0)          # supercritical iff Re c < 0


@pytest.mark.parametrize("beta, omega", [(0.5, 2.0), (-0.8, 3.0)])
def test_bautin_l1_is_2_beta_over_omega(beta, omega):
    branch = continuation(BAUTIN, "mu", bounds=(-1.0, 1.0), start=ORIGIN,
                             params={"beta": beta, "omega": omega})
    (hb,) = branch.special("HB")
    assert hb.lyapunov == pytest.approx(2 * beta / omega, abs=1e-8)
    assert hb.normal_form["l1"] == hb.lyapunov and hb.normal_form["omega"] == pytest.approx(omega)


def test_bautin_point_on_the_hopf_curve():
    (hb,) = continuation(BAUTIN, "mu", bounds=(-1.0, 1.0), start=ORIGIN).special_points
    curve = continuation(BAUTIN, ("mu", "beta"), start=hb, bounds=((-1, 1), (-1, 1)))
    assert curve.kind == "HB"
    np.testing.assert_allclose(curve.parameter[:, 0], 0.0, atol=1e-12)     # Hopf at mu = 0
    assert curve.parameter[:, 1].min() == -1.0 and curve.parameter[:, 1].max() == 1.0
    (gh,) = curve.special_points
    assert gh.kind == "GH"
    assert abs(gh.parameter["bautin/bautin/beta"]) < 1e-10
    np.testing.assert_allclose(curve.frequency, 2.0 / (2 * np.pi), rtol=1e-10)


def test_cusp_fold_coefficient_and_fold_curve():
    branch = continuation(CUSP, "kappa", bounds=(-4.0, 4.0))
    folds = sorted(branch.special("LP"), key=lambda sp: sp.parameter)
    # lambda = 3: folds at kappa = -+2 (x = -+1), where a = <p, B(q,q)>/2 = 3x with q oriented
    # along d f / d kappa
    assert [sp.parameter for sp in folds] == pytest.approx([-2.0, 2.0], abs=1e-10)
    assert [sp.normal_form["a"] for sp in folds] == pytest.approx([-3.0, 3.0], abs=1e-8)
    assert not branch.special("HB") and not branch.special("BP")
    curve = continuation(CUSP, ("kappa", "lam"), start=folds[1], bounds=((-4, 4), (-1, 4)))
    kappa, lam = curve.parameter.T
    x = curve.states[:, 0]
    # kappa = +-2 (lambda/3)^(3/2) on the two halves, meeting in the cusp at (0, 0)
    np.testing.assert_allclose(np.abs(kappa), 2 * (np.clip(lam, 0, None) / 3) ** 1.5, atol=1e-8)
    np.testing.assert_allclose(lam, 3 * x**2, atol=1e-8)
    (cp,) = curve.special_points
    assert cp.kind == "CP"
    assert list(cp.parameter.values()) == pytest.approx([0.0, 0.0], abs=1e-8)
    assert cp.normal_form["c"] == pytest.approx(1.0, abs=1e-6)     # x' = ... + x^3


def test_bogdanov_takens_on_fold_and_hopf_curves():
    branch = continuation(BT, "b1", bounds=(-1.0, 1.0), start={"x": -1.0, "y": 0.0})
    (hb,) = branch.special("HB")
    (lp,) = branch.special("LP")
    assert hb.parameter == pytest.approx(0.0, abs=1e-12) and lp.parameter == pytest.approx(0.25)
    # at x = 1/2: q = (1, 0), p = (1, 2) (p.q = 1, p.f_b1 > 0), B(q, q) = (0, 2): a = 2
    assert lp.normal_form["a"] == pytest.approx(2.0, abs=1e-10)
    for sp in (hb, lp):
        curve = continuation(BT, ("b1", "b2"), start=sp, bounds=((-1, 1), (-1, 1)))
        (bt,) = curve.special_points
        assert bt.kind == "BT"
        assert list(bt.parameter.values()) == pytest.approx([0.0, 0.0], abs=1e-8)
        # w0' = w1, w1' = a w0^2 + b w0 w1 with a = 1, b = s
        assert bt.normal_form == pytest.approx({"a": 1.0, "b": -1.0}, abs=1e-8)
    hopf = continuation(BT, ("b1", "b2"), start=hb, bounds=((-1, 1), (-1, 1)))
    # the Hopf curve b1 = 0, b2 < 0 ends at the BT point: beyond it are neutral saddles
    np.testing.assert_allclose(hopf.parameter[:, 0], 0.0, atol=1e-12)
    assert hopf.parameter[:, 1].max() == pytest.approx(0.0, abs=1e-8)
    assert any(r.startswith("BT point reached") for r in hopf.stop_reasons.values())
    fold = continuation(BT, ("b1", "b2"), start=lp, bounds=((-1, 1), (-1, 1)))
    b1, b2 = fold.parameter.T
    np.testing.assert_allclose(b1, b2**2 / 4, atol=1e-10)     # fold: x^2 + b2 x + b1 = 0 double
