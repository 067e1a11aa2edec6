"""sr.sweep: quasi-static sweeps show the QIF model's hysteresis between its analytic folds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from symrates.analysis.scans import ScanError, sweep

QIF = "montbrio.QIF"


def qif_folds(J: float, delta: float) -> tuple[float, float]:
    """REFERENCES.md §2: the fold curve eta(r) = -pi^2 r^2 - 3 D^2/(4 pi^2 r^2),
    J(r) = 2 pi^2 r + D^2/(2 pi^2 r^3); returns (lower, upper) fold in eta at this J."""
    def J_of(r):
        return 2 * np.pi**2 * r + delta**2 / (2 * np.pi**2 * r**3)

    def eta_of(r):
        return -np.pi**2 * r**2 - 3 * delta**2 / (4 * np.pi**2 * r**2)

    r_min = (3 * delta**2 / (4 * np.pi**4)) ** 0.25          # where J(r) is smallest
    r_low = brentq(lambda r: J_of(r) - J, 1e-6, r_min)
    r_high = brentq(lambda r: J_of(r) - J, r_min, 100.0)
    return eta_of(r_high), eta_of(r_low)


def test_qif_hysteresis_between_the_analytic_folds():
    step = 0.1
    etas = np.round(np.arange(-7.0, -1.0 + 1e-9, step), 10)
    lower, upper = qif_folds(15.0, 1.0)                       # about -5.74 and -3.14
    sw = sweep(QIF, "eta", etas, t_end=10.0, dt=1e-2, params={"J": 15.0, "Delta": 1.0},
               observables={"r": ["mean", "final"]}, backend="numpy")
    assert sw.directions == ("up", "down") and np.array_equal(sw.values, etas)
    up, down = sw["r"]
    high = 0.5                                                # between the two branches
    # up: the low state persists to the upper fold; down: the high state to the lower fold
    last_low_up = etas[up < high].max()
    last_high_down = etas[down > high].min()
    assert abs(last_low_up - upper) <= step, (last_low_up, upper)
    assert abs(last_high_down - lower) <= step, (last_high_down, lower)
    # bistable in between: the branches differ; outside they agree
    between = (etas > lower + step) & (etas < upper - step)
    assert np.all(down[between] > 5 * up[between])
    # outside they agree (right after the jump the high focus still rings a little)
    outside = (etas < lower - step) | (etas > upper + step)
    np.testing.assert_allclose(up[outside], down[outside], rtol=0.03)
    assert sw.final.shape == (2, etas.size, 2)


def test_sweep_directions_sort_the_values_and_warm_start():
    values = [-4.0, -6.0, -5.0]
    sw = sweep(QIF, "eta", values, direction="down", t_end=5.0, dt=1e-2, backend="numpy",
               observables={"r": "final"}, y0={"r": 1.0, "v": -0.5})
    assert sw.directions == ("down",) and np.array_equal(sw.values, [-6.0, -5.0, -4.0])
    assert sw["r", "final"].shape == (1, 3)
    up = sweep(QIF, "eta", values, direction="up", t_end=5.0, dt=1e-2, backend="numpy",
               observables={"r": "final"})
    # starting high (y0) at eta = -4 and walking down keeps the high state; up from low does not
    assert sw["r", "final"][0, 1] > 5 * up["r", "final"][0, 1]


def test_sweep_export_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    sw = sweep(QIF, "eta", [-6.0, -4.0], t_end=1.0, dt=1e-2, observables={"r": ["mean", "max"]},
               backend="numpy")
    ds = sw.to_xarray()
    assert ds["QIF/QIF_op/r"].dims == ("direction", "QIF/QIF_op/eta", "observable")
    assert list(ds["direction"].values) == ["up", "down"]
    df = sw.to_dataframe()
    assert df.shape == (4, 2) and df.index.names == ["direction", "QIF/QIF_op/eta"]
    ax = sw.plot()
    assert [line.get_label() for line in ax.get_lines()] == ["up", "down"]
    assert "2 values" in repr(sw)


def test_a_diverging_sweep_keeps_what_it_swept():
    with pytest.raises(ScanError, match=r"failed at QIF/QIF_op/eta = 1e\+06 \(direction 'up'\)"
                       ) as info:
        sweep(QIF, "eta", [-5.0, 1e6], t_end=1.0, dt=1e-2, observables={"r": "final"},
              backend="numpy")
    res = info.value.result
    assert np.isfinite(res["r", "final"][0, 0]) and np.isnan(res["r", "final"][0, 1])
    assert info.value.failures[0].params["QIF/QIF_op/eta"][0] == 1e6


def test_sweep_rejects_an_unknown_direction():
    from symrates.errors import ModelDefinitionError

    with pytest.raises(ModelDefinitionError, match="direction must be one of 'both', 'up', "
                                                   "'down', got 'sideways'"):
        sweep(QIF, "eta", [-5.0], direction="sideways", t_end=1.0, dt=1e-2)
