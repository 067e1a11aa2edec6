"""sr.scan: a scan gives what running each parameter set alone gives, and reduces it right."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

import symrates as sr
from symrates.analysis.scans import scan
from symrates.analysis.scans.accumulate import Welch, dominant

QIF = "montbrio.QIF"
BACKENDS = ["numpy", "auto"]


def _window(res, t_end, window):
    return res.t >= t_end * (1 - window) - 1e-9


# A standalone run and a scan build the model separately, and today the order of the terms in the
# code generated for a model can differ between two builds of it (it follows sympy's Dummy
# counter), which moves results by an ulp now and then. So runs that build the model separately
# agree to rtol=1e-12 (STYLE.md §6), and the exactness that does not depend on that is tested
# bit for bit below: a set's numbers do not depend on its chunk or position within one scan, and
# executors reproduce the local run exactly (tests/analysis/test_scan_executors.py).
RTOL = 1e-12


@pytest.mark.parametrize("backend", BACKENDS)
def test_scan_equals_simulate_of_each_set(backend):
    etas, Js = np.linspace(-7.0, -1.0, 5), [10.0, 15.0, 20.0]
    t_end, window = 3.0, 0.25
    # a small max_memory splits the window into several blocks; chunk_size=4 mixes the sets
    sc = scan(QIF, {"eta": etas, "J": Js}, t_end=t_end, dt=1e-3, window=window, chunk_size=4,
              observables=["mean", "std", "min", "max", "final"], max_memory=3000,
              backend=backend)
    assert sc.shape == (5, 3) and sc.attrs["n_chunks"] == 4
    # backend="auto" runs the chunks in the batch kernel, "numpy" as networks through simulate
    assert sc.attrs["engine"] == ("batch" if backend == "auto" else "simulate")
    for i, eta in enumerate(etas):
        for j, J in enumerate(Js):
            res = sr.simulate(QIF, t_end, dt=1e-3, method="euler", backend=backend,
                              params={"eta": eta, "J": J})
            w = _window(res, t_end, window)
            for path in ("r", "v"):
                x = res[path][w]
                for stat, ref in [("final", x[-1]), ("min", x.min()), ("max", x.max()),
                                  ("mean", x.mean())]:
                    np.testing.assert_allclose(sc[path, stat][i, j], ref, rtol=RTOL, atol=0)
                np.testing.assert_allclose(sc[path, "std"][i, j], x.std(), rtol=1e-9,
                                           atol=1e-15)


def test_a_sets_numbers_do_not_depend_on_its_chunk_or_position():
    """Equal parameter sets in different chunks and positions give identical bits."""
    etas = [-5.0, -4.0, -3.0, -2.0, -5.0, -4.5, -4.5, -5.0, -2.0, -3.5]
    sc = scan(QIF, {"eta": etas}, t_end=2.0, dt=1e-3, chunk_size=3, window=0.5,
              observables=["mean", "std", "final"], max_memory=4000, backend="numpy")
    for key in [("r", "mean"), ("r", "std"), ("v", "final")]:
        a = sc[key]
        for i, j in [(0, 4), (4, 7), (3, 8), (5, 6)]:      # (chunk, position) all differ
            assert a[i] == a[j], (key, i, j)

def test_scan_of_a_circuit_with_algebraic_and_expression_signals():
    """JRC: couplings inside the unit, an algebraic output recorded by the simulator, and an
    expression of states; each set equals its own simulation."""
    us = [150.0, 220.0]
    sc = scan("jansen_rit.JRC", {"u": us}, t_end=0.2, dt=1e-4, backend="numpy",
              observables={"pc/PRO/m_out": ["mean", "final"], "pc/RPO_e_pc/v": "max",
                           "v_pc": ["mean", "min"]},
              expressions={"v_pc": "pc__RPO_e_pc__v + RPO_i__v"})
    for k, u in enumerate(us):
        res = sr.simulate("jansen_rit.JRC", 0.2, dt=1e-4, method="euler", backend="numpy",
                          params={"u": u}, outputs=["pc/PRO/m_out", "pc/RPO_e_pc/v",
                                                    "pc/RPO_i/v"])
        w = _window(res, 0.2, 0.1)
        m = res["pc/PRO/m_out"][w]
        v = res["pc/RPO_e_pc/v"][w] + res["pc/RPO_i/v"][w]
        for key, ref in [(("pc/PRO/m_out", "mean"), m.mean()), (("pc/PRO/m_out", "final"), m[-1]),
                         (("pc/RPO_e_pc/v", "max"), res["pc/RPO_e_pc/v"][w].max()),
                         (("v_pc", "mean"), v.mean()), (("v_pc", "min"), v.min())]:
            np.testing.assert_allclose(sc[key][k], ref, rtol=RTOL, atol=0)


def test_chunk_sizes_agree():
    grid = {"eta": np.linspace(-6.0, -2.0, 7)}
    kw = dict(t_end=1.0, dt=1e-3, observables=["mean", "final"], backend="numpy")
    ref = scan(QIF, grid, **kw)
    for chunk_size in (1, 3):
        other = scan(QIF, grid, chunk_size=chunk_size, **kw)
        assert other.attrs["n_chunks"] == -(-7 // chunk_size)
        for key in [("r", "mean"), ("v", "final")]:
            np.testing.assert_allclose(other[key], ref[key], rtol=RTOL, atol=0)


def test_zip_pairs_values_and_equals_the_diagonal_of_the_product():
    etas, Js = [-6.0, -5.0, -4.0], [12.0, 15.0, 18.0]
    kw = dict(t_end=1.0, dt=1e-3, backend="numpy")
    prod = scan(QIF, {"eta": etas, "J": Js}, **kw)
    zipped = scan(QIF, {"eta": etas, "J": Js}, zip=True, **kw)
    assert prod.shape == (3, 3) and zipped.shape == (3,)
    assert zipped.dims == ("QIF/QIF_op/eta",)
    np.testing.assert_allclose(zipped["r"], np.diag(prod["r"]), rtol=RTOL, atol=0)
    assert np.array_equal(zipped.parameter_values("J"), Js)


def test_a_tuple_key_moves_parameters_together():
    pairs = np.array([[-6.0, 12.0], [-4.0, 18.0]])
    sc = scan(QIF, {("eta", "J"): pairs}, t_end=1.0, dt=1e-3, backend="numpy")
    zipped = scan(QIF, {"eta": pairs[:, 0], "J": pairs[:, 1]}, zip=True, t_end=1.0, dt=1e-3,
                  backend="numpy")
    np.testing.assert_allclose(sc["r"], zipped["r"], rtol=RTOL, atol=0)


def test_fixed_params_y0_and_shared_inputs_reach_every_set():
    I = np.full(1000, 0.5)       # noqa: E741 - the model's name for the input
    sc = scan(QIF, {"eta": [-5.0, -4.0]}, t_end=1.0, dt=1e-3, params={"J": 12.0},
              y0={"r": 0.2, "v": -1.0}, inputs={"I": I}, observables="final", backend="numpy")
    for k, eta in enumerate([-5.0, -4.0]):
        res = sr.simulate(QIF, 1.0, dt=1e-3, method="euler", backend="numpy",
                          params={"eta": eta, "J": 12.0}, y0={"r": 0.2, "v": -1.0},
                          inputs={"I": I})
        np.testing.assert_allclose(sc["r", "final"][k], res["r"][-1], rtol=RTOL, atol=0)


def test_a_network_model_is_scanned_as_a_whole():
    W = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    net = sr.network(QIF, 3, couplings=[sr.Coupling("r", "I", 2.0 * W)],
                     params={"J": [10.0, 12.0, 14.0]})
    etas = [-6.0, -4.5]
    sc = scan(net, {"eta": etas}, t_end=1.0, dt=1e-3, observables=["mean", "final"],
              backend="numpy")
    assert sc["r"].shape == (2, 3)
    for k, eta in enumerate(etas):
        res = sr.simulate(net, 1.0, dt=1e-3, method="euler", backend="numpy",
                          params={"eta": np.full(3, eta)})
        np.testing.assert_allclose(sc["r", "final"][k], res["r"][-1], rtol=RTOL, atol=0)
        np.testing.assert_allclose(sc["r"][k], res["r"][_window(res, 1.0, 0.1)].mean(axis=0),
                                   rtol=RTOL, atol=0)


def test_record_keeps_trajectories_equal_to_simulate():
    sc = scan(QIF, {"eta": [-6.0, -4.0]}, t_end=0.5, dt=1e-3, sampling=1e-2, record=["r"],
              observables={"v": "mean"}, backend="numpy")
    traj = sc.trajectory("r")
    assert traj.shape == (2, 51) and np.allclose(sc.t, np.arange(51) * 1e-2)
    res = sr.simulate(QIF, 0.5, dt=1e-3, method="euler", backend="numpy",
                      params={"eta": -4.0}, sampling=1e-2)
    np.testing.assert_allclose(traj[1], res["r"], rtol=RTOL, atol=0)
    assert sc.to_xarray()["trajectory:QIF/QIF_op/r"].dims == ("QIF/QIF_op/eta", "time")


def test_jansen_rit_dominant_frequency_is_alpha():
    """REFERENCES.md §1a: the alpha cycle at p = 220 is near 10.9 Hz (settled cycle)."""
    sc = scan("jansen_rit.JR6", {"p": [220.0]}, t_end=6.0, dt=1e-4, window=0.5, sampling=1e-3,
              observables={"v_pc": ["frequency", "power", "std"]})
    assert sc.attrs["engine"] == "batch"
    assert abs(sc["v_pc", "frequency"][0] - 10.9) <= 0.2
    assert sc["v_pc", "power"][0] > 0 and sc["v_pc", "std"][0] > 0.5


def test_welch_in_blocks_matches_scipy():
    rng = np.random.default_rng(1)
    t = np.arange(5000) * 1e-3
    x = np.sin(2 * np.pi * 7.3 * t)[:, None] * [1.0, 2.0] + 0.1 * rng.standard_normal((5000, 2))
    w = Welch(1024, 1000.0)
    for block in np.array_split(x, 7):
        w.add(block)
    f_ref, p_ref = scipy.signal.welch(x, 1000.0, nperseg=1024, axis=0)
    np.testing.assert_allclose(w.frequencies, f_ref)
    np.testing.assert_allclose(w.psd(), p_ref, rtol=1e-10)
    freq, power = dominant(w.frequencies, w.psd())
    assert np.all(np.abs(freq - 7.3) < 0.05)      # 7.3 Hz lies between bins 7 and 8 (df ~ 1 Hz)
    np.testing.assert_allclose(power, p_ref.max(axis=0), rtol=1e-10)


def test_a_constant_signal_has_frequency_zero():
    sc = scan(QIF, {"eta": [-5.0]}, t_end=1.0, dt=1e-3,
              observables={"Delta": ["frequency", "power", "mean"]}, backend="numpy")
    assert sc["Delta", "frequency"][0] == 0.0 and sc["Delta", "power"][0] == 0.0
    assert sc["Delta"][0] == 1.0


def test_results_export_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    sc = scan(QIF, {"eta": [-6.0, -5.0, -4.0], "J": [12.0, 15.0]}, t_end=0.5, dt=1e-3,
              observables={"r": ["mean", "max"], "v": "final"}, backend="numpy")
    ds = sc.to_xarray()
    assert ds["QIF/QIF_op/r"].dims == ("QIF/QIF_op/eta", "QIF/QIF_op/J", "observable")
    assert list(ds["observable"].values) == ["mean", "max", "final"]
    assert np.array_equal(ds["QIF/QIF_op/r"].sel(observable="max").values, sc["r", "max"])
    assert np.isnan(ds["QIF/QIF_op/v"].sel(observable="mean").values).all()
    df = sc.to_dataframe()
    assert df.shape == (6, 3) and df.index.names == ["QIF/QIF_op/eta", "QIF/QIF_op/J"]
    assert df.loc[(-5.0, 15.0), ("QIF/QIF_op/r", "max")] == sc["r", "max"][1, 1]
    assert sc.plot("r").collections                          # heat map
    line = scan(QIF, {"eta": [-6.0, -5.0]}, t_end=0.5, dt=1e-3, observables={"r": "max"},
                backend="numpy")
    ax = line.plot()
    assert len(ax.get_lines()) == 1 and ax.get_xlabel() == "QIF/QIF_op/eta"
    assert ("r", "max") in line and ("r", "std") not in line and "r" not in line
    assert "2 signals" in repr(sc)


def test_network_results_have_a_unit_axis():
    net = sr.network(QIF, 2, couplings=[sr.Coupling("r", "I", np.zeros((2, 2)))])
    sc = scan(net, {"eta": [-6.0, -5.0]}, t_end=0.2, dt=1e-3, observables={"r": "mean"},
              backend="numpy")
    assert sc.to_xarray()["QIF/QIF_op/r"].dims == ("QIF/QIF_op/eta", "observable", "unit")
    assert sc.to_dataframe().shape == (4, 1)
    assert len(sc.plot().get_lines()) == 2
