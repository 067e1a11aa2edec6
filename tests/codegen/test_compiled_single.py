"""The run of one copy (the kernel template's SINGLE) against the general run of the same
kernel: a model run as one copy keeps its state in registers, with every size a constant.

The two runs do the same operations in the same order, except that the run of one copy calls
libm's ``exp`` where the general run calls the kernels' ``_sr_exp`` (both within about one
ulp): models without ``exp`` give the same bits, the others agree to ~1e-13 over a run.
"""

import numpy as np
import pytest

import symrates as sr
from symrates.codegen.render import SINGLE_MAX_STATES
from symrates.runtime.compiled import CompiledProblem, integrate_compiled, kernel_module
from symrates.runtime.problem_numpy import ProblemSetup
from tests.scenarios import LEAKY, two_leaky_chain

METHODS = ("euler", "heun", "rk4")


def _b1(n: int, self_weight: float = 0.0):
    """B1's network of Jansen-Rit circuits (with an optional PC -> PC self-coupling, so that
    the coupling's sparse product runs also at N = 1)."""
    C = np.full((n, n), 1.0 / max(n - 1, 1))
    np.fill_diagonal(C, self_weight)
    return sr.build(sr.network("jansen_rit.JRC", n,
                               couplings=[sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", C)]))


def _problem(system, n_steps, inputs=None):
    setup = ProblemSetup(system, inputs=inputs, n_steps=n_steps)
    return CompiledProblem(setup, kernel_module(system), n_steps=n_steps)


def _both(problem, y0, **options):
    """(run of one copy, general run) of the same kernel and options."""
    assert problem.kernel.single
    out = []
    for single in (True, False):
        problem.kernel.single = single
        out.append(integrate_compiled(problem, y0, n_threads=1, **options))
    problem.kernel.single = True
    return out


CASES = {
    # name: (system, t_end, dt, inputs, exact)
    "B1 N=1 with input": (lambda: _b1(1, 0.3), 0.2, 1e-4, "u", False),
    "JR6": (lambda: sr.build("jansen_rit.JR6"), 0.2, 1e-4, None, False),
    "FHN": (lambda: sr.build("fitzhugh_nagumo.FHN"), 20.0, 1e-2, None, True),
    "QIF": (lambda: sr.build("montbrio.QIF"), 5.0, 1e-3, None, True),
    "leaky chain": (lambda: sr.build(two_leaky_chain(2.0)), 5.0, 1e-2, None, True),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(CASES))
def test_the_run_of_one_copy_agrees_with_the_general_run(case, method):
    make, t_end, dt, inputs, exact = CASES[case]
    system = make()
    n_steps = round(t_end / dt)
    drive = None
    if inputs:
        drive = {"pc/RPO_e_pc/u": 220 + 22 * np.random.default_rng(3).standard_normal(n_steps)}
    problem = _problem(system, n_steps, drive)
    assert problem.module.SINGLE and problem.kernel.single
    y0 = system.initial_state + 0.01
    (t1, Y1, y1), (t2, Y2, y2) = _both(problem, y0, t_end=t_end, dt=dt, method=method,
                                       sampling=5 * dt)
    np.testing.assert_array_equal(t1, t2)
    assert Y1.shape == (n_steps // 5 + 1, system.n_states)
    if exact:
        np.testing.assert_array_equal(Y1, Y2)
        np.testing.assert_array_equal(y1, y2)
    else:
        scale = np.max(np.abs(Y2), axis=0)
        np.testing.assert_allclose(Y1, Y2, rtol=1e-12, atol=1e-12 * scale.max())
        np.testing.assert_allclose(y1, y2, rtol=1e-12, atol=1e-12 * scale.max())
        assert not np.array_equal(Y1, Y2) or case == "JR6"   # libm's exp is another function


@pytest.mark.parametrize("method", ("euler", "heun"))
def test_noise_inputs_and_pieces_in_the_run_of_one_copy(method):
    """Noise numbers, input rows and recorded rows are indexed by the step of the whole run,
    also when the run goes in pieces (progress bars): same bits as one piece, and as the
    general run of a model without exp."""
    system = sr.build(LEAKY)
    n_steps = 1000
    drive = {"li/I_ext": np.sin(np.arange(n_steps) * 0.01)}
    problem = _problem(system, n_steps, drive)
    options = dict(t_end=10.0, dt=0.01, method=method, sampling=0.03, noise=0.2, seed=11)
    (_, Y1, y1), (_, Y2, y2) = _both(problem, np.array([0.5]), **options)
    np.testing.assert_array_equal(Y1, Y2)
    np.testing.assert_array_equal(y1, y2)
    _, Y3, y3 = integrate_compiled(problem, np.array([0.5]), progress=True, **options)
    np.testing.assert_array_equal(Y1, Y3)
    np.testing.assert_array_equal(y1, y3)
    # the noise is there: increments over 3 steps have sd ~ sigma * sqrt(3 dt) = 0.035
    assert 0.025 < np.std(np.diff(Y1[:, 0])) < 0.045


@pytest.mark.parametrize("method", METHODS)
def test_a_divergence_in_the_run_of_one_copy_is_reported_alike(method):
    """x' = x**2 blows up at t = 1/x0: both runs report the same step and the same last
    finite state, after odd and even step counts."""
    op = sr.OperatorTemplate("blowup", ["x' = x**2"], {"x": "output(1.0)"})
    system = sr.build(op)
    problem = _problem(system, 200)
    for x0 in (1.0, 1.013):
        reports = []
        for single in (True, False):
            problem.kernel.single = single
            with pytest.raises(sr.IntegrationError, match=r"diverged at t = ") as info:
                integrate_compiled(problem, np.array([x0]), t_end=2.0, dt=0.01, method=method,
                                   n_threads=1)
            reports.append((str(info.value), info.value.t, info.value.state.tolist()))
        assert reports[0] == reports[1]


def test_only_models_run_as_one_copy_take_it():
    one, two = _b1(1), _b1(2)
    assert _problem(one, 10).kernel.single
    p2 = _problem(two, 10)
    assert p2.module is _problem(one, 10).module and not p2.kernel.single
    with pytest.raises(ValueError, match=r"Kernel.single: this kernel's sizes are not those "
                                         r"of the run of one copy"):
        p2.kernel.single = True          # it would read two copies as one
    assert not p2.kernel.single
    # delays: the general run (histories); the module has no run of one copy
    delayed = sr.build(two_leaky_chain(2.0, delay=0.5))
    assert not kernel_module(delayed).SINGLE


def test_models_with_more_states_than_the_limit_have_no_run_of_one_copy():
    node = sr.NodeTemplate("LI", [LEAKY])
    n = SINGLE_MAX_STATES + 1
    big = sr.CircuitTemplate("many", {f"n{i}": node for i in range(n)},
                             [(f"n{i}/li/r", f"n{i + 1}/li/I_ext", None, {"weight": 0.5})
                              for i in range(n - 1)])
    system = sr.build(big)
    assert system.n_states == n and not kernel_module(system).SINGLE
    res = sr.simulate(big, 1.0, dt=0.01, method="euler", backend="cython",
                      y0={"n0/li/r": 1.0}, outputs=["n1/li/r"])
    ref = sr.simulate(big, 1.0, dt=0.01, method="euler", backend="numpy",
                      y0={"n0/li/r": 1.0}, outputs=["n1/li/r"])
    np.testing.assert_allclose(res["n1/li/r"], ref["n1/li/r"], rtol=1e-13, atol=1e-15)


def test_float32_run_of_one_copy_follows_the_general_run():
    system = _b1(1, 0.3)
    setup = ProblemSetup(system, n_steps=2000)
    problem = CompiledProblem(setup, kernel_module(system, precision="float32"), n_steps=2000)
    assert problem.kernel.single
    (_, Y1, _), (_, Y2, _) = _both(problem, system.initial_state, t_end=0.2, dt=1e-4,
                                   method="heun", sampling=1e-3)
    assert Y1.dtype == np.float32
    np.testing.assert_allclose(Y1, Y2, rtol=1e-5, atol=1e-5 * float(np.abs(Y2).max()))
