"""The compiled engine with multiplicative noise: the numbers of the numpy reference, the same
for any thread count, expressions as structure and parameter values as data."""

import numpy as np
import pytest

import symrates as sr
from symrates.compile.cache import STATS
from symrates.errors import ModelDefinitionError
from symrates.runtime.compiled import (
    CompiledProblem,
    integrate_compiled,
    kernel_module,
    kernel_source,
    threads_for,
)
from symrates.runtime.noise import resolve_noise
from symrates.runtime.problem_numpy import ProblemSetup
from tests.codegen.test_compiled import _jrc_network, assert_agree
from tests.codegen.test_compiled_noise_threads import b1_network

#: per-unit parameters (PRO/s in pc, RPO_e/H in ein and iin), a driven input (u), t, an
#: algebraic variable (m_out), expressions on one node of a two-node group (iin), and an
#: additive array beside them
NOISE = {
    "pc/RPO_e_pc/v": "1e-4 * u / 220 * (1 + 0.5 * sin(100 * t)) * (s / 560) * (1 + 50 * v)",
    "pc/RPO_i/x": "2e-3 * sqrt(x**2 + 1e-6)",
    "iin/RPO_e/v": "H * 0.2 * m_out",
    "ein/RPO_e/v": np.linspace(0.0, 2e-4, 20),
}


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_network_with_per_unit_parameters_in_sigma_matches_numpy(method):
    n, n_steps = 20, 1500
    rng = np.random.default_rng(3)
    u = 220.0 + 22.0 * rng.standard_normal((n_steps, n))
    options = dict(dt=1e-4, method=method, inputs={"u": u}, sampling=5e-4, noise=NOISE, seed=13,
                   params={"pc/PRO/s": rng.uniform(540.0, 580.0, n)},
                   outputs=["pc/RPO_e_pc/v", "pc/RPO_i/x", "ein/RPO_e/v", "iin/RPO_e/v"])
    net = sr.build(_jrc_network(n))
    compiled = sr.simulate(net, 0.15, backend="cython", **options)
    reference = sr.simulate(net, 0.15, backend="numpy", **options)
    assert_agree(compiled, reference)
    # the noise acts: without it the run is another one
    quiet = sr.simulate(net, 0.15, backend="cython", **{**options, "noise": None})
    for path in ("pc/RPO_e_pc/v", "iin/RPO_e/v"):
        assert not np.allclose(quiet[path], compiled[path], rtol=1e-6), path


def test_parameter_values_reuse_the_module_and_expressions_are_structure():
    n = 20
    net = sr.build(_jrc_network(n))
    options = dict(dt=1e-4, method="heun", backend="cython", noise={"iin/RPO_e/v": "H * v"},
                   seed=2, outputs=["iin/RPO_e/v"])
    first = sr.simulate(net, 0.02, **options)                # compiled or cached
    before = STATS.snapshot()
    other = sr.simulate(net, 0.02, params={"ein/RPO_e/H": np.full(n, 0.01)}, **options)
    assert STATS.snapshot()["compiled"] == before["compiled"]
    assert not np.allclose(other["iin/RPO_e/v"], first["iin/RPO_e/v"])   # the value was used
    sources = {kernel_source(net, noise=resolve_noise(net, noise)) for noise in (
        {"iin/RPO_e/v": "H * v"}, {"iin/RPO_e/v": "H * v"}, {"iin/RPO_e/v": "2 * H * v"},
        {"ein/RPO_e/v": "H * v"})}
    assert len(sources) == 3
    assert all("_sr_noise_1" in s and "MULTIPLICATIVE_NOISE = True" in s for s in sources)


def test_additive_noise_keeps_the_plain_kernel_and_its_numbers():
    net = sr.build(_jrc_network(10))
    additive = resolve_noise(net, {"pc/RPO_e_pc/v": 1e-3, "iin/RPO_e/v": "2e-3"})
    assert not additive.multiplicative
    plain = kernel_source(net)
    assert kernel_source(net, noise=additive) == plain and "_sr_noise" not in plain
    options = dict(dt=1e-4, method="heun", backend="cython", seed=4, outputs=["pc/RPO_e_pc/v"])
    a = sr.simulate(net, 0.02, noise={"pc/RPO_e_pc/v": 1e-3, "iin/RPO_e/v": 2e-3}, **options)
    b = sr.simulate(net, 0.02, noise={"pc/RPO_e_pc/v": "1e-3", "iin/RPO_e/v": "0.002"},
                    **options)
    np.testing.assert_array_equal(a["pc/RPO_e_pc/v"], b["pc/RPO_e_pc/v"])
    # the array path of integrate_compiled (as before multiplicative noise) gives the same run
    setup = ProblemSetup(net)
    problem = CompiledProblem(setup, kernel_module(net))
    _g, _var, off, length = net.layout["pc/RPO_e_pc/v"]
    record = np.arange(off, off + length)
    _t, Y, _y = integrate_compiled(problem, setup.state_vector(), t_end=0.02, dt=1e-4,
                                   method="heun", record=record, noise=additive.sigma, seed=4)
    np.testing.assert_array_equal(Y, a["pc/RPO_e_pc/v"])


def test_the_module_must_match_the_noise():
    net = sr.build(_jrc_network(5))
    noise = resolve_noise(net, {"iin/RPO_e/v": "H * v"})
    setup = ProblemSetup(net)
    problem = CompiledProblem(setup, kernel_module(net))
    with pytest.raises(ModelDefinitionError, match=r"the kernel module was made without "
                                                   r"multiplicative noise"):
        integrate_compiled(problem, setup.state_vector(), t_end=0.01, dt=1e-4, method="euler",
                           noise=noise, seed=1)
    # a module made with expressions runs those only: other expressions, or an additive sigma
    # array (which its noise functions would overwrite), are refused
    made = CompiledProblem(setup, kernel_module(net, noise=noise))
    other = resolve_noise(net, {"iin/RPO_e/v": "2 * H * v"})
    run = dict(t_end=0.01, dt=1e-4, method="euler", seed=1)
    with pytest.raises(ModelDefinitionError, match=r"the kernel module was made with other "
                                                   r"multiplicative noise expressions"):
        integrate_compiled(made, setup.state_vector(), noise=other, **run)
    with pytest.raises(ModelDefinitionError, match=r"computes multiplicative noise expressions, "
                                                   r"which would replace a sigma array"):
        integrate_compiled(made, setup.state_vector(), noise=np.full(net.n_states, 1e-3), **run)
    integrate_compiled(made, setup.state_vector(), noise=noise, **run)   # its own: runs


def test_float32_storage_with_multiplicative_noise_follows_the_float64_run():
    n = 20
    rng = np.random.default_rng(6)
    net = sr.build(_jrc_network(n))
    options = dict(dt=1e-4, method="heun", backend="cython", sampling=1e-3, noise=NOISE, seed=5,
                   inputs={"u": 220.0 + 22.0 * rng.standard_normal((1000, n))},
                   y0=np.zeros(net.n_states), outputs=["pc/RPO_e_pc/v", "iin/RPO_e/v"])
    double = sr.simulate(net, 0.1, **options)
    single = sr.simulate(net, 0.1, precision="float32", **options)
    for path in double.paths:
        assert single[path].dtype == np.float32
        ref = double[path]
        np.testing.assert_allclose(single[path], ref, rtol=0, atol=2e-5 * np.max(np.abs(ref)))


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_multiplicative_noise_is_bit_identical_for_1_and_2_threads(method):
    system, u = b1_network(1000, steps=300)
    noise = {"pc/RPO_e_pc/v": "1e-4 * (1 + 20 * abs(v)) * s / 560",
             "iin/RPO_e/v": "1e-4 * m_out", "ein/RPO_e/x": 1e-4}
    problem = CompiledProblem(ProblemSetup(system),
                              kernel_module(system, noise=resolve_noise(system, noise)))
    if not problem.module.OPENMP:
        pytest.skip("kernels are built without OpenMP here")
    assert threads_for(problem, 2) == 2          # the run is parallel, split inside groups
    options = dict(dt=1e-4, method=method, backend="cython", inputs={"u": u}, noise=noise,
                   seed=3, y0=np.zeros(system.n_states), sampling=1e-3,
                   outputs=["pc/RPO_e_pc/v", "iin/RPO_e/v", "ein/RPO_e/x"])
    one, two = (sr.simulate(system, 0.03, n_threads=nt, **options) for nt in (1, 2))
    for path in one.paths:
        np.testing.assert_array_equal(two[path], one[path], err_msg=path)
    for path, value in one.final_state.items():
        np.testing.assert_array_equal(two.final_state[path], value, err_msg=path)
    assert np.ptp(one["iin/RPO_e/v"]) > 0


def test_delayed_network_with_multiplicative_noise_matches_numpy():
    n = 15
    rng = np.random.default_rng(1)
    W = np.where(rng.uniform(size=(n, n)) < 0.3, rng.uniform(size=(n, n)), 0.0)
    np.fill_diagonal(W, 0.0)
    D = np.where(W > 0, rng.uniform(1e-3, 5e-3, (n, n)), 0.0)
    system = sr.build(sr.network("jansen_rit.JRC", n, couplings=[
        sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", W / n, delays=D)]))
    options = dict(dt=1e-4, method="heun", seed=2, sampling=1e-3,
                   noise={"pc/RPO_e_pc/v": "1e-3 * (1 + 10 * abs(v))", "iin/RPO_e/x": "0.01 * x"},
                   outputs=["pc/RPO_e_pc/v", "iin/RPO_e/x"])
    assert_agree(sr.simulate(system, 0.1, backend="cython", **options),
                 sr.simulate(system, 0.1, backend="numpy", **options))
