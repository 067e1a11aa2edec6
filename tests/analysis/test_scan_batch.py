"""The batch kernel of scans: each set equals its own simulation, for any thread count and
chunking, with the window's statistics accumulated in the kernel."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

import symrates as sr
from symrates.analysis.scans import scan, sweep
from symrates.analysis.scans.accumulate import dominant
from symrates.runtime.batch import BatchProgram, set_seeds, tile_size

QIF = "montbrio.QIF"
STATS = ["mean", "std", "min", "max", "final"]


def _window(res, t_end, window):
    return res.t >= t_end * (1 - window) - 1e-9


def _reference(x):
    return {"mean": x.mean(axis=0), "std": x.std(axis=0), "min": x.min(axis=0),
            "max": x.max(axis=0), "final": x[-1]}


def _check(sc, key, k, res, path, t_end, window, exact=True):
    x = res[path][_window(res, t_end, window)]
    for stat, ref in _reference(x).items():
        got = sc[key, stat][k]
        if exact and stat in ("min", "max", "final"):
            assert np.array_equal(got, ref), (key, stat)      # the same samples, bit for bit
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15, err_msg=f"{key} {stat}")


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_each_set_equals_its_own_simulation(method):
    etas, Js = np.linspace(-7.0, -1.0, 4), [10.0, 15.0]
    sc = scan(QIF, {"eta": etas, "J": Js}, t_end=2.0, dt=1e-3, window=0.3, method=method,
              observables=STATS, chunk_size=3)
    assert sc.attrs["engine"] == "batch" and sc.attrs["n_chunks"] == 3
    for i, eta in enumerate(etas):
        for j, J in enumerate(Js):
            res = sr.simulate(QIF, 2.0, dt=1e-3, method=method, params={"eta": eta, "J": J})
            for path in ("r", "v"):
                _check(sc, path, (i, j), res, path, 2.0, 0.3)


def test_noise_is_each_sets_own_stream_independent_of_chunking_and_threads():
    grid = {"eta": [-5.0, -5.0, -4.0, -4.5, -6.0]}
    kw = dict(t_end=1.0, dt=1e-3, window=0.5, noise={"v": 0.5}, seed=11, observables=STATS)
    for method in ("euler", "heun"):
        a = scan(QIF, grid, chunk_size=2, n_threads=1, method=method, **kw)
        b = scan(QIF, grid, chunk_size=5, n_threads=2, method=method, **kw)
        assert a.attrs["engine"] == "batch"
        for stat in STATS:
            assert np.array_equal(a["r", stat], b["r", stat]), stat
        assert a["r", "final"][0] != a["r", "final"][1]          # equal parameters, own noise
        seeds = set_seeds(11, [(i,) for i in range(5)])
        for i, eta in enumerate(grid["eta"]):
            res = sr.simulate(QIF, 1.0, dt=1e-3, method=method, params={"eta": eta},
                              noise={"v": 0.5}, seed=int(seeds[i]))
            _check(a, "r", i, res, "r", 1.0, 0.5)


def test_one_and_two_threads_and_tile_sizes_give_identical_bits(monkeypatch):
    grid = {"eta": np.linspace(-10.0, 0.0, 203)}
    kw = dict(t_end=1.0, dt=1e-3, observables=STATS + ["frequency"], window=0.5,
              params={"J": 15.0})
    one = scan(QIF, grid, n_threads=1, **kw)
    two = scan(QIF, grid, n_threads=2, **kw)
    import symrates.runtime.batch as batch

    monkeypatch.setattr(batch, "TILE_BYTES", 256)           # tiles of a copy or two
    assert tile_size(200, 203, 2) == 1
    small = scan(QIF, grid, n_threads=2, **kw)
    for key in one._obs:
        assert np.array_equal(one._obs[key], two._obs[key]), key
        assert np.array_equal(one._obs[key], small._obs[key]), key


def test_observables_match_numpy_on_the_recorded_trajectory():
    """Jansen–Rit (a spectral signal written as an expression of states, with a sampling
    stride): the kernel's statistics and Welch spectrum against numpy and scipy on the
    trajectory simulate records."""
    t_end, window, sampling = 2.0, 0.5, 1e-3
    sc = scan("jansen_rit.JR6", {"p": [150.0, 220.0]}, t_end=t_end, dt=1e-4, window=window,
              sampling=sampling, observables={"eeg": STATS + ["frequency", "power"]},
              expressions={"eeg": "y1 - y2"}, nperseg=256)
    assert sc.attrs["engine"] == "batch"
    for k, p in enumerate([150.0, 220.0]):
        res = sr.simulate("jansen_rit.JR6", t_end, dt=1e-4, method="euler", params={"p": p},
                          sampling=sampling)
        x = (res["y1"] - res["y2"])[_window(res, t_end, window)]
        for stat, ref in _reference(x).items():
            np.testing.assert_allclose(sc["eeg", stat][k], ref, rtol=1e-12, atol=1e-15)
        f, pxx = scipy.signal.welch(x, 1.0 / sampling, nperseg=256)
        freq, power = dominant(f, pxx)
        np.testing.assert_allclose(sc["eeg", "frequency"][k], freq, rtol=1e-9)
        np.testing.assert_allclose(sc["eeg", "power"][k], power, rtol=1e-9)


def test_circuits_networks_inputs_and_constant_parts_of_inputs():
    """JRC: couplings between groups of a unit and an output that reads the constant part of
    an input; a 3-node network with a coupling matrix; a shared input series."""
    sc = scan("jansen_rit.JRC", {"u": [150.0, 220.0]}, t_end=0.2, dt=1e-4,
              observables={"pc/PRO/m_out": STATS, "pc/RPO_e_pc/v": STATS})
    assert sc.attrs["engine"] == "batch"
    for k, u in enumerate([150.0, 220.0]):
        res = sr.simulate("jansen_rit.JRC", 0.2, dt=1e-4, method="euler", params={"u": u},
                          outputs=["pc/PRO/m_out", "pc/RPO_e_pc/v"])
        # a single circuit's simulate runs the loop of one copy, which calls libm's exp where
        # the batch kernel calls _sr_exp (both within ~1 ulp): equal to rtol 1e-12, not bit
        # for bit (models without exp, as the QIF network below, are)
        _check(sc, "pc/PRO/m_out", k, res, "pc/PRO/m_out", 0.2, 0.1, exact=False)
        _check(sc, "pc/RPO_e_pc/v", k, res, "pc/RPO_e_pc/v", 0.2, 0.1, exact=False)

    W = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    net = sr.network(QIF, 3, couplings=[sr.Coupling("r", "I", 2.0 * W)],
                     params={"J": [10.0, 12.0, 14.0]})
    I = np.linspace(0.0, 1.0, 1000)[:, None] * [1.0, 0.0, -1.0]    # noqa: E741
    sc = scan(net, {"eta": [-6.0, -4.5]}, t_end=1.0, dt=1e-3, observables=STATS,
              inputs={"I": I})
    assert sc.attrs["engine"] == "batch" and sc["r"].shape == (2, 3)
    for k, eta in enumerate([-6.0, -4.5]):
        res = sr.simulate(net, 1.0, dt=1e-3, method="euler", params={"eta": np.full(3, eta)},
                          inputs={"I": I})
        _check(sc, "r", k, res, "r", 1.0, 0.1)
        _check(sc, "v", k, res, "v", 1.0, 0.1)


def test_other_runs_take_the_simulate_path():
    kw = dict(t_end=0.2, dt=1e-3, observables="mean")
    assert scan(QIF, {"eta": [-5.0]}, backend="numpy", **kw).attrs["engine"] == "simulate"
    assert scan(QIF, {"eta": [-5.0]}, record=["r"], **kw).attrs["engine"] == "simulate"
    assert scan(QIF, {"eta": [-5.0]}, method="rk45", **kw).attrs["engine"] == "simulate"
    batch = scan(QIF, {"eta": [-5.0, -4.0]}, **kw)
    other = scan(QIF, {"eta": [-5.0, -4.0]}, backend="numpy", **kw)
    np.testing.assert_allclose(batch["r"], other["r"], rtol=1e-12, atol=0)


def test_a_diverging_set_is_named_in_the_batch_kernel():
    from symrates.analysis.scans import ScanError

    with pytest.raises(ScanError, match=r"Diverged: QIF/QIF_op/eta = \[1e\+06\]") as info:
        scan(QIF, {"eta": [-5.0, -4.0, 1e6, -3.0]}, chunk_size=2, t_end=0.5, dt=1e-3)
    assert info.value.result.attrs["engine"] == "batch"
    assert info.value.result.failed.tolist() == [False, False, True, True]
    assert "became non-finite" in str(info.value)


def test_sweep_in_the_batch_kernel_equals_the_simulate_path():
    values = np.linspace(-6.5, -2.5, 9)
    kw = dict(t_end=5.0, dt=1e-2, params={"J": 15.0}, observables={"r": ["mean", "final"]})
    fast = sweep(QIF, "eta", values, **kw)
    slow = sweep(QIF, "eta", values, backend="numpy", **kw)
    assert fast.attrs["engine"] == "batch"
    for key in [("r", "mean"), ("r", "final")]:
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-12, atol=0)
    np.testing.assert_allclose(fast.final, slow.final, rtol=1e-12, atol=0)


def test_the_module_does_not_depend_on_the_statistics_asked_for():
    unit = sr.build(QIF)
    from symrates.analysis.scans.batched import program
    from symrates.analysis.scans.spec import parse_signals

    a = program(unit, parse_signals(unit, {"r": "mean"}, None), frozenset())
    b = program(unit, parse_signals(unit, {"v": ["frequency", "max"]}, None), frozenset())
    assert a is b and isinstance(a, BatchProgram)


def test_memory_and_method_errors_of_the_batch_path():
    from symrates.errors import ModelDefinitionError

    kw = dict(t_end=1.0, dt=1e-3, window=0.5, observables={"r": "frequency"})
    with pytest.raises(ModelDefinitionError, match=r"One parameter set of the scan of 'QIF' "
                       r"needs 4\.\d KiB of working memory \(the window's 501 samples"):
        scan(QIF, {"eta": [-5.0, -4.0]}, max_memory=2000, **kw)
    with pytest.raises(ModelDefinitionError, match=r"chunk_size=2 needs at least 8\.\d KiB of "
                       r"working memory per chunk, more than max_memory=4\.9 KiB"):
        scan(QIF, {"eta": [-5.0, -4.0]}, max_memory=5000, chunk_size=2, **kw)
    with pytest.raises(ValueError, match="n_threads must be None .* or a positive integer, "
                                         "got 0"):
        scan(QIF, {"eta": [-5.0]}, t_end=0.1, dt=1e-3, n_threads=0)
    with pytest.raises(ModelDefinitionError, match="noise= needs the 'euler' or 'heun' method"):
        scan(QIF, {"eta": [-5.0]}, t_end=0.1, dt=1e-3, method="rk4", noise={"v": 0.1})


def test_a_new_process_finds_the_stored_source(monkeypatch):
    """A program's source is kept in the cache directory: made again (as in a new process),
    it is read, not rendered."""
    from symrates.analysis.scans import batched
    from symrates.analysis.scans.spec import parse_signals

    unit = sr.build(QIF)
    signals = parse_signals(unit, {"r": "mean"}, None)
    first = batched.program(unit, signals, frozenset())
    monkeypatch.setattr(batched, "_PROGRAMS", type(batched._PROGRAMS)())
    monkeypatch.setattr("symrates.runtime.batch.render_batch",
                        lambda *a, **k: pytest.fail("the source was rendered again"))
    again = batched.program(sr.build(QIF), signals, frozenset())
    assert again is not first and again.source == first.source
