"""State vectors as ``{path: value}`` and their column names (single units and networks)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir.system import SymbolicSystem

__all__ = ["state_dict", "flat_state_names", "short_name"]


def state_dict(system: SymbolicSystem, y: np.ndarray) -> dict[str, Any]:
    """``{state path: value}``; an array with one entry per copy for network states."""
    out: dict[str, Any] = {}
    for path, (g, _var, off, length) in system.layout.items():
        out[path] = float(y[off]) if g.scalar_paths else np.array(y[off:off + length])
    return out


def flat_state_names(system: SymbolicSystem) -> list[str]:
    """One name per entry of the state vector: the path, or ``path[k]`` for network copies."""
    names = []
    for path, (_g, _var, _off, length) in system.layout.items():
        names += [path] if length == 1 else [f"{path}[{k}]" for k in range(length)]
    return names


def short_name(system: SymbolicSystem, name: str) -> str:
    """The shortest unambiguous path of a flat state name (keeps a ``[k]`` copy index)."""
    base, bracket, rest = name.partition("[")
    return system.index.short(base) + bracket + rest
