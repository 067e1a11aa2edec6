"""Scans on executors (process pools, a Dask cluster), retries, failures, noise and progress."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from symrates.analysis.scans import ScanError, scan
from symrates.analysis.scans.execute import _NoBar, progress_bar
from symrates.errors import ModelDefinitionError

QIF = "montbrio.QIF"
GRID = {"eta": np.linspace(-7.0, -1.0, 9), "J": [10.0, 15.0]}
KW = dict(t_end=1.0, dt=1e-3, window=0.5, observables=["mean", "max", "frequency"])


def uniform_drive(rng, n):
    """A per-set random input (module level, so process pools can pickle it)."""
    return rng.uniform(120.0, 320.0, n)


def _same(a, b) -> None:
    assert a._obs.keys() == b._obs.keys()
    for key in a._obs:
        assert np.array_equal(a._obs[key], b._obs[key], equal_nan=True), key


def test_process_pool_gives_identical_numbers():
    local = scan(QIF, GRID, chunk_size=5, **KW)
    with ProcessPoolExecutor(2) as pool:
        remote = scan(QIF, GRID, executor=pool, chunk_size=5, **KW)
        default = scan(QIF, GRID, executor=pool, **KW)       # chunks sized for the workers
    assert remote.attrs["n_chunks"] == 4 and default.attrs["n_chunks"] == 4
    _same(local, remote)
    _same(local, default)


def test_dask_local_cluster_gives_identical_numbers():
    distributed = pytest.importorskip("distributed", reason="the 'dask' extra is not installed")
    jr = {"C": [68.0, 135.0, 270.0]}
    jr_kw = dict(t_end=0.5, dt=1e-4, sampling=1e-3, random_inputs={"p": uniform_drive},
                 observables={"v_pc": ["mean", "std", "frequency"]}, seed=7, chunk_size=1)
    local = scan(QIF, GRID, chunk_size=5, **KW)
    local_jr = scan("jansen_rit.JR6", jr, **jr_kw)
    # the QIF scan runs in the batch kernel, the JR6 scan (random_inputs) through simulate
    assert local.attrs["engine"] == "batch" and local_jr.attrs["engine"] == "simulate"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = scan(QIF, GRID, executor=client, chunk_size=5, **KW)
        remote_jr = scan("jansen_rit.JR6", jr, executor=client, **jr_kw)
    _same(local, remote)
    _same(local_jr, remote_jr)


class Flaky(ThreadPoolExecutor):
    """Fails the first ``times`` submissions of chunk 1 as a lost worker would."""

    def __init__(self, times: int) -> None:
        super().__init__(2)
        self.times, self.calls = times, Counter()

    def submit(self, fn, *args, **kwargs):
        key = args[1]
        self.calls[key] += 1
        if key == (1,) and self.calls[key] <= self.times:
            fut = Future()
            fut.set_exception(OSError("worker lost"))
            return fut
        return super().submit(fn, *args, **kwargs)


def test_a_failed_chunk_is_retried_once(caplog):
    local = scan(QIF, GRID, chunk_size=5, **KW)
    with Flaky(times=1) as pool, caplog.at_level("WARNING"):
        res = scan(QIF, GRID, executor=pool, chunk_size=5, **KW)
    assert pool.calls[(1,)] == 2 and "chunk 1 of the scan failed (OSError: worker lost)" in \
        caplog.text
    _same(local, res)


def test_a_chunk_failing_twice_is_reported_and_the_rest_kept():
    with Flaky(times=2) as pool, pytest.raises(ScanError) as info:
        scan(QIF, GRID, executor=pool, chunk_size=5, **KW)
    msg = str(info.value)
    assert "1 of 4 chunks of the scan of 'QIF' failed (each was retried once)" in msg
    assert "chunk 1 (5 sets: QIF/QIF_op/eta = [-5.5, -4.75, -4.75, -4, -4]; QIF/QIF_op/J = " \
           "[15, 10, 15, 10, 15]): OSError: worker lost" in msg
    res = info.value.result
    assert res.failed.sum() == 5 and np.isnan(res["r"][res.failed]).all()
    assert np.isfinite(res["r"][~res.failed]).all()
    assert info.value.failures[0].sets.tolist() == [5, 6, 7, 8, 9]


def test_a_diverging_set_is_named():
    with pytest.raises(ScanError, match=r"Diverged: QIF/QIF_op/eta = \[1e\+06\]") as info:
        scan(QIF, {"eta": [-5.0, -4.0, 1e6, -3.0]}, chunk_size=2, t_end=0.5, dt=1e-3,
             backend="numpy")
    res = info.value.result
    assert res.failed.tolist() == [False, False, True, True]
    assert info.value.failures[0].diverged == {"QIF/QIF_op/eta": [1e6]}
    assert "IntegrationError" in str(info.value)


def test_set_up_errors_are_raised_at_once_not_retried():
    message = (r"random_inputs\['JR6/JR6_op/p'\] must return 90 finite values \(shape \(90,\)\) "
               r"when called as f\(rng, 90\); got shape \(91,\)")
    with ThreadPoolExecutor(2) as pool, pytest.raises(ModelDefinitionError, match=message):
        scan("jansen_rit.JR6", {"C": [135.0]}, t_end=0.01, dt=1e-4, executor=pool,
             random_inputs={"p": lambda rng, n: rng.uniform(size=n + 1)})


def test_functions_for_process_pools_must_pickle():
    with ProcessPoolExecutor(1) as pool, pytest.raises(
            ModelDefinitionError, match="must be picklable \\(defined at module level"):
        scan("jansen_rit.JR6", {"C": [135.0]}, t_end=0.01, dt=1e-4, executor=pool,
             random_inputs={"p": lambda rng, n: rng.uniform(120, 320, n)})


def test_executor_must_submit():
    with pytest.raises(ModelDefinitionError, match="executor must be a concurrent.futures"):
        scan(QIF, {"eta": [-5.0]}, t_end=0.01, dt=1e-3, executor=object())


# -- noise --------------------------------------------------------------------------------------


def test_random_inputs_are_per_set_streams_independent_of_chunking():
    kw = dict(t_end=0.3, dt=1e-4, random_inputs={"p": uniform_drive}, seed=3,
              observables={"y1": ["mean", "final"]})
    a = scan("jansen_rit.JR6", {"C": [100.0, 135.0, 135.0, 200.0]}, chunk_size=1, **kw)
    b = scan("jansen_rit.JR6", {"C": [100.0, 135.0, 135.0, 200.0]}, chunk_size=3, **kw)
    np.testing.assert_allclose(a["y1", "final"], b["y1", "final"], rtol=1e-12, atol=0)
    # sets 1 and 2 have equal parameters but their own drives
    assert a["y1", "final"][1] != a["y1", "final"][2]
    c = scan("jansen_rit.JR6", {"C": [100.0, 135.0, 135.0, 200.0]}, chunk_size=1,
             **{**kw, "seed": 4})
    assert not np.any(c["y1", "final"] == a["y1", "final"])


def test_state_noise_is_reproducible_for_a_seed_and_chunk_size():
    """noise= is drawn for all copies of a chunk together: the numbers depend on seed and
    chunk_size (documented), not on the executor."""
    kw = dict(t_end=0.5, dt=1e-3, noise={"v": 0.5}, seed=11, observables={"r": "final"},
              backend="numpy")
    grid = {"eta": [-5.0, -5.0, -4.0, -4.0]}
    a = scan(QIF, grid, chunk_size=2, **kw)
    with ProcessPoolExecutor(2) as pool:
        b = scan(QIF, grid, chunk_size=2, executor=pool, **kw)
    _same(a, b)
    assert a["r", "final"][0] != a["r", "final"][1]          # each set its own noise
    c = scan(QIF, grid, chunk_size=4, **kw)
    assert not np.allclose(a["r", "final"], c["r", "final"])  # another chunking, other draws


# -- progress -----------------------------------------------------------------------------------


def test_progress_bar_is_silent_unless_asked_or_on_a_terminal(capsys):
    assert isinstance(progress_bar(False, 10, "scan"), _NoBar)
    assert isinstance(progress_bar(None, 10, "scan"), _NoBar)      # pytest: not a terminal
    from tqdm import tqdm

    bar = progress_bar(True, 10, "scan")
    assert isinstance(bar, tqdm) and bar.delay == 2.0
    bar.close()
    with pytest.raises(ModelDefinitionError, match="progress must be True, False or None"):
        progress_bar("yes", 10, "scan")
    scan(QIF, {"eta": [-5.0]}, t_end=0.01, dt=1e-3, progress=False)
    assert capsys.readouterr().err == ""
