"""Lowering: :class:`SymbolicSystem` → :class:`KernelSpec` (DESIGN.md §2).

The kernel spec is what every backend consumes: per group, the common-subexpression-eliminated
expressions of the derivatives in unit-local symbols; per coupling, the source expression and the
CSR arrays. The numpy reference evaluates each group's expressions vectorised over units; the
compiled backend emits loops over units and CSR rows from the same spec, so the two can differ in
arithmetic only, never in structure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy

from ..errors import CodegenError
from ..frontend.parsing import TIME, Delay
from ..ir.system import SymbolicSystem

__all__ = ["GroupSpec", "CouplingSpec", "KernelSpec", "lower"]


def _cse(exprs, prefix: str):
    exprs = [sympy.sympify(e) for e in exprs]
    temps, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols(prefix, real=True),
                               optimizations="basic")
    return tuple(temps), tuple(reduced)


@dataclass(frozen=True, eq=False)
class GroupSpec:
    """One group, lowered: inputs ``(t, states, params, cins)`` → ``derivatives``."""

    name: str
    n: int
    states: tuple[str, ...]
    offsets: tuple[int, ...]
    state_symbols: tuple[sympy.Symbol, ...]
    params: tuple[str, ...]
    param_symbols: tuple[sympy.Symbol, ...]
    cins: tuple[str, ...]
    cin_symbols: tuple[sympy.Symbol, ...]
    temporaries: tuple[tuple[sympy.Symbol, sympy.Expr], ...]
    derivatives: tuple[sympy.Expr, ...]

    @property
    def arguments(self) -> tuple[sympy.Symbol, ...]:
        """Argument order of the group's functions: ``t``, states, parameters, coupling sums."""
        return (TIME, *self.state_symbols, *self.param_symbols, *self.cin_symbols)


@dataclass(frozen=True, eq=False)
class CouplingSpec:
    """One coupling, lowered: source values per source unit, then a CSR product."""

    source: int
    target: int
    target_cin: str
    temporaries: tuple[tuple[sympy.Symbol, sympy.Expr], ...]
    expr: sympy.Expr
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    delays: np.ndarray | None
    spreads: np.ndarray | None
    shape: tuple[int, int]


@dataclass(frozen=True, eq=False)
class KernelSpec:
    """Everything a backend needs to integrate a :class:`SymbolicSystem`."""

    name: str
    groups: tuple[GroupSpec, ...]
    couplings: tuple[CouplingSpec, ...]
    n_states: int

    @cached_property
    def structure_key(self) -> str:
        """Hash of the structure only (expressions, argument lists, which couplings exist).

        Sizes, weights, delays, parameter values, inputs and initial states are run-time data
        and do not enter the key.
        """
        h = hashlib.sha256()
        for g in self.groups:
            h.update(repr((g.states, [s.name for s in g.arguments], g.temporaries,
                           g.derivatives)).encode())
        for c in self.couplings:
            h.update(repr((c.source, c.target, c.target_cin, c.temporaries, c.expr,
                           c.delays is not None, c.spreads is not None)).encode())
        return h.hexdigest()


def lower(system: SymbolicSystem) -> KernelSpec:
    """Lower a symbolic system to a :class:`KernelSpec`.

    Raises
    ------
    CodegenError
        If an expression contains something no backend can evaluate.
    """
    groups = []
    offset = 0
    index = {g.name: i for i, g in enumerate(system.groups)}
    for g in system.groups:
        offsets = []
        for _ in g.states:
            offsets.append(offset)
            offset += g.n
        temps, derivs = _cse(g.rhs, "_sr_t")
        groups.append(GroupSpec(
            name=g.name,
            n=g.n,
            states=g.states,
            offsets=tuple(offsets),
            state_symbols=tuple(g.symbols[s] for s in g.states),
            params=g.parameters,
            param_symbols=tuple(g.param_symbols[p] for p in g.parameters),
            cins=tuple(g.cin),
            cin_symbols=tuple(g.cin.values()),
            temporaries=temps,
            derivatives=derivs,
        ))
    couplings = []
    for c in system.couplings:
        temps, (expr,) = _cse([c.expr], "_sr_s")
        W = c.weights
        couplings.append(CouplingSpec(
            source=index[c.source],
            target=index[c.target],
            target_cin=c.target_var,
            temporaries=temps,
            expr=expr,
            indptr=np.asarray(W.indptr, dtype=np.int64),
            indices=np.asarray(W.indices, dtype=np.int64),
            weights=np.asarray(W.data, dtype=float),
            delays=c.delays,
            spreads=c.spreads,
            shape=W.shape,
        ))
    for spec in (*groups, *couplings):
        exprs = [e for _, e in spec.temporaries]
        exprs += list(spec.derivatives) if isinstance(spec, GroupSpec) else [spec.expr]
        for e in exprs:
            if e.has(Delay):
                # delayed values inside equations are read from history buffers by the kernels
                continue
            bad = [f for f in e.atoms(sympy.Function)
                   if isinstance(f, sympy.core.function.AppliedUndef)]
            if bad:
                raise CodegenError(
                    f"Cannot lower {system.name!r}: unknown function(s) {bad} in {e}."
                )
    return KernelSpec(system.name, tuple(groups), tuple(couplings), offset)
