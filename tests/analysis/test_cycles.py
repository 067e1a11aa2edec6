"""Periodic orbits: collocation, Floquet multipliers, continuation from Hopf points, folds of
cycles (REFERENCES.md §1, §5, §6, §7)."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import symrates as sr
from symrates.errors import ConvergenceError, ModelDefinitionError

#: Bautin normal form rho' = rho (mu + beta rho^2 - rho^4), theta' = omega, in x, y.
BAUTIN = sr.OperatorTemplate("bautin", [
    "x' = x*(mu + beta*(x^2 + y^2) - (x^2 + y^2)^2) - omega*y",
    "y' = y*(mu + beta*(x^2 + y^2) - (x^2 + y^2)^2) + omega*x",
], {"x": "output(0.0)", "y": "variable(0.0)", "mu": -0.5, "beta": 1.0, "omega": 1.0})


def reference_period(rhs, y0, t_end, level, *, index=0):
    """Period from a tight DOP853 run from ``y0``: the intervals between upward crossings of
    ``level`` by state ``index`` (the last one, and all of them)."""

    def event(t, y):
        return y[index] - level

    event.direction = 1
    sol = solve_ivp(rhs, (0, t_end), y0, method="DOP853", rtol=1e-12, atol=1e-12,
                    events=event)
    times = sol.t_events[0]
    return times[-1] - times[-2], np.diff(times)


# -- Bautin (§7) --------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [1.0, 0.6])
def test_bautin_subcritical_cycles_fold_at_minus_beta_squared_over_four(beta):
    eq = sr.continuation(BAUTIN, "mu", bounds=(-1, 1), start={"x": 0.0, "y": 0.0},
                         params={"beta": beta})
    (hb,) = eq.special("HB")
    assert hb.lyapunov > 0                                   # subcritical
    cycles = sr.continuation(BAUTIN, "mu", start=hb, bounds=(-1, 1))
    assert cycles.kind == "LC" and cycles.stop_reasons == {"forward": "bound reached"}
    (lpc,) = cycles.special("LPC")
    assert lpc.parameter == pytest.approx(-beta**2 / 4, abs=1e-6)
    radius = np.hypot(lpc.orbit["x"], lpc.orbit["y"])
    np.testing.assert_allclose(radius, np.sqrt(beta / 2), atol=1e-6)
    # the unstable small cycles turn into the stable large ones at the fold
    assert not cycles.stable[1:lpc.index].any() and cycles.stable[lpc.index + 1:].all()
    # every orbit on the branch: rho^2 = (beta +- sqrt(beta^2 + 4 mu)) / 2, period 2 pi / omega
    mu = cycles.parameter[1:]
    rho = cycles.maximum[1:, 0]
    np.testing.assert_allclose(mu, -beta * rho**2 + rho**4, atol=1e-9)
    np.testing.assert_allclose(cycles.period, 2 * np.pi, rtol=1e-10)
    # the branch starts at the Hopf point itself
    assert cycles.parameter[0] == hb.parameter and cycles.maximum[0, 0] == 0.0


# -- Ott-Antonsen (§6) --------------------------------------------------------------------------
def ott_antonsen(K, alpha, Delta, omega0):
    r2 = 1 - 2 * Delta / (K * np.cos(alpha))
    Omega = omega0 - K / 2 * np.sin(alpha) * (1 + r2)
    lam = K / 2 * np.cos(alpha) - Delta
    T = 2 * np.pi / abs(Omega)
    return T, np.exp(-2 * lam * T), np.sqrt(r2)


@pytest.mark.parametrize("K, alpha", [(1.2, 0.1), (2.0, 0.0), (3.0, 0.3)])
def test_ott_antonsen_synchronised_cycle(K, alpha):
    params = {"K": K, "alpha": alpha, "Delta": 0.5, "omega0": 1.0}
    orbit = sr.periodic_orbit("kuramoto.OttAntonsen", params=params)
    T, mu, r = ott_antonsen(K, alpha, 0.5, 1.0)
    assert orbit.period == pytest.approx(T, abs=1e-8)
    np.testing.assert_allclose(np.hypot(orbit["x"], orbit["y"]), r, atol=1e-8)
    assert orbit.multipliers[orbit.trivial] == pytest.approx(1.0, abs=1e-8)
    nontrivial = np.delete(orbit.multipliers, orbit.trivial)[0]
    assert nontrivial.imag == 0.0
    assert nontrivial.real == pytest.approx(mu, abs=1e-8)
    # relative accuracy also where the multiplier is tiny (K = 3: mu = 1e-19, log form)
    assert np.delete(orbit.log_multipliers, orbit.trivial)[0] == pytest.approx(np.log(mu),
                                                                               rel=1e-4)
    assert orbit.stable


def test_ott_antonsen_branch_from_the_hopf_point_has_the_closed_form_period():
    eq = sr.continuation("kuramoto.OttAntonsen", "K", bounds=(0.1, 4.0),
                         start={"x": 0.0, "y": 0.0}, params={"K": 0.5, "alpha": 0.2})
    (hb,) = eq.special("HB")
    cycles = sr.continuation("kuramoto.OttAntonsen", "K", start=hb, bounds=(0.1, 4.0))
    assert cycles.stop_reasons == {"forward": "bound reached"} and cycles.parameter[-1] == 4.0
    T, mu, r = ott_antonsen(cycles.parameter[1:], 0.2, 0.5, 1.0)
    np.testing.assert_allclose(cycles.period[1:], T, rtol=1e-9)
    np.testing.assert_allclose(cycles.maximum[1:, 0], r, atol=1e-8)
    np.testing.assert_allclose(cycles.eigenvalues[1:, 1].real, mu, atol=1e-8)
    assert cycles.stable.all() and not cycles.special_points
    df = cycles.to_dataframe()
    assert {"period", "min OttAntonsen/OttAntonsen_op/x", "max OttAntonsen/OttAntonsen_op/x",
            "stable", "special"} <= set(df.columns)
    # continuing one orbit of it in both directions reproduces the branch
    orbit = cycles.orbit(int(np.argmin(np.abs(cycles.parameter - 2.0))))
    again = sr.continuation("kuramoto.OttAntonsen", "K", start=orbit, bounds=(1.5, 3.0))
    assert again.parameter.min() == 1.5 and again.parameter.max() == 3.0
    np.testing.assert_allclose(again.period, ott_antonsen(again.parameter, 0.2, 0.5, 1.0)[0],
                               rtol=1e-9)


# -- FitzHugh-Nagumo (§5) -----------------------------------------------------------------------
def fhn(t, y, I=0.5, a=0.7, b=0.8, eps=0.08):  # noqa: E741
    v, w = y
    return [v - v**3 / 3 - w + I, eps * (v + a - b * w)]


def test_fhn_relaxation_cycle_period_and_multipliers():
    orbit = sr.periodic_orbit("fitzhugh_nagumo.FHN", params={"I": 0.5})
    # from the declared initial state, not from the orbit: an independent reference
    T_ref, periods = reference_period(fhn, [-1.2, -0.6], 800.0, 0.0)
    assert np.ptp(periods[-3:]) < 1e-9                       # the reference has converged
    assert orbit.period == pytest.approx(T_ref, abs=1e-8)
    assert orbit.multipliers[orbit.trivial] == pytest.approx(1.0, abs=1e-6)
    (mu2,) = np.delete(orbit.multipliers, orbit.trivial)
    assert 0 < mu2.real < 1e-6 and mu2.imag == 0.0 and orbit.stable
    # not rounding noise: Liouville, mu1 mu2 = exp(int tr f_y dt), tr = 1 - v^2 - eps b
    sol = solve_ivp(lambda t, y: fhn(t, y[:2]) + [1 - y[0] ** 2 - 0.08 * 0.8],
                    (0, orbit.period), [*orbit.states[0], 0.0], method="DOP853", rtol=1e-12,
                    atol=1e-12)
    assert np.delete(orbit.log_multipliers, orbit.trivial)[0] == pytest.approx(sol.y[2, -1],
                                                                               rel=1e-4)
    assert "multipliers 1 (trivial)" in repr(orbit) and "stable" in repr(orbit)


def test_fhn_cycles_from_hopf_to_hopf_and_the_canard_warning():
    eq = sr.continuation("fitzhugh_nagumo.FHN", "I", bounds=(0.0, 2.0))
    hb1, hb2 = eq.special("HB")
    # the small unstable cycles explode into relaxation cycles within 1e-8 in I (a canard):
    # the default mesh does not resolve the orbits there, and says so
    with pytest.warns(sr.SymratesWarning, match=r"not resolved by the mesh: no Floquet "
                                                r"multiplier is within 1e-2 of the trivial 1"):
        cycles = sr.continuation("fitzhugh_nagumo.FHN", "I", start=hb1, bounds=(0.0, 2.0))
    assert cycles.stop_reasons["forward"].startswith("END point reached")
    assert cycles.parameter[-1] == pytest.approx(hb2.parameter, abs=1e-4)
    # the relaxation cycle at I = 0.5 on the branch is the one periodic_orbit finds
    k = np.flatnonzero(cycles.stable & (np.abs(cycles.parameter - 0.5) < 0.05))[0]
    orbit = sr.periodic_orbit("fitzhugh_nagumo.FHN", params={"I": cycles.parameter[k]})
    assert cycles.period[k] == pytest.approx(orbit.period, rel=1e-6)


# -- Jansen-Rit (§1a) ---------------------------------------------------------------------------
def jr6(t, y, p=220.0):
    A, B, a, b, C, e0, v0, r = 3.25, 22.0, 100.0, 50.0, 135.0, 2.5, 6.0, 0.56

    def S(v):
        return 2 * e0 / (1 + np.exp(r * (v0 - v)))

    y0, y1, y2, y3, y4, y5 = y
    return [y3, y4, y5,
            A * a * S(y1 - y2) - 2 * a * y3 - a**2 * y0,
            A * a * (p + 0.8 * C * S(C * y0)) - 2 * a * y4 - a**2 * y1,
            B * b * 0.25 * C * S(0.25 * C * y0) - 2 * b * y5 - b**2 * y2]


def test_jr6_alpha_cycle_at_p_220():
    orbit = sr.periodic_orbit("jansen_rit.JR6", params={"p": 220.0})
    # from a point of the orbit (the reference converges onto the cycle slowly otherwise:
    # the leading multiplier is 0.86); errors of that point decay over the 1.5 s run
    T_ref, periods = reference_period(jr6, orbit.states[0], 1.5, orbit.mean["y1"], index=1)
    assert np.ptp(periods[-3:]) < 1e-10
    assert orbit.period == pytest.approx(T_ref, rel=1e-8)
    assert 1 / orbit.period == pytest.approx(10.9, abs=0.1)   # published: near 10.9 Hz
    assert orbit.stable


@pytest.fixture(scope="module")
def jr6_equilibria():
    return sr.continuation("jansen_rit.JR6", "p", bounds=(-200.0, 500.0))


def test_jr6_spike_cycles_fold_near_the_published_value(jr6_equilibria):
    hb = min(jr6_equilibria.special("HB"), key=lambda sp: sp.parameter)      # p = -12.15
    assert hb.lyapunov > 0
    spikes = sr.continuation("jansen_rit.JR6", "p", start=hb, bounds=(-200.0, 500.0),
                             max_period=0.5)
    (lpc,) = spikes.special("LPC")
    assert lpc.parameter == pytest.approx(137.38, abs=5e-3)
    mu = lpc.eigenvalues
    assert np.sum(np.abs(mu - 1) < 1e-2) == 2                  # the fold: a second multiplier 1
    # unstable from the Hopf point to the fold, stable beyond it, ending at max_period near the
    # saddle-node on the cycle at the fold of equilibria (p = 113.59)
    assert not spikes.stable[1:lpc.index].any() and spikes.stable[lpc.index + 1:].all()
    assert spikes.stop_reasons == {"forward": "bound reached"}
    lp = max(jr6_equilibria.special("LP"), key=lambda sp: sp.parameter)        # p = 113.59
    assert spikes.period[-1] == pytest.approx(0.5) and lp.parameter < spikes.parameter[-1] < 118
    after = slice(lpc.index, None)       # beyond the fold: p falls towards it, the period grows
    assert np.all(np.diff(spikes.parameter[after]) < 0)
    assert np.all(np.diff(spikes.period[after]) > 0)


def test_jr6_alpha_cycles_join_the_two_supercritical_hopf_points(jr6_equilibria):
    hb1, hb2 = sorted((sp for sp in jr6_equilibria.special("HB") if sp.lyapunov < 0),
                      key=lambda sp: sp.parameter)
    alpha = sr.continuation("jansen_rit.JR6", "p", start=hb1, bounds=(-200.0, 500.0))
    assert alpha.stable.all() and not alpha.special_points
    assert alpha.stop_reasons["forward"].startswith("END point reached")
    assert alpha.parameter[-1] == pytest.approx(hb2.parameter, abs=1e-3)
    assert alpha.period[-1] == pytest.approx(1 / hb2.frequency, rel=1e-4)
    assert alpha.period[0] == pytest.approx(1 / hb1.frequency, rel=1e-12)


# -- period doubling and Neimark-Sacker -----------------------------------------------------------
ROSSLER = sr.OperatorTemplate("rossler", [
    "x' = -y - z", "y' = x + a*y", "z' = b + z*(x - c)",
], {"x": "output(1.0)", "y": "variable(0.0)", "z": "variable(0.0)", "a": 0.2, "b": 0.2,
    "c": 2.5})


def test_rossler_period_doubling_and_switching_onto_the_doubled_branch():
    orbit = sr.periodic_orbit(ROSSLER)
    single = sr.continuation(ROSSLER, "c", start=orbit, bounds=(2.0, 3.5), direction="forward")
    (pd,) = single.special("PD")
    assert 2.83 < pd.parameter < 2.835                  # the first doubling of the cascade
    assert np.min(np.abs(pd.eigenvalues + 1)) < 1e-6
    assert single.stable[:pd.index].all() and not single.stable[pd.index + 1:].any()
    double = sr.continuation(ROSSLER, "c", start=pd, bounds=(2.0, 4.0))
    # starts at the PD point with the orbit run twice, then the doubled orbits separate
    assert double.parameter[0] == pd.parameter
    assert double.period[0] == pytest.approx(2 * pd.period, rel=1e-12)
    assert double.period[1] == pytest.approx(2 * pd.period, rel=1e-3)
    k = int(np.argmin(np.abs(double.parameter - 3.2)))
    j = int(np.argmin(np.abs(single.parameter - double.parameter[k])))
    assert abs(double.maximum[k, 0] - single.maximum[j, 0]) > 0.05      # a different orbit
    assert double.stable[1:k].all()                     # supercritical: the doubled one stable
    (pd2,) = double.special("PD")                       # and it doubles again
    assert 3.8 < pd2.parameter < 3.9


#: A stable limit cycle in (x, y) and a transverse oscillator (u, v) damped at rate -nu:
#: multipliers 1, exp((nu +- i w2) 2 pi), exp(-4 pi); a torus is born at nu = 0.
TORUS = sr.OperatorTemplate("torus", [
    "x' = x*(1 - x^2 - y^2) - y", "y' = y*(1 - x^2 - y^2) + x",
    "u' = nu*u - w2*v - u*(u^2 + v^2)", "v' = w2*u + nu*v - v*(u^2 + v^2)",
], {"x": "output(1.0)", "y": "variable(0.0)", "u": "variable(0.0)", "v": "variable(0.0)",
    "nu": -0.2, "w2": 0.7})


def test_neimark_sacker_point_of_a_cycle_with_a_transverse_oscillator():
    orbit = sr.periodic_orbit(TORUS, guess={"u": 0.0, "v": 0.0})
    branch = sr.continuation(TORUS, "nu", start=orbit, bounds=(-0.5, 0.5))
    (ns,) = branch.special_points
    assert ns.kind == "NS" and ns.parameter == pytest.approx(0.0, abs=1e-8)
    mu = ns.normal_form["multiplier"]
    assert mu == pytest.approx(np.exp(-2j * np.pi * 0.7), abs=1e-8)     # the upper one
    assert ns.normal_form["angle"] == pytest.approx(2 * np.pi * (1 - 0.7), abs=1e-8)
    regular = np.arange(len(branch)) != ns.index           # |mu| = 1 at the NS point itself
    np.testing.assert_array_equal(branch.stable[regular], branch.parameter[regular] < 0)
    assert not branch.special("PD") and not branch.special("LPC")


# -- plotting -------------------------------------------------------------------------------------
def test_cycle_branch_plots_envelopes_on_the_equilibrium_axes():
    import matplotlib

    matplotlib.use("Agg")
    eq = sr.continuation(BAUTIN, "mu", bounds=(-1, 1), start={"x": 0.0, "y": 0.0})
    cycles = sr.continuation(BAUTIN, "mu", start=eq.special("HB")[0], bounds=(-1, 1))
    ax = eq.plot(y="x")
    n_eq = len(ax.lines)
    cycles.plot(y="x", ax=ax, color="C1")
    styles = {ln.get_linestyle() for ln in ax.lines[n_eq:]}
    assert styles == {"-", "--", "None"}           # stable, unstable, special-point markers
    assert [t.get_text() for t in ax.texts][-1] == "LPC"
    assert cycles.plot(y="period").get_ylabel() == "period"


# -- errors ---------------------------------------------------------------------------------------
def test_periodic_orbit_reports_an_equilibrium():
    with pytest.raises(ConvergenceError,
                       match=r"No periodic orbit of 'FHN' at I = 0 found: .* settles to an "
                             r"equilibrium"):
        sr.periodic_orbit("fitzhugh_nagumo.FHN", params={"I": 0.0})


def test_periodic_orbit_guess_errors():
    with pytest.raises(ModelDefinitionError, match=r"guess= must be None, a \{path: value\}"):
        sr.periodic_orbit("fitzhugh_nagumo.FHN", guess=[1.0, 2.0])
    with pytest.raises(ModelDefinitionError, match="names 'a', which is not a state"):
        sr.periodic_orbit("fitzhugh_nagumo.FHN", guess={"a": 1.0})
    flat = sr.simulate("fitzhugh_nagumo.FHN", 10.0, dt=0.1, backend="numpy")
    with pytest.raises(ConvergenceError, match="does not contain a repeating oscillation"):
        sr.periodic_orbit("fitzhugh_nagumo.FHN", guess=flat)
    with pytest.raises(ModelDefinitionError, match="at least 4 mesh intervals"):
        sr.periodic_orbit("fitzhugh_nagumo.FHN", ntst=2)


def test_periodic_orbit_from_a_simulation_guess_and_path_access():
    res = sr.simulate("fitzhugh_nagumo.FHN", 300.0, dt=0.05, params={"I": 0.5},
                      method="rk45", backend="numpy")
    orbit = sr.periodic_orbit("fitzhugh_nagumo.FHN", params={"I": 0.5}, guess=res)
    assert orbit.period == pytest.approx(39.474415, abs=1e-5)
    assert orbit["v"].shape == orbit.t.shape and orbit.t[-1] == pytest.approx(orbit.period)
    assert orbit.maximum["FHN/FHN_op/v"] == pytest.approx(orbit["v"].max(), abs=1e-3)
    with pytest.raises(ModelDefinitionError, match="'a' is not a state of 'FHN'"):
        orbit["a"]


def test_cycle_continuation_start_errors():
    orbit = sr.periodic_orbit("kuramoto.OttAntonsen")
    with pytest.raises(ModelDefinitionError, match="is a periodic orbit of 'OttAntonsen', not "
                                                   "of 'StuartLandau'"):
        sr.continuation("stuart_landau.StuartLandau", "mu", start=orbit, bounds=(0, 2))
    with pytest.raises(ModelDefinitionError, match="max_period = 1 is not above the period"):
        sr.continuation("kuramoto.OttAntonsen", "K", start=orbit, bounds=(1, 3), max_period=1.0)
    with pytest.raises(ModelDefinitionError, match="outside bounds"):
        sr.continuation("kuramoto.OttAntonsen", "K", start=orbit, bounds=(3, 4))
    eq = sr.continuation("kuramoto.OttAntonsen", "K", bounds=(0.1, 4.0),
                         start={"x": 0.0, "y": 0.0}, params={"K": 0.5})
    cycles = sr.continuation("kuramoto.OttAntonsen", "K", start=eq.special("HB")[0],
                             bounds=(0.1, 4.0), max_steps=3)
    assert cycles.stop_reasons == {"forward": "max_steps = 3 reached"}
    with pytest.raises(ModelDefinitionError, match="is the Hopf point it starts from"):
        cycles.orbit(0)


def test_multipliers_are_exact_for_a_linear_contraction():
    # Stuart-Landau with c_re = -1: rho' = rho (mu - rho^2), multiplier exp(-2 mu T) exactly;
    # mu = 40 makes it exp(-80) = 2e-35, far below rounding of the monodromy matrix
    orbit = sr.periodic_orbit("stuart_landau.StuartLandau", params={"mu": 40.0},
                              guess={"x": np.sqrt(40.0), "y": 0.0}, t_transient=0.0)
    T = 2 * np.pi / (2 * np.pi)
    assert orbit.period == pytest.approx(T, rel=1e-10)
    log_mu = np.delete(orbit.log_multipliers, orbit.trivial)[0]
    assert log_mu == pytest.approx(-2 * 40.0 * T, rel=1e-6)
    mu = np.delete(orbit.multipliers, orbit.trivial)[0]
    assert mu.real == pytest.approx(np.exp(-80.0), rel=1e-4) and mu.imag == 0.0
