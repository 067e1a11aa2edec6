"""Continuation of equilibria in one parameter, against closed forms and published values."""

import numpy as np
import pytest
import sympy
from scipy.optimize import brentq

import symrates as sr
from symrates.analysis import Branch, SpecialPoint, continuation
from symrates.analysis.derivatives import ParametricSystem
from symrates.errors import ConvergenceError, ModelDefinitionError

VH = np.sqrt(1 - 0.08 * 0.8)               # FitzHugh-Nagumo: trace = 0 at v = +-sqrt(1 - eps b)


def fhn_current(v, a=0.7, b=0.8):
    """I on the equilibrium curve of FitzHugh-Nagumo, as a function of v."""
    return v**3 / 3 - v + (v + a) / b


# -- QIF (REFERENCES.md §2) -----------------------------------------------------------------------
def qif_fold(r, delta=1.0):
    """(eta, J) of the QIF fold curve at rate r."""
    return (-np.pi**2 * r**2 - 3 * delta**2 / (4 * np.pi**2 * r**2),
            2 * np.pi**2 * r + delta**2 / (2 * np.pi**2 * r**3))


def qif_folds_at(J, delta=1.0):
    """The eta of both folds on the line J, from the closed form (r on each side of the cusp)."""
    r_cusp = (3 / 4) ** 0.25 * np.sqrt(delta) / np.pi
    out = []
    for lo, hi in ((1e-3, r_cusp), (r_cusp, 10.0)):
        r = brentq(lambda x: qif_fold(x, delta)[1] - J, lo, hi, xtol=1e-15, rtol=1e-15)
        out.append((qif_fold(r, delta)[0], r))
    return sorted(out)


@pytest.fixture(scope="module")
def qif():
    return continuation("montbrio.QIF", "eta", bounds=(-12.0, 0.0))


def test_qif_folds_at_j_15_match_the_closed_form(qif):
    folds = sorted(qif.special("LP"), key=lambda sp: sp.parameter)
    assert len(folds) == 2 and len(qif.special_points) == 2
    for sp, (eta, r) in zip(folds, qif_folds_at(15.0)):
        assert sp.parameter == pytest.approx(eta, abs=1e-8)
        assert sp.state["QIF/QIF_op/r"] == pytest.approx(r, abs=1e-8)
        assert sp.state["QIF/QIF_op/v"] == pytest.approx(-1 / (2 * np.pi * r), abs=1e-8)
    # the published bistability at eta = -5 between them
    assert folds[0].parameter < -5 < folds[1].parameter
    # stable low node, saddle, stable high focus: at eta = -5 two stable points and one saddle
    near = np.abs(qif.parameter + 5) < 0.3
    assert qif.stable[near].any() and not qif.stable[near].all()
    assert qif.stop_reasons == {"forward": "bound reached", "backward": "bound reached"}
    assert qif.parameter.min() == -12.0 and qif.parameter.max() == 0.0


@pytest.mark.parametrize("delta", [0.1, 0.5, 2.0])
def test_qif_has_no_hopf_point(delta):
    branch = continuation("montbrio.QIF", "eta", bounds=(-12.0, 5.0), params={"Delta": delta})
    assert not branch.special("HB")
    # trace = -2 Delta / (pi r) < 0 all along the curve
    r = branch.states[:, 0]
    traces = branch.eigenvalues.real.sum(axis=1)
    np.testing.assert_allclose(traces, -2 * delta / (np.pi * r), rtol=1e-8)


def test_qif_whole_fold_curve_and_cusp(qif):
    lp = qif.special("LP")[0]
    curve = continuation("montbrio.QIF", ("eta", "J"), start=lp, bounds=((-12, 0), (0, 30)))
    assert isinstance(curve, Branch) and curve.kind == "LP" and curve.parameter.shape[1] == 2
    eta, J = curve.parameter.T
    eta_r, J_r = qif_fold(curve.states[:, 0])
    np.testing.assert_allclose(eta, eta_r, atol=1e-8)
    np.testing.assert_allclose(J, J_r, atol=1e-8)
    assert len(curve) > 50 and J.max() == 30.0          # both halves reach the J bound
    (cp,) = curve.special_points
    assert cp.kind == "CP"
    assert cp.parameter["QIF/QIF_op/eta"] == pytest.approx(-np.sqrt(3), abs=1e-8)
    assert cp.parameter["QIF/QIF_op/J"] == pytest.approx(qif_fold((3 / 4) ** 0.25 / np.pi)[1],
                                                         abs=1e-8)


# -- FitzHugh-Nagumo (§5) -------------------------------------------------------------------------
def test_fhn_two_subcritical_hopf_points_no_fold():
    branch = continuation("fitzhugh_nagumo.FHN", "I", bounds=(-1.0, 3.0))
    assert [sp.kind for sp in branch.special_points] == ["HB", "HB"]
    hb = sorted(branch.special_points, key=lambda sp: sp.parameter)
    for sp, v in zip(hb, (-VH, VH)):
        assert sp.parameter == pytest.approx(fhn_current(v), abs=1e-8)
        assert sp.state["FHN/FHN_op/v"] == pytest.approx(v, abs=1e-8)
        assert sp.lyapunov > 0                                   # subcritical
        # omega^2 = det J at the Hopf point: eps (b (1 - v^2) ... ) = eps (1 - eps b^2)
        omega = np.sqrt(0.08 * (1 - 0.08 * 0.8**2))
        assert sp.frequency == pytest.approx(omega / (2 * np.pi), rel=1e-8)
    # unstable exactly between the Hopf points
    inside = (branch.parameter > hb[0].parameter + 1e-6) & (branch.parameter < hb[1].parameter
                                                            - 1e-6)
    outside = (branch.parameter < hb[0].parameter - 1e-6) | (branch.parameter > hb[1].parameter
                                                             + 1e-6)
    assert not branch.stable[inside].any() and branch.stable[outside].all()


def test_fhn_with_b_2_has_two_folds():
    branch = continuation("fitzhugh_nagumo.FHN", "I", bounds=(-3.0, 3.0), params={"b": 2.0})
    folds = sorted(branch.special("LP"), key=lambda sp: sp.parameter)
    v_fold = np.sqrt(1 - 1 / 2.0)                                # dI/dv = v^2 - 1 + 1/b = 0
    assert [sp.parameter for sp in folds] == pytest.approx(
        [fhn_current(v_fold, b=2.0), fhn_current(-v_fold, b=2.0)], abs=1e-8)
    assert [np.sign(sp.normal_form["a"]) for sp in folds] == [-1.0, 1.0]
    # the fold coefficient a = <p, B(q,q)>/2 says on which side the equilibria are: a < 0 above
    for sp in folds:
        side = branch.parameter[np.abs(branch.states[:, 0] - sp.state["FHN/FHN_op/v"]) < 0.05]
        assert np.all(np.sign(side - sp.parameter) != np.sign(sp.normal_form["a"]))


# -- Ott-Antonsen (§6) ----------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.0, 0.4])
def test_ott_antonsen_hopf_at_kc_supercritical(alpha):
    delta, omega0 = 0.5, 1.0
    branch = continuation("kuramoto.OttAntonsen", "K", bounds=(0.1, 5.0), start={"x": 0, "y": 0},
                          params={"alpha": alpha, "K": 0.5})
    (hb,) = branch.special_points
    k_c = 2 * delta / np.cos(alpha)
    assert hb.parameter == pytest.approx(k_c, abs=1e-10)
    omega = omega0 - delta * np.tan(alpha)                 # omega0 - (K_c/2) sin(alpha)
    assert hb.frequency == pytest.approx(omega / (2 * np.pi), rel=1e-10)
    # z' = (i omega0 - Delta + K/2 e^{-i alpha}) z + c |z|^2 z with c = -(K/2) e^{i alpha}
    assert hb.lyapunov == pytest.approx(-2 * delta / omega, rel=1e-8)
    assert hb.lyapunov < 0


# -- Jansen-Rit (§1a) -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jr6():
    return continuation("jansen_rit.JR6", "p", bounds=(-200.0, 500.0))


def _jr6_closed_form():
    """p(y0) on the equilibrium curve and the state there: y3 = y4 = y5 = 0,
    y2 = (B/b) C4 S(C3 y0), y1 = y2 + S^{-1}(a y0 / A), p = (a/A) y1 - C2 S(C1 y0)."""
    A, B, a, b, C, e0, v0, r = 3.25, 22.0, 100.0, 50.0, 135.0, 2.5, 6.0, 0.56
    y0 = sympy.Symbol("y0")

    def S(v):
        return 2 * e0 / (1 + sympy.exp(r * (v0 - v)))

    y2 = B / b * C / 4 * S(C / 4 * y0)
    y1 = y2 + v0 - sympy.log(2 * e0 / (a * y0 / A) - 1) / r
    p = a / A * y1 - 4 * C / 5 * S(C * y0)
    state = sympy.lambdify(y0, [y0, y1, y2, 0, 0, 0])
    return (sympy.lambdify(y0, p), sympy.lambdify(y0, sympy.diff(p, y0)),
            lambda x: np.array(state(x), dtype=float))


def test_jr6_folds_match_the_closed_form(jr6):
    p_of, dp_of, _ = _jr6_closed_form()
    grid = np.linspace(1e-6, 2 * 2.5 * 3.25 / 100 - 1e-6, 4001)
    d = dp_of(grid)
    roots = [brentq(dp_of, grid[i], grid[i + 1], xtol=1e-16)
             for i in np.nonzero(np.sign(d[:-1]) != np.sign(d[1:]))[0]]
    expected = sorted(p_of(x) for x in roots)
    folds = sorted(sp.parameter for sp in jr6.special("LP"))
    assert folds == pytest.approx(expected, rel=1e-10, abs=1e-8)
    assert folds[1] == pytest.approx(113.6, abs=0.05)         # Grimbert & Faugeras 2006


def test_jr6_hopf_points_match_published_values(jr6):
    hb = sorted(jr6.special("HB"), key=lambda sp: sp.parameter)
    values = [sp.parameter for sp in hb]
    # Grimbert & Faugeras (2006): supercritical at 89.83 and 315.70 bounding the alpha cycles,
    # and a subcritical one on the upper branch at -12.15
    assert values == pytest.approx([-12.15, 89.83, 315.70], abs=0.005)
    assert [sp.lyapunov < 0 for sp in hb] == [False, True, True]
    for sp in hb[1:]:
        assert 8.0 < sp.frequency < 12.0                     # alpha band, Hz
    # independent check: on the closed-form curve, the leading complex pair crosses there
    p_of, _, state = _jr6_closed_form()
    ps = ParametricSystem.of(sr.build("jansen_rit.JR6"))
    for sp in hb:
        y0 = sp.state["JR6/JR6_op/y0"]

        def growth(x):
            pars = ps.parameter_vector({"p": p_of(x)})
            ev = np.linalg.eigvals(ps.jacobian(state(x), pars))
            return ev[ev.imag > 1.0].real.max()

        x = brentq(growth, y0 - 1e-4, y0 + 1e-4, xtol=1e-15)
        assert sp.parameter == pytest.approx(p_of(x), abs=1e-8)


def test_jr6_neutral_saddle_is_not_reported(jr6):
    # on the middle branch lambda_1 + lambda_2 = 0 for two real eigenvalues somewhere: the
    # bialternate-product test of other codes vanishes there, but it is no Hopf point
    ev = jr6.eigenvalues
    real = np.all(np.abs(ev[:, :2].imag) == 0, axis=1)
    pair_sum = (ev[:, 0] + ev[:, 1]).real
    flips = np.nonzero(real[:-1] & real[1:] & (np.sign(pair_sum[:-1]) != np.sign(pair_sum[1:])))[0]
    assert flips.size >= 1                                   # the neutral saddle exists ...
    p_ns = jr6.parameter[flips[0]]
    assert 80 < p_ns < 113.6
    assert all(abs(sp.parameter - p_ns) > 5 for sp in jr6.special_points)   # ... unreported
    assert len(jr6.special("HB")) == 3 and not jr6.special("BP")


def test_jr6_stable_parts(jr6):
    # lower branch up to the fold, the upper one between the Hopf points -12.15 and 89.83 and
    # beyond 315.70; the rest is unstable
    upper = jr6.values("v_pc") > 5.5
    assert jr6.stable[upper & (jr6.parameter > 0) & (jr6.parameter < 85)].all()
    assert not jr6.stable[upper & (jr6.parameter > 95) & (jr6.parameter < 310)].any()
    assert jr6.stable[upper & (jr6.parameter > 320)].all()
    assert jr6.stable[jr6.values("v_pc") < 2.0].all()


# -- the Branch object ----------------------------------------------------------------------------
def test_branch_arrays_dataframe_and_plot(jr6):
    n = len(jr6)
    assert jr6.parameter.shape == (n,) and jr6.states.shape == (n, 6)
    assert jr6.stable.dtype == bool and jr6.eigenvalues.shape == (n, 6)
    assert jr6.period is None and jr6.parameters == ("JR6/JR6_op/p",)
    np.testing.assert_allclose(jr6.values("v_pc"), jr6.states[:, 1] - jr6.states[:, 2],
                               rtol=1e-12)
    np.testing.assert_array_equal(jr6.values("p"), jr6.parameter)
    np.testing.assert_array_equal(jr6.values("C"), 135.0)
    df = jr6.to_dataframe()
    assert list(df.columns[:3]) == ["JR6/JR6_op/p", "JR6/JR6_op/y0", "JR6/JR6_op/y1"]
    assert sorted(df["special"][df["special"] != ""]) == ["HB", "HB", "HB", "LP", "LP"]
    for sp in jr6.special_points:
        assert isinstance(sp, SpecialPoint)
        assert jr6.parameter[sp.index] == sp.parameter
        np.testing.assert_array_equal(jr6.states[sp.index], sp.y)
        assert sp.model == "JR6" and sp.params["JR6/JR6_op/p"] == sp.parameter
    ax = jr6.plot(y="v_pc")
    assert sorted(t.get_text() for t in ax.texts) == ["HB", "HB", "HB", "LP", "LP"]
    styles = {line.get_linestyle() for line in ax.get_lines() if len(line.get_xdata()) > 1}
    assert styles == {"-", "--"}
    assert ax.get_xlabel() == "JR6/JR6_op/p" and ax.get_ylabel() == "JR6/JR6_op/v_pc"
    assert "HB (Hopf) at p = 89.829" in repr(jr6.special("HB")[1])
    assert "5 special points" not in repr(jr6) and "LP, LP, HB, HB, HB" in repr(jr6)
    with pytest.raises(ModelDefinitionError, match=r"Unknown special-point kind 'XX'"):
        jr6.special("XX")


def test_start_from_a_fixed_point_and_one_direction():
    (fp,) = sr.fixed_points("fitzhugh_nagumo.FHN", params={"I": 0.5})
    up = continuation("fitzhugh_nagumo.FHN", "I", start=fp, bounds=(0.0, 2.0),
                      direction="forward")
    assert up.parameter[0] == 0.5 and up.parameter[-1] == 2.0
    assert np.all(np.diff(up.parameter) > 0) and list(up.stop_reasons) == ["forward"]
    assert [sp.kind for sp in up.special_points] == ["HB"]
    down = continuation("fitzhugh_nagumo.FHN", "I", start={"v": 0.0}, bounds=(0.0, 2.0),
                        params={"I": 0.5}, direction="backward", max_steps=3)
    assert len(down) == 4 and down.stop_reasons == {"backward": "max_steps = 3 reached"}


def test_sharp_folds_are_not_jumped():
    # x' = kappa - x (lam - x^2) with lam = 0.003: folds at kappa = +-2 (lam/3)^(3/2) = +-6.3e-5,
    # 3e-6 of the range of kappa apart, a wiggle of 0.1 in x on a curve spanning 4.4
    cusp = sr.OperatorTemplate("cusp", ["x' = kappa - x*(lam - x^2)"],
                               {"x": "output(-2.2)", "kappa": -10.0, "lam": 0.003})
    branch = continuation(cusp, "kappa", bounds=(-10, 10))
    kappa = 2 * (0.003 / 3) ** 1.5
    assert sorted(sp.parameter for sp in branch.special_points) == pytest.approx(
        [-kappa, kappa], rel=1e-8)
    assert [sp.kind for sp in branch.special_points] == ["LP", "LP"]


def test_branch_point_of_a_pitchfork():
    cusp = sr.OperatorTemplate("pitch", ["x' = kappa - x*(lam - x^2)"],
                               {"x": "output(0.0)", "kappa": 0.0, "lam": -1.0})
    branch = continuation(cusp, "lam", bounds=(-1.0, 1.0), start={"x": 0.0})
    (bp,) = branch.special_points
    assert bp.kind == "BP" and bp.parameter == pytest.approx(0.0, abs=1e-10)


# -- errors ---------------------------------------------------------------------------------------
def test_argument_errors():
    fhn = "fitzhugh_nagumo.FHN"
    with pytest.raises(ModelDefinitionError, match=r"Unknown parameter 'Iext' in FHN"):
        continuation(fhn, "Iext", bounds=(0, 1))
    with pytest.raises(ModelDefinitionError, match=r"names 'v', which is a state, not a param"):
        continuation(fhn, "v", bounds=(0, 1))
    with pytest.raises(ModelDefinitionError, match=r"parameter= must be a parameter path"):
        continuation(fhn, 3, bounds=(0, 1))
    with pytest.raises(ModelDefinitionError,
                       match=r"start value FHN/FHN_op/I = 0 lies outside bounds=\(1, 2\)"):
        continuation(fhn, "I", bounds=(1, 2))
    with pytest.raises(ModelDefinitionError, match=r"bounds= must be \(low, high\) with low < h"):
        continuation(fhn, "I", bounds=(2, 1))
    with pytest.raises(ModelDefinitionError, match=r"bounds= must be"):
        continuation(fhn, "I", bounds=5)
    with pytest.raises(ModelDefinitionError, match=r"direction='up' is not known"):
        continuation(fhn, "I", bounds=(0, 1), direction="up")
    with pytest.raises(ModelDefinitionError, match=r"0 < ds_min <= ds <= ds_max"):
        continuation(fhn, "I", bounds=(0, 1), ds=1.0)
    with pytest.raises(ModelDefinitionError, match=r"max_steps must be at least 1"):
        continuation(fhn, "I", bounds=(0, 1), max_steps=0)
    with pytest.raises(ModelDefinitionError, match=r"start= of 'FHN' names 'a', which is not a"):
        continuation(fhn, "I", bounds=(0, 1), start={"a": 1.0})
    with pytest.raises(ModelDefinitionError, match=r"a vector of 2 states"):
        continuation(fhn, "I", bounds=(0, 1), start=[1.0, 2.0, 3.0])
    with pytest.raises(ModelDefinitionError, match=r"names 'FHN/FHN_op/I' twice"):
        continuation(fhn, ("I", "FHN_op/I"), bounds=(0, 1))
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'step'"):
        continuation(fhn, "I", bounds=(0, 1), step=0.1)


def test_start_errors():
    fhn = "fitzhugh_nagumo.FHN"
    branch = continuation(fhn, "I", bounds=(0.0, 2.0))
    hb = branch.special_points[0]
    with pytest.raises(ModelDefinitionError, match=r"starts from a fold \('LP'\) or Hopf \('HB'"):
        continuation(fhn, ("I", "a"), bounds=(0, 2))
    # in one parameter a Hopf point starts periodic orbits (tests/analysis/test_cycles.py); a
    # special point of another model is refused there as well
    with pytest.raises(ModelDefinitionError, match=r"special point of 'FHN', not of 'QIF'"):
        continuation("montbrio.QIF", "eta", start=hb, bounds=(-10, 0))
    with pytest.raises(ModelDefinitionError, match=r"special point of 'FHN', not of 'QIF'"):
        continuation("montbrio.QIF", ("eta", "J"), start=hb, bounds=(-10, 0))


def test_no_equilibrium_near_the_start_is_a_convergence_error():
    shifted = sr.OperatorTemplate("shift", ["x' = c + x^2"], {"x": "output(0.0)", "c": 1.0})
    with pytest.raises(ConvergenceError, match=r"start point of the continuation of equilibria "
                       r"of 'shift' in 'c' is not close to an equilibrium at shift/shift/c = 1: "
                       r"Newton's method did not converge"):
        continuation(shifted, "c", start={"x": 0.0}, bounds=(-2, 2))


def test_a_branch_that_ends_is_a_convergence_error_with_the_partial_branch():
    # x = sqrt(c) ends at c = 0, where sqrt(c) stops being real
    root = sr.OperatorTemplate("root", ["x' = sqrt(c) - x"], {"x": "output(1.0)", "c": 1.0})
    with pytest.raises(ConvergenceError) as info:
        continuation(root, "c", bounds=(-1, 2), ds_min=1e-5)
    err = info.value
    msg = str(err)
    assert "continuation of equilibria of 'root' in 'c' stopped in the backward direction at " \
           "c = " in msg
    assert "with the step size reduced to ds_min = 1e-05" in msg
    assert err.parameter == pytest.approx(0.0, abs=1e-3)
    assert isinstance(err.branch, Branch) and err.branch.parameter.max() == 2.0
    assert err.state["root/root/x"] == pytest.approx(np.sqrt(max(err.parameter, 0)), abs=1e-3)
