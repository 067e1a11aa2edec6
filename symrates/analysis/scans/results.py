"""Results of scans and sweeps: observables shaped like the grid, addressed by path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import ModelDefinitionError, SymratesError
from ...ir.paths import PathIndex
from .spec import Axis

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr
    from matplotlib.axes import Axes

__all__ = ["ScanResult", "SweepResult"]

#: Lines drawn per plot for a network model's units.
MAX_UNIT_LINES = 10


def _xarray():
    try:
        import xarray
    except ImportError as exc:
        raise SymratesError(
            "to_xarray() needs xarray, which is not installed. Install it with "
            "python -m pip install xarray (or the extra: python -m pip install 'symrates[dask]')."
        ) from exc
    return xarray


class _Observed:
    """Observables ``{(name, statistic): array}`` with a leading shape and an optional unit axis.

    ``units[name]`` is the number of units per parameter set (a network model's nodes) or 0 when
    the signal has one value per set (no unit axis).
    """

    def __init__(self, model: str, lead: tuple[int, ...], observables: Mapping[tuple, np.ndarray],
                 units: Mapping[str, int], attrs: Mapping[str, Any]) -> None:
        self.model = model
        self._lead = lead
        self._obs = dict(observables)
        self._units = dict(units)
        self.attrs = dict(attrs)
        self._index = PathIndex(list(self._units), model=f"the results of {model!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """The observed signals: full paths and expression names."""
        return tuple(self._units)

    def statistics(self, name: str) -> tuple[str, ...]:
        """The statistics computed for a signal."""
        full = self._index.resolve(name, what="observed signal")
        return tuple(s for (n, s) in self._obs if n == full)

    def _key(self, key: Any) -> tuple[str, str]:
        if isinstance(key, str):
            name, stat = key, "mean"
        elif (isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key)):
            name, stat = key
        else:
            raise ModelDefinitionError(
                f"Index results with a path or expression name, or (name, statistic), e.g. "
                f"res['r'] or res['r', 'std']; got {key!r}."
            )
        full = self._index.resolve(name, what="observed signal")
        if (full, stat) not in self._obs:
            have = ", ".join(self.statistics(full)) or "none"
            raise ModelDefinitionError(
                f"The statistic {stat!r} of {full!r} was not computed (computed: {have}). Ask for "
                f"it with observables={{{name!r}: [{stat!r}, ...]}}."
            )
        return full, stat

    def __getitem__(self, key: Any) -> np.ndarray:
        return self._obs[self._key(key)]

    def __contains__(self, key: object) -> bool:
        try:
            self._key(key)
        except SymratesError:
            return False
        return True

    def _unit_axis(self) -> int:
        return max(self._units.values(), default=0)

    def _stacked(self, name: str, stats: Sequence[str], n_u: int) -> np.ndarray:
        """``lead + (observable,) + (unit,)?`` with NaN where a statistic is missing."""
        shape = self._lead + ((n_u,) if n_u else ())
        out = np.full(self._lead + (len(stats),) + shape[len(self._lead):], np.nan)
        for i, stat in enumerate(stats):
            if (name, stat) in self._obs:
                out[(slice(None),) * len(self._lead) + (i,)] = np.broadcast_to(
                    self._obs[name, stat], shape)
        return out

    def _all_stats(self) -> list[str]:
        return list(dict.fromkeys(s for (_n, s) in self._obs))

    def _frame(self, index_arrays: dict[str, np.ndarray]) -> pd.DataFrame:
        import pandas as pd

        n_u = self._unit_axis()
        n = int(np.prod(self._lead))
        columns, blocks = [], []
        for (name, stat), arr in self._obs.items():
            a = np.broadcast_to(arr, self._lead + ((n_u,) if n_u else ())).reshape(n, -1)
            blocks.append(a.reshape(-1))
            columns.append((name, stat))
        levels = {k: np.asarray(v).reshape(n) for k, v in index_arrays.items()}
        if n_u:
            levels = {k: np.repeat(v, n_u) for k, v in levels.items()}
            levels["unit"] = np.tile(np.arange(n_u), n)
        index = pd.MultiIndex.from_arrays(list(levels.values()), names=list(levels))
        cols = pd.MultiIndex.from_tuples(columns, names=["signal", "observable"])
        return pd.DataFrame(np.column_stack(blocks), index=index, columns=cols)

    def _pick(self, key: Any) -> tuple[str, str]:
        if key is None:
            if len(self._units) != 1:
                raise ModelDefinitionError(
                    f"plot() needs the signal to draw: one of {', '.join(self.names[:8])}"
                    f"{' ...' if len(self.names) > 8 else ''}, e.g. plot('r') or "
                    "plot(('r', 'std'))."
                )
            name = self.names[0]
            return name, self.statistics(name)[0]
        return self._key(key)


class ScanResult(_Observed):
    """The result of :func:`symrates.scan`.

    ``sc[path]`` is the time mean of a signal over the window, shaped like the grid (plus a unit
    axis for network models); ``sc[path, name]`` any other statistic that was computed.

    Attributes
    ----------
    axes : tuple of Axis
        The grid axes (each one or more parameters moving together).
    shape : tuple of int
        The grid's shape.
    dims : tuple of str
        The first parameter path of each axis.
    failed : np.ndarray of bool
        Sets whose chunk failed (their observables are NaN); all False after a successful scan.
    t : np.ndarray or None
        Sample times of the recorded trajectories (``record=``).
    attrs : dict
        The scan's settings (``t_end``, ``dt``, ``method``, ``window``, ``seed``, ...).

    Examples
    --------
    >>> import symrates as sr
    >>> sc = sr.scan("montbrio.QIF", {"eta": [-6.0, -5.0, -4.0]}, t_end=1.0, dt=1e-2,
    ...              observables={"r": ["mean", "final"]})
    >>> sc.shape, sc["r"].shape, sc.statistics("r")
    ((3,), (3,), ('mean', 'final'))
    >>> sc.parameter_values("eta")
    array([-6., -5., -4.])
    >>> sc.to_dataframe().columns.tolist()
    [('QIF/QIF_op/r', 'mean'), ('QIF/QIF_op/r', 'final')]
    """

    def __init__(self, model: str, axes: Sequence[Axis], observables: Mapping[tuple, np.ndarray],
                 units: Mapping[str, int], attrs: Mapping[str, Any], *,
                 failed: np.ndarray | None = None, t: np.ndarray | None = None,
                 trajectories: Mapping[str, np.ndarray] | None = None) -> None:
        self.axes = tuple(axes)
        self.shape = tuple(a.size for a in self.axes)
        super().__init__(model, self.shape, observables, units, attrs)
        self.failed = np.zeros(self.shape, bool) if failed is None else failed
        self.t = t
        self._traj = dict(trajectories or {})

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def parameter_values(self, path: str) -> np.ndarray:
        """The value of a swept parameter at every grid point (shaped like the grid)."""
        swept = [p for a in self.axes for p in a.paths]
        full = PathIndex(swept, model=f"the parameters swept in {self.model!r}").resolve(
            path, what="swept parameter")
        for i, a in enumerate(self.axes):
            if full in a.paths:
                shape = [1] * len(self.axes)
                shape[i] = a.size
                column = a.values[:, a.paths.index(full)]
                return np.broadcast_to(column.reshape(shape), self.shape)
        raise AssertionError(full)  # pragma: no cover

    def trajectory(self, name: str) -> np.ndarray:
        """A recorded trajectory: ``shape + (n_times,)`` (plus units), times in :attr:`t`."""
        full = self._index.resolve(name, what="observed signal")
        if full not in self._traj:
            raise ModelDefinitionError(
                f"No trajectory of {full!r} was recorded; pass record=True (or record=[{name!r}]) "
                f"to scan()."
            )
        return self._traj[full]

    def __repr__(self) -> str:
        grid = " x ".join(f"{a.name} ({a.size})" for a in self.axes)
        return (f"<ScanResult of {self.model!r}: {grid}; {len(self.names)} signals"
                f"{f', {int(self.failed.sum())} failed sets' if self.failed.any() else ''}>")

    def to_xarray(self) -> xr.Dataset:
        """An :class:`xarray.Dataset`: one variable per signal with dimensions = the swept
        parameters (first path of each axis), ``observable`` and, for network models, ``unit``;
        recorded trajectories as ``"trajectory:<name>"`` with a ``time`` dimension."""
        xr = _xarray()
        coords: dict[str, Any] = {}
        for a in self.axes:
            coords[a.name] = a.values[:, 0]
            for j, p in enumerate(a.paths[1:], start=1):
                coords[p] = (a.name, a.values[:, j])
        stats = self._all_stats()
        coords["observable"] = stats
        data = {}
        for name, n_u in self._units.items():
            dims = (*self.dims, "observable") + (("unit",) if n_u else ())
            data[name] = (dims, self._stacked(name, stats, n_u))
        for name, arr in self._traj.items():
            dims = (*self.dims, "time") + (("unit",) if arr.ndim > len(self.dims) + 1 else ())
            data[f"trajectory:{name}"] = (dims, arr)
        if self._traj:
            coords["time"] = self.t
        ds = xr.Dataset(data, coords=coords, attrs={k: v for k, v in self.attrs.items()
                                                    if v is not None})
        ds.attrs["model"] = self.model
        return ds

    def to_dataframe(self) -> pd.DataFrame:
        """One row per parameter set (and unit): index levels = swept parameters (and
        ``unit``), columns ``(signal, observable)``."""
        return self._frame({p: self.parameter_values(p) for a in self.axes for p in a.paths})

    def plot(self, key: Any = None, *, ax: Axes | None = None, unit: int | None = None,
             **kwargs: Any) -> Axes:
        """A line over one swept parameter, a heat map over two.

        Parameters
        ----------
        key : str or (str, str), optional
            Signal (and statistic) to draw; optional when one signal was observed.
        ax : matplotlib Axes, optional
        unit : int, optional
            For network models: the unit to draw (default: up to ten lines; required for maps).
        **kwargs
            Passed to ``Axes.plot`` or ``Axes.pcolormesh``.
        """
        from ...plotting import add_legend, axes

        name, stat = self._pick(key)
        data = self._obs[name, stat]
        n_u = self._units[name]
        if n_u and unit is not None:
            data = data[..., unit]
        ax = axes(ax)
        if len(self.axes) == 1:
            x = self.axes[0].values[:, 0]
            if n_u and unit is None:
                for u in range(min(n_u, MAX_UNIT_LINES)):
                    ax.plot(x, data[:, u], label=f"unit {u}", **kwargs)
                add_legend(ax)
            else:
                ax.plot(x, data, **kwargs)
            ax.set_xlabel(self.axes[0].name)
            ax.set_ylabel(f"{stat} of {name}")
            return ax
        if len(self.axes) != 2:
            raise ModelDefinitionError(
                f"plot() draws one swept parameter (a line) or two (a heat map); this scan has "
                f"{len(self.axes)}. Select a slice: sc.to_xarray()[{name!r}].sel(...).plot()."
            )
        if n_u and unit is None:
            raise ModelDefinitionError(
                f"{name!r} has {n_u} units per parameter set; choose one for the map: "
                f"plot({name!r}, unit=0)."
            )
        x, y = self.axes[0].values[:, 0], self.axes[1].values[:, 0]
        mesh = ax.pcolormesh(x, y, np.asarray(data).T, shading="nearest", **kwargs)
        ax.figure.colorbar(mesh, ax=ax, label=f"{stat} of {name}")
        ax.set_xlabel(self.axes[0].name)
        ax.set_ylabel(self.axes[1].name)
        return ax


class SweepResult(_Observed):
    """The result of :func:`symrates.sweep`.

    ``sw[path]`` (and ``sw[path, name]``) has a leading axis over :attr:`directions` and then one
    entry per value of :attr:`values` (ascending: the order of the "up" direction), whichever
    direction visited it.

    Attributes
    ----------
    parameter : str
        The swept parameter's full path (the first one when several move together).
    paths : tuple of str
        All swept paths.
    values : np.ndarray
        The swept values in ascending order (first path).
    directions : tuple of str
        ``("up",)``, ``("down",)`` or ``("up", "down")``.
    final : np.ndarray
        The final state of every run, ``(n_directions, n_values, n_states)``.

    Examples
    --------
    >>> import symrates as sr
    >>> sw = sr.sweep("montbrio.QIF", "eta", [-4.0, -6.0], t_end=5.0, dt=1e-2,
    ...               observables={"r": "final"})
    >>> sw.directions, sw.values, sw["r", "final"].shape
    (('up', 'down'), array([-6., -4.]), (2, 2))
    """

    def __init__(self, model: str, axis: Axis, directions: Sequence[str],
                 observables: Mapping[tuple, np.ndarray], units: Mapping[str, int],
                 attrs: Mapping[str, Any], final: np.ndarray, states: Sequence[str]) -> None:
        self.axis = axis
        self.parameter = axis.name
        self.paths = axis.paths
        self.values = axis.values[:, 0]
        self.directions = tuple(directions)
        self.final = final
        self.states = tuple(states)
        super().__init__(model, (len(self.directions), axis.size), observables, units, attrs)

    def __repr__(self) -> str:
        return (f"<SweepResult of {self.model!r}: {self.parameter} over {self.axis.size} values, "
                f"directions {self.directions}; {len(self.names)} signals>")

    def to_xarray(self) -> xr.Dataset:
        """An :class:`xarray.Dataset` with dimensions ``direction``, the swept parameter,
        ``observable`` (and ``unit`` for network models)."""
        xr = _xarray()
        coords: dict[str, Any] = {"direction": list(self.directions),
                                  self.parameter: self.values, "observable": self._all_stats()}
        for j, p in enumerate(self.paths[1:], start=1):
            coords[p] = (self.parameter, self.axis.values[:, j])
        data = {}
        for name, n_u in self._units.items():
            dims = ("direction", self.parameter, "observable") + (("unit",) if n_u else ())
            data[name] = (dims, self._stacked(name, coords["observable"], n_u))
        ds = xr.Dataset(data, coords=coords, attrs={k: v for k, v in self.attrs.items()
                                                    if v is not None})
        ds.attrs["model"] = self.model
        return ds

    def to_dataframe(self) -> pd.DataFrame:
        """One row per (direction, value) (and unit); columns ``(signal, observable)``."""
        d = np.repeat(np.array(self.directions, dtype=object), self.axis.size)
        idx = {"direction": d}
        for j, p in enumerate(self.paths):
            idx[p] = np.tile(self.axis.values[:, j], len(self.directions))
        return self._frame(idx)

    def plot(self, key: Any = None, *, ax: Axes | None = None, unit: int | None = None,
             **kwargs: Any) -> Axes:
        """One line per direction against the swept parameter (hysteresis shows as a loop)."""
        from ...plotting import add_legend, axes

        name, stat = self._pick(key)
        data = self._obs[name, stat]
        if self._units[name]:
            data = data[..., 0 if unit is None else unit]
        ax = axes(ax)
        styles = {"up": {"marker": "^"}, "down": {"marker": "v"}}
        for i, d in enumerate(self.directions):
            ax.plot(self.values, data[i], label=d, **{**styles.get(d, {}), "ms": 3, **kwargs})
        ax.set_xlabel(self.parameter)
        ax.set_ylabel(f"{stat} of {name}")
        add_legend(ax)
        return ax
