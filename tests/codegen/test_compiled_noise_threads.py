"""The compiled engine with noise and threads.

Noise: the kernel draws the numbers of :mod:`symrates.runtime.rng` (SplitMix64 + Box–Muller) for
``(seed, step, state index)``, so compiled and numpy runs with the same seed agree like
deterministic runs do (to ~1e-14 of each variable's scale; libm's ``log``/``cos`` may differ from
numpy's in the last bit). Threads: every thread owns a block of units of each group and nothing
is reduced across threads, so 1 and 2 threads give bit-identical results.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symrates as sr
from symrates.runtime import compiled as compiled_mod
from symrates.runtime.compiled import CompiledProblem, kernel_module, thread_plan, threads_for
from symrates.runtime.problem_numpy import ProblemSetup
from symrates.runtime.rng import normals
from tests.codegen.test_compiled import _jrc_network, assert_agree
from tests.scenarios import LEAKY

ROOT = Path(__file__).resolve().parents[2]
OU = sr.OperatorTemplate("ou", ["x' = -theta * x"], {"x": "output(0.0)", "theta": 1.0})


def b1_network(n, p=0.1, steps=1000, seed=42):
    """BENCHMARKS.md B1: N JRC circuits, PC -> PC, rows normalised, noisy input u."""
    rng = np.random.default_rng(seed)
    C = rng.uniform(size=(n, n))
    C[C > p] = 0.0
    np.fill_diagonal(C, 0.0)
    s = C.sum(axis=1)
    C[s > 0] /= s[s > 0, None]
    u = 220 + 22 * rng.standard_normal((steps, n))
    net = sr.network("jansen_rit.JRC", n,
                     couplings=[sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", C)])
    return sr.build(net), u


def test_kernel_normals_are_the_numpy_stream():
    module = kernel_module(sr.build(LEAKY))
    for seed in (0, 1, 12345, 2**63 + 5):
        for step in (0, 1, 999, 10**9):
            index = np.arange(0, 200, 7)
            ref = normals(seed, step, index, 200)
            got = np.array([module.normal(seed, step, int(i), 200) for i in index])
            np.testing.assert_allclose(got, ref, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_noisy_network_matches_numpy(method):
    # per-unit sigma arrays, on two states of different groups; a time-series input as well
    n, n_steps = 20, 1500
    rng = np.random.default_rng(4)
    u = 220.0 + 22.0 * rng.standard_normal((n_steps, n))
    noise = {"pc/RPO_e_pc/v": rng.uniform(0.0, 2e-3, n), "ein/RPO_e/v": 1e-3}
    options = dict(dt=1e-4, method=method, inputs={"u": u}, sampling=5e-4, noise=noise,
                   seed=11, outputs=["pc/RPO_e_pc/v", "ein/RPO_e/v", "iin/RPO_e/v"])
    net = sr.build(_jrc_network(n))
    compiled = sr.simulate(net, 0.15, backend="cython", **options)
    reference = sr.simulate(net, 0.15, backend="numpy", **options)
    assert_agree(compiled, reference)
    # the noise matters: another seed gives another trajectory
    other = sr.simulate(net, 0.15, backend="cython", **{**options, "seed": 12})
    assert not np.allclose(other["pc/RPO_e_pc/v"], compiled["pc/RPO_e_pc/v"], rtol=1e-6)


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_ornstein_uhlenbeck_stationary_variance_compiled(method):
    n, sigma, theta = 400, 0.5, 1.0
    net = sr.build(sr.network(OU, n))
    res = sr.simulate(net, 20.0, dt=0.01, method=method, backend="cython",
                      noise={"ou/x": np.full(n, sigma)}, seed=7, sampling=0.5)
    var = res["ou/x"][10:].var()
    # sigma^2/(2 theta) = 0.125; 400 x 30 weakly correlated samples
    assert abs(var - sigma**2 / (2 * theta)) < 0.012, var


def test_noise_needs_euler_or_heun_and_a_valid_seed():
    with pytest.raises(sr.ModelDefinitionError, match=r"noise= needs the 'euler' or 'heun'"):
        sr.simulate(LEAKY, 1.0, dt=0.01, method="rk4", backend="cython", noise={"r": 0.1})
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0"):
        sr.simulate(LEAKY, 1.0, dt=0.01, method="euler", backend="cython", noise={"r": 0.1},
                    seed=-1)


def test_small_systems_stay_serial():
    system = sr.build(_jrc_network(10))
    problem = CompiledProblem(ProblemSetup(system), kernel_module(system))
    assert problem.work < compiled_mod.PARALLEL_MIN_WORK
    assert threads_for(problem, 2) == 1


def test_thread_plan_covers_every_state_once():
    system, u = b1_network(37, steps=10)
    problem = CompiledProblem(ProblemSetup(system, inputs={"u": u}), kernel_module(system),
                              n_steps=10)
    record = np.arange(0, system.n_states, 3)
    for nt in (1, 2, 3, 5):
        seg, seg_off, rec_idx, rec_pos, rec_off, in_col, in_dst, in_off, failed = thread_plan(
            problem, record, nt)
        covered = np.concatenate([np.arange(a, b) for a, b in seg.reshape(-1, 2)])
        np.testing.assert_array_equal(np.sort(covered), np.arange(system.n_states))
        assert seg_off[-1] == len(seg) // 2 and rec_off[-1] == record.size
        np.testing.assert_array_equal(rec_idx[np.argsort(rec_pos)], record)
        assert in_off[-1] == 37 and sorted(in_dst[:37]) == sorted(
            problem._arrays["input_dst"][:37])
        assert failed.shape == (2 * nt,)


@pytest.fixture(scope="module")
def parallel():
    system, u = b1_network(1000, steps=1000)
    problem = CompiledProblem(ProblemSetup(system), kernel_module(system))
    if not problem.module.OPENMP:
        pytest.skip("kernels are built without OpenMP here")
    assert threads_for(problem, 2) == 2
    return system, u


def test_default_thread_count_comes_from_the_config(parallel, monkeypatch):
    system, _ = parallel
    problem = CompiledProblem(ProblemSetup(system), kernel_module(system))
    monkeypatch.setenv("SYMRATES_NUM_THREADS", "1")
    assert threads_for(problem, None) == 1
    assert threads_for(problem, 2) == 2
    monkeypatch.setenv("SYMRATES_NUM_THREADS", "2")
    assert threads_for(problem, None) == 2


@pytest.mark.parametrize(("method", "noise"), [("euler", False), ("heun", True), ("rk4", False)])
def test_b1_network_is_bit_identical_for_1_and_2_threads(parallel, method, noise):
    system, u = parallel
    options = dict(dt=1e-4, method=method, backend="cython", inputs={"u": u},
                   y0=np.zeros(system.n_states), sampling=1e-3,
                   outputs=["pc/RPO_e_pc/v", "pc/RPO_i/v", "ein/RPO_e/v"])
    if noise:
        options.update(noise={"pc/RPO_e_pc/v": 1e-4, "iin/RPO_e/v": np.full(1000, 1e-4)},
                       seed=3)
    runs = [sr.simulate(system, 0.1, n_threads=nt, **options) for nt in (1, 2, 3)]
    for other in runs[1:]:
        for path in runs[0].paths:
            np.testing.assert_array_equal(other[path], runs[0][path], err_msg=path)
        for path, value in runs[0].final_state.items():
            np.testing.assert_array_equal(other.final_state[path], value, err_msg=path)
    assert np.ptp(runs[0]["pc/RPO_e_pc/v"]) > 1e-3


@pytest.mark.parametrize("coupled", [False, True])
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_divergence_is_reported_alike_with_threads(coupled, method):
    # x' = a x^2 blows up at t = 1/a: a = 2 for one unit in the second thread's half only, so
    # one thread sees it first and both must stop after the same step with the same state (the
    # flag is read after the next step's first barrier; without couplings a stage has none)
    n = compiled_mod.PARALLEL_MIN_WORK // 3 + 200
    op = sr.OperatorTemplate("blowup", ["x' = a * x**2 + r_in"],
                             {"x": "output(1.0)", "a": 0.3, "r_in": "input(0.0)"})
    a = np.full(n, 0.3)
    a[3 * n // 4] = 2.0
    couplings = []
    if coupled:     # a ring with tiny weights
        W = np.roll(np.eye(n), 1, axis=1) * 1e-9
        couplings = [sr.Coupling("blowup/x", "blowup/r_in", W)]
    system = sr.build(sr.network(op, n, couplings=couplings, params={"blowup/a": a}))
    problem = CompiledProblem(ProblemSetup(system), kernel_module(system))
    if not problem.module.OPENMP:
        pytest.skip("kernels are built without OpenMP here")
    assert threads_for(problem, 2) == 2
    errors = []
    for nt in (1, 2):
        with pytest.raises(sr.IntegrationError, match=r"diverged") as info:
            sr.simulate(system, 2.0, dt=0.01, method=method, backend="cython", n_threads=nt,
                        outputs=["blowup/x"])
        errors.append(info.value)
    assert str(errors[0]) == str(errors[1]) and errors[0].t == errors[1].t
    np.testing.assert_array_equal(errors[0].state, errors[1].state)
    assert 0.45 < errors[0].t < 0.8 and not np.isfinite(errors[0].state[3 * n // 4])


def test_threaded_noisy_run_matches_numpy(parallel):
    system, u = parallel
    options = dict(dt=1e-4, method="heun", inputs={"u": u[:200]}, sampling=5e-4,
                   y0=np.zeros(system.n_states), noise={"pc/RPO_e_pc/v": 1e-4}, seed=5,
                   outputs=["pc/RPO_e_pc/v", "pc/RPO_i/v"])
    threaded = sr.simulate(system, 0.02, backend="cython", n_threads=2, **options)
    assert_agree(threaded, sr.simulate(system, 0.02, backend="numpy", **options))


def test_fewer_openmp_threads_than_asked_for_runs_serially(parallel, tmp_path):
    # OMP_THREAD_LIMIT=1: the parallel region gets one thread, so the kernel does nothing and
    # the run is repeated serially, with the same result
    script = tmp_path / "limited.py"
    out = tmp_path / "v.npy"
    script.write_text(
        "import logging, numpy as np, symrates as sr\n"
        "from tests.codegen.test_compiled_noise_threads import b1_network\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "system, u = b1_network(1000, steps=100)\n"
        "res = sr.simulate(system, 0.01, dt=1e-4, method='euler', backend='cython',\n"
        "                  inputs={'u': u}, n_threads=2, outputs=['pc/RPO_e_pc/v'])\n"
        f"np.save({str(out)!r}, res['pc/RPO_e_pc/v'])\n")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(script)], env=env, check=True, cwd=ROOT,
                          timeout=600, capture_output=True, text=True)
    assert "OpenMP did not provide 2 threads; running serially" in proc.stderr
    system, u = parallel
    ref = sr.simulate(system, 0.01, dt=1e-4, method="euler", backend="cython", inputs={"u": u},
                      n_threads=1, outputs=["pc/RPO_e_pc/v"])
    np.testing.assert_array_equal(np.load(out), ref["pc/RPO_e_pc/v"])


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_dense_network_is_bit_identical_for_1_and_2_threads(precision):
    n = 600
    rng = np.random.default_rng(9)
    W = rng.uniform(size=(n, n))
    np.fill_diagonal(W, 0.0)
    W /= W.sum(axis=1, keepdims=True)
    system = sr.build(sr.network("jansen_rit.JRC", n, couplings=[
        sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", W)]))
    problem = CompiledProblem(ProblemSetup(system), kernel_module(system))
    assert problem.dense_couplings
    if threads_for(problem, 2) != 2:
        pytest.skip("kernels are built without OpenMP here")
    options = dict(dt=1e-4, method="heun", backend="cython", sampling=1e-3,
                   inputs={"u": 220.0 + 22.0 * rng.standard_normal((300, n))},
                   y0=np.zeros(system.n_states), outputs=["pc/RPO_e_pc/v"], precision=precision)
    one, two = (sr.simulate(system, 0.03, n_threads=nt, **options) for nt in (1, 2))
    np.testing.assert_array_equal(one["pc/RPO_e_pc/v"], two["pc/RPO_e_pc/v"])


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_a_compiled_run_with_a_progress_bar_gives_the_same_bits(method, capsys):
    # the bar runs the kernel in 100 pieces that continue each other: inputs, noise numbers,
    # delay histories and recorded rows are indexed by the step of the whole run
    n, steps = 40, 1234                      # not a multiple of 100 pieces
    system, u = b1_network(n, steps=steps)
    D = np.where(system.couplings[-1].weights.toarray() > 0, 2.3e-3, 0.0)
    delayed = sr.build(sr.network("jansen_rit.JRC", n, couplings=[sr.Coupling(
        "pc/PRO/m_out", "pc/RPO_e_pc/m_in", system.couplings[-1].weights, delays=D)]))
    noise = {"pc/RPO_e_pc/v": 1e-4} if method != "rk4" else None
    for model in (system, delayed):
        options = dict(dt=1e-4, method=method, backend="cython", inputs={"u": u}, noise=noise,
                       seed=4, y0=np.zeros(model.n_states), sampling=3e-4,
                       outputs=["pc/RPO_e_pc/v", "pc/RPO_i/v"])
        plain = sr.simulate(model, steps * 1e-4, **options)
        shown = sr.simulate(model, steps * 1e-4, progress=True, **options)
        for path in plain.paths:
            np.testing.assert_array_equal(shown[path], plain[path], err_msg=path)
        for path, value in plain.final_state.items():
            np.testing.assert_array_equal(shown.final_state[path], value)
    assert f"integrate ({method})" in capsys.readouterr().err


def test_a_run_in_pieces_reports_a_divergence_in_a_later_piece_alike():
    op = sr.OperatorTemplate("blowup", ["x' = x**2"], {"x": "output(1.0)"})
    errors = []
    for progress in (False, True):
        with pytest.raises(sr.IntegrationError, match=r"diverged") as info:
            sr.simulate(op, 2.0, dt=0.001, method="rk4", backend="cython", progress=progress)
        errors.append(info.value)
    assert str(errors[0]) == str(errors[1]) and errors[0].t > 0.5      # piece 50 or later


def test_pieces_with_two_threads_give_the_bits_of_one_serial_run(parallel):
    system, u = parallel
    options = dict(dt=1e-4, method="heun", backend="cython", inputs={"u": u[:250]},
                   noise={"pc/RPO_e_pc/v": 1e-4}, seed=8, y0=np.zeros(system.n_states),
                   sampling=5e-4, outputs=["pc/RPO_e_pc/v"])
    serial = sr.simulate(system, 0.025, n_threads=1, **options)
    pieces = sr.simulate(system, 0.025, n_threads=2, progress=True, **options)
    np.testing.assert_array_equal(pieces["pc/RPO_e_pc/v"], serial["pc/RPO_e_pc/v"])
