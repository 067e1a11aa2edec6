"""Small plotting helpers shared by the result objects.

matplotlib is imported only when something is drawn, never at ``import symrates``; nothing here
changes global matplotlib state (no style sheets, no ``rcParams``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["axes", "line_label", "add_legend"]

#: Above this many labelled lines a legend hides the data; it is left out.
MAX_LEGEND_ENTRIES = 12


def axes(ax: Axes | None = None, *, figsize: tuple[float, float] = (8.0, 3.5)) -> Axes:
    """Return ``ax``, or new Axes on a new figure.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; returned unchanged.
    figsize : tuple of float
        Size in inches of a new figure.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = axes()
    >>> axes(ax) is ax
    True
    """
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _fig, new = plt.subplots(figsize=figsize)
    return new


def line_label(path: str, unit: int | None = None) -> str:
    """Legend label of one plotted line: ``"path"`` or ``"path[unit]"``.

    Examples
    --------
    >>> line_label("pc/rpo_e/v"), line_label("pc/rpo_e/v", 3)
    ('pc/rpo_e/v', 'pc/rpo_e/v[3]')
    """
    return path if unit is None else f"{path}[{unit}]"


def add_legend(ax: Axes, *, max_entries: int = MAX_LEGEND_ENTRIES) -> bool:
    """Add a legend if ``ax`` has between one and ``max_entries`` labelled lines.

    Returns whether a legend was added.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = axes()
    >>> _ = ax.plot([0, 1], [0, 1], label="x")
    >>> add_legend(ax)
    True
    """
    labelled = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    if not 0 < len(labelled) <= max_entries:
        return False
    ax.legend(loc="best", fontsize="small")
    return True


def plot_by_stability(ax: Axes, xs, ys, stable, *, color=None, label=None, first: bool = True,
                      **kwargs):
    """Draw ``ys`` over ``xs`` solid where ``stable`` and dashed elsewhere, one colour.

    Consecutive pieces share their end points so the curve has no gaps. Returns the colour
    used and whether the label is still to be drawn (``first``), for the next curve of the
    same branch.
    """
    start = 0
    n = len(stable)
    for i in range(1, n + 1):
        if i == n or stable[i] != stable[start]:
            stop = min(i + 1, n)
            (line,) = ax.plot(xs[start:stop], ys[start:stop], color=color,
                              linestyle="-" if stable[start] else "--",
                              label=label if first else None, **kwargs)
            color = line.get_color()
            first = False
            start = i
    return color, first
