"""Lowering: :class:`SymbolicSystem` → :class:`KernelSpec` (DESIGN.md §2).

The kernel spec is what every backend consumes: per group, the common-subexpression-eliminated
expressions of the derivatives in unit-local symbols; per coupling, the source expression and the
CSR arrays. The numpy reference evaluates each group's expressions vectorised over units; the
compiled backend emits loops over units and CSR rows from the same spec, so the two can differ in
arithmetic only, never in structure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy

from ..errors import CodegenError
from ..frontend.parsing import TIME, Delay
from ..ir.system import SymbolicSystem

__all__ = ["GroupSpec", "CouplingSpec", "KernelSpec", "NoisePart", "NoiseSpec", "lower",
           "lower_noise", "noise_digest", "PAST"]

#: Prefix of the coupled inputs that stand for delayed values written in equations.
PAST = "_past"


def _cse(exprs, prefix: str):
    exprs = [sympy.sympify(e) for e in exprs]
    temps, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols(prefix, real=True),
                               optimizations="basic")
    return tuple(temps), tuple(reduced)


@dataclass(frozen=True, eq=False)
class GroupSpec:
    """One group, lowered: inputs ``(t, states, params, cins)`` → ``derivatives``.

    ``rhs`` are the derivatives as built; :attr:`temporaries` and :attr:`derivatives` are their
    common-subexpression-eliminated form, computed on first use (only code generation and the
    numpy functions need it, not packing a run).
    """

    name: str
    n: int
    states: tuple[str, ...]
    offsets: tuple[int, ...]
    state_symbols: tuple[sympy.Symbol, ...]
    params: tuple[str, ...]
    param_symbols: tuple[sympy.Symbol, ...]
    cins: tuple[str, ...]
    cin_symbols: tuple[sympy.Symbol, ...]
    rhs: tuple[sympy.Expr, ...]
    #: the number of nodes (of one structure) the group's units come from: unit ``i`` belongs
    #: to node ``i // (n // n_nodes)``
    n_nodes: int = 1

    @cached_property
    def _reduced(self):
        return _cse(self.rhs, "_sr_t")

    @property
    def temporaries(self) -> tuple[tuple[sympy.Symbol, sympy.Expr], ...]:
        """Common subexpressions ``(symbol, expression)`` in evaluation order."""
        return self._reduced[0]

    @property
    def derivatives(self) -> tuple[sympy.Expr, ...]:
        """The derivatives in terms of the arguments and the temporaries."""
        return self._reduced[1]

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
    expression of the group's parameters, evaluated when a run is set up. As for groups, the
    reduced forms (:attr:`temporaries`, :attr:`expr`, :attr:`dtemporaries`, :attr:`dexpr`)
    are computed on first use from ``source_expr``.
    """

    source: int
    target: int
    target_cin: str
    source_expr: sympy.Expr
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    delays: np.ndarray | None
    spreads: np.ndarray | None
    shape: tuple[int, int]
    #: the source group's state symbols and one symbol per state for its derivative
    state_symbols: tuple[sympy.Symbol, ...] = ()
    rate_symbols: tuple[sympy.Symbol, ...] = ()
    delay_expr: sympy.Expr | None = None

    @property
    def delayed(self) -> bool:
        """Whether the source values are read from a history (some edge has a delay)."""
        return self.delays is not None

    @cached_property
    def _reduced(self):
        return _cse([self.source_expr], "_sr_s")

    @property
    def temporaries(self) -> tuple[tuple[sympy.Symbol, sympy.Expr], ...]:
        return self._reduced[0]

    @property
    def expr(self) -> sympy.Expr:
        """The source expression in terms of the source group's arguments and temporaries."""
        return self._reduced[1][0]

    @cached_property
    def _rate(self):
        if not self.delayed:
            return (), None
        rate = sympy.diff(self.source_expr, TIME)
        for x, r in zip(self.state_symbols, self.rate_symbols):
            rate = rate + sympy.diff(self.source_expr, x) * r
        temps, (rate,) = _cse([rate], "_sr_r")
        return temps, rate

    @property
    def dtemporaries(self) -> tuple[tuple[sympy.Symbol, sympy.Expr], ...]:
        return self._rate[0]

    @property
    def dexpr(self) -> sympy.Expr | None:
        """For a delayed coupling, the time derivative of the source (chain rule)."""
        return self._rate[1]


@dataclass(frozen=True, eq=False)
class KernelSpec:
    """Everything a backend needs to integrate a :class:`SymbolicSystem`."""

    name: str
    groups: tuple[GroupSpec, ...]
    couplings: tuple[CouplingSpec, ...]
    n_states: int


def _rates(group, expr: sympy.Expr, what: str) -> dict:
    """The fields of a delayed coupling's time derivative (see CouplingSpec): checks that the
    delayed expression reads no coupled input."""
    bad = sorted(str(s) for s in expr.free_symbols & set(group.cin.values()))
    if bad:
        raise CodegenError(
            f"{what} reads the coupled input(s) {', '.join(b.split(':', 1)[-1] for b in bad)}; "
            "a delayed value must depend on states and parameters only (its history is "
            "interpolated with its time derivative). Delay a state, or the source variable "
            "of that input, instead."
        )
    return {"state_symbols": tuple(group.symbols[s] for s in group.states),
            "rate_symbols": tuple(sympy.Symbol(f"_sr_rate:{s}", real=True)
                                  for s in group.states)}


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
        indptr, indices, weights = _identity(g.n)
        couplings.append(CouplingSpec(
            source=gi, target=gi, target_cin=name, source_expr=inner,
            indptr=indptr, indices=indices, weights=weights,
            delays=_delay_values(atom.delay, g, {p: g.param_values[p] for p in g.parameters}),
            spreads=None, shape=(g.n, g.n), delay_expr=atom.delay, **_rates(g, inner, what),
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
            rhs=tuple(rhs),
            n_nodes=len(g.nodes),
        ))
    for c in system.couplings:
        W = c.weights
        extra = {}
        if c.delays is not None:
            extra = _rates(system.group(c.source), c.expr,
                           f"The delayed coupling {c.source}/{c.source_var} -> "
                           f"{c.target}/{c.target_var} of {system.name!r}")
        couplings.append(CouplingSpec(
            source=index[c.source],
            target=index[c.target],
            target_cin=c.target_var,
            source_expr=c.expr,
            indptr=np.asarray(W.indptr, dtype=np.int64),
            indices=np.asarray(W.indices, dtype=np.int64),
            weights=np.asarray(W.data, dtype=float),
            delays=c.delays,
            spreads=c.spreads,
            shape=W.shape,
            **extra,
        ))
    for spec in (*groups, *couplings):
        exprs = spec.rhs if isinstance(spec, GroupSpec) else [spec.source_expr]
        for e in exprs:
            if e.has(Delay):
                atom = next(iter(e.atoms(Delay)))
                if isinstance(spec, GroupSpec):     # lowered above; never left over
                    raise CodegenError(f"Cannot lower {system.name!r}: the delayed value "
                                       f"{atom} was left in the equations of {spec.name!r}.")
                raise CodegenError(
                    f"Cannot lower {system.name!r}: the coupling from group "
                    f"{groups[spec.source].name!r} to {groups[spec.target].name!r} (input "
                    f"{spec.target_cin!r}) sends the delayed value {atom}; a coupling's "
                    "source cannot hold a delayed value yet. Put the delay on the edge "
                    "instead (send the undelayed variable, with the edge's delay), or use the "
                    "delayed value in the equations of the node that receives it."
                )
            bad = [f for f in e.atoms(sympy.Function)
                   if isinstance(f, sympy.core.function.AppliedUndef)]
            if bad:
                raise CodegenError(
                    f"Cannot lower {system.name!r}: unknown function(s) {bad} in {e}."
                )
    return KernelSpec(system.name, tuple(groups), tuple(couplings), offset)


@dataclass(frozen=True, eq=False)
class NoisePart:
    """The multiplicative noise amplitudes of a run of consecutive nodes of one group.

    ``nodes = (lo, hi)``: nodes ``lo <= i < hi`` of the group, i.e. its units
    ``lo*m <= unit < hi*m`` with ``m = n // n_nodes`` units per node (network copies).
    ``states`` are the indices of the group's states with an expression, ``exprs`` those
    expressions in the group's unit-local symbols (states, parameters and ``t``).
    """

    nodes: tuple[int, int]
    states: tuple[int, ...]
    exprs: tuple[sympy.Expr, ...]

    @cached_property
    def _reduced(self):
        return _cse(self.exprs, "_sr_t")

    @property
    def temporaries(self) -> tuple[tuple[sympy.Symbol, sympy.Expr], ...]:
        """Common subexpressions ``(symbol, expression)`` in evaluation order."""
        return self._reduced[0]

    @property
    def sigmas(self) -> tuple[sympy.Expr, ...]:
        """The amplitudes in terms of the arguments and the temporaries."""
        return self._reduced[1]


@dataclass(frozen=True, eq=False)
class NoiseSpec:
    """The state-dependent noise amplitudes ``g(t, y)`` of one group (multiplicative noise).

    Both backends evaluate :attr:`parts` per unit, like the group's right-hand sides; entries
    of states without an expression keep their constant amplitude.
    """

    group: int
    n_nodes: int
    parts: tuple[NoisePart, ...]

    def key(self) -> str:
        """The structure of this noise: it enters the generated source and its cache key."""
        return repr((self.group, self.n_nodes, tuple(
            (p.nodes, p.states, tuple(sympy.srepr(e) for e in p.exprs)) for p in self.parts)))


def noise_digest(noise: Sequence[NoiseSpec]) -> str:
    """A digest of multiplicative noise expressions (``""`` for none): a module made with them
    carries it as ``NOISE_KEY``, so that a run can check it brings the same expressions."""
    if not noise:
        return ""
    return hashlib.sha256("\n".join(ns.key() for ns in noise).encode()).hexdigest()


def lower_noise(spec: KernelSpec, exprs) -> tuple[NoiseSpec, ...]:
    """Lower noise expressions ``{(group index, node index, state index): expression}`` (in
    the group's unit-local symbols) to one :class:`NoiseSpec` per group that has any.

    Consecutive nodes with the same expressions share one part (usually the whole group).

    Raises
    ------
    CodegenError
        If an expression reads anything but the group's states, parameters and ``t``.
    """
    out = []
    for gi, g in enumerate(spec.groups):
        mine = {key: e for key, e in exprs.items() if key[0] == gi}
        if not mine:
            continue
        allowed = {TIME, *g.state_symbols, *g.param_symbols}
        for (_, node, j), e in mine.items():
            bad = sympy.sympify(e).free_symbols - allowed
            if bad or e.has(Delay):
                raise CodegenError(
                    f"The noise amplitude {e} of state {g.states[j]!r} (node {node} of group "
                    f"{g.name!r}) reads {sorted(map(str, bad)) or 'a delayed value'}; it may "
                    "read the group's states, parameters and t only."
                )
        n_nodes = g.n_nodes
        rows = []
        for node in range(n_nodes):
            rows.append(tuple((j, mine[(gi, node, j)]) for j in range(len(g.states))
                              if (gi, node, j) in mine))
        parts = []
        lo = 0
        for node in range(1, n_nodes + 1):
            if node == n_nodes or rows[node] != rows[lo]:
                if rows[lo]:
                    states, found = zip(*rows[lo])
                    parts.append(NoisePart((lo, node), tuple(states), tuple(found)))
                lo = node
        out.append(NoiseSpec(gi, n_nodes, tuple(parts)))
    return tuple(out)
