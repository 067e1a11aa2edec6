"""The result of a simulation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["SimulationResult"]


class SimulationResult:
    """Recorded samples of a simulation.

    Attributes
    ----------
    t : np.ndarray
        Sample times.
    final_state : dict
        ``{state path: float | np.ndarray}``, the state at ``t_end``.
    paths : tuple of str
        Full paths of the recorded variables.

    Examples
    --------
    >>> import symrates as sr
    >>> res = sr.simulate("jansen_rit.JR6", 0.5, dt=1e-4, outputs=["y1", "y2"])
    >>> v = res["y1"] - res["y2"]          # any unambiguous suffix of a recorded path
    >>> df = res.to_dataframe()
    """

    def __init__(
        self,
        t: np.ndarray,
        data: Mapping[str, np.ndarray],
        final_state: Mapping[str, Any],
        resolve: Callable[[str], str],
    ) -> None:
        self.t = np.asarray(t)
        self._data = dict(data)
        self.final_state = dict(final_state)
        self._resolve = resolve

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self._data)

    def __getitem__(self, path: str) -> np.ndarray:
        return self._data[self._resolve(path)]

    def __contains__(self, path: object) -> bool:
        try:
            self._resolve(path)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - any failure means "not recorded"
            return False
        return True

    def __len__(self) -> int:
        return len(self.t)

    def __repr__(self) -> str:
        shown = ", ".join(self.paths[:4]) + (", ..." if len(self.paths) > 4 else "")
        end = float(self.t[-1]) if len(self.t) else 0.0
        return f"<SimulationResult: {len(self.t)} samples to t = {end:g}; {shown}>"

    def to_dataframe(self):
        """A pandas DataFrame indexed by ``t``: one column per path, or ``(path, unit)``
        columns when any recorded variable has several units."""
        import pandas as pd

        index = pd.Index(self.t, name="t")
        if all(v.ndim == 1 for v in self._data.values()):
            return pd.DataFrame({p: v for p, v in self._data.items()}, index=index)
        columns = {}
        for p, v in self._data.items():
            v2 = v.reshape(len(self.t), -1)
            for u in range(v2.shape[1]):
                columns[(p, u)] = v2[:, u]
        frame = pd.DataFrame(columns, index=index)
        frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["path", "unit"])
        return frame

    def plot(self, *paths: str, ax=None, units=None, **line_kwargs):
        """Plot recorded variables against time; returns the matplotlib Axes.

        Parameters
        ----------
        *paths : str
            What to plot (default: the first ten recorded paths).
        ax : matplotlib Axes, optional
        units : sequence of int, optional
            For variables with several units, which to draw (default all).
        **line_kwargs
            Passed to ``Axes.plot``.
        """
        from ..plotting import axes

        ax = axes(ax)
        chosen = [self._resolve(p) for p in paths] if paths else list(self.paths[:10])
        for p in chosen:
            v = self._data[p]
            if v.ndim == 1:
                ax.plot(self.t, v, label=p, **line_kwargs)
            else:
                for u in (range(v.shape[1]) if units is None else units):
                    ax.plot(self.t, v[:, u], label=f"{p}[{u}]", **line_kwargs)
        ax.set_xlabel("t")
        if len(ax.get_lines()) <= 12:
            ax.legend(loc="best", fontsize="small")
        return ax
