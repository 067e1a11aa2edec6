"""Checking the options of ``scan`` and ``sweep`` before anything runs."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sympy

from ...errors import ModelDefinitionError
from ...ir.system import SymbolicSystem
from .spec import Signal, _parameter, _value_expr, base_path

__all__ = ["available_memory", "format_bytes", "positive_int", "stride", "fixed_params",
           "drives", "noise_sigma", "entropy", "initial_state", "signal_units", "kept_signals"]

_MULTIPLE_RTOL = 1e-9


def available_memory() -> int:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ModelDefinitionError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


def stride(sampling: Any, dt: float, n_steps: int, t_end: float) -> int:
    if sampling is None:
        return 1
    try:
        s = float(sampling)
    except (TypeError, ValueError):
        s = math.nan
    if not (math.isfinite(s) and s > 0):
        raise ModelDefinitionError(f"sampling must be a positive number, got {sampling!r}.")
    m = round(s / dt)
    if m < 1 or abs(m * dt - s) > _MULTIPLE_RTOL * s:
        raise ModelDefinitionError(
            f"sampling={sampling!r} must be a whole multiple of dt={dt!r}; use e.g. "
            f"sampling={max(1, m) * dt:g}."
        )
    if n_steps % m:
        raise ModelDefinitionError(
            f"t_end={t_end!r} must be a whole multiple of sampling={sampling!r}, so that the last "
            f"sample falls on t_end; use e.g. t_end={(n_steps // m + 1) * m * dt:g}."
        )
    return int(m)


def fixed_params(system: SymbolicSystem, params: Any, taken: dict[str, str]) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ModelDefinitionError(f"params= must be a mapping {{path: value}}, got {params!r}.")
    out = {}
    for path, value in params.items():
        full = _parameter(system, path, "params=")
        _claim(taken, full, "params=")
        arr = np.asarray(value, dtype=float)
        n_u = system.locate(full)[0].copies
        if arr.shape not in ((), (n_u,)) or not np.all(np.isfinite(arr)):
            raise ModelDefinitionError(
                f"params[{path!r}] must be a finite number{f' or {n_u} numbers (one per unit)' if n_u > 1 else ''}, got {value!r}."  # noqa: E501
            )
        out[full] = arr
    return out


def _claim(taken: dict[str, str], full: str, option: str) -> None:
    if full in taken:
        raise ModelDefinitionError(
            f"{full!r} is given both in {taken[full]} and in {option}; give it in one place."
        )
    taken[full] = option


def drives(system: SymbolicSystem, inputs: Any, random_inputs: Any, n_steps: int,
            taken: dict[str, str]) -> tuple[dict[str, Any], dict[str, Callable]]:
    shared, rand = {}, {}
    for option, mapping, out in (("inputs=", inputs, shared), ("random_inputs=", random_inputs,
                                                                 rand)):
        if mapping is None:
            continue
        if not isinstance(mapping, Mapping):
            raise ModelDefinitionError(f"{option} must be a mapping {{path: ...}}, got "
                                       f"{mapping!r}.")
        for path, value in mapping.items():
            full = _parameter(system, path, option)
            _claim(taken, full, option)
            n_u = system.locate(full)[0].copies
            if option == "random_inputs=" or callable(value):
                if not callable(value):
                    raise ModelDefinitionError(
                        f"random_inputs[{path!r}] must be a function f(rng, n_steps) returning "
                        f"n_steps values (rng: the parameter set's numpy Generator), e.g. "
                        f"lambda rng, n: rng.uniform(120, 320, n); got {value!r}."
                    )
                out[full] = value
                continue
            arr = np.asarray(value, dtype=float)
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            if not ((arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == n_u))
                    and arr.shape[0] >= n_steps):
                raise ModelDefinitionError(
                    f"inputs[{path!r}] must have one row per step, shape ({n_steps},)"
                    f"{f' or ({n_steps}, {n_u})' if n_u > 1 else ''} (the same for every "
                    f"parameter set), or be a function of t; got shape {arr.shape}. Per-set "
                    f"random drives go in random_inputs=."
                )
            out[full] = arr[:n_steps]
    return shared, rand


def noise_sigma(system: SymbolicSystem, noise: Any) -> dict[str, Any] | None:
    if not noise:
        return None
    if not isinstance(noise, Mapping):
        raise ModelDefinitionError(f"noise= must be a mapping {{state path: sigma}}, got "
                                   f"{noise!r}.")
    out = {}
    for path, sigma in noise.items():
        full = system.resolve(path, what="state")
        if full not in system.layout:
            raise ModelDefinitionError(
                f"noise= names {path!r}, which is not a state of {system.name!r}; noise is added "
                f"to state equations. States: {', '.join(system.states[:8])}."
            )
        n_u = system.layout[full][3]
        if isinstance(sigma, (str, sympy.Basic)):
            raise ModelDefinitionError(
                f"noise[{path!r}] of the scan of {system.name!r} is the expression {sigma!r}; "
                "scans take additive noise (a number >= 0 per state, or one per unit). Run "
                "multiplicative noise with symrates.simulate, or give a number."
            )
        arr = np.asarray(sigma, dtype=float)
        if arr.shape not in ((), (n_u,)) or np.any(arr < 0) or not np.all(np.isfinite(arr)):
            raise ModelDefinitionError(
                f"noise[{path!r}] must be a number >= 0{f' or {n_u} of them' if n_u > 1 else ''}"
                f", got {sigma!r}."
            )
        out[full] = arr
    return out


def entropy(seed: Any) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ModelDefinitionError(f"seed must be an integer >= 0 or None, got {seed!r}.")
    return int(seed)


def initial_state(system: SymbolicSystem, y0: Any) -> np.ndarray | None:
    if y0 is None:
        return None
    if isinstance(y0, Mapping):
        y = system.state_from(y0, "y0")
    else:
        y = np.array(y0, dtype=float).reshape(-1)
        if y.shape != (system.n_states,):
            raise ModelDefinitionError(
                f"y0 must be {{path: value}} or a vector of the {system.n_states} states of "
                f"{system.name!r} ({', '.join(system.states[:8])}), got shape {np.shape(y0)}."
            )
    if not np.all(np.isfinite(y)):
        raise ModelDefinitionError("y0 must be finite.")
    return y


def signal_units(system: SymbolicSystem, s: Signal) -> int:
    """Units per set of a signal: 0 when it has one value per set."""
    copies = [system.locate(base_path(str(p)))[0].copies for p in s.symbols]
    return max(copies) if any(c > 1 for c in copies) else 0


def kept_signals(system: SymbolicSystem, signals: list[Signal], record: Any,
                 driven: frozenset[str] = frozenset()) -> tuple[str, ...]:
    if record is None or record is False:
        return ()
    if record is True:
        return tuple(s.name for s in signals)
    names = [record] if isinstance(record, str) else record
    if not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
        raise ModelDefinitionError(
            f"record must be True, False or a list of paths and expression names, got {record!r}."
        )
    by_name = {s.name: s for s in signals}
    kept = []
    for name in names:
        if name in by_name:
            kept.append(name)
            continue
        full = system.resolve(name, what="variable or expression")
        if full not in by_name:
            by_name[full] = Signal(full, _value_expr(system, full, driven), ())
            signals.append(by_name[full])
        kept.append(full)
    return tuple(dict.fromkeys(kept))
