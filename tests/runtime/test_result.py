"""SimulationResult: lookup by path, export to pandas, plotting; the plotting helpers."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from symrates.errors import ModelDefinitionError, SymratesWarning
from symrates.plotting import add_legend, axes, line_label
from symrates.runtime.result import PathDict, SimulationResult

matplotlib.use("Agg")

T = np.linspace(0.0, 1.0, 5)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def res():
    data = {
        "pc/rpo_e/v": np.sin(T),
        "pc/rpo_i/v": np.cos(T),
        "net/u": np.arange(15.0).reshape(5, 3),      # a 3-unit variable
    }
    final = {"pc/rpo_e/v": 0.8, "pc/rpo_i/v": 0.5, "net/u": np.array([12.0, 13.0, 14.0])}
    return SimulationResult(T, data, final)


@pytest.fixture
def flat():
    return SimulationResult(T, {"a/li/r": T, "b/li/r": 2 * T}, {"a/li/r": 1.0, "b/li/r": 2.0})


def test_lookup_by_full_path_and_suffix(res):
    np.testing.assert_array_equal(res["pc/rpo_e/v"], np.sin(T))
    np.testing.assert_array_equal(res["rpo_i/v"], np.cos(T))
    assert res["u"].shape == (5, 3)
    assert res.paths == ("pc/rpo_e/v", "pc/rpo_i/v", "net/u")
    np.testing.assert_array_equal(res.t, T)
    assert len(res) == 5
    assert "rpo_e/v" in res and "net/u" in res and "u" in res
    assert "v" not in res            # ambiguous
    assert "w" not in res and 3 not in res


def test_lookup_errors(res):
    with pytest.raises(ModelDefinitionError, match=r"'v' is ambiguous .*'pc/rpo_e/v', "
                                                   r"'pc/rpo_i/v'"):
        res["v"]
    with pytest.raises(ModelDefinitionError, match=r"Unknown recorded variable 'rpo_e/w' in "
                                                   r"the result\. Did you mean 'pc/rpo_e/v'"):
        res["rpo_e/w"]


def test_custom_resolver_and_unrecorded_paths():
    # the resolver of a model may know paths that were not recorded
    known = {"x": "m/x", "m/x": "m/x", "y": "m/y", "m/y": "m/y"}

    def resolve(path):
        try:
            return known[path]
        except KeyError:
            raise ModelDefinitionError(f"Unknown variable {path!r}") from None

    r = SimulationResult(T, {"m/x": T}, {"m/x": 1.0, "m/y": 2.0}, resolve)
    np.testing.assert_array_equal(r["x"], T)
    with pytest.raises(ModelDefinitionError, match=r"'y' \('m/y'\) was not recorded; "
                                                   r"recorded: 'm/x'\. Pass it in outputs="):
        r["y"]
    assert "x" in r and "y" not in r and "z" not in r


def test_final_state_by_suffix(res):
    assert res.final_state["rpo_e/v"] == 0.8
    assert res.final_state["pc/rpo_i/v"] == 0.5
    np.testing.assert_array_equal(res.final_state["u"], [12.0, 13.0, 14.0])
    assert set(res.final_state) == {"pc/rpo_e/v", "pc/rpo_i/v", "net/u"}
    with pytest.raises(ModelDefinitionError, match=r"ambiguous"):
        res.final_state["v"]
    assert PathDict({"a/b": 1})["b"] == 1


def test_shape_checks_and_iteration():
    with pytest.raises(ModelDefinitionError, match=r"The samples of 'x' have shape \(4,\); "
                                                   r"expected \(5,\) or \(5, n_units\)"):
        SimulationResult(T, {"x": np.zeros(4)}, {})
    with pytest.raises(ModelDefinitionError, match=r"t must be 1-D"):
        SimulationResult(np.zeros((2, 2)), {}, {})
    r = SimulationResult(T, {"x": T}, {})
    with pytest.raises(TypeError, match=r"not iterable: use res\.paths"):
        list(r)
    assert [p for p, _v in r.items()] == ["x"]


def test_repr_is_a_short_summary(res):
    text = repr(res)
    assert text == ("<SimulationResult: 5 samples, t = 0 .. 1; pc/rpo_e/v, pc/rpo_i/v, "
                    "net/u (3 units)>")
    many = SimulationResult(T, {f"n{i}/x": T for i in range(20)}, {})
    assert repr(many).endswith("n5/x, ... (20 paths)>") and len(repr(many)) < 200


def test_dataframe_single_unit(flat):
    df = flat.to_dataframe()
    assert isinstance(df, pd.DataFrame) and df.shape == (5, 2)
    assert df.index.name == "t" and list(df.columns) == ["a/li/r", "b/li/r"]
    np.testing.assert_array_equal(df.index.to_numpy(), T)
    np.testing.assert_array_equal(df["b/li/r"].to_numpy(), 2 * T)


def test_dataframe_multi_unit(res):
    df = res.to_dataframe()
    assert df.shape == (5, 5)
    assert isinstance(df.columns, pd.MultiIndex)
    assert df.columns.names == ["path", "unit"]
    assert list(df.columns) == [("pc/rpo_e/v", 0), ("pc/rpo_i/v", 0), ("net/u", 0),
                                ("net/u", 1), ("net/u", 2)]
    np.testing.assert_array_equal(df[("net/u", 2)].to_numpy(), res["u"][:, 2])
    np.testing.assert_array_equal(df["net/u"].to_numpy(), res["u"])


def test_plot_default_paths_and_units(res):
    ax = res.plot()
    assert len(ax.get_lines()) == 5              # 2 single-unit + 3 units
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["pc/rpo_e/v", "pc/rpo_i/v", "net/u[0]", "net/u[1]", "net/u[2]"]
    assert ax.get_xlabel() == "t" and ax.get_legend() is not None
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), T)


def test_plot_chosen_paths_units_axes_and_kwargs(res):
    import matplotlib.pyplot as plt

    _fig, given = plt.subplots()
    ax = res.plot("rpo_e/v", "u", ax=given, units=[0, 2], color="k", lw=3)
    assert ax is given and len(ax.get_lines()) == 3
    assert {line.get_color() for line in ax.get_lines()} == {"k"}
    assert [line.get_label() for line in ax.get_lines()][1:] == ["net/u[0]", "net/u[2]"]
    ax = res.plot("u", units=1)
    assert len(ax.get_lines()) == 1 and ax.get_ylabel() == "net/u"
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), res["u"][:, 1])
    with pytest.raises(ModelDefinitionError, match=r"units \[3\] do not exist for 'net/u', "
                                                   r"which has 3 units"):
        res.plot("u", units=[3])
    with pytest.raises(ModelDefinitionError, match=r"ambiguous"):
        res.plot("v")


def test_plot_caps_the_default_at_ten_lines():
    many = SimulationResult(T, {f"n{i}/x": T + i for i in range(14)}, {})
    with pytest.warns(SymratesWarning, match=r"draws the first 10 of 14 recorded paths"):
        ax = many.plot()
    assert len(ax.get_lines()) == 10
    wide = SimulationResult(T, {"net/u": np.zeros((5, 40))}, {})
    with pytest.warns(SymratesWarning, match=r"draws units 0\.\.9 of the 40 of 'net/u'"):
        ax = wide.plot()
    assert len(ax.get_lines()) == 10
    assert len(wide.plot("u").get_lines()) == 40       # asked for by name: all units
    assert wide.plot("u").get_legend() is None          # too many entries for a legend


def test_plotting_helpers():
    ax = axes()
    assert axes(ax) is ax
    assert not add_legend(ax)                            # nothing labelled
    ax.plot([0, 1], [0, 1])                              # matplotlib's "_child0" label
    assert not add_legend(ax)
    ax.plot([0, 1], [1, 0], label=line_label("a/x", 2))
    assert add_legend(ax) and ax.get_legend().get_texts()[0].get_text() == "a/x[2]"
    assert line_label("a/x") == "a/x"


def test_matplotlib_and_pandas_are_imported_lazily():
    import ast
    import importlib

    heavy = {"matplotlib", "pandas", "tqdm"}
    for name in ("symrates.plotting", "symrates.runtime.result", "symrates.runtime.integrate"):
        tree = ast.parse(open(importlib.import_module(name).__file__).read())
        top = set()
        for node in tree.body:        # module level only; TYPE_CHECKING blocks are not run
            if isinstance(node, ast.Import):
                top |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                top.add(node.module.split(".")[0])
        assert not top & heavy, (name, top & heavy)
