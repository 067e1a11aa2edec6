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

__all__ = ["GroupSpec", "CouplingSpec", "KernelSpec", "lower", "PAST"]

#: Prefix of the coupled inputs that stand for delayed values written in equations.
PAST = "_past"


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
    """One coupling, lowered: source values per source unit, then a CSR product.

    A delayed coupling (``delays`` not None, one delay per non-zero in CSR order, zeros allowed)
    reads its source values from a history. For the cubic Hermite interpolation of that history
    it also carries the time derivative of the source expression by the chain rule,
    ``dexpr = sum_v d(expr)/d(x_v) * dx_v/dt + d(expr)/dt``, in the source group's symbols plus
    ``rate_symbols`` (one per source state, standing for its derivative). ``delay_expr`` is set
    for the couplings that stand for ``x(t - d)`` in equations: the delay of each unit is that
    expression of the group's parameters, evaluated when a run is set up.
    """

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
    rate_symbols: tuple[sympy.Symbol, ...] = ()
    dtemporaries: tuple[tuple[sympy.Symbol, sympy.Expr], ...] = ()
    dexpr: sympy.Expr | None = None
    delay_expr: sympy.Expr | None = None

    @property
    def delayed(self) -> bool:
        """Whether the source values are read from a history (some edge has a delay)."""
        return self.delays is not None


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
                           c.delays is not None, c.spreads is not None, c.dtemporaries,
                           c.dexpr)).encode())
        return h.hexdigest()


def _rates(group, expr: sympy.Expr, what: str):
    """The chain-rule time derivative of a delayed source expression (see CouplingSpec)."""
    bad = sorted(str(s) for s in expr.free_symbols & set(group.cin.values()))
    if bad:
        raise CodegenError(
            f"{what} reads the coupled input(s) {', '.join(b.split(':', 1)[-1] for b in bad)}; "
            "a delayed value must depend on states and parameters only (its history is "
            "interpolated with its time derivative). Delay a state, or the source variable "
            "of that input, instead."
        )
    rate_symbols = tuple(sympy.Symbol(f"_sr_rate:{s}", real=True) for s in group.states)
    rate = sympy.diff(expr, TIME)
    for s, r in zip(group.states, rate_symbols):
        rate = rate + sympy.diff(expr, group.symbols[s]) * r
    temps, (rate,) = _cse([rate], "_sr_r")
    return rate_symbols, temps, rate


def _identity(n: int):
    return (np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int64), np.ones(n))


def _equation_delays(system: SymbolicSystem, g, gi: int):
    """The delayed values ``x(t - d)`` of a group's equations as couplings of the group to
    itself (identity weights, the delay of each unit from ``d``), and the rhs with each delayed
    value replaced by the coupled input that receives it."""
    found = sorted({a for e in g.rhs for a in e.atoms(Delay)}, key=sympy.default_sort_key)
    if not found:
        return g.rhs, {}, []
    names, couplings = {}, []
    for j, atom in enumerate(found):
        name = f"{PAST}{j}"
        names[name] = sympy.Symbol(f"_sr_cin:{name}", real=True)
        inner = atom.expr
        what = f"The delayed value {atom} in the equations of {system.name!r}"
        if inner.has(Delay):
            raise CodegenError(f"{what} is itself delayed; write one delay, past(x, d1 + d2).")
        free = atom.delay.free_symbols - set(g.param_symbols.values())
        if free:
            raise CodegenError(
                f"The delay of {atom} in {system.name!r} depends on {sorted(map(str, free))}; "
                "a delay may depend on parameters only."
            )
        temps, (expr,) = _cse([inner], "_sr_s")
        rate_symbols, dtemps, dexpr = _rates(g, inner, what)
        indptr, indices, weights = _identity(g.n)
        couplings.append(CouplingSpec(
            source=gi, target=gi, target_cin=name, temporaries=temps, expr=expr,
            indptr=indptr, indices=indices, weights=weights,
            delays=_delay_values(atom.delay, g, {p: g.param_values[p] for p in g.parameters}),
            spreads=None, shape=(g.n, g.n), rate_symbols=rate_symbols, dtemporaries=dtemps,
            dexpr=dexpr, delay_expr=atom.delay,
        ))
    subs = {atom: names[f"{PAST}{j}"] for j, atom in enumerate(found)}
    return tuple(e.xreplace(subs) for e in g.rhs), names, couplings


def _delay_values(delay: sympy.Expr, g, values) -> np.ndarray:
    """The delay of each of the group's units: ``delay`` at the parameter ``values``."""
    args = [g.param_symbols[p] for p in g.parameters]
    fn = sympy.lambdify(args, delay, modules="numpy")
    out = np.broadcast_to(np.asarray(fn(*(values[p] for p in g.parameters)), dtype=float),
                          (g.n,))
    return np.array(out)


def lower(system: SymbolicSystem) -> KernelSpec:
    """Lower a symbolic system to a :class:`KernelSpec`.

    Delayed values written in equations (``x(t - d)``) become couplings of their group to
    itself with identity weights, so that one history mechanism serves every delay.

    Raises
    ------
    CodegenError
        If an expression contains something no backend can evaluate.
    """
    groups = []
    offset = 0
    index = {g.name: i for i, g in enumerate(system.groups)}
    couplings = []
    for gi, g in enumerate(system.groups):
        offsets = []
        for _ in g.states:
            offsets.append(offset)
            offset += g.n
        rhs, pasts, own = _equation_delays(system, g, gi)
        couplings += own
        temps, derivs = _cse(rhs, "_sr_t")
        groups.append(GroupSpec(
            name=g.name,
            n=g.n,
            states=g.states,
            offsets=tuple(offsets),
            state_symbols=tuple(g.symbols[s] for s in g.states),
            params=g.parameters,
            param_symbols=tuple(g.param_symbols[p] for p in g.parameters),
            cins=(*g.cin, *pasts),
            cin_symbols=(*g.cin.values(), *pasts.values()),
            temporaries=temps,
            derivatives=derivs,
        ))
    for c in system.couplings:
        temps, (expr,) = _cse([c.expr], "_sr_s")
        W = c.weights
        extra = {}
        if c.delays is not None:
            src = system.group(c.source)
            rate_symbols, dtemps, dexpr = _rates(
                src, c.expr, f"The delayed coupling {c.source}/{c.source_var} -> "
                             f"{c.target}/{c.target_var} of {system.name!r}")
            extra = dict(rate_symbols=rate_symbols, dtemporaries=dtemps, dexpr=dexpr)
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
            **extra,
        ))
    for spec in (*groups, *couplings):
        exprs = [e for _, e in spec.temporaries]
        exprs += list(spec.derivatives) if isinstance(spec, GroupSpec) else [spec.expr]
        for e in exprs:
            if e.has(Delay):
                raise CodegenError(
                    f"Cannot lower {system.name!r}: the delayed value {next(iter(e.atoms(Delay)))}"
                    " is not in a group's equations (a coupling's source cannot be delayed "
                    "twice); give the edge a delay instead."
                )
            bad = [f for f in e.atoms(sympy.Function)
                   if isinstance(f, sympy.core.function.AppliedUndef)]
            if bad:
                raise CodegenError(
                    f"Cannot lower {system.name!r}: unknown function(s) {bad} in {e}."
                )
    return KernelSpec(system.name, tuple(groups), tuple(couplings), offset)
