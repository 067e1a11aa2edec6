"""The result of a simulation: sample times, recorded variables by path, and the final state."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from symrates.errors import ModelDefinitionError, SymratesError, SymratesWarning

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["SimulationResult", "PathDict"]

#: Paths (and units per path) drawn by ``plot()`` when none are chosen.
MAX_DEFAULT_LINES = 10


def _path_index(paths: Sequence[str], model: str) -> Any:
    from symrates.ir.paths import PathIndex

    return PathIndex(paths, model=model)


class PathDict(dict):
    """A dict keyed by full paths that also accepts any unambiguous suffix of a key.

    Examples
    --------
    >>> d = PathDict({"pc/rpo_e/v": 1.0, "pc/rpo_i/v": 2.0})
    >>> d["rpo_i/v"]
    2.0
    """

    def __missing__(self, key: str) -> Any:
        index = _path_index(list(self), "the final state")
        return dict.__getitem__(self, index.resolve(key, what="state"))


class SimulationResult:
    """Recorded samples of a simulation, addressed by path.

    Parameters
    ----------
    t : array_like, shape (n_samples,)
        Sample times.
    data : mapping
        ``{full_path: array}``, each of shape ``(n_samples,)`` or ``(n_samples, n_units)``.
    final_state : mapping
        ``{state_path: float | np.ndarray}``, the state at ``t_end``; looked up by any
        unambiguous suffix.
    resolve : callable, optional
        ``resolve(path) -> full_path``, raising :class:`~symrates.errors.ModelDefinitionError`
        for an unknown or ambiguous path. Default: suffix lookup among the keys of ``data``.

    Attributes
    ----------
    t : np.ndarray
        Sample times.
    final_state : dict
        The state at ``t_end``.
    paths : tuple of str
        Full paths of the recorded variables, in recording order.
    timings : dict
        Seconds spent in parts of the run; :func:`~symrates.simulate` sets ``"integrate_s"``,
        the time loop alone (the compiled kernel or the numpy integrator, with their
        allocation of the recording), without building the problem or the result.

    Notes
    -----
    ``len(res)`` is the number of samples; ``path in res`` tells whether a path resolves to a
    recorded variable.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0.0, 1.0, 3)
    >>> res = SimulationResult(t, {"pc/rpo_e/v": t**2, "pc/rpo_i/v": np.ones((3, 2))},
    ...                        {"pc/rpo_e/v": 1.0, "pc/rpo_i/v": np.ones(2)})
    >>> res["rpo_e/v"]
    array([0.  , 0.25, 1.  ])
    >>> res["rpo_i/v"].shape, len(res), "rpo_e/v" in res
    ((3, 2), 3, True)
    >>> res.to_dataframe().shape
    (3, 3)
    """

    def __init__(
        self,
        t: np.ndarray,
        data: Mapping[str, np.ndarray],
        final_state: Mapping[str, Any],
        resolve: Callable[[str], str] | None = None,
    ) -> None:
        self.t = np.asarray(t, dtype=float)
        if self.t.ndim != 1:
            raise ModelDefinitionError(f"t must be 1-D; got shape {self.t.shape}.")
        n = self.t.size
        self._data: dict[str, np.ndarray] = {}
        for path, values in data.items():
            arr = np.asarray(values)
            if arr.ndim not in (1, 2) or arr.shape[0] != n:
                raise ModelDefinitionError(
                    f"The samples of {path!r} have shape {arr.shape}; expected ({n},) or "
                    f"({n}, n_units) for {n} sample times."
                )
            self._data[path] = arr
        self.final_state = PathDict(final_state)
        self.timings: dict[str, float] = {}
        self._resolve = resolve if resolve is not None else self._default_resolver()

    def _default_resolver(self) -> Callable[[str], str]:
        index = _path_index(list(self._data), "the result")
        return lambda path: index.resolve(path, what="recorded variable")

    # -- mapping-like access ----------------------------------------------------------------

    @property
    def paths(self) -> tuple[str, ...]:
        """Full paths of the recorded variables."""
        return tuple(self._data)

    def _full(self, path: str) -> str:
        full = self._resolve(path)
        if full not in self._data:
            raise ModelDefinitionError(
                f"{path!r} ({full!r}) was not recorded; recorded: "
                f"{', '.join(repr(p) for p in self.paths[:8])}"
                f"{' and more' if len(self.paths) > 8 else ''}. Pass it in outputs= to record it."
            )
        return full

    def __getitem__(self, path: str) -> np.ndarray:
        """The samples of ``path`` (any unambiguous suffix): ``(n_samples,)`` or
        ``(n_samples, n_units)``."""
        return self._data[self._full(path)]

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        try:
            return self._resolve(path) in self._data
        except (SymratesError, KeyError, ValueError):
            return False

    def __len__(self) -> int:
        return self.t.size

    def __iter__(self) -> Iterator[str]:
        raise TypeError(
            "SimulationResult is not iterable: use res.paths for the recorded paths, res.items() "
            "for (path, samples) pairs, or res.t for the sample times."
        )

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(full_path, samples)`` pairs in recording order."""
        return iter(self._data.items())

    def __repr__(self) -> str:
        def describe(path: str) -> str:
            arr = self._data[path]
            return path if arr.ndim == 1 else f"{path} ({arr.shape[1]} units)"

        shown = ", ".join(describe(p) for p in self.paths[:6])
        more = f", ... ({len(self.paths)} paths)" if len(self.paths) > 6 else ""
        span = f"t = {self.t[0]:g} .. {self.t[-1]:g}" if self.t.size else "no samples"
        return f"<SimulationResult: {self.t.size} samples, {span}; {shown}{more}>"

    # -- export -----------------------------------------------------------------------------

    def to_dataframe(self) -> pd.DataFrame:
        """Return the samples as a pandas DataFrame indexed by ``t``.

        Columns are the paths; when any recorded variable has several units the columns are a
        MultiIndex ``(path, unit)`` (a single-unit variable gets unit 0).

        Examples
        --------
        >>> import numpy as np
        >>> res = SimulationResult([0.0, 1.0], {"a/x": np.zeros((2, 3)), "b/y": np.ones(2)}, {})
        >>> list(res.to_dataframe().columns)
        [('a/x', 0), ('a/x', 1), ('a/x', 2), ('b/y', 0)]
        """
        import pandas as pd

        index = pd.Index(self.t, name="t")
        if all(v.ndim == 1 for v in self._data.values()):
            frame = pd.DataFrame(dict(self._data), index=index)
            frame.columns.name = "path"
            return frame
        blocks, tuples = [], []
        for path, values in self._data.items():
            block = values.reshape(self.t.size, -1)
            blocks.append(block)
            tuples.extend((path, u) for u in range(block.shape[1]))
        columns = pd.MultiIndex.from_tuples(tuples, names=["path", "unit"])
        return pd.DataFrame(np.column_stack(blocks), index=index, columns=columns)

    def plot(
        self,
        *paths: str,
        ax: Axes | None = None,
        units: int | Sequence[int] | None = None,
        **line_kwargs: Any,
    ) -> Axes:
        """Plot recorded variables against time.

        Parameters
        ----------
        *paths : str
            Variables to plot (any unambiguous suffix). Default: the recorded paths, at most
            ten (a :class:`~symrates.errors.SymratesWarning` says when some are left out).
        ax : matplotlib.axes.Axes, optional
            Axes to draw into; default a new figure.
        units : int or sequence of int, optional
            Which units of multi-unit variables to draw. Default: all when ``paths`` are given,
            else at most ten per variable.
        **line_kwargs
            Passed to ``Axes.plot`` (e.g. ``color``, ``lw``; ``label`` replaces the default).

        Returns
        -------
        matplotlib.axes.Axes

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> res = SimulationResult([0.0, 1.0], {"a/x": np.zeros(2), "b/y": np.ones((2, 3))}, {})
        >>> len(res.plot().get_lines()), len(res.plot("y", units=[0, 2]).get_lines())
        (4, 2)
        """
        from symrates.plotting import add_legend, axes, line_label

        if paths:
            chosen = [self._full(p) for p in paths]
        else:
            chosen = list(self.paths[:MAX_DEFAULT_LINES])
            if len(self.paths) > MAX_DEFAULT_LINES:
                warnings.warn(
                    f"plot() draws the first {MAX_DEFAULT_LINES} of {len(self.paths)} recorded "
                    "paths; name the ones you want: res.plot('path', ...).",
                    SymratesWarning,
                    stacklevel=2,
                )
        ax = axes(ax)
        for path in chosen:
            values = self._data[path]
            if values.ndim == 1:
                ax.plot(self.t, values, **{"label": line_label(path), **line_kwargs})
                continue
            for u in self._units(path, values.shape[1], units, capped=not paths):
                ax.plot(self.t, values[:, u], **{"label": line_label(path, u), **line_kwargs})
        ax.set_xlabel("t")
        if len(chosen) == 1:
            ax.set_ylabel(chosen[0])
        add_legend(ax)
        return ax

    @staticmethod
    def _units(
        path: str, n_units: int, units: int | Sequence[int] | None, *, capped: bool
    ) -> list[int]:
        if units is None:
            if capped and n_units > MAX_DEFAULT_LINES:
                warnings.warn(
                    f"plot() draws units 0..{MAX_DEFAULT_LINES - 1} of the {n_units} of {path!r}; "
                    "choose others with units=[...].",
                    SymratesWarning,
                    stacklevel=3,
                )
                return list(range(MAX_DEFAULT_LINES))
            return list(range(n_units))
        chosen = [int(units)] if np.isscalar(units) else [int(u) for u in units]
        bad = [u for u in chosen if not -n_units <= u < n_units]
        if bad:
            raise ModelDefinitionError(
                f"units {bad} do not exist for {path!r}, which has {n_units} units "
                f"(0..{n_units - 1})."
            )
        return [u % n_units for u in chosen]
