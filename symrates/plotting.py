"""Small plotting helpers (matplotlib is imported only when something is drawn)."""

from __future__ import annotations

__all__ = ["axes"]


def axes(ax=None):
    """Return ``ax``, or new Axes on a new figure."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _fig, new = plt.subplots(figsize=(8, 3.5))
    return new
