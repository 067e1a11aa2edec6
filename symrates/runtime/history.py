"""Histories of delayed couplings: what both backends share (DESIGN.md §4).

A delayed coupling keeps, for every source unit, a ring of ``L`` slots holding the source value
``s_m`` at each step time ``t_m = m*dt`` and its time derivative scaled by the step,
``dt * ds/dt(t_m)`` (from the chain rule, :attr:`CouplingSpec.dexpr`, evaluated with the first
stage of step ``m``, which every fixed-step method computes at ``(t_m, y_m)``). A stage of step
``k`` at time ``t_k + c*dt`` (``c`` in 0, 1/2, 1) reads edge ``e`` at ``t_k + c*dt - d_e`` by
cubic Hermite interpolation between the two neighbouring step times: the interpolation error is
``O(dt^4)``, so RK4 stays fourth order and Heun second, and delays need not be multiples of
``dt``. Before ``t = 0`` the history is the initial value (the source at the initial state).

With ``D_e = d_e/dt`` (delays within 1e-9 of a whole number of steps are taken as whole), the
stage reads ``x = c - D_e``, slot ``m = k + floor(x)`` and fraction ``theta = x - floor(x)``:

    value = h00 s_m + h10 (dt s'_m) + h01 s_(m+1) + h11 (dt s'_(m+1))

with the Hermite basis ``h00 = (1 + 2 theta)(1 - theta)^2``, ``h10 = theta (1 - theta)^2``,
``h01 = theta^2 (3 - 2 theta)``, ``h11 = theta^2 (theta - 1)``. An edge with ``d_e = 0`` reads
the current stage value. Every non-zero delay must be at least one step (``D_e >= 1``), so that
no stage needs a value from inside its own step; the ring then needs
``L = ceil(max D) + 2`` slots. The compiled kernel does the same arithmetic in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy

from ..codegen.lower import PAST, CouplingSpec, KernelSpec
from ..errors import ModelDefinitionError

__all__ = ["DelayLine", "delay_lines", "hermite"]

#: Delays within this many steps (relative) of a whole number of steps are taken as whole.
SNAP = 1e-9


@dataclass
class DelayLine:
    """The run-time data of one delayed coupling for a step ``dt``.

    Attributes
    ----------
    steps : np.ndarray
        ``D_e = d_e/dt`` per non-zero of the weight matrix (CSR order).
    slots : int
        ``L``, the length of the ring.
    """

    coupling: int
    steps: np.ndarray
    slots: int


def _describe(spec: KernelSpec, c: CouplingSpec) -> str:
    src, tgt = spec.groups[c.source], spec.groups[c.target]
    if c.target_cin.startswith(PAST):
        return f"the delayed value in the equations of group {tgt.name!r} of {spec.name!r}"
    return (f"the coupling {src.name!r} -> {tgt.name!r}/{c.target_cin!r} of "
            f"{spec.name!r}")


def _unit_delays(c: CouplingSpec, spec: KernelSpec, params: list[dict], driven) -> np.ndarray:
    """Per edge (one per unit: the coupling is the identity) the delay of ``x(t - d)``."""
    g = spec.groups[c.source]
    used = c.delay_expr.free_symbols
    for d in driven:
        if d.group == c.source and g.param_symbols[g.params.index(d.param)] in used:
            raise ModelDefinitionError(
                f"inputs= drives {d.param!r}, which sets the delay of {_describe(spec, c)}; a "
                "delay is fixed for a run. Set it with params= instead."
            )
    fn = sympy.lambdify(list(g.param_symbols), c.delay_expr, modules="numpy")
    values = fn(*(params[c.source][p] for p in g.params))
    return np.array(np.broadcast_to(np.asarray(values, dtype=float), (g.n,)))


def delay_lines(spec: KernelSpec, dt: float, params: list[dict], driven=()) -> list[DelayLine]:
    """The :class:`DelayLine` of every delayed coupling of ``spec`` for the step ``dt``.

    Parameters
    ----------
    spec : KernelSpec
    dt : float
        The fixed step.
    params : list of dict
        Per group ``{parameter: values per unit}`` (those of a
        :class:`~symrates.runtime.problem_numpy.ProblemSetup`); delays written in equations are
        evaluated with them.
    driven : sequence, optional
        The setup's driven parameters (a delay may not be driven).

    Raises
    ------
    ModelDefinitionError
        If a delay is negative or not finite, or shorter than one step.
    """
    lines = []
    for ci, c in enumerate(spec.couplings):
        if not c.delayed:
            continue
        if c.delay_expr is not None:
            delays = _unit_delays(c, spec, params, driven)
        else:
            delays = np.asarray(c.delays, dtype=float)
        if not np.all(np.isfinite(delays)) or np.any(delays < 0):
            bad = delays[~np.isfinite(delays) | (delays < 0)][0]
            raise ModelDefinitionError(
                f"A delay of {_describe(spec, c)} is {bad!r}; delays must be finite and >= 0."
            )
        steps = delays / dt
        whole = np.rint(steps)
        snap = np.abs(steps - whole) <= SNAP * np.maximum(1.0, whole)
        steps = np.where(snap, whole, steps)
        short = (steps > 0) & (steps < 1)
        if np.any(short):
            d = float(np.min(delays[short]))
            raise ModelDefinitionError(
                f"The delay {d:g} of {_describe(spec, c)} is shorter than the step dt = {dt:g}: "
                "a stage would need a value from inside its own step. Use dt <= "
                f"{d:g}, or set that delay to 0."
            )
        slots = int(math.ceil(float(steps.max(initial=0.0)))) + 2
        lines.append(DelayLine(ci, np.ascontiguousarray(steps, dtype=float), slots))
    return lines


def hermite(steps: np.ndarray, cols: np.ndarray, k: int, c: float, Hs: np.ndarray,
            Hd: np.ndarray, H0: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The delayed source value of every edge at a stage of step ``k`` at ``t_k + c*dt``.

    ``Hs`` and ``Hd`` are the rings ``(L, n_source)`` of values and scaled derivatives, ``H0``
    the initial values, ``current`` the source values of this stage (for zero delays), ``cols``
    the source unit of each edge.
    """
    x = c - steps
    below = np.floor(x)
    th = x - below
    m = k + below.astype(np.int64)
    L = Hs.shape[0]
    s0 = Hs[m % L, cols]
    d0 = Hd[m % L, cols]
    s1 = Hs[(m + 1) % L, cols]
    d1 = Hd[(m + 1) % L, cols]
    h = 1.0 - th
    hh = h * h
    tt = th * th
    # the kernel's order: a0*s0 + b0*d0 + a1*s1 + b1*d1, summed left to right
    a0 = (1.0 + 2.0 * th) * hh
    b0 = th * hh
    a1 = tt * (3.0 - 2.0 * th)
    b1 = tt * (th - 1.0)
    value = a0 * s0 + b0 * d0 + a1 * s1 + b1 * d1
    value = np.where(m < 0, H0[cols], value)
    return np.where(steps == 0.0, current[cols], value)
