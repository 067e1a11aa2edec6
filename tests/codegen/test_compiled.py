"""The compiled engine against the numpy reference: same method, same step, rtol 1e-12.

Every recorded sample of every variable is compared with ``rtol=1e-12``; samples where a variable
crosses zero are compared with an absolute tolerance of ``1e-12`` times that variable's largest
magnitude (a pure relative error is meaningless at a zero crossing). The two backends differ
only in arithmetic: the order of terms within a sum, the kernels' ``exp`` against numpy's SIMD
``exp``, ``x*x*x`` against ``pow(x, 3)``.
"""

import logging
import re

import numpy as np
import pytest

import symrates as sr
from symrates.codegen.lower import lower
from symrates.codegen.render import render
from symrates.compile.cache import STATS
from symrates.errors import IntegrationError, SymratesError
from symrates.runtime.compiled import CompiledProblem, kernel_module, kernel_source
from symrates.runtime.problem_numpy import NumpyProblem, ProblemSetup
from tests.scenarios import LEAKY, two_leaky_chain

METHODS = ("euler", "heun", "rk4")


def _jrc_input(n_steps):
    return {"pc/RPO_e_pc/u": 220.0 + 22.0 * np.random.default_rng(7).standard_normal(n_steps)}


def _qif_step(n_steps):
    k = np.arange(n_steps)
    return {"QIF_op/I": np.where((k >= n_steps // 5) & (k < 3 * n_steps // 5), 3.0, 0.0)}


#: model -> (t_end, dt, inputs(n_steps) or None, params)
CASES = {
    "jansen_rit.JRC": (0.25, 1e-4, _jrc_input, None),
    "jansen_rit.JR6": (0.25, 1e-4, None, None),
    "montbrio.QIF": (10.0, 1e-3, _qif_step, None),
    "fitzhugh_nagumo.FHN": (40.0, 1e-2, None, {"FHN_op/I": 0.5}),
    "wilson_cowan.WC_EI": (10.0, 1e-3, None, None),
}


def assert_agree(compiled, reference, rtol=1e-12):
    """Every sample of every recorded variable, and the final state, agree to ``rtol``."""
    assert compiled.paths == reference.paths
    np.testing.assert_array_equal(compiled.t, reference.t)
    for path in reference.paths:
        ref = reference[path]
        assert compiled[path].shape == ref.shape
        scale = float(np.max(np.abs(ref))) or 1.0
        np.testing.assert_allclose(compiled[path], ref, rtol=rtol, atol=rtol * scale,
                                   err_msg=path)
    for path, value in reference.final_state.items():
        np.testing.assert_allclose(compiled.final_state[path], value, rtol=rtol,
                                   atol=rtol * float(np.max(np.abs(value)) or 1.0))


@pytest.fixture(scope="module")
def systems():
    return {name: sr.build(name) for name in CASES}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", list(CASES))
def test_compiled_matches_numpy(systems, model, method):
    t_end, dt, inputs, params = CASES[model]
    n_steps = int(round(t_end / dt))
    options = dict(dt=dt, method=method, params=params,
                   inputs=inputs(n_steps) if inputs else None)
    compiled = sr.simulate(systems[model], t_end, backend="cython", **options)
    reference = sr.simulate(systems[model], t_end, backend="numpy", **options)
    assert_agree(compiled, reference)
    # the dynamics are not trivial: the state moved
    moved = max(np.ptp(reference[p]) for p in reference.paths)
    assert moved > 1e-3 * max(np.max(np.abs(reference[p])) for p in reference.paths)


@pytest.mark.parametrize("model", list(CASES))
def test_compiled_rhs_matches_numpy(systems, model):
    system = systems[model]
    rng = np.random.default_rng(3)
    setup = ProblemSetup(system)
    compiled = CompiledProblem(setup, kernel_module(system))
    reference = NumpyProblem(system)
    scale = 0.01 * (np.abs(system.initial_state) + 1.0)   # no overflow in exp
    for _ in range(5):
        y = system.initial_state + scale * rng.standard_normal(system.n_states)
        t = float(rng.uniform(0, 10))
        np.testing.assert_allclose(compiled.rhs(t, y, 0), reference.rhs(t, y, 0), rtol=1e-13,
                                   atol=1e-13 * np.max(np.abs(reference.rhs(t, y, 0))))


def test_sampling_outputs_algebraic_and_per_unit_parameters(systems):
    # EIN and IIN are one group with two units: give them different synaptic gains;
    # record every 10th step, a state subset and an algebraic variable (computed afterwards)
    n_steps = 2000
    options = dict(dt=1e-4, method="rk4", sampling=1e-3, inputs=_jrc_input(n_steps),
                   params={"iin/RPO_e/H": 0.004, "pc/PRO/s": 500.0},
                   y0={"pc/RPO_e_pc/v": 0.001},
                   outputs=["pc/RPO_e_pc/v", "iin/RPO_e/v", "ein/RPO_e/v", "pc/PRO/m_out"])
    compiled = sr.simulate(systems["jansen_rit.JRC"], 0.2, backend="cython", **options)
    reference = sr.simulate(systems["jansen_rit.JRC"], 0.2, backend="numpy", **options)
    assert compiled["pc/PRO/m_out"].shape == (201,)
    assert_agree(compiled, reference)
    assert not np.allclose(compiled["iin/RPO_e/v"], compiled["ein/RPO_e/v"])


def test_user_names_never_clash_with_generated_code():
    op = sr.OperatorTemplate(
        "names",
        ["r' = -r/tau + I*E - lambda*r + beta*sign(r - 0.3) + heaviside(r - 0.5)*N"
         " + max(S, r)/10 + abs(gamma)*t/100 + Q**2/100",
         "Q' = -Q + r**3 - sqrt(r**2 + 1)/2"],
        {"r": "output(0.1)", "Q": "variable(0.2)", "tau": 2.0, "I": 1.5, "E": 0.5,
         "lambda": 0.3, "beta": 0.01, "N": 0.2, "S": 0.0, "gamma": -1.0},
    )
    system = sr.build(op)
    source = kernel_source(system)
    body = [line.split("=", 1)[1] for line in source.splitlines()
            if re.match(r"\s+_sr_(dy|t\d|out)\S* = ", line)]
    assert body
    names = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", " ".join(body)))
    libm = {"exp", "log", "sqrt", "fabs", "fmax", "fmin", "pow", "M_PI", "M_E"}
    assert {n for n in names if not n.startswith("_sr_")} <= libm, names
    for method in METHODS:
        assert_agree(sr.simulate(system, 5.0, dt=1e-2, method=method, backend="cython"),
                     sr.simulate(system, 5.0, dt=1e-2, method=method, backend="numpy"))


def test_source_depends_on_structure_only():
    # parameter values, initial values, weights and network sizes never enter the generated
    # source; the number of nodes of a circuit does (only in the run of one copy, whose sizes
    # are constants), so chains of two and of three nodes share the general loop only
    node = sr.NodeTemplate("LI", [LEAKY])
    chain3 = sr.CircuitTemplate("chain3", {"a": node, "b": node, "c": node},
                                [("a/li/r", "b/li/I_ext", None, {"weight": 2.0}),
                                 ("b/li/r", "c/li/I_ext", None, {"weight": -0.5})])
    two = sr.build(two_leaky_chain(weight=3.0))
    other = sr.build(two_leaky_chain(weight=-7.0).update({"a/li/tau": 5.0}))
    three = sr.build(chain3)
    source = render(lower(two))
    assert source == render(lower(other))
    general = source.split("cdef inline void _sr_stage_single")[0]
    assert general == render(lower(three)).split("cdef inline void _sr_stage_single")[0]
    assert "3.0" not in source.split("cdef inline void _sr_group_0")[1]
    networks = [sr.build(sr.network(two_leaky_chain(weight=w), n)) for w, n in ((3.0, 2),
                                                                                 (-1.0, 7))]
    assert render(lower(networks[0])) == render(lower(networks[1]))
    before = STATS.snapshot()
    for system in (two, other, *networks):
        sr.simulate(system, 1.0, dt=0.01, method="heun", backend="cython")
    after = STATS.snapshot()
    assert after["compiled"] - before["compiled"] <= 1   # the first may compile, then none


def test_new_values_reuse_the_compiled_module(systems):
    system = systems["montbrio.QIF"]
    sr.simulate(system, 1.0, dt=1e-3, method="euler", backend="cython")   # compiled or cached
    before = STATS.snapshot()
    n = 1000
    runs = [
        dict(params={"eta": -3.0, "J": 10.0}),
        dict(y0={"r": 2.0, "v": -1.0}),
        dict(y0=np.array([0.5, 0.5])),
        dict(inputs={"I": np.linspace(0.0, 2.0, n)}),
        dict(inputs={"I": np.ones((n, 1))}, params={"Delta": 2.0}),
    ]
    results = [sr.simulate(system, 1.0, dt=1e-3, method="rk4", backend="cython", **kw)
               for kw in runs]
    after = STATS.snapshot()
    assert after["compiled"] == before["compiled"]
    assert after["memory_hits"] + after["disk_hits"] >= (
        before["memory_hits"] + before["disk_hits"] + len(runs))
    finals = {tuple(np.round(list(r.final_state.values()), 12)) for r in results}
    assert len(finals) == len(runs)   # the new values were used


@pytest.mark.parametrize("n_steps", [1, 2, 33, 34])
def test_the_final_state_is_returned_after_odd_and_even_step_counts(systems, n_steps):
    # the kernel alternates two state buffers; y must hold the last state either way
    system = systems["wilson_cowan.WC_EI"]
    options = dict(dt=1e-3, method="heun", sampling=1e-3)
    compiled = sr.simulate(system, n_steps * 1e-3, backend="cython", **options)
    reference = sr.simulate(system, n_steps * 1e-3, backend="numpy", **options)
    assert len(reference.t) == n_steps + 1
    assert_agree(compiled, reference)


@pytest.mark.parametrize("method", METHODS)
def test_divergence_raises_the_same_error_as_numpy(method):
    # x' = x**2 from x0 blows up at t = 1/x0: starts that fail after odd and after even steps
    # (the compiled kernel alternates two state buffers, so both must report the last
    # finite state)
    op = sr.OperatorTemplate("blowup", ["x' = x**2"], {"x": "output(1.0)"})
    parities = set()
    for x0 in (1.0, 1.013, 1.027, 1.041):
        messages = {}
        for backend in ("cython", "numpy"):
            with pytest.raises(IntegrationError, match=r"The simulation diverged at t = ") as info:
                sr.simulate(op, 2.0, dt=0.01, method=method, backend=backend,
                            y0={"x": x0}, sampling=0.05)
            messages[backend] = (str(info.value), info.value.t)
            assert not np.all(np.isfinite(info.value.state))
        assert messages["cython"] == messages["numpy"]
        parities.add(round(messages["numpy"][1] / 0.01) % 2)
    assert parities == {0, 1}


@pytest.mark.parametrize(("options", "what"), [
    (dict(method="rk45"), r"the adaptive method 'rk45'"),
    (dict(method="euler", inputs={"li/I_ext": lambda t: 1.0}), r"inputs given as callables"),
])
def test_what_is_not_compiled_yet_raises_for_cython_and_falls_back_for_auto(options, what,
                                                                            caplog):
    with pytest.raises(SymratesError, match=r"backend='cython' cannot run 'li': this version "
                                            r"of the compiled engine does not compile " + what):
        sr.simulate(LEAKY, 1.0, dt=0.01, backend="cython", **options)
    with caplog.at_level(logging.INFO, logger="symrates.runtime.simulate"):
        auto = sr.simulate(LEAKY, 1.0, dt=0.01, backend="auto", **options)
    assert re.search(r"using the numpy reference simulator, because the compiled engine does "
                     r"not compile " + what, caplog.text)
    numpy = sr.simulate(LEAKY, 1.0, dt=0.01, backend="numpy", **options)
    np.testing.assert_array_equal(auto["r"], numpy["r"])


def test_n_threads_is_validated_and_small_systems_run_serially():
    with pytest.raises(ValueError, match=r"n_threads must be None .* or a positive integer"):
        sr.simulate(LEAKY, 1.0, dt=0.01, method="euler", backend="cython", n_threads=0)
    one = sr.simulate(LEAKY, 1.0, dt=0.01, method="euler", backend="cython", n_threads=1)
    two = sr.simulate(LEAKY, 1.0, dt=0.01, method="euler", backend="cython", n_threads=2)
    np.testing.assert_array_equal(one["r"], two["r"])


def test_auto_falls_back_to_numpy_when_there_is_no_compiler(monkeypatch, caplog):
    monkeypatch.setenv("CC", "no-such-compiler-symrates")
    with caplog.at_level(logging.INFO, logger="symrates.runtime.simulate"):
        auto = sr.simulate(LEAKY, 1.0, dt=0.01, method="euler", backend="auto")
    assert re.search(r"using the numpy reference simulator, because the C compiler "
                     r"'no-such-compiler-symrates' does not work", caplog.text)
    numpy = sr.simulate(LEAKY, 1.0, dt=0.01, method="euler", backend="numpy")
    np.testing.assert_array_equal(auto["r"], numpy["r"])
    with pytest.raises(sr.CompilationError,
                       match=r"C compiler 'no-such-compiler-symrates' not found on PATH"):
        sr.simulate(LEAKY, 1.0, dt=0.01, method="euler", backend="cython")


def _jrc_network(n, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.uniform(size=(n, n))
    W[W > 0.5] = 0.0
    np.fill_diagonal(W, 0.0)
    return sr.network("jansen_rit.JRC", n,
                      couplings=[sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", W / n)],
                      params={"pc/PRO/s": rng.uniform(500.0, 600.0, n),
                              "ein/RPO_e/H": rng.uniform(0.003, 0.0035, n)})


def test_network_with_per_unit_parameters_and_inputs_matches_numpy_and_reuses_the_module():
    n, n_steps = 20, 1500
    u = 220.0 + 22.0 * np.random.default_rng(1).standard_normal((n_steps, n))
    options = dict(dt=1e-4, method="heun", inputs={"u": u}, sampling=5e-4,
                   outputs=["pc/RPO_e_pc/v", "pc/RPO_i/v", "pc/PRO/m_out"])
    net = sr.build(_jrc_network(n))
    compiled = sr.simulate(net, 0.15, backend="cython", **options)
    assert compiled["pc/RPO_e_pc/v"].shape == (301, n)
    assert_agree(compiled, sr.simulate(net, 0.15, backend="numpy", **options))
    # another size, other weights and parameter values: the same module
    before = STATS.snapshot()
    smaller = sr.build(_jrc_network(7, seed=5))
    options["inputs"] = {"u": u[:, :7]}
    assert_agree(sr.simulate(smaller, 0.15, backend="cython", **options),
                 sr.simulate(smaller, 0.15, backend="numpy", **options))
    assert STATS.snapshot()["compiled"] == before["compiled"]


def test_dense_couplings_run_as_dense_products_and_match_numpy():
    from symrates.runtime.compiled import DENSE_MIN_DENSITY

    n = 70          # 70 columns: the 8-way dot product and its remainder loop
    rng = np.random.default_rng(4)
    W = rng.uniform(size=(n, n))
    np.fill_diagonal(W, 0.0)
    W /= W.sum(axis=1, keepdims=True)
    dense = sr.build(sr.network("jansen_rit.JRC", n, couplings=[
        sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", W)]))
    sparse_W = np.where(rng.uniform(size=(n, n)) < DENSE_MIN_DENSITY / 3, W, 0.0)
    sparse = sr.build(sr.network("jansen_rit.JRC", n, couplings=[
        sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", sparse_W)]))
    problems = {name: CompiledProblem(ProblemSetup(s), kernel_module(s))
                for name, s in (("dense", dense), ("sparse", sparse))}
    assert len(problems["dense"].dense_couplings) == 1      # the network coupling only
    assert problems["sparse"].dense_couplings == ()
    options = dict(dt=1e-4, method="heun", sampling=1e-3, y0=np.zeros(dense.n_states),
                   inputs={"u": 220.0 + 22.0 * rng.standard_normal((1000, n))},
                   outputs=["pc/RPO_e_pc/v", "pc/RPO_i/v"])
    assert_agree(sr.simulate(dense, 0.1, backend="cython", **options),
                 sr.simulate(dense, 0.1, backend="numpy", **options))


@pytest.mark.parametrize("delayed", [False, True])
def test_float32_storage_follows_the_float64_run(delayed):
    n = 60
    rng = np.random.default_rng(2)
    W = np.where(rng.uniform(size=(n, n)) < 0.5, rng.uniform(size=(n, n)), 0.0)   # dense path
    np.fill_diagonal(W, 0.0)
    W /= W.sum(axis=1, keepdims=True)
    D = np.where(W > 0, rng.uniform(1e-3, 5e-3, size=(n, n)), 0.0) if delayed else None
    system = sr.build(sr.network("jansen_rit.JRC", n, couplings=[
        sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", W, delays=D)]))
    options = dict(dt=1e-4, method="heun", backend="cython", sampling=1e-3,
                   inputs={"u": 220.0 + 22.0 * rng.standard_normal((1000, n))},
                   y0=np.zeros(system.n_states), outputs=["pc/RPO_e_pc/v", "pc/RPO_i/v"],
                   noise={"pc/RPO_e_pc/v": 1e-5}, seed=5)
    double = sr.simulate(system, 0.1, **options)
    single = sr.simulate(system, 0.1, precision="float32", **options)
    for path in double.paths:
        assert single[path].dtype == np.float32
        ref = double[path]
        np.testing.assert_allclose(single[path], ref, rtol=0, atol=2e-5 * np.max(np.abs(ref)))
    assert np.max(np.abs(single["pc/RPO_e_pc/v"] - double["pc/RPO_e_pc/v"])) > 0   # it is float32


def test_float32_needs_the_compiled_engine_and_a_known_precision():
    with pytest.raises(SymratesError, match=r"precision='float32' runs in the compiled engine; "
                                            r"the numpy reference simulator of 'li' is float64"):
        sr.simulate(LEAKY, 1.0, dt=0.01, backend="numpy", precision="float32")
    with pytest.raises(SymratesError, match=r"precision must be 'float64' or 'float32' for "
                                            r"simulating 'li', got 'half'"):
        sr.simulate(LEAKY, 1.0, dt=0.01, precision="half")
    # the backend was left at "auto": the message says what to change (not the backend)
    with pytest.raises(SymratesError,
                       match=r"precision='float32' runs in the compiled engine, which does not "
                             r"compile the adaptive method 'rk45'.*Use precision='float64'"):
        sr.simulate(LEAKY, 1.0, dt=0.01, method="rk45", precision="float32")


STATELESS = """
Int_op: {base: OperatorTemplate, equations: "v' = m_in - v",
         variables: {v: output(0.1), m_in: input(0.0)}}
Sig_op: {base: OperatorTemplate, equations: "m = 1/(1 + exp(-x))",
         variables: {m: output(0.0), x: input(0.0)}}
A: {base: NodeTemplate, operators: [Int_op]}
R: {base: NodeTemplate, operators: [Sig_op]}
C: {base: CircuitTemplate, nodes: {a: A, r: R},
    edges: [[a/Int_op/v, r/Sig_op/x, null, {weight: 1.0}],
            [r/Sig_op/m, a/Int_op/m_in, null, {weight: 1.0}]]}
"""


def test_a_node_without_states_compiles(tmp_path):
    """A relay node of algebraic variables only (here a sigmoid between two edges): its group
    has no derivative to compute, in the kernel of a circuit, of a network and of a scan."""
    path = tmp_path / "stateless.yaml"
    path.write_text(STATELESS)
    model = f"{path}:C"
    for target in (sr.network(model, 3), model):
        runs = [sr.simulate(target, 1.0, dt=0.01, method="rk4", backend=b)
                for b in ("cython", "numpy")]
        assert_agree(*runs)
    # v' = 1/(1 + exp(-v)) - v from v(0) = 0.1, against scipy at rtol 1e-12
    from scipy.integrate import solve_ivp

    exact = solve_ivp(lambda t, v: 1 / (1 + np.exp(-v)) - v, (0, 1), [0.1], rtol=1e-12,
                      atol=1e-14).y[0, -1]
    assert runs[0].final_state["a/Int_op/v"] == pytest.approx(exact, abs=1e-10)
    scans = [sr.scan(model, {"a/Int_op/m_in": [0.0, 0.5]}, t_end=1.0, dt=0.01, backend=b)
             for b in ("cython", "numpy")]
    np.testing.assert_allclose(scans[0].to_dataframe().to_numpy(dtype=float),
                               scans[1].to_dataframe().to_numpy(dtype=float), rtol=1e-12)


@pytest.mark.parametrize("fn", ["max(0, 2*log(x))", "min(0, 2*log(x))", "max(2*log(x), 0)"])
def test_min_and_max_pass_a_nan_on_as_numpy_does(fn):
    """log of a negative state is NaN; C's fmax/fmin would drop it and integrate on from a
    finite value, numpy's maximum/minimum pass it on and the run stops."""
    op = sr.OperatorTemplate("mm", [f"x' = 1 - x - {fn}"], {"x": "variable(-0.5)"})
    messages = []
    for backend in ("cython", "numpy"):
        with pytest.raises(IntegrationError, match=r"diverged at t = 0\.1") as info:
            sr.simulate(op, 1.0, dt=0.1, method="euler", backend=backend)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    # and without NaN they are max and min (x0 = 2: 2 log 2 = 1.386 > 0)
    runs = [sr.simulate(op, 1.0, dt=0.1, method="rk4", backend=b, y0={"x": 2.0})
            for b in ("cython", "numpy")]
    assert_agree(*runs)


def test_numpy_integer_seeds_give_the_run_of_the_python_integer():
    options = dict(dt=0.01, method="euler", noise={"v": 0.1})
    for backend in ("cython", "numpy"):
        plain = sr.simulate("fitzhugh_nagumo.FHN", 1.0, backend=backend, seed=5, **options)
        for seed in (np.int64(5), np.int32(5), np.uint64(5),
                     np.random.default_rng(0).integers(5, 6)):
            res = sr.simulate("fitzhugh_nagumo.FHN", 1.0, backend=backend, seed=seed, **options)
            np.testing.assert_array_equal(res["v"], plain["v"])


def test_y0_values_of_the_wrong_size_get_a_clear_error():
    net = sr.network("jansen_rit.JRC", 4)
    for backend in ("cython", "numpy"):
        with pytest.raises(sr.ModelDefinitionError,
                           match=r"y0 gives 'pc/RPO_e_pc/v' of 'JRC' the value \[1\.0, 2\.0\]; "
                                 r"it needs a number or 4 of them \(one per copy\)\."):
            sr.simulate(net, 0.01, dt=1e-4, backend=backend, y0={"pc/RPO_e_pc/v": [1.0, 2.0]})
        with pytest.raises(sr.ModelDefinitionError, match=r"the value 'abc'; it needs a number\."):
            sr.simulate("fitzhugh_nagumo.FHN", 0.1, dt=0.01, backend=backend, y0={"v": "abc"})
