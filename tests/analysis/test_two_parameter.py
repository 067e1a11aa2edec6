"""Fold and Hopf curves in two parameters and their codimension-two points."""

import numpy as np
import pytest

import symrates as sr
from symrates.analysis import continuation

#: A fold in x and, decoupled at linear order, a Hopf pair in (y, z): zero-Hopf at b1 = b2 = 0.
ZERO_HOPF = sr.OperatorTemplate("zh", [
    "x' = b1 + x^2 + (y^2 + z^2)/10",
    "y' = b2*y - 2*z - y*(y^2 + z^2)",
    "z' = 2*y + b2*z - z*(y^2 + z^2)",
], {"x": "output(-1.0)", "y": "variable(0.0)", "z": "variable(0.0)", "b1": -1.0, "b2": -0.5})

START = {"x": -1.0, "y": 0.0, "z": 0.0}


def test_zero_hopf_on_the_fold_and_on_the_hopf_curve():
    (lp,) = continuation(ZERO_HOPF, "b1", bounds=(-2, 1), start=START).special_points
    assert lp.kind == "LP" and lp.parameter == pytest.approx(0.0, abs=1e-10)
    fold = continuation(ZERO_HOPF, ("b1", "b2"), start=lp, bounds=((-2, 1), (-1, 1)))
    np.testing.assert_allclose(fold.parameter[:, 0], 0.0, atol=1e-10)       # fold at b1 = 0
    (zh,) = fold.special_points
    assert zh.kind == "ZH" and zh.parameter["zh/zh/b2"] == pytest.approx(0.0, abs=1e-10)
    assert zh.frequency == pytest.approx(2 / (2 * np.pi), rel=1e-8)
    # stable (apart from the zero eigenvalue) only while the pair is damped, b2 < 0
    regular = np.arange(len(fold)) != zh.index
    np.testing.assert_array_equal(fold.stable[regular], fold.parameter[regular, 1] < 0)

    (hb,) = continuation(ZERO_HOPF, "b2", bounds=(-1, 1), start=START).special_points
    assert hb.lyapunov == pytest.approx(-1.0, abs=1e-8)         # c = -1, omega = 2
    hopf = continuation(ZERO_HOPF, ("b2", "b1"), start=hb, bounds=((-1, 1), (-2, 1)))
    np.testing.assert_allclose(hopf.parameter[:, 0], 0.0, atol=1e-10)       # Hopf at b2 = 0
    np.testing.assert_allclose(hopf.frequency, 2 / (2 * np.pi), rtol=1e-10)
    (zh,) = hopf.special_points
    assert zh.kind == "ZH" and zh.parameter["zh/zh/b1"] == pytest.approx(0.0, abs=1e-10)


@pytest.fixture(scope="module")
def jr6():
    return continuation("jansen_rit.JR6", "p", bounds=(-200.0, 500.0))


def test_jr6_fold_and_hopf_curves_in_p_and_c(jr6):
    bounds = ((-400, 800), (50, 400))
    lp = max(jr6.special("LP"), key=lambda sp: sp.parameter)
    fold = continuation("jansen_rit.JR6", ("p", "C"), start=lp, bounds=bounds)
    hb = [sp for sp in jr6.special("HB") if abs(sp.parameter - 89.83) < 0.01][0]
    hopf = continuation("jansen_rit.JR6", ("p", "C"), start=hb, bounds=bounds)
    assert sorted(sp.kind for sp in fold.special_points) == ["BT", "CP"]
    assert sorted(sp.kind for sp in hopf.special_points) == ["BT", "GH"]
    # both curves end or pass through the same Bogdanov-Takens point
    (bt_f,) = [sp for sp in fold.special_points if sp.kind == "BT"]
    (bt_h,) = [sp for sp in hopf.special_points if sp.kind == "BT"]
    for name in ("JR6/JR6_op/p", "JR6/JR6_op/C"):
        assert bt_f.parameter[name] == pytest.approx(bt_h.parameter[name], rel=1e-6)
    assert bt_f.normal_form == pytest.approx(bt_h.normal_form, rel=1e-4)
    # the curves cross C = 135 at the folds and Hopf points of the one-parameter branch
    for curve, kind in ((fold, "LP"), (hopf, "HB")):
        p, c = curve.parameter.T
        k = np.nonzero((c[:-1] - 135) * (c[1:] - 135) < 0)[0]
        crossings = np.sort(np.concatenate([
            p[k] + (135 - c[k]) * (p[k + 1] - p[k]) / (c[k + 1] - c[k]),
            p[c == 135.0],                                   # the start point
        ]))
        expected = np.sort([sp.parameter for sp in jr6.special(kind)])
        np.testing.assert_allclose(crossings, expected, atol=0.5)
    # the Hopf curve changes criticality at the Bautin point between the sub- and supercritical
    # Hopf points of the branch
    (gh,) = [sp for sp in hopf.special_points if sp.kind == "GH"]
    assert -12.15 < gh.parameter["JR6/JR6_op/p"] < 89.83


def test_network_branch_matches_the_single_unit_and_merges_symmetric_hopf_pairs():
    # all-to-all coupling w/n including self: the synchronous equilibria are those of one unit
    # with a self-edge of weight w
    n, w = 3, 0.6
    net = sr.network("wilson_cowan.WC", n,
                     couplings=[sr.Coupling("E", "P", np.full((n, n), w / n))])
    unit = sr.load("wilson_cowan.WC")
    one = sr.CircuitTemplate("one", {"u": unit}, [("u/WC_op/E", "u/WC_op/P", None,
                                                   {"weight": w})])
    sync = continuation(net, "P", bounds=(-1, 4))
    single = continuation(one, "P", bounds=(-1, 4))
    assert sync.states.shape[1] == 2 * n
    E = sync.states[:, :n]                     # states: E of every unit, then I of every unit
    np.testing.assert_allclose(E, np.repeat(E[:, :1], n, 1), rtol=1e-10)
    by_kind = {}
    for sp in sync.special_points:
        by_kind.setdefault(sp.kind, []).append(sp)
    for sp in single.special_points:
        match = [s for s in by_kind[sp.kind] if abs(s.parameter - sp.parameter) < 1e-8]
        assert len(match) == 1
        if sp.kind == "HB":       # <q, q> = 1 over n units: l1 scales with 1/n
            assert match[0].lyapunov == pytest.approx(sp.lyapunov / n, rel=1e-6)
    # the n - 1 transverse modes lose stability together: one HB of multiplicity n - 1
    (double,) = [sp for sp in sync.special("HB") if "multiplicity" in sp.normal_form]
    assert double.normal_form["multiplicity"] == n - 1 and np.isnan(double.lyapunov)
