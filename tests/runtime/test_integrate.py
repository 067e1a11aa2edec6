"""integrate(): time grid, sampling, recording, argument errors, blow-ups, progress bar."""

import sys

import numpy as np
import pytest

from symrates.errors import IntegrationError, ModelDefinitionError
from symrates.runtime.integrate import integrate, step_count
from symrates.runtime.problem import FunctionProblem

ALL_METHODS = ["euler", "heun", "rk4", "rk23", "rk45", "dop853", "radau", "bdf", "lsoda"]

# two independent decays with known solution y(t) = y0 exp(-rates t)
RATES = np.array([1.0, 3.0])
DECAY = FunctionProblem(lambda t, y, k: -RATES * y, 2, state_names=("a/x", "b/x"))
BLOW_UP = FunctionProblem(  # x' = x^2 from x = 1 blows up at t = 1; z' = -z stays finite
    lambda t, y, k: np.array([y[0] ** 2, -y[1]]), 2, state_names=("sq/x", "calm/z")
)


# --------------------------------------------------------------------------------------------
# time grid and sampling


def test_step_count():
    assert step_count(1.0, 0.1) == 10
    assert step_count(0.3, 0.1) == 3              # 0.3/0.1 = 2.9999999999999996
    assert step_count(1.0 + 1e-12, 0.1) == 10     # within the 1e-9 relative tolerance
    assert step_count(2, 2) == 1


@pytest.mark.parametrize("method", ALL_METHODS)
def test_sample_times_shapes_and_final_state(method):
    y0 = np.array([1.0, 2.0])
    t, Y, y_end = integrate(DECAY, y0, t_end=1.0, dt=0.01, method=method, sampling=0.3,
                            rtol=1e-10, atol=1e-12)
    # samples at 0, 0.3, 0.6, 0.9; the final state is at t_end = 1, after the last sample
    np.testing.assert_allclose(t, [0.0, 0.3, 0.6, 0.9], rtol=0, atol=1e-15)
    assert Y.shape == (4, 2) and y_end.shape == (2,)
    np.testing.assert_array_equal(Y[0], y0)
    tol = {"euler": 5e-2, "heun": 1e-3}.get(method, 1e-7)
    np.testing.assert_allclose(Y, y0 * np.exp(-np.outer(t, RATES)), rtol=tol)
    np.testing.assert_allclose(y_end, y0 * np.exp(-RATES), rtol=tol)
    np.testing.assert_array_equal(y0, [1.0, 2.0])  # the caller's y0 is not modified


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_sampling_takes_every_mth_step(method):
    t_all, Y_all, end_all = integrate(DECAY, [1.0, 1.0], t_end=2.0, dt=0.01, method=method)
    assert t_all.shape == (201,) and Y_all.shape == (201, 2)
    np.testing.assert_array_equal(t_all, np.arange(201) * 0.01)
    t, Y, end = integrate(DECAY, [1.0, 1.0], t_end=2.0, dt=0.01, method=method, sampling=0.25)
    assert t.shape == (9,)
    np.testing.assert_array_equal(t, t_all[::25])
    np.testing.assert_array_equal(Y, Y_all[::25])
    np.testing.assert_array_equal(end, end_all)
    np.testing.assert_array_equal(end, Y_all[-1])
    # sampling longer than t_end: only t = 0
    t1, Y1, end1 = integrate(DECAY, [1.0, 1.0], t_end=2.0, dt=0.01, method=method, sampling=5.0)
    assert t1.tolist() == [0.0] and Y1.shape == (1, 2)
    np.testing.assert_array_equal(end1, end_all)


@pytest.mark.parametrize("method", ["heun", "dop853"])
def test_record_selects_states(method):
    _t, full, end = integrate(DECAY, [1.0, 2.0], t_end=1.0, dt=0.1, method=method)
    _t, only_b, end_b = integrate(DECAY, [1.0, 2.0], t_end=1.0, dt=0.1, method=method,
                                  record=[1])
    assert only_b.shape == (11, 1)
    np.testing.assert_array_equal(only_b[:, 0], full[:, 1])
    np.testing.assert_array_equal(end_b, end)       # the final state is always complete
    _t, swapped, _ = integrate(DECAY, [1.0, 2.0], t_end=1.0, dt=0.1, method=method,
                               record=np.array([1, 0, 1]))
    np.testing.assert_array_equal(swapped, full[:, [1, 0, 1]])
    _t, masked, _ = integrate(DECAY, [1.0, 2.0], t_end=1.0, dt=0.1, method=method,
                              record=np.array([True, False]))
    np.testing.assert_array_equal(masked, full[:, :1])
    _t, none, _ = integrate(DECAY, [1.0, 2.0], t_end=1.0, dt=0.1, method=method,
                            record=np.zeros(0, dtype=np.int64))
    assert none.shape == (11, 0)


def test_memory_is_the_sample_array():
    import tracemalloc

    # 10^4 steps of 500 states recorded 11 times: nothing may be kept per step
    p = FunctionProblem(lambda t, y, k: -y, 500)
    tracemalloc.start()
    try:
        t, Y, _ = integrate(p, np.ones(500), t_end=10.0, dt=1e-3, method="rk4", sampling=1.0)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert Y.shape == (11, 500) and t.shape == (11,)
    assert peak < 1_000_000, peak          # all steps would take 40 MB


# --------------------------------------------------------------------------------------------
# argument errors


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"t_end": -1.0}, r"t_end must be finite and > 0; got t_end=-1\.0"),
        ({"t_end": 0.0}, r"t_end must be finite and > 0"),
        ({"dt": 0.0}, r"dt must be finite and > 0; got dt=0\.0 \(with t_end=1\.0\)"),
        ({"dt": -0.1}, r"dt must be finite and > 0"),
        ({"dt": float("nan")}, r"dt must be finite and > 0"),
        ({"dt": "x"}, r"dt must be a number; got 'x'"),
        ({"dt": 0.3}, r"t_end=1\.0 is not a whole multiple of dt=0\.3 \(t_end/dt = 3\.33333333\)"
                      r"\. Choose dt so that t_end/dt is an integer, e\.g\. dt=0\.25 \(4 steps\)"),
        ({"dt": 2.0}, r"t_end=1\.0 is not a whole multiple of dt=2\.0"),
        ({"t_end": 1.0 + 1e-6}, r"is not a whole multiple of dt=0\.1"),
        ({"sampling": 0.15}, r"sampling=0\.15 must be a whole multiple of dt=0\.1 "
                             r"\(sampling/dt = 1\.5\)\. Use e\.g\. sampling=0\.1 or 0\.2"),
        ({"sampling": 0.05}, r"sampling=0\.05 must be a whole multiple of dt=0\.1"),
        ({"sampling": 0.0}, r"sampling must be finite and > 0"),
        ({"method": "rk5"}, r"Unknown integration method 'rk5'; valid methods: fixed-step "
                            r"euler, heun, rk4; adaptive rk23, rk45"),
        ({"method": "rk4", "noise": 0.1}, r"noise= needs the 'euler' or 'heun' method "
                                          r"\(Euler–Maruyama or stochastic Heun\); got "
                                          r"method='rk4'"),
        ({"method": "radau", "noise": 0.1}, r"noise= needs the 'euler' or 'heun' method"),
        ({"method": "euler", "max_step": 0.1}, r"max_step and first_step apply to adaptive "
                                               r"methods only; method 'euler'"),
        ({"record": [0, 2]}, r"record holds state indices \[2\] outside 0\.\.1 \(the problem "
                             r"has 2 states\)"),
        ({"record": [-1]}, r"record holds state indices \[-1\]"),
        ({"record": [0.5]}, r"record must be a 1-D array of state indices"),
        ({"record": [[0]]}, r"record must be a 1-D array of state indices"),
        ({"record": [True]}, r"A boolean record mask must have shape \(2,\)"),
        ({"y0": [1.0]}, r"The initial state must have shape \(2,\) \(one value per state\); "
                        r"got shape \(1,\)"),
        ({"y0": [1.0, np.nan]}, r"The initial state is not finite: b/x = nan"),
        ({"method": "euler", "noise": [0.1, 0.1, 0.1]},
         r"noise must be a scalar, an array of shape \(2,\)"),
        ({"method": "euler", "noise": [0.1, np.inf]}, r"noise amplitudes must be finite"),
        ({"method": "heun", "noise": lambda t, y, k: np.ones(3)},
         r"noise callable sigma\(t, y, k\) must return an array of shape \(2,\); it returned "
         r"shape \(3,\)"),
    ],
)
def test_argument_errors(kwargs, match):
    options = {"y0": [1.0, 1.0], "t_end": 1.0, "dt": 0.1, "method": "rk4", **kwargs}
    y0 = options.pop("y0")
    with pytest.raises(ModelDefinitionError, match=match):
        integrate(DECAY, y0, **options)


def test_problem_errors():
    with pytest.raises(TypeError, match=r"needs a problem with n_states, state_names and "
                                        r"rhs\(t, y, k\); function lacks n_states"):
        integrate(lambda t, y, k: -y, [1.0], t_end=1.0, dt=0.1)
    wrong = FunctionProblem(lambda t, y, k: np.zeros(3), 2)
    with pytest.raises(ModelDefinitionError, match=r"problem\.rhs\(t, y, k\) must return an "
                                                   r"array of shape \(2,\); it returned shape"):
        integrate(wrong, [1.0, 1.0], t_end=1.0, dt=0.1)


# --------------------------------------------------------------------------------------------
# blow-ups


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_fixed_step_blow_up_names_time_and_variable(method):
    with pytest.raises(
        IntegrationError,
        match=r"The simulation diverged at t = 1\.0\d*: sq/x became non-finite \(method "
        rf"'{method}', dt=0\.001, step 10\d\d of 2000\)\. Last finite values, at t = 1\.0\d*: "
        r"sq/x = .*e\+\d+\. .*try a smaller dt or a stiff method",
    ) as info:
        integrate(BLOW_UP, [1.0, 1.0], t_end=2.0, dt=1e-3, method=method)
    err = info.value
    assert 1.0 < err.t < 1.05               # x = 1/(1 - t); the methods lag a little
    assert "calm/z" not in str(err)
    assert err.state.shape == (2,) and not np.isfinite(err.state[0])
    assert err.state[1] == pytest.approx(np.exp(-err.t), rel=1e-2)


@pytest.mark.parametrize("method", ["rk23", "rk45", "dop853", "radau", "bdf", "lsoda"])
def test_adaptive_blow_up_names_time_and_variable(method):
    with pytest.raises(
        IntegrationError,
        match=rf"The adaptive method '{method}' failed near t = (1|0\.99\d*): .*Largest "
        r"magnitudes there: sq/x = .*e\+\d+, calm/z = .*stiff method",
    ) as info:
        integrate(BLOW_UP, [1.0, 1.0], t_end=2.0, dt=1e-3, method=method)
    assert abs(info.value.t - 1.0) < 1e-3
    assert info.value.state[0] > 1e6


def test_lsoda_stall_is_stopped_and_reported():
    # scipy's LSODA stops advancing near the singularity and loops; integrate() cuts it off
    with pytest.raises(IntegrationError, match=r"the solver stopped advancing in time \(1020 "
                                               r"evaluations at the same t\)"):
        integrate(BLOW_UP, [1.0, 1.0], t_end=2.0, dt=1e-3, method="lsoda")


def test_nan_from_the_right_hand_side_is_reported():
    p = FunctionProblem(lambda t, y, k: np.array([-1.0, np.log(y[0])]), 2,
                        state_names=("x", "logx"))
    with pytest.raises(IntegrationError, match=r"diverged at t = 0\.5\d*: logx became "
                                               r"non-finite") as info:
        integrate(p, [0.5, 0.0], t_end=1.0, dt=0.01, method="euler")
    assert np.isnan(info.value.state[1])


# --------------------------------------------------------------------------------------------
# progress bar


def test_progress_bar_does_not_change_results(capsys):
    plain = integrate(DECAY, [1.0, 1.0], t_end=1.0, dt=0.01, method="rk4")
    shown = integrate(DECAY, [1.0, 1.0], t_end=1.0, dt=0.01, method="rk4", progress=True)
    adaptive = integrate(DECAY, [1.0, 1.0], t_end=1.0, dt=0.01, method="rk45", progress=True)
    for a, b in zip(plain, shown, strict=True):
        np.testing.assert_array_equal(a, b)
    assert adaptive[1].shape == (101, 2)
    assert "integrate (rk4)" in capsys.readouterr().err


def test_progress_without_tqdm(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)   # import tqdm.auto -> ImportError
    _t, Y, _ = integrate(DECAY, [1.0, 1.0], t_end=1.0, dt=0.01, progress=True)
    assert Y.shape == (101, 2)
    assert "integrate" not in capsys.readouterr().err
