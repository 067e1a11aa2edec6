"""The model library: every file and template, the exact equations, and the dynamics each model is
known for (REFERENCES.md). Complements ``test_published_values.py``; simulations use the numpy
backend, the reference implementation."""

from pathlib import Path

import numpy as np
import pytest
import sympy
import yaml
from scipy.optimize import brentq

import symrates as sr

MODELS = Path(sr.__file__).resolve().parent / "models"

LIBRARY = {
    "basic": ["LeakyIntegrator", "RateUnit", "ExpSynapsePop", "AlphaSynapsePop"],
    "fitzhugh_nagumo": ["FHN"],
    "jansen_rit": ["PC", "EIN", "IIN", "JRC", "JR6"],
    "kuramoto": ["Kuramoto", "OttAntonsen"],
    "montbrio": ["QIF"],
    "qif_sfa": ["QIF_SFA"],
    "stuart_landau": ["StuartLandau"],
    "wilson_cowan": ["WC", "WC_E", "WC_I", "WC_EI"],
}
ALL_MODELS = [f"{family}.{name}" for family, names in LIBRARY.items() for name in names]
N_STATES = {
    "basic.LeakyIntegrator": 1, "basic.RateUnit": 1, "basic.ExpSynapsePop": 1,
    "basic.AlphaSynapsePop": 2, "fitzhugh_nagumo.FHN": 2, "jansen_rit.PC": 4, "jansen_rit.EIN": 2,
    "jansen_rit.IIN": 2, "jansen_rit.JRC": 8, "jansen_rit.JR6": 6, "kuramoto.Kuramoto": 1,
    "kuramoto.OttAntonsen": 2, "montbrio.QIF": 2, "qif_sfa.QIF_SFA": 4,
    "stuart_landau.StuartLandau": 2, "wilson_cowan.WC": 2, "wilson_cowan.WC_E": 1,
    "wilson_cowan.WC_I": 1, "wilson_cowan.WC_EI": 2,
}


def simulate(model, t_end, **kw):
    kw.setdefault("method", "rk4")
    return sr.simulate(model, t_end, backend="numpy", **kw)


def rhs(system):
    """{state name (last path part): its right-hand side}."""
    return {p.split("/")[-1]: e for p, e in zip(system.states, system.rhs)}


def same(a, b):
    return sympy.simplify(sympy.nsimplify(a - b, rational=True)) == 0


def syms(system, names):
    return [system.symbol(n) for n in names.split()]


# --------------------------------------------------------------------------------------------------
# the library as a whole


COMPONENTS = {"jansen_rit.PC", "jansen_rit.EIN", "jansen_rit.IIN", "wilson_cowan.WC_E",
              "wilson_cowan.WC_I"}


def test_list_models_lists_every_library_model_but_not_circuit_parts():
    assert sorted(sr.list_models()) == sorted(set(ALL_MODELS) - COMPONENTS)


@pytest.mark.parametrize("ref", ALL_MODELS)
def test_every_model_loads_and_builds(ref):
    template = sr.load(ref)
    assert template.description.strip()
    system = sr.build(ref)
    assert len(system.states) == N_STATES[ref]
    assert np.all(np.isfinite(system.vector_field(system.initial_state)))


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_file_documents_source_units_and_every_template(path):
    text = path.read_text(encoding="utf-8")
    header = text.split("\n\n")[0]
    assert header.startswith("#")
    assert "Source" in header                       # "Source:" or "Sources:"
    assert "Units" in text and "Defaults" in text
    for name, spec in yaml.safe_load(text).items():
        assert str(spec.get("description", "")).strip(), f"{path.stem}.{name} has no description"
        template = sr.load(f"{path.stem}.{name}")
        assert template.description.strip()
        if isinstance(template, sr.OperatorTemplate):        # operators build on their own too
            system = sr.build(template)
            assert len(system.states) == sum(eq.count("'") for eq in template.equations)


@pytest.mark.parametrize("ref", ALL_MODELS)
def test_every_model_round_trips_through_to_yaml(ref, tmp_path):
    template = sr.load(ref)
    path = tmp_path / "model.yaml"
    path.write_text(sr.to_yaml(template), encoding="utf-8")
    a, b = sr.build(template), sr.build(sr.load(f"{path}:{template.name}"))
    assert a.states == b.states and a.parameters == b.parameters
    assert all(sympy.expand(x - y) == 0 for x, y in zip(a.rhs, b.rhs))


# --------------------------------------------------------------------------------------------------
# Jansen–Rit: the circuit is the 6-state form, exactly


def test_jr6_equations_are_the_published_ones():
    system = sr.build("jansen_rit.JR6")
    y0, y1, y2, y3, y4, y5 = syms(system, "y0 y1 y2 y3 y4 y5")
    A, B, a, b, C, e0, v0, r, p = syms(system, "A B a b C e0 v0 r p")

    def S(v):
        return 2 * e0 / (1 + sympy.exp(r * (v0 - v)))

    C1, C2, C3, C4 = C, sympy.Rational(4, 5) * C, C / 4, C / 4
    expected = {
        "y0": y3, "y1": y4, "y2": y5,
        "y3": A * a * S(y1 - y2) - 2 * a * y3 - a**2 * y0,
        "y4": A * a * (p + C2 * S(C1 * y0)) - 2 * a * y4 - a**2 * y1,
        "y5": B * b * C4 * S(C3 * y0) - 2 * b * y5 - b**2 * y2,
    }
    got = rhs(system)
    for name, e in expected.items():
        assert same(got[name], e), name
    defaults = {p.split("/")[-1]: v for p, v in system.parameters.items()}
    assert defaults == {"A": 3.25, "B": 22.0, "a": 100.0, "b": 50.0, "C": 135.0, "e0": 2.5,
                        "v0": 6.0, "r": 0.56, "p": 220.0}


def test_jrc_is_jr6_under_the_linear_map_for_all_parameter_values():
    """Exact sympy: with y_JRC = M y_JR6 (1e-3 mV -> V, v_ein = C1 y0, v_iin = C3 y0, the inhibitory
    PSP carrying its sign in H_i) and H_e = A/1000, H_i = -B/1000, tau_e = 1/a, tau_i = 1/b,
    m_max = 2 e0, s = 1000 r, v_thr = v0/1000, u = p, the JRC right-hand side is M times JR6's, for
    symbolic A, B, a, b, e0, v0, r, p (C = 135 as in the circuit's edge weights)."""
    jr6, jrc = sr.build("jansen_rit.JR6"), sr.build("jansen_rit.JRC")
    y = syms(jr6, "y0 y1 y2 y3 y4 y5")
    A, B, a, b, C, e0, v0, r, p = syms(jr6, "A B a b C e0 v0 r p")
    f6 = jr6.rhs.subs(C, 135)
    k = sympy.Rational(1, 1000)
    c1, c3 = 135 * k, sympy.Rational(135, 4) * k
    state_map = {  # JRC state: (coefficient, JR6 index)
        "pc/RPO_e_pc/v": (k, 1), "pc/RPO_e_pc/x": (k, 4), "pc/RPO_i/v": (-k, 2),
        "pc/RPO_i/x": (-k, 5), "ein/RPO_e/v": (c1, 0), "ein/RPO_e/x": (c1, 3),
        "iin/RPO_e/v": (c3, 0), "iin/RPO_e/x": (c3, 3),
    }
    assert set(state_map) == set(jrc.states)
    to6 = {jrc.symbol(s): c * y[i] for s, (c, i) in state_map.items()}
    params = {}
    for path in jrc.parameters:
        op, name = path.split("/")[1:]
        value = {"H": -k * B if op == "RPO_i" else k * A,
                 "tau": 1 / b if op == "RPO_i" else 1 / a,
                 "u": p, "m_max": 2 * e0, "s": 1000 * r, "v_thr": k * v0}.get(name, 0)
        params[jrc.symbol(path)] = value            # the rest: constant parts of inputs, 0
    for i, s in enumerate(jrc.states):
        c, j = state_map[s]
        mapped = sympy.nsimplify(jrc.rhs[i].xreplace(params).xreplace(to6), rational=True)
        assert sympy.simplify(mapped - c * f6[j]) == 0, s


def test_jr6_p_is_drivable_and_defaults_reproduce_the_settled_alpha_cycle():
    """p = 220 from rest: after 2 s the cycle is settled to ~0.05 mV; y1 - y2 spans 6.09..9.03 mV
    (REFERENCES: about 6.1..9.0) at a dominant frequency in 10.5..11.5 Hz."""
    dt = 1e-4
    res = simulate("jansen_rit.JR6", 3.0, dt=dt, outputs=["v_pc"])
    late = res.t >= 2.0
    v = res["v_pc"][late][:-1]                         # exactly one second
    freqs = np.fft.rfftfreq(v.size, d=dt)
    peak = freqs[np.argmax(np.abs(np.fft.rfft(v - v.mean())))]
    assert 10.5 <= peak <= 11.5
    assert v.min() == pytest.approx(6.1, abs=0.3) and v.max() == pytest.approx(9.0, abs=0.3)
    # p is an input: a constant drive of 220 given as a time series gives the same run
    steps = int(round(0.05 / dt))
    a = simulate("jansen_rit.JR6", 0.05, dt=dt, outputs=["y1"])
    b = simulate("jansen_rit.JR6", 0.05, dt=dt, outputs=["y1"], params={"p": 0.0},
                 inputs={"p": np.full(steps, 220.0)})
    np.testing.assert_allclose(a["y1"], b["y1"], rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# QIF mean field (Montbrió, Pazó & Roxin 2015)


def _qif_symbols():
    system = sr.build("montbrio.QIF")
    return system, syms(system, "r v tau Delta eta J I")


def test_qif_equations_are_the_published_ones():
    system, (r, v, tau, Delta, eta, J, I_) = _qif_symbols()
    got = rhs(system)
    assert same(tau * got["r"], Delta / (sympy.pi * tau) + 2 * r * v)
    assert same(tau * got["v"], v**2 + eta + I_ + J * tau * r - (sympy.pi * tau * r) ** 2)


def test_qif_fold_parametrisation_and_cusp_from_the_symbolic_system():
    """Equilibria: v = -Delta/(2 pi tau r) and P(r) = 0, P the numerator of tau v' (tau = 1).
    The published fold curve (eta(r), J(r)) makes r a double root of P; the cusp (dJ/dr = 0) a
    triple root at eta = -sqrt(3) Delta. The trace there is -2 Delta/(pi r): no Hopf."""
    system, (r, v, tau, Delta, eta, J, I_) = _qif_symbols()
    f = system.rhs.subs({tau: 1, I_: 0})
    (v_eq,) = sympy.solve(f[0], v)
    assert same(v_eq, -Delta / (2 * sympy.pi * r))
    P = sympy.numer(sympy.together(f[1].subs(v, v_eq)))
    rf = sympy.Symbol("r_f", positive=True)
    D = sympy.Symbol("D", positive=True)
    pi = sympy.pi
    eta_f = -pi**2 * rf**2 - 3 * D**2 / (4 * pi**2 * rf**2)
    J_f = 2 * pi**2 * rf + D**2 / (2 * pi**2 * rf**3)
    on_fold = {eta: eta_f, J: J_f, Delta: D}
    assert sympy.simplify(P.subs(on_fold).subs(r, rf)) == 0
    assert sympy.simplify(sympy.diff(P, r).subs(on_fold).subs(r, rf)) == 0
    assert sympy.simplify(sympy.diff(P, r, 2).subs(on_fold).subs(r, rf)) != 0
    (r_c,) = sympy.solve(sympy.diff(J_f, rf), rf)
    assert sympy.simplify(sympy.diff(P, r, 2).subs(on_fold).subs(r, rf).subs(rf, r_c)) == 0
    assert sympy.simplify(eta_f.subs(rf, r_c) + sympy.sqrt(3) * D) == 0
    trace = system.jacobian().trace().subs({tau: 1, v: v_eq})
    assert same(trace, -2 * Delta / (pi * r))


def test_qif_equilibria_at_the_published_point():
    """eta = -5, J = 15, Delta = 1: three equilibria; the fold values of eta on the line J = 15
    (from the parametrisation) bracket -5 and the number of equilibria drops to one outside."""
    system, (r, v, tau, Delta, eta, J, I_) = _qif_symbols()
    f = system.rhs.subs({tau: 1, I_: 0, Delta: 1, J: 15})
    P = sympy.numer(sympy.together(f[1].subs(v, -1 / (2 * sympy.pi * r))))

    def positive_roots(eta_value):
        poly = sympy.Poly(P.subs(eta, eta_value), r)
        return sorted(float(sympy.re(z)) for z in poly.nroots(n=30)
                      if abs(sympy.im(z)) < 1e-20 and sympy.re(z) > 0)

    roots = positive_roots(-5)
    assert len(roots) == 3
    J_fold = lambda x: 2 * np.pi**2 * x + 1 / (2 * np.pi**2 * x**3) - 15  # noqa: E731
    x_min = (3 / (4 * np.pi**4)) ** 0.25                                 # dJ/dr = 0
    r_folds = [brentq(J_fold, 1e-3, x_min), brentq(J_fold, x_min, 10)]
    eta_folds = sorted(-np.pi**2 * x**2 - 3 / (4 * np.pi**2 * x**2) for x in r_folds)
    assert eta_folds[0] < -5 < eta_folds[1]
    assert len(positive_roots(eta_folds[0] - 0.1)) == 1
    assert len(positive_roots(eta_folds[1] + 0.1)) == 1
    lam = sympy.lambdify((r, v), system.jacobian().subs({tau: 1, I_: 0, Delta: 1, J: 15, eta: -5}))
    kinds = []
    for r0 in roots:
        y = np.array([r0, -1 / (2 * np.pi * r0)])
        np.testing.assert_allclose(system.vector_field(y), 0, atol=1e-10)
        ev = np.linalg.eigvals(np.array(lam(*y), dtype=float))
        if ev.real.max() > 0 > ev.real.min():
            kinds.append("saddle")
        elif ev.real.max() < 0:
            kinds.append("stable focus" if abs(ev.imag).max() > 0 else "stable node")
        else:
            kinds.append("unstable")
    assert kinds == ["stable node", "saddle", "stable focus"]


def test_qif_step_input_switches_up_and_the_high_state_persists():
    dt, t_end = 1e-2, 40.0
    t = np.arange(int(round(t_end / dt))) * dt
    res = simulate("montbrio.QIF", t_end, dt=dt, inputs={"I": np.where((t >= 10) & (t < 30),
                   3.0, 0.0)}, outputs=["r"], sampling=0.1)
    r = res["r"]
    # the equilibria at eta = -5 (roots of P above): low node, saddle, high focus
    low, saddle, high = 0.0811344, 0.4729803, 1.0305968
    assert r[(res.t > 8) & (res.t <= 10)] == pytest.approx(low, abs=1e-6)
    assert r[(res.t > 20) & (res.t <= 30)].min() > 1.0           # the high state of eta = -2
    after = r[res.t > 30]
    assert after.min() > saddle                                  # never falls back ...
    assert np.abs(after[res.t[res.t > 30] > 36] - high).max() < 0.05  # ... spirals into the focus


# --------------------------------------------------------------------------------------------------
# QIF with spike-frequency adaptation (Gast, Schmidt & Knösche 2020)


def _sfa():
    system = sr.build("qif_sfa.QIF_SFA")
    return system, syms(system, "r v a x tau Delta eta J alpha tau_a I")


def test_qif_sfa_equations_and_defaults():
    system, (r, v, a, x, tau, Delta, eta, J, alpha, tau_a, I_) = _sfa()
    got = {k: e.subs(tau, 1) for k, e in rhs(system).items()}
    pi = sympy.pi
    assert same(got["r"], Delta / pi + 2 * r * v)
    assert same(got["v"], v**2 + eta + I_ - a + J * r - pi**2 * r**2)
    assert same(got["a"], x / tau_a)
    assert same(got["x"], alpha * r - 2 * x / tau_a - a / tau_a)
    defaults = {p.split("/")[-1]: val for p, val in system.parameters.items()}
    assert defaults["Delta"] == 2.0 and defaults["alpha"] == 1.0 and defaults["tau_a"] == 10.0
    assert defaults["J"] == pytest.approx(15 * np.sqrt(2), rel=1e-15)


def test_qif_sfa_equilibrium_curve_and_hopf_points():
    """The closed-form equilibrium curve (qif_sfa.yaml header) solves the system exactly; along it
    the Jacobian has two Hopf points, eta ~ -4.0398 and ~ -0.5341, and the default eta = -3 lies
    between them (unstable), eta = -4.6 below (stable focus)."""
    system, (r, v, a, x, tau, Delta, eta, J, alpha, tau_a, I_) = _sfa()
    pi = sympy.pi
    on_curve = {v: -Delta / (2 * pi * r), a: alpha * tau_a * r, x: 0, tau: 1, I_: 0,
                eta: pi**2 * r**2 + (alpha * tau_a - J) * r - Delta**2 / (4 * pi**2 * r**2)}
    assert all(sympy.simplify(e.subs(on_curve)) == 0 for e in system.rhs)
    values = {system.symbol(p): val for p, val in system.parameters.items()
              if system.symbol(p) not in (eta,)}
    jac = sympy.lambdify(r, system.jacobian().subs(on_curve).subs(values))
    eta_of = sympy.lambdify(r, on_curve[eta].subs(values))

    def growth(r0):
        return np.linalg.eigvals(np.array(jac(r0), dtype=float)).real.max()

    grid = np.linspace(0.05, 2.0, 400)
    g = np.array([growth(x0) for x0 in grid])
    crossings = [brentq(growth, grid[i], grid[i + 1], xtol=1e-14)
                 for i in np.nonzero(np.diff(np.sign(g)))[0]]
    assert len(crossings) == 2
    hopf_eta = [float(eta_of(x0)) for x0 in crossings]
    assert hopf_eta == pytest.approx([-4.0398, -0.5341], abs=1e-4)
    for x0 in crossings:                    # a pair of purely imaginary eigenvalues, not zero
        ev = np.linalg.eigvals(np.array(jac(x0), dtype=float))
        assert np.abs(ev.imag[np.argmax(ev.real)]) > 0.1
    # the equilibrium at eta = -4.6 (a stable focus) and at the default eta = -3 (unstable)
    for eta_value, bracket, stable in ((-4.6, (0.05, 0.3), True), (-3.0, (0.5, 2.0), False)):
        r0 = brentq(lambda z, e=eta_value: eta_of(z) - e, *bracket, xtol=1e-15)
        ev = np.linalg.eigvals(np.array(jac(r0), dtype=float))
        assert bool(ev.real.max() < 0) is stable
        if stable:
            assert np.abs(ev.imag[np.argmax(ev.real)]) > 0
        y = [r0, -2 / (2 * np.pi * r0), 10 * r0, 0.0]
        np.testing.assert_allclose(system.vector_field(y, params={"eta": eta_value}), 0,
                                   atol=1e-10)


def test_qif_sfa_oscillates_at_the_default_eta():
    res = simulate("qif_sfa.QIF_SFA", 200.0, dt=0.01, outputs=["r"], sampling=0.1)
    r = res["r"][res.t > 100]
    assert r.min() == pytest.approx(0.0985, abs=2e-3)
    assert r.max() == pytest.approx(3.387, abs=2e-2)
    freqs = np.fft.rfftfreq(r.size, d=0.1)
    peak = freqs[np.argmax(np.abs(np.fft.rfft(r - r.mean())))]
    assert 0.01 <= peak <= 0.03            # period ~50


# --------------------------------------------------------------------------------------------------
# FitzHugh–Nagumo


def test_fhn_equations_and_hopf_points_at_their_currents():
    system = sr.build("fitzhugh_nagumo.FHN")
    v, w, I_, a, b, eps = syms(system, "v w I a b eps")
    got = rhs(system)
    assert same(got["v"], v - v**3 / 3 - w + I_)
    assert same(got["w"], eps * (v + a - b * w))
    for sign in (1, -1):
        v_h = sign * sympy.sqrt(1 - eps * b)
        w_h = (v_h + a) / b
        I_h = v_h**3 / 3 - v_h + w_h
        at = {v: v_h, w: w_h, I_: I_h}
        assert all(sympy.simplify(e.subs(at)) == 0 for e in system.rhs)   # an equilibrium
        jac = system.jacobian().subs(at)
        assert sympy.simplify(jac.trace()) == 0
        assert sympy.simplify(jac.det() - eps * (1 - eps * b**2)) == 0    # > 0: a Hopf point
    # with the defaults the Hopf currents are I_H = 0.331281 and 1.418719
    values = {system.symbol(p): val for p, val in system.parameters.items() if p[-1] != "I"}
    currents = sorted(float(((s * sympy.sqrt(1 - eps * b)) ** 3 / 3 - s * sympy.sqrt(1 - eps * b)
                             + (s * sympy.sqrt(1 - eps * b) + a) / b).subs(values))
                      for s in (1, -1))
    assert currents == pytest.approx([0.3312813, 1.4187187], abs=1e-7)


# --------------------------------------------------------------------------------------------------
# Wilson–Cowan


def test_wilson_cowan_equations_are_the_published_ones():
    system = sr.build("wilson_cowan.WC")
    E, I_, P, Q, c1, c2, c3, c4, ae, te, ai, ti, re, ri, tau_e, tau_i = syms(
        system, "E I P Q c1 c2 c3 c4 a_e theta_e a_i theta_i r_e r_i tau_e tau_i")

    def S(u, a, th):
        return 1 / (1 + sympy.exp(-a * (u - th))) - 1 / (1 + sympy.exp(a * th))

    def k(a, th):
        return 1 - 1 / (1 + sympy.exp(a * th))

    got = rhs(system)
    assert same(tau_e * got["E"], -E + (k(ae, te) - re * E) * S(c1 * E - c2 * I_ + P, ae, te))
    assert same(tau_i * got["I"], -I_ + (k(ai, ti) - ri * I_) * S(c3 * E - c4 * I_ + Q, ai, ti))
    # S_x(0) = 0 and k_x is the maximum of S_x (its limit for large u, slope a_x > 0)
    assert sympy.simplify(S(0, ae, te)) == 0
    u, a_pos, th = sympy.symbols("u a_pos th", positive=True)
    assert same(k(a_pos, th), sympy.limit(S(u, a_pos, th), u, sympy.oo))
    assert {p.split("/")[-1]: val for p, val in system.parameters.items()} == {
        "P": 1.25, "Q": 0.0, "c1": 16.0, "c2": 12.0, "c3": 15.0, "c4": 3.0, "a_e": 1.3,
        "theta_e": 4.0, "a_i": 2.0, "theta_i": 3.7, "r_e": 1.0, "r_i": 1.0, "tau_e": 1.0,
        "tau_i": 1.0}


def test_wilson_cowan_circuit_equals_the_single_node():
    one, two = sr.build("wilson_cowan.WC"), sr.build("wilson_cowan.WC_EI")
    rng = np.random.default_rng(3)
    for _ in range(10):
        e, i = rng.uniform(0, 0.5, 2)
        np.testing.assert_allclose(
            two.vector_field({"e/WC_pop_op/x": e, "i/WC_pop_op/x": i}),
            one.vector_field({"E": e, "I": i}), rtol=1e-13, atol=1e-15)


def test_wilson_cowan_limit_cycle_is_sustained_at_p_1_25():
    res = simulate("wilson_cowan.WC", 120.0, dt=0.02, outputs=["E"], sampling=0.1)
    e = res["E"]
    early, late = e[(res.t > 60) & (res.t <= 90)], e[res.t > 90]
    amp_early, amp_late = np.ptp(early), np.ptp(late)
    assert amp_late > 0.1
    assert amp_late == pytest.approx(amp_early, rel=5e-3)     # neither decaying nor growing
    # without drive the same system rests at E = 0
    quiet = simulate("wilson_cowan.WC", 60.0, dt=0.02, outputs=["E"], sampling=1.0,
                     params={"P": 0.0}, y0={"E": 0.1, "I": 0.05})
    assert abs(quiet["E"][-1]) < 1e-6


# --------------------------------------------------------------------------------------------------
# Kuramoto and Ott–Antonsen


def test_kuramoto_node_equations():
    system = sr.build("kuramoto.Kuramoto")
    theta, omega, K, alpha, s_in, c_in = syms(system, "theta omega K alpha s_in c_in")
    (f,) = system.rhs
    assert same(f, omega + K * (s_in * sympy.cos(theta + alpha) - c_in * sympy.sin(theta + alpha)))
    # the identity behind the two inputs, for one source phase phi with weight w
    phi, w = sympy.symbols("phi w", real=True)
    coupling = (f - omega).subs({s_in: w * sympy.sin(phi), c_in: w * sympy.cos(phi)})
    assert sympy.simplify(sympy.expand_trig(coupling - K * w * sympy.sin(phi - theta - alpha))) == 0


def test_kuramoto_circuit_is_the_kuramoto_sakaguchi_model():
    n, K, alpha = 4, 1.7, 0.3
    node = sr.load("kuramoto.Kuramoto")
    edges = [(f"k{k}/Kuramoto_op/{out}", f"k{j}/Kuramoto_op/{inp}", None, {"weight": 1 / n})
             for j in range(n) for k in range(n) for out, inp in (("s", "s_in"), ("c", "c_in"))]
    circuit = sr.CircuitTemplate("ring", {f"k{j}": node for j in range(n)}, edges)
    system = sr.build(circuit)
    rng = np.random.default_rng(5)
    omegas = rng.normal(1.0, 0.2, n)
    params = {}
    for j in range(n):
        params.update({f"k{j}/Kuramoto_op/omega": omegas[j], f"k{j}/Kuramoto_op/K": K,
                       f"k{j}/Kuramoto_op/alpha": alpha})
    for _ in range(5):
        th = rng.uniform(-np.pi, np.pi, n)
        expected = omegas + K / n * np.sin(th[None, :] - th[:, None] - alpha).sum(axis=1)
        y = {f"k{j}/Kuramoto_op/theta": th[j] for j in range(n)}
        got = dict(zip(system.states, system.vector_field(y, params=params)))
        np.testing.assert_allclose([got[f"k{j}/Kuramoto_op/theta"] for j in range(n)], expected,
                                   rtol=1e-12, atol=1e-14)


def test_ott_antonsen_real_form_is_the_complex_equation_and_its_polar_form():
    system = sr.build("kuramoto.OttAntonsen")
    x, y, w0, Delta, K, alpha = syms(system, "x y omega0 Delta K alpha")
    z = x + sympy.I * y
    zdot = (sympy.I * w0 - Delta) * z + K / 2 * (
        z * sympy.exp(-sympy.I * alpha) - sympy.conjugate(z) * z**2 * sympy.exp(sympy.I * alpha))
    got = rhs(system)
    assert sympy.simplify(sympy.expand_complex(zdot - (got["x"] + sympy.I * got["y"]))) == 0
    rho = sympy.sqrt(x**2 + y**2)
    rdot = (x * got["x"] + y * got["y"]) / rho
    assert sympy.simplify(rdot - rho * (K * sympy.cos(alpha) * (1 - rho**2) / 2 - Delta)) == 0
    # the incoherent state z = 0 loses stability at K_c = 2 Delta / cos(alpha)
    jac0 = system.jacobian().subs({x: 0, y: 0})
    assert sympy.simplify(jac0.trace().subs(K, 2 * Delta / sympy.cos(alpha))) == 0


@pytest.mark.parametrize("K, alpha, expected", [
    (3.0, 0.5, np.sqrt(1 - 2 * 0.5 / (3.0 * np.cos(0.5)))),
    (0.5, 0.8, 0.0),                         # K < K_c = 2 Delta / cos(0.8) = 1.435
    (0.4, 0.0, 0.0),                         # K < K_c = 2 Delta = 1
])
def test_ott_antonsen_order_parameter_settles(K, alpha, expected):
    k_c = 2 * 0.5 / np.cos(alpha)
    assert (K > k_c) == (expected > 0)
    res = simulate("kuramoto.OttAntonsen", 60.0, dt=0.01, params={"K": K, "alpha": alpha},
                   outputs=["r"], sampling=1.0)
    assert res["r"][-1] == pytest.approx(expected, abs=1e-6)


# --------------------------------------------------------------------------------------------------
# Stuart–Landau


def test_stuart_landau_is_the_hopf_normal_form():
    system = sr.build("stuart_landau.StuartLandau")
    x, y, mu, w, cr, ci = syms(system, "x y mu omega c_re c_im")
    got = {k: e.subs({system.symbol("I_x"): 0, system.symbol("I_y"): 0})
           for k, e in rhs(system).items()}
    z = x + sympy.I * y
    zdot = (mu + sympy.I * w) * z + (cr + sympy.I * ci) * (x**2 + y**2) * z
    assert sympy.expand(zdot - (got["x"] + sympy.I * got["y"])) == 0
    rho2 = x**2 + y**2
    assert sympy.simplify((x * got["x"] + y * got["y"]) - rho2 * (mu + cr * rho2)) == 0
    assert sympy.simplify((x * got["y"] - y * got["x"]) - rho2 * (w + ci * rho2)) == 0


def test_stuart_landau_cycle_radius_and_frequency():
    mu, cr, ci, w = 0.8, -0.5, 0.4, 2.0
    res = simulate("stuart_landau.StuartLandau", 20.0, dt=1e-3, sampling=0.01,
                   params={"mu": mu, "c_re": cr, "c_im": ci, "omega": w})
    late = res.t > 15
    np.testing.assert_allclose(np.hypot(res["x"], res["y"])[late], np.sqrt(-mu / cr), rtol=1e-7)
    phase = np.unwrap(np.arctan2(res["y"], res["x"])[late])
    speed = np.polyfit(res.t[late], phase, 1)[0]
    assert speed == pytest.approx(w - ci * mu / cr, rel=1e-8)


# --------------------------------------------------------------------------------------------------
# building blocks


def test_basic_blocks_equations_and_steady_states():
    li = sr.build("basic.LeakyIntegrator")
    v, m, k, tau = syms(li, "v m_in k tau")
    assert same(li.rhs[0], (-v + k * m) / tau)
    for ref in ("basic.ExpSynapsePop", "basic.AlphaSynapsePop"):
        system = sr.build(ref)
        H, tau, m = syms(system, "H tau m_in")
        eq = sympy.solve(list(system.rhs), [system.symbol(s) for s in system.states], dict=True)
        assert len(eq) == 1
        v_ss = [val for s, val in eq[0].items() if s.name.endswith("/v")][0]
        assert same(v_ss, H * tau * m)                 # both kernels integrate to H tau
    # the chained node: the sigmoid's input v receives the integrator's output v, so a step of
    # m_in gives v = k m_in (1 - exp(-t/tau)) and m_out = m_max / (1 + exp(s (v_thr - v)))
    res = simulate("basic.RateUnit", 5.0, dt=0.01, params={"m_in": 2.0, "tau": 0.5},
                   outputs=["LeakyIntegrator_op/v", "m_out"])
    v_exact = 2.0 * (1 - np.exp(-res.t / 0.5))
    np.testing.assert_allclose(res["LeakyIntegrator_op/v"], v_exact, atol=1e-9)
    np.testing.assert_allclose(res["m_out"], 1 / (1 + np.exp(-v_exact)), atol=1e-9)


def test_alpha_synapse_impulse_response_is_the_alpha_kernel():
    """Started at v = 0, v' = H/tau (a unit impulse of m_in), the synapse follows
    h(t) = (H/tau) t exp(-t/tau)."""
    H, tau = 3.25, 0.01
    res = simulate("basic.AlphaSynapsePop", 0.1, dt=1e-5, params={"H": H, "tau": tau},
                   y0={"AlphaSynapse_op/v": 0.0, "x": H / tau}, outputs=["AlphaSynapse_op/v"])
    kernel = H / tau * res.t * np.exp(-res.t / tau)
    np.testing.assert_allclose(res["AlphaSynapse_op/v"], kernel, atol=1e-10)
