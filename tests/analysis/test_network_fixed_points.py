"""Fixed points of networks on the sparse path, checked against simulation."""

import numpy as np
import pytest
import scipy.sparse as sp

import symrates as sr
from symrates.errors import ModelDefinitionError
from symrates.runtime.problem_numpy import NumpyProblem

#: Wilson & Cowan (1972) hysteresis parameters: one unit is bistable at P = 0 with a low state
#: (0, 0), a saddle near (0.19, 0.07) and a high state near (0.44, 0.23)
HYST = {"c1": 12.0, "c2": 4.0, "c3": 13.0, "c4": 11.0, "a_e": 1.2, "theta_e": 2.8,
        "a_i": 1.0, "theta_i": 4.0, "Q": 0.0}
LOW, MID, HIGH = (0.0, 0.0), (0.19, 0.07), (0.44, 0.23)


def wc_network(n, seed=7):
    """``n`` bistable WC units, about 10 random excitatory inputs each, drives P in ±0.1."""
    rng = np.random.default_rng(seed)
    W = sp.random(n, n, density=min(1.0, 10 / n), random_state=rng, format="csr",
                  data_rvs=lambda k: rng.uniform(0.0, 0.02, k))
    W.setdiag(0.0)
    W.eliminate_zeros()
    P = rng.uniform(-0.1, 0.1, n)
    return sr.network("wilson_cowan.WC", n, couplings=[sr.Coupling("E", "P", W)],
                      params={**HYST, "P": P})


def patterns(n):
    """Guesses: all units high, the first half high, unit 0 on the middle branch."""
    levels = np.array([LOW, HIGH, MID])
    out = []
    for pick in (np.ones(n, int), (np.arange(n) < n // 2).astype(int),
                 np.where(np.arange(n) == 0, 2, 0)):
        out.append({"E": levels[pick, 0], "I": levels[pick, 1]})
    return out


def _final(system, res):
    return np.concatenate([np.atleast_1d(res.final_state[p]) for p in system.states])


def _classify(fps, n):
    """``{name: fixed point}`` by how many units are high."""
    out = {}
    for fp in fps:
        high = int(np.sum(fp.state["WC/WC_op/E"] > 0.3))
        name = {0: "low", n // 2: "half", n: "high"}.get(high, f"{high} high")
        if name == "low" and not fp.stable:
            name = "saddle"
        out[name] = fp
    return out


@pytest.fixture(scope="module")
def wc200():
    net = wc_network(200)
    fps = sr.fixed_points(net, guesses=patterns(200))
    return net, fps


def test_wc200_fixed_points_and_their_stability(wc200):
    net, fps = wc200
    system = sr.build(net)
    assert "_flat" not in system.__dict__            # the sparse path never flattens
    found = _classify(fps, 200)
    assert sorted(found) == ["half", "high", "low", "saddle"]
    problem = NumpyProblem(system)
    for fp in fps:
        assert fp.y.shape == (400,) and fp.eigenvalues.shape == (400,)   # full spectrum
        assert np.abs(problem.rhs(0.0, fp.y, 0)).max() < 1e-12
        assert fp.stable == bool(np.all(fp.eigenvalues.real < 0))
    assert found["low"].stable and found["half"].stable and found["high"].stable
    saddle = found["saddle"]
    assert not saddle.stable and saddle.kind == "saddle"
    assert np.sum(saddle.eigenvalues.real > 0) == 1            # one unstable direction
    assert saddle.state["WC/WC_op/E"][0] == pytest.approx(MID[0], abs=0.05)


def test_wc200_stable_points_attract_and_the_saddle_repels_in_simulation(wc200):
    net, fps = wc200
    system = sr.build(net)
    found = _classify(fps, 200)
    rng = np.random.default_rng(1)
    dt = 0.05
    for name in ("low", "half", "high"):
        fp = found[name]
        slowest = -fp.eigenvalues[0].real                     # slowest decay rate
        t_end = dt * np.ceil(25.0 / slowest / dt)             # 1e-3 * exp(-25) << 1e-6
        y0 = fp.y + 1e-3 * rng.standard_normal(fp.y.size)
        res = sr.simulate(net, t_end, dt=dt, method="rk4", backend="numpy", y0=y0,
                          sampling=t_end)
        assert np.abs(_final(system, res) - fp.y).max() < 1e-6, name
    # the saddle: unit 0 sits on its middle branch; nudged down it falls to the low state,
    # nudged up it leaves for an equilibrium with unit 0 high that was not among the guesses
    saddle = found["saddle"]
    rate = saddle.eigenvalues[0].real
    t_end = dt * np.ceil(40.0 / rate / dt)
    for sign in (-1.0, 1.0):
        y0 = saddle.y.copy()
        y0[0] += sign * 1e-6                                  # unit 0's E
        res = sr.simulate(net, t_end, dt=dt, method="rk4", backend="numpy", y0=y0,
                          sampling=t_end)
        end = _final(system, res)
        assert np.abs(end - saddle.y).max() > 0.05
        if sign < 0:
            assert np.abs(end - found["low"].y).max() < 1e-6
        else:
            assert end[0] > 0.3                               # unit 0 is high
            near = sr.fixed_points(net, guesses=[end], simulate=False)
            fp = min(near, key=lambda f: np.abs(f.y - end).max())
            assert fp.stable and np.abs(end - fp.y).max() < 1e-6 and fp.y[0] > 0.3


def test_rightmost_eigenvalues_by_arpack_match_the_full_spectrum(wc200):
    net, fps = wc200
    few = sr.fixed_points(net, guesses=patterns(200), n_eigenvalues=6)
    assert len(few) == len(fps)
    for a, b in zip(few, fps):
        np.testing.assert_array_equal(a.y, b.y)
        assert a.eigenvalues.shape == (6,) and a.stable == b.stable
        np.testing.assert_allclose(a.eigenvalues, b.eigenvalues[:6], atol=1e-10)
    kinds = sorted(fp.kind for fp in few)
    assert kinds.count("saddle") == 1


def test_dense_and_sparse_paths_agree_on_a_small_network():
    net = wc_network(6, seed=3)
    guesses = patterns(6)
    dense = sr.fixed_points(net, guesses=guesses, method="dense")
    sparse = sr.fixed_points(net, guesses=guesses, method="sparse")
    assert len(dense) == len(sparse) >= 3
    for a, b in zip(dense, sparse):
        np.testing.assert_allclose(a.y, b.y, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-9, atol=1e-12)
        assert a.stable == b.stable and a.kind == b.kind


def test_auto_takes_the_sparse_path_for_networks_and_the_dense_path_for_circuits():
    net = sr.network("wilson_cowan.WC", 2, couplings=[sr.Coupling("E", "P", np.eye(2) * 0.1)])
    sr.fixed_points(net, params={"P": 0.5}, simulate=False)
    assert "_flat" not in sr.build(net).__dict__
    system = sr.build("wilson_cowan.WC")
    sr.fixed_points(system, params={"P": 0.5}, simulate=False)
    assert "_flat" in system.__dict__


def test_two_thousand_states_on_the_sparse_path():
    n = 1000
    net = wc_network(n, seed=11)
    fps = sr.fixed_points(net, guesses=patterns(n))        # with the start-point simulation
    system = sr.build(net)
    assert "_flat" not in system.__dict__ and system.n_states == 2000
    found = _classify(fps, n)
    assert sorted(found) == ["half", "high", "low", "saddle"]
    for name, fp in found.items():
        assert fp.eigenvalues.shape == (10,)                  # the 10 rightmost (ARPACK)
        assert np.all(np.diff(fp.eigenvalues.real) <= 1e-12)
        assert fp.stable is (name != "saddle")
    assert np.sum(found["saddle"].eigenvalues.real > 0) == 1


def test_delays_are_refused_or_set_to_zero():
    W = 0.2 * np.ones((3, 3))
    delayed = sr.network("wilson_cowan.WC", 3,
                         couplings=[sr.Coupling("E", "P", W, delays=np.full((3, 3), 0.5))])
    with pytest.raises(ModelDefinitionError,
                       match=r"coupling WC/WC_op/E -> WC/WC_op/P of 'WC' has discrete delays"):
        sr.fixed_points(delayed, params={"P": 0.5})
    plain = sr.network("wilson_cowan.WC", 3, couplings=[sr.Coupling("E", "P", W)])
    (a,) = sr.fixed_points(delayed, params={"P": 0.5}, delays="ignore")
    (b,) = sr.fixed_points(plain, params={"P": 0.5})
    np.testing.assert_allclose(a.y, b.y, rtol=1e-12)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"method": "lu"}, r"Unknown method='lu' for fixed_points; choose one of 'auto', "
                           r"'dense', 'sparse'"),
        ({"delays": "zero"}, r"Unknown delays='zero' for fixed_points; choose one of 'error', "
                             r"'ignore'"),
        ({"params": {"E": 1.0}}, r"params= of 'WC' names 'E', which is not a parameter"),
        ({"n_eigenvalues": 0}, r"n_eigenvalues of fixed_points must be a positive integer .*"
                               r"got 0"),
    ],
)
def test_option_errors(options, match):
    net = sr.network("wilson_cowan.WC", 3, couplings=[sr.Coupling("E", "P", np.eye(3))])
    with pytest.raises(ModelDefinitionError, match=match):
        sr.fixed_points(net, **options)


def test_time_dependent_networks_are_refused():
    forced = sr.OperatorTemplate("forced", ["x' = -x + sin(t) + inp"],
                                 {"x": "output(0.0)", "inp": "input(0.0)"})
    net = sr.network(forced, 3, couplings=[sr.Coupling("x", "inp", np.eye(3))])
    with pytest.raises(ModelDefinitionError, match=r"'forced' depends explicitly on time"):
        sr.fixed_points(net)


def test_uncoupled_jansen_rit_units_have_the_single_model_equilibria():
    # per-unit inputs on the sparse path against the single model on the dense path
    u = [120.0, 220.0, 320.0]
    net = sr.network("jansen_rit.JRC", 3, params={"u": u})
    (fp,) = sr.fixed_points(net, method="sparse")
    spectrum = []
    for i, value in enumerate(u):
        (single,) = sr.fixed_points("jansen_rit.JRC", params={"u": value}, method="dense")
        for path, x in single.state.items():
            assert fp.state[path][i] == pytest.approx(x, rel=1e-10, abs=1e-14)
        spectrum.append(single.eigenvalues)
    spectrum = np.concatenate(spectrum)
    spectrum = spectrum[np.lexsort((-spectrum.imag, -spectrum.real))]
    # the synapses' double eigenvalue -1/tau = -100 is defective: computed to ~sqrt(eps) * 100
    np.testing.assert_allclose(fp.eigenvalues, spectrum, rtol=0, atol=1e-5)
    assert fp.stable == bool(np.all(spectrum.real < 0))


def test_kind_of_a_partial_spectrum():
    y = np.zeros(5)
    assert sr.FixedPoint(y, {}, np.array([1.0, 0.5]), False).kind == "unstable"
    assert sr.FixedPoint(y, {}, np.array([1.0, -0.5]), False).kind == "saddle"
    assert sr.FixedPoint(y, {}, np.array([-1.0 + 2j, -1.0 - 2j]), True).kind == "stable focus"
    assert sr.FixedPoint(y[:2], {}, np.array([1.0, 0.5]), False).kind == "unstable node"
