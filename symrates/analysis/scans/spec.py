"""What a scan varies and what it measures: grid axes, observed signals and their statistics.

Everything here runs in the calling process before any simulation, so that a mistake in the grid,
an observable or an expression is reported up front, with the model's names.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from ...errors import ModelDefinitionError
from ...frontend.parsing import TIME, parse_expression
from ...ir.paths import split
from ...ir.system import SymbolicSystem

__all__ = ["STATISTICS", "SPECTRAL", "CONST", "Axis", "Signal", "base_path", "parse_grid",
           "parse_signals"]

#: Statistics of a signal over the window (the last ``window`` fraction of ``t_end``).
STATISTICS = {
    "mean": "time mean over the window",
    "std": "standard deviation over the window (ddof = 0)",
    "min": "minimum over the window",
    "max": "maximum over the window",
    "final": "value at t_end",
    "frequency": "dominant frequency of the window's Welch spectrum, in 1/(the model's time unit) "
                 "(0 for a constant signal; a drift without oscillation shows as the lowest "
                 "resolved frequency, 1/segment length)",
    "power": "power spectral density at the dominant frequency (Welch, one-sided, density)",
}
#: Statistics that need the spectrum.
SPECTRAL = ("frequency", "power")


@dataclass(frozen=True)
class Axis:
    """One axis of the grid: one or more parameters that move together.

    Attributes
    ----------
    paths : tuple of str
        Full parameter paths; the first names the axis (its dimension in ``to_xarray``).
    values : np.ndarray, shape (size, len(paths))
        The values along the axis.
    """

    paths: tuple[str, ...]
    values: np.ndarray

    @property
    def name(self) -> str:
        return self.paths[0]

    @property
    def size(self) -> int:
        return self.values.shape[0]


def _parameter(system: SymbolicSystem, path: Any, option: str) -> str:
    if not isinstance(path, str):
        raise ModelDefinitionError(
            f"{option} of {system.name!r} takes parameter paths (str) as keys, got {path!r}."
        )
    full = system.resolve(path, what="parameter")
    if full not in system.parameters:
        kind = "a state" if full in system.layout else "an algebraic variable"
        raise ModelDefinitionError(
            f"{option} of {system.name!r} names {path!r} ({full!r}), which is {kind}; only "
            f"parameters (and the constant parts of inputs) can be scanned. Parameters: "
            f"{', '.join(list(system.parameters)[:8])}."
        )
    return full


def _values(system: SymbolicSystem, key: Any, raw: Any, k: int) -> np.ndarray:
    try:
        arr = np.array(raw, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ModelDefinitionError(
            f"The grid values of {key!r} in the scan of {system.name!r} must be numbers, got "
            f"{raw!r}."
        ) from exc
    if k > 1 and arr.ndim == 2 and arr.shape[1] == k:
        pass
    elif arr.ndim == 1 and k == 1:
        arr = arr[:, None]
    else:
        want = "(n,)" if k == 1 else f"(n, {k}) (one column per path of the tuple)"
        raise ModelDefinitionError(
            f"The grid values of {key!r} in the scan of {system.name!r} must have shape {want}, "
            f"got shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise ModelDefinitionError(
            f"The grid values of {key!r} in the scan of {system.name!r} are empty; give at "
            "least one value."
        )
    if not np.all(np.isfinite(arr)):
        raise ModelDefinitionError(
            f"The grid values of {key!r} in the scan of {system.name!r} must be finite."
        )
    return arr


def parse_grid(system: SymbolicSystem, grid: Any, *, zip_: bool) -> list[Axis]:
    """The axes of ``grid`` (``{path | (path, ...): values}``): one per key, or one in all
    for ``zip_``."""
    if not isinstance(grid, Mapping) or not grid:
        raise ModelDefinitionError(
            f"grid of the scan of {system.name!r} must be a non-empty mapping {{path: values}}, "
            f"e.g. {{'eta': np.linspace(-6, -4, 21)}}; got {grid!r}."
        )
    axes, seen = [], {}
    for key, raw in grid.items():
        paths = key if isinstance(key, tuple) else (key,)
        if not paths:
            raise ModelDefinitionError(f"An empty tuple is not a grid key (scan of "
                                       f"{system.name!r}); give one or more parameter paths.")
        full = tuple(_parameter(system, p, "grid") for p in paths)
        for p, f in zip(paths, full):
            if f in seen:
                raise ModelDefinitionError(
                    f"The parameter {f!r} appears twice in the grid of {system.name!r} (as "
                    f"{seen[f]!r} and {p!r}); give each parameter once."
                )
            seen[f] = p
        axes.append(Axis(full, _values(system, key, raw, len(full))))
    if zip_ and len(axes) > 1:
        sizes = {a.name: a.size for a in axes}
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{k}: {v}" for k, v in sizes.items())
            raise ModelDefinitionError(
                f"zip=True pairs the grid values, so all must have the same length; got {listed}. "
                f"Use zip=False for the full product."
            )
        axes = [Axis(tuple(p for a in axes for p in a.paths),
                     np.concatenate([a.values for a in axes], axis=1))]
    return axes


# ------------------------------------------------------------------------------------------------
# Signals: model variables and user expressions, each with the statistics asked for
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signal:
    """A time series observed during the window.

    ``expr`` is a sympy expression in symbols named by full paths (states, parameters, or
    variables the simulator records) and :data:`~symrates.frontend.parsing.TIME`.
    """

    name: str
    expr: sympy.Expr
    stats: tuple[str, ...]
    text: str = ""

    @property
    def symbols(self) -> tuple[sympy.Symbol, ...]:
        return tuple(sorted((s for s in self.expr.free_symbols if s != TIME), key=str))


def _stats(value: Any, where: str) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, Sequence) or not names or not all(isinstance(n, str) for n in names):
        raise ModelDefinitionError(
            f"{where} must be a statistic name or a list of them ({', '.join(STATISTICS)}), got "
            f"{value!r}."
        )
    unknown = [n for n in names if n not in STATISTICS]
    if unknown:
        raise ModelDefinitionError(
            f"Unknown statistic {unknown[0]!r} in {where}; choose from {', '.join(STATISTICS)} "
            "(user-defined signals go in expressions={name: 'text'})."
        )
    return tuple(dict.fromkeys(names))


def path_symbol(path: str) -> sympy.Symbol:
    return sympy.Symbol(path, real=True)


#: Suffix of the symbol of an input's constant part (its parameter), as opposed to the input's
#: full value (constant part plus what edges and chained operators add).
CONST = ":const"


def base_path(name: str) -> str:
    """The model path of a signal symbol's name."""
    return name[:-len(CONST)] if name.endswith(CONST) else name


def _value_expr(system: SymbolicSystem, full: str, driven: frozenset[str] = frozenset()
                ) -> sympy.Expr:
    """``full`` as an expression of states and parameters where possible, else its own symbol
    (then the simulator records it: variables fed by coupling sums or by driven inputs)."""
    if full in system.layout or (full in system.parameters and full not in system.inputs):
        return path_symbol(full)
    group, local, node_i = system.locate(full)
    node = group.nodes[node_i]
    subs = {}
    for sym in group.value_of(local).free_symbols:
        if sym == TIME:
            continue
        name = next((k for k, s in group.symbols.items() if s == sym and k in group.states), None)
        path = None if name is None else f"{node}/{name}"
        if path is None:
            name = next((k for k, s in group.param_symbols.items() if s == sym), None)
            path = None if name is None else f"{node}/{name}"
            if path is not None and path in system.inputs:
                if path in driven:
                    return path_symbol(full)
                path += CONST
        if path is None:
            return path_symbol(full)
        subs[sym] = path_symbol(path)
    return group.value_of(local).xreplace(subs)


def _identifiers(system: SymbolicSystem) -> dict[str, str]:
    """Expression identifiers -> full paths: every unambiguous suffix, parts joined by ``__``."""
    out: dict[str, str | None] = {}
    for full in system.index.paths:
        parts = split(full)
        for k in range(1, len(parts) + 1):
            ident = "__".join(parts[-k:])
            if ident.isidentifier():
                out[ident] = full if ident not in out or out[ident] == full else None
    return {k: v for k, v in out.items() if v is not None and k != "t"}


def parse_signals(system: SymbolicSystem, observables: Any, expressions: Any, *,
                  driven: frozenset[str] = frozenset()) -> list[Signal]:
    """The observed signals with their statistics.

    ``observables``: None (the mean of every state and expression), a statistic or list of them
    (for every state and expression), or ``{path or expression name: statistic(s)}``.
    ``expressions``: ``{name: text}``, symbolic expressions of the model's variables.
    """
    exprs: dict[str, tuple[sympy.Expr, str]] = {}
    if expressions is not None:
        if not isinstance(expressions, Mapping):
            raise ModelDefinitionError(
                f"expressions= of the scan of {system.name!r} must be a mapping {{name: "
                f"'expression text'}}, e.g. {{'eeg': 'y1 - y2'}}; got {expressions!r}."
            )
        idents = _identifiers(system)
        symbols = {k: sympy.Symbol(k, real=True) for k in idents}
        for name, text in expressions.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ModelDefinitionError(
                    f"The expression name {name!r} in the scan of {system.name!r} must be a "
                    "plain identifier such as 'eeg'."
                )
            if name in system.index.paths or system.index.matches(name):
                clash = ", ".join(system.index.matches(name)) or name
                raise ModelDefinitionError(
                    f"The expression name {name!r} is already a variable of {system.name!r} "
                    f"({clash}); choose another name."
                )
            if not isinstance(text, str):
                raise ModelDefinitionError(
                    f"The expression {name!r} in the scan of {system.name!r} must be text such "
                    f"as 'y1 - y2', got {text!r}."
                )
            parsed = parse_expression(text, symbols, path=f"expression {name!r} of the scan")
            subs = {symbols[k]: _value_expr(system, idents[k], driven)
                    for k in (str(s) for s in parsed.free_symbols if s != TIME)}
            exprs[name] = (sympy.sympify(parsed).xreplace(subs), text)

    def signal(key: str, stats: tuple[str, ...]) -> Signal:
        if key in exprs:
            return Signal(key, exprs[key][0], stats, exprs[key][1])
        full = system.resolve(key, what="variable or expression")
        return Signal(full, _value_expr(system, full, driven), stats)

    if observables is None or isinstance(observables, (str, list, tuple)):
        stats = ("mean",) if observables is None else _stats(observables, "observables=")
        keys = list(system.states) + list(exprs)
        return [signal(k, stats) for k in keys]
    if not isinstance(observables, Mapping) or not observables:
        raise ModelDefinitionError(
            f"observables= of the scan of {system.name!r} must be a statistic, a list of them, "
            f"or a non-empty mapping {{path: statistics}}; got {observables!r}."
        )
    out: dict[str, Signal] = {}
    for key, value in observables.items():
        if not isinstance(key, str):
            raise ModelDefinitionError(
                f"observables= keys must be variable paths or expression names, got {key!r}."
            )
        s = signal(key, _stats(value, f"observables[{key!r}]"))
        if s.name in out:
            raise ModelDefinitionError(
                f"{key!r} names {s.name!r}, which observables= already lists; give it once."
            )
        out[s.name] = s
    return list(out.values())


def check_window(window: Any) -> float:
    if isinstance(window, bool) or not isinstance(window, numbers.Real) or not (
            0 < float(window) <= 1) or math.isnan(window):
        raise ModelDefinitionError(
            f"window must be a fraction of t_end in (0, 1] (observables are taken over the last "
            f"window * t_end), got {window!r}."
        )
    return float(window)
