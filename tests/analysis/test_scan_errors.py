"""Every error of scan/sweep options and results, with its message (STYLE.md §3, §6)."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from symrates.analysis.scans import scan
from symrates.errors import EquationParseError, ModelDefinitionError, SymratesError

QIF = "montbrio.QIF"
RUN = dict(t_end=0.01, dt=1e-3)


def _scan(model=QIF, grid=None, **kw):
    return scan(model, {"eta": [-5.0]} if grid is None else grid, **{**RUN, **kw})


CASES = [
    # -- grid
    (dict(grid=[1, 2]), "grid of the scan of 'QIF' must be a non-empty mapping {path: values}"),
    (dict(grid={}), "grid of the scan of 'QIF' must be a non-empty mapping"),
    (dict(grid={3: [1.0]}), "grid of 'QIF' takes parameter paths (str) as keys, got 3."),
    (dict(grid={(): [1.0]}), "An empty tuple is not a grid key (scan of 'QIF')"),
    (dict(grid={"r": [1.0]}), "grid of 'QIF' names 'r' ('QIF/QIF_op/r'), which is a state; only "
                              "parameters (and the constant parts of inputs) can be scanned."),
    (dict(model="jansen_rit.JR6", grid={"v_pc": [1.0]}), "which is an algebraic variable"),
    (dict(grid={"nope": [1.0]}), "Unknown parameter 'nope' in QIF."),
    (dict(grid={"eta": ["a"]}), "The grid values of 'eta' in the scan of 'QIF' must be numbers"),
    (dict(grid={"eta": [[1.0, 2.0]]}), "must have shape (n,), got shape (1, 2)."),
    (dict(grid={("eta", "J"): [1.0, 2.0]}), "must have shape (n, 2) (one column per path of the "
                                            "tuple), got shape (2,)."),
    (dict(grid={"eta": []}), "are empty; give at least one value."),
    (dict(grid={"eta": [np.nan]}), "The grid values of 'eta' in the scan of 'QIF' must be finite."),
    (dict(grid={"eta": [1.0], "QIF_op/eta": [2.0]}), "The parameter 'QIF/QIF_op/eta' appears "
                                                     "twice in the grid"),
    (dict(grid={"eta": [1.0, 2.0], "J": [1.0]}, zip=True),
     "zip=True pairs the grid values, so all must have the same length; got QIF/QIF_op/eta: 2, "
     "QIF/QIF_op/J: 1."),
    # -- observables and expressions
    (dict(observables="median"), "Unknown statistic 'median' in observables=; choose from mean, "
                                 "std, min, max, final, frequency, power"),
    (dict(observables=[1]), "observables= must be a statistic name or a list of them"),
    (dict(observables=3), "observables= of the scan of 'QIF' must be a statistic, a list of them,"
                          " or a non-empty mapping"),
    (dict(observables={1: "mean"}), "observables= keys must be variable paths or expression "
                                    "names, got 1."),
    (dict(observables={"r": "mean", "QIF_op/r": "std"}), "'QIF_op/r' names 'QIF/QIF_op/r', which "
                                                         "observables= already lists"),
    (dict(observables={"x": "mean"}), "Unknown variable or expression 'x' in QIF."),
    (dict(expressions=["r"]), "expressions= of the scan of 'QIF' must be a mapping"),
    (dict(expressions={"a b": "r"}), "The expression name 'a b' in the scan of 'QIF' must be a "
                                     "plain identifier"),
    (dict(expressions={"eta": "r"}), "The expression name 'eta' is already a variable of 'QIF' "
                                     "(QIF/QIF_op/eta); choose another name."),
    (dict(expressions={"x": 1}), "The expression 'x' in the scan of 'QIF' must be text"),
    # -- run settings
    (dict(method="leapfrog"), "Unknown method 'leapfrog' for the scan of 'QIF'; choose one of"),
    (dict(window=0.0), "window must be a fraction of t_end in (0, 1]"),
    (dict(window=1.5), "window must be a fraction of t_end in (0, 1]"),
    (dict(sampling="x"), "sampling must be a positive number, got 'x'."),
    (dict(sampling=1.5e-3), "sampling=0.0015 must be a whole multiple of dt=0.001; use e.g. "
                            "sampling=0.002."),
    (dict(t_end=0.01, sampling=3e-3), "t_end=0.01 must be a whole multiple of sampling=0.003"),
    (dict(t_end=0.01, dt=3e-3), "t_end=0.01 is not a whole multiple of dt=0.003"),
    (dict(observables="frequency", nperseg=100), "The spectrum needs 4 <= nperseg <= the 2 "
                                                 "samples of the window"),
    (dict(nperseg=0), "nperseg must be an integer >= 1, got 0."),
    (dict(chunk_size=1.5), "chunk_size must be an integer >= 1, got 1.5."),
    (dict(max_memory=-1), "max_memory must be an integer >= 1, got -1."),
    # -- params, inputs, noise, seed, y0
    (dict(params=[1]), "params= must be a mapping {path: value}, got [1]."),
    (dict(params={"eta": 1.0}), "'QIF/QIF_op/eta' is given both in grid and in params=; give it "
                                "in one place."),
    (dict(params={"J": np.inf}), "params['J'] must be a finite number, got inf."),
    (dict(inputs=[1]), "inputs= must be a mapping {path: ...}"),
    (dict(inputs={"I": np.zeros(3)}), "inputs['I'] must have one row per step, shape (10,) (the "
                                      "same for every parameter set), or be a function of t; got "
                                      "shape (3,)."),
    (dict(random_inputs={"I": 1.0}), "random_inputs['I'] must be a function f(rng, n_steps)"),
    (dict(inputs={"I": np.zeros(10)}, random_inputs={"I": np.sin}),
     "'QIF/QIF_op/I' is given both in inputs= and in random_inputs="),
    (dict(noise=[1]), "noise= must be a mapping {state path: sigma}"),
    (dict(noise={"eta": 1.0}), "noise= names 'eta', which is not a state of 'QIF'"),
    (dict(noise={"v": -1.0}), "noise['v'] must be a number >= 0, got -1.0."),
    (dict(seed=-3), "seed must be an integer >= 0 or None, got -3."),
    (dict(y0={"eta": 1.0}), "y0 names 'eta', which is not a state of 'QIF'."),
    (dict(y0=[1.0]), "y0 must be {path: value} or a vector of the 2 states of 'QIF'"),
    (dict(y0={"r": np.nan}), "y0 must be finite."),
    (dict(record=3), "record must be True, False or a list of paths and expression names"),
    # -- memory
    (dict(grid={"eta": np.zeros(50)}, t_end=1.0, record=True, max_memory=10_000),
     "record= would keep 782.0 KiB of trajectories (50 parameter sets x 1001 samples x 2 signals), "
     "more than max_memory=9.8 KiB."),
    (dict(t_end=1.0, window=1.0, observables="frequency", max_memory=1000),
     "One parameter set of the scan of 'QIF' needs"),
    (dict(grid={"eta": np.zeros(50)}, chunk_size=50, max_memory=1000),
     "chunk_size=50 needs at least"),
]


@pytest.mark.parametrize("kwargs, message", CASES, ids=[str(i) for i in range(len(CASES))])
def test_option_errors(kwargs, message):
    with pytest.raises(ModelDefinitionError, match=re.escape(message)):
        _scan(**kwargs)


def test_expression_text_errors_come_from_the_parser():
    with pytest.raises(EquationParseError, match="Unknown symbol 'w'"):
        _scan(expressions={"x": "r + w"})


def test_result_errors():
    sc = scan(QIF, {"eta": [-5.0, -4.0], "J": [10.0, 15.0], "Delta": [1.0]}, **RUN,
              observables={"r": "max", "v": "mean"})
    with pytest.raises(ModelDefinitionError, match=re.escape(
            "The statistic 'mean' of 'QIF/QIF_op/r' was not computed (computed: max). Ask for it "
            "with observables={'r': ['mean', ...]}.")):
        sc["r"]
    with pytest.raises(ModelDefinitionError, match=re.escape(
            "Index results with a path or expression name, or (name, statistic)")):
        sc[0]
    with pytest.raises(ModelDefinitionError, match="Unknown observed signal 'eta'"):
        sc["eta"]
    with pytest.raises(ModelDefinitionError, match="Unknown swept parameter 'tau'"):
        sc.parameter_values("tau")
    with pytest.raises(ModelDefinitionError, match=re.escape(
            "No trajectory of 'QIF/QIF_op/r' was recorded; pass record=True (or record=['r'])")):
        sc.trajectory("r")
    with pytest.raises(ModelDefinitionError, match="plot\\(\\) needs the signal to draw: one of"):
        sc.plot()
    with pytest.raises(ModelDefinitionError, match="plot\\(\\) draws one swept parameter \\(a "
                                                   "line\\) or two \\(a heat map\\); this scan "
                                                   "has 3."):
        sc.plot("v")


def test_a_network_map_needs_a_unit():
    import symrates as sr

    net = sr.network(QIF, 2)
    sc = scan(net, {"eta": [-5.0, -4.0], "J": [10.0, 15.0]}, **RUN, observables={"r": "mean"})
    with pytest.raises(ModelDefinitionError, match=re.escape(
            "'QIF/QIF_op/r' has 2 units per parameter set; choose one for the map: "
            "plot('QIF/QIF_op/r', unit=0).")):
        sc.plot()
    assert sc.plot(unit=1).collections


def test_to_xarray_without_xarray(monkeypatch):
    sc = _scan()
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(SymratesError, match="to_xarray\\(\\) needs xarray, which is not "
                                            "installed"):
        sc.to_xarray()
